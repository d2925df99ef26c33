"""Hostile behaviours for the receiver's `hostile` hook, shared by several test modules."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable

from faults.otlp_peers import Hostile, Point
from faults.peers import Reply, Request


def outage_after(requests: int, status: int = 500) -> Hostile:
    """Accepts the first `requests` requests, then answers `status` to every one."""
    counter = itertools.count()

    def hostile(_request: Request, _points: list[Point]) -> Reply | None:
        return Reply(status, body=b"collector down") if next(counter) >= requests else None

    return hostile


def refusing(seqs: Iterable[int], body: bytes = b"invalid datapoint") -> Hostile:
    """400 to any request that holds one of the records: a datapoint this collector cannot take."""
    poison = set(seqs)

    def hostile(_request: Request, points: list[Point]) -> Reply | None:
        return Reply(400, body=body) if any(p.seq in poison for p in points) else None

    return hostile


def once(reply: Reply, then: Hostile | None = None) -> Hostile:
    """`reply` to the first request, then `then` (or the default) to the others."""
    used = threading.Event()

    def hostile(request: Request, points: list[Point]) -> Reply | None:
        if not used.is_set():
            used.set()
            return reply
        return then(request, points) if then else None

    return hostile


class TokenBucket:
    """A rate limit: `rate` requests a second with bursts of `burst`; 429 with Retry-After beyond it.

    Every answer is noted with the time it was given and the request's body, so that a retry (the same
    body again) can be checked against the wait it was asked for.
    """

    def __init__(self, rate: float, burst: int, retry_after: int = 1) -> None:
        self.rate = rate
        self.burst = burst
        self.retry_after = retry_after
        self._tokens = float(burst)
        self._last = time.monotonic()
        self._lock = threading.Lock()
        self.limited: list[tuple[float, bytes]] = []  # (when 429 was answered, body)

    def _take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False

    def __call__(self, request: Request, _points: list[Point]) -> Reply | None:
        if self._take():
            return None
        with self._lock:
            self.limited.append((time.monotonic(), request.body))
        return Reply(429, (("Retry-After", str(self.retry_after)),), b"slow down")
