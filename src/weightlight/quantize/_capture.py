"""How a graph capture (torch.fx, torch.export, torchao) failed, as one line for the user."""

from __future__ import annotations


class CaptureError(Exception):
    """A capture or conversion step failed on this model: `stage` names the step (torch.fx,
    torch.export, torchao convert_pt2e ...), the message says why, in one line."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(reason)
        self.stage = stage

    def line(self) -> str:
        return f"{self.stage}: {self.args[0]}"


def first_line(exc: BaseException) -> str:
    """An exception as one short line: its type and the first line of its message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160]}" if text else type(exc).__name__
