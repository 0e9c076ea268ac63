"""The one exception a user's mistake turns into.

The CLI prints a UserError as a single line and exits with code 2; the library raises it
instead of printing, so the Python API gets the same message as a normal exception.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix: bad input, missing file, unknown name.

    Args:
        problem: what is wrong, naming the offending value.
        fix: how to fix it (one short sentence), appended after the problem.
    """

    exit_code = 2

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}; {fix}" if fix else problem)


def one_line(message: str) -> str:
    """Collapse a message to one line (library messages sometimes carry newlines)."""
    return " ".join(message.split())
