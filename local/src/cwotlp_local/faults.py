"""Fault injection shared by the local servers."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Fault:
    """How a server misbehaves for one incoming request.

    status:  the HTTP status to answer with (ignored when reset is true).
    headers: extra response headers, e.g. {"Retry-After": "1"}.
    delay:   seconds to sleep before answering (or before resetting): a slow server.
    reset:   close the connection without any response (the client sees a connection reset).
    body:    the response body.
    """

    status: int = 503
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    reset: bool = False
    body: bytes = b""


class FaultQueue:
    """A thread-safe queue of faults, consumed one per incoming request, in order.

    An entry of None lets one request through untouched, so a fault can be placed after a number of
    normal requests (`after`).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Fault | None] = deque()

    def add(self, fault: Fault, times: int = 1, after: int = 0) -> None:
        if times < 0 or after < 0:
            raise ValueError("times and after must be >= 0")
        with self._lock:
            self._queue.extend([None] * after)
            self._queue.extend([fault] * times)

    def take(self) -> Fault | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._queue)
