"""HTTP POST with retries bounded in count and in time, shared by the exporter and the token client.

Retried: 429, 502, 503 and 504 answers, timeouts and dropped connections, with full-jitter exponential
backoff, or the server's Retry-After when it sends one. Never past the deadline: a wait that would end
after it fails at once instead. TLS failures are not retried (they do not heal by waiting).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests

RETRYABLE_STATUS = frozenset((429, 502, 503, 504))


class DeliveryError(Exception):
    """Data could not be delivered; the message says why, without secrets."""


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


@dataclass
class RetryPolicy:
    max_retries: int = 5
    timeout: float = 15.0
    base_delay: float = 0.5
    max_delay: float = 8.0
    # At least this long must be left to start a request, so a slow answer cannot overrun the deadline.
    min_request_time: float = 1.0
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[float], float] = field(default=lambda ceiling: random.uniform(0, ceiling))


@dataclass
class Counters:
    retries: int = 0


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def post(
    session: requests.Session,
    url: str,
    *,
    what: str,
    policy: RetryPolicy,
    deadline: Deadline,
    counters: Counters,
    headers: Callable[[], dict[str, str]],
    **kwargs: Any,
) -> requests.Response:
    """POSTs until an answer that is not worth retrying arrives, and returns it.

    `what` names the peer in error messages ("collector", "token endpoint"); `headers` is asked anew
    for every attempt. Raises DeliveryError when retries or time run out.
    """
    import requests

    attempt = 0
    while True:
        remaining = deadline.remaining()
        if remaining < policy.min_request_time:
            raise DeliveryError(f"{what}: out of time before attempt {attempt + 1}")
        problem: str
        wait: float | None = None
        try:
            # verify is passed per request: requests lets REQUESTS_CA_BUNDLE override the session's setting.
            response = session.post(
                url,
                timeout=min(policy.timeout, remaining),
                verify=session.verify,
                headers=headers(),
                **kwargs,
            )
        except requests.exceptions.SSLError as error:
            raise DeliveryError(f"{what}: TLS verification failed ({type(error).__name__})") from None
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ) as error:
            problem = type(error).__name__
        else:
            if response.status_code not in RETRYABLE_STATUS:
                return response
            problem = f"HTTP {response.status_code}"
            wait = retry_after_seconds(response.headers.get("Retry-After"))
        if attempt >= policy.max_retries:
            raise DeliveryError(f"{what}: {problem} after {attempt + 1} attempts")
        if wait is None:
            wait = policy.jitter(min(policy.max_delay, policy.base_delay * 2**attempt))
        if wait + policy.min_request_time > deadline.remaining():
            raise DeliveryError(
                f"{what}: {problem}; the next attempt (in {wait:.1f}s) would pass the deadline"
            )
        policy.sleep(wait)
        attempt += 1
        counters.retries += 1
