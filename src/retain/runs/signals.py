"""SIGINT/SIGTERM during a run: ask the loop to stop after the current step (it then checkpoints).

The handlers are installed only while a run trains and the previous ones are restored afterwards;
nothing is installed at import. A second signal while the first is being handled raises
KeyboardInterrupt at once (the user insists; every file written so far is already complete).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from retain.training.loop import LoopSession

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stop_on_signals(session: LoopSession) -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM set `session.stop_signal` instead of killing the process.

    Outside the main thread Python cannot install handlers; the block then runs with the defaults.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if session.stop_signal is not None:
            raise KeyboardInterrupt
        session.stop_signal = signum

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
