"""The time an invocation has: every request, wait and read stops at its deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

RESERVE_SECONDS = 5.0  # an invocation keeps this long after its deadline to record progress and report


@dataclass(frozen=True)
class Deadline:
    """A point on the monotonic clock after which no request may still be running."""

    at: float
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        return self.at - self.clock()
