"""Interrupting a run in-process at a chosen training step, for the resume tests."""

from __future__ import annotations

from collections.abc import Callable


class Crash(BaseException):
    """Stands in for SIGKILL in-process: nothing catches it, so nothing is written on the way out."""


def at_occurrence(point: tuple[int, int, int], nth: int, action: Callable[[], None]) -> Callable[..., None]:
    """A step hook that calls `action` the nth time the step `point` (task, epoch, batch) comes; a run
    that trains references or rewinds meets the same point once per model it trains."""
    seen = [0]

    def hook(*at: int) -> None:
        if at == point:
            seen[0] += 1
            if seen[0] == nth:
                action()

    return hook


def crash() -> None:
    raise Crash
