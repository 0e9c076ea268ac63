"""A wall-clock limit on a library call that may run for ever (Torch-Pruning's graph search).

Torch-Pruning walks every path of the traced graph when it groups coupled layers; on some
models (a Llama's rotary embeddings and attention masks) that walk did not end within ten
minutes. SIGALRM interrupts it from the main thread; elsewhere (a worker thread, Windows) no
signal can be used and the call runs unbounded.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class TimeLimitExceeded(BaseException):
    """Raised inside the limited call. A BaseException, so the library's own `except
    Exception` cannot swallow it."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[bool]:
    """Raise TimeLimitExceeded in the block after `seconds`; yields whether it is enforced."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield False
        return

    def on_alarm(signum, frame):
        raise TimeLimitExceeded

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
