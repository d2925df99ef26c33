"""HTTP for the exporter and the token client, on the standard library, with every bound explicit.

- URLs come validated (cwotlp.delivery.urls). Messages name a URL by its origin only: a path or query
  may hold a key.
- One request never outlives its deadline: a watchdog shuts the socket down when the time is up, so a
  peer that trickles its answer a byte at a time cannot hold the invocation past Lambda's timeout.
- Redirects are never followed (OTLP exporters do not follow them): a 3xx is returned to the caller.
- An interim answer (1xx) in place of a final one is a failed attempt, and its connection is closed.
- A response body is read up to a bound; the rest is dropped with the connection.
- Errors carry a short description of what happened, never the text of a third-party exception, which
  may quote a header value, a token or a query string.
- Retries (429, 502, 503, 504 and transport failures) are bounded in count and by the deadline, with
  full-jitter backoff or the server's Retry-After plus jitter on top, never before it.
"""

from __future__ import annotations

import contextlib
import http.client
import random
import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Protocol
from urllib.parse import urlsplit

from cwotlp.deadline import Deadline
from cwotlp.delivery.urls import Url
from cwotlp.errors import ConfigError, DeliveryError, redact

RETRYABLE_STATUS = frozenset((429, 502, 503, 504))
RESPONSE_LIMIT = 64 * 1024  # collector and token answers are small; anything beyond is dropped
MAX_RETRY_AFTER = 24 * 3600.0
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]  # names in lower case
    body: bytes  # at most RESPONSE_LIMIT bytes
    complete: bool  # False when the body was longer and cut

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class TransportError(DeliveryError):
    """No usable answer: the connection failed, dropped, timed out, or TLS verification failed."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class _Watchdog:
    """Shuts a connection's socket down when its time is up, which wakes a blocked read or write."""

    def __init__(self, connection: http.client.HTTPConnection, seconds: float) -> None:
        self.fired = False
        self._connection = connection
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        sock = self._connection.sock
        if sock is not None:
            # The plain socket's shutdown: it leaves the TLS object to the reading thread.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


class HttpClient:
    """POSTs with connection reuse per origin. Not thread-safe: one per invocation or command."""

    def __init__(self, ca_bundle: str | None = None) -> None:
        self._ca_bundle = ca_bundle
        self._tls: ssl.SSLContext | None = None
        self._idle: dict[tuple[str, str, int], http.client.HTTPConnection] = {}

    def post(
        self, url: Url, body: bytes, headers: Mapping[str, str], *, deadline: Deadline, timeout: float
    ) -> Response:
        """One attempt. Raises TransportError when no answer came; returns any answer, 3xx included.

        Once the status line has arrived the peer has answered: a body that then breaks off, or a
        deadline that falls while it trickles in, gives an incomplete Response, not an error, so that a
        request the collector accepted is never taken for a failed one.
        """
        budget = min(timeout, deadline.remaining())
        if budget <= 0:
            raise TransportError("out of time before the request")
        connection = self._connection(url, budget)
        watchdog = _Watchdog(connection, budget)
        try:
            answer = self._exchange(connection, url, body, headers, watchdog, budget)
            try:
                response = _read(answer)
            except (OSError, http.client.HTTPException, ValueError):
                response = _incomplete(answer)
        finally:
            watchdog.cancel()
        if watchdog.fired or not response.complete or answer.will_close:
            connection.close()
            return response if response.complete and not watchdog.fired else _incomplete(answer, response)
        self._idle[(url.scheme, url.host, url.port)] = connection
        return response

    @staticmethod
    def _exchange(
        connection: http.client.HTTPConnection,
        url: Url,
        body: bytes,
        headers: Mapping[str, str],
        watchdog: _Watchdog,
        budget: float,
    ) -> http.client.HTTPResponse:
        """Sends the request and reads the status line and headers; TransportError when they do not come."""
        try:
            if connection.sock is None:
                # Connected here, not inside request(): a watchdog that fired while the name was being
                # resolved found no socket to shut, and nothing else would bound the exchange after it.
                connection.connect()
                if watchdog.fired:
                    raise TimeoutError
            connection.request("POST", url.target, body=body, headers=dict(headers))
            answer = connection.getresponse()
        except ssl.SSLCertVerificationError as error:
            connection.close()
            reason = error.verify_message or "certificate not trusted"
            raise TransportError(f"TLS verification failed ({reason})", retryable=False) from None
        except (OSError, http.client.HTTPException, ValueError) as error:
            connection.close()
            if watchdog.fired:
                raise TransportError(f"no complete answer within {budget:.1f} s") from None
            raise TransportError(_describe(error)) from None
        if answer.status < 200:
            # An interim answer (http.client skips only 100 Continue): the final one may still come on
            # this connection, and would be read as the answer to the next request sent on it.
            connection.close()
            raise TransportError(f"an interim answer (HTTP {answer.status}) instead of a final one")
        return answer

    def close(self) -> None:
        for connection in self._idle.values():
            connection.close()
        self._idle.clear()

    def _connection(self, url: Url, timeout: float) -> http.client.HTTPConnection:
        connection = self._idle.pop((url.scheme, url.host, url.port), None)
        if connection is not None and _usable(connection):
            connection.timeout = timeout
            if connection.sock is not None:
                connection.sock.settimeout(timeout)
            return connection
        if connection is not None:
            connection.close()
        if url.scheme == "https":
            return http.client.HTTPSConnection(url.host, url.port, timeout=timeout, context=self._context())
        return http.client.HTTPConnection(url.host, url.port, timeout=timeout)

    def _context(self) -> ssl.SSLContext:
        if self._tls is None:
            try:
                self._tls = ssl.create_default_context(cafile=self._ca_bundle or _default_ca_file())
            except (OSError, ssl.SSLError):
                raise ConfigError(
                    f"CWOTLP_CA_BUNDLE: cannot read a PEM CA bundle at {self._ca_bundle}"
                ) from None
        return self._tls


def location_host(location: str | None, secrets: Iterable[str]) -> str:
    """ " to <host>" for a redirect's Location, never its path or query (which may carry a key), nor a
    host that holds a credential (a peer may write the key it was sent into a host name)."""
    if not location:
        return ""
    try:
        host = urlsplit(location.strip()).hostname
    except ValueError:
        return ""
    if not (host and host.isascii() and host.isprintable()):
        return " on the same host"
    return f" to {host}" if redact(host, secrets, limit=len(host)) == host else " to another host"


def _default_ca_file() -> str | None:
    try:
        import certifi
    except ImportError:  # the system's trust store, then
        return None
    return str(certifi.where())


def _usable(connection: http.client.HTTPConnection) -> bool:
    """An idle connection is reusable unless the peer closed it (it reads as ready: EOF) or sent
    something unasked."""
    sock = connection.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _incomplete(answer: http.client.HTTPResponse, read: Response | None = None) -> Response:
    """The answer as far as it came: its status and headers, and the body read before it broke off."""
    headers = {name.lower(): value for name, value in answer.getheaders()}
    return Response(answer.status, headers, read.body if read is not None else b"", complete=False)


def _read(answer: http.client.HTTPResponse) -> Response:
    headers = {name.lower(): value for name, value in answer.getheaders()}
    body = answer.read(RESPONSE_LIMIT + 1)
    complete = len(body) <= RESPONSE_LIMIT
    if complete and not answer.isclosed():
        complete = not answer.read(1)  # a chunked body may end exactly at the limit
    return Response(answer.status, headers, body[:RESPONSE_LIMIT], complete)


def _describe(error: BaseException) -> str:
    """What went wrong, in words of our own; the exception's text is not used."""
    if isinstance(error, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(error, socket.gaierror):
        return "the host name does not resolve"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, ssl.SSLError):
        return "TLS handshake failed"
    if isinstance(error, http.client.RemoteDisconnected | ConnectionResetError | BrokenPipeError):
        return "the connection was closed before an answer"
    if isinstance(error, http.client.HTTPException):
        return "the answer was not valid HTTP"
    if isinstance(error, ValueError):
        return "the request could not be sent"
    return "connection failed"


@dataclass
class RetryPolicy:
    max_retries: int = 5
    timeout: float = 15.0  # one attempt, connect to last byte
    base_delay: float = 0.5
    max_delay: float = 8.0
    # At least this long must be left to start an attempt.
    min_request_time: float = 1.0
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[float, float], float] = field(default=random.uniform)


class Counters(Protocol):
    """Where retries are counted (the object's report)."""

    retries: int


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a Retry-After header (ASCII delta-seconds or an HTTP date), None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if _DIGITS.fullmatch(value):  # as many digits as a peer sends: a long number is a long wait
        return MAX_RETRY_AFTER if len(value.lstrip("0")) > 9 else min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    return min(max(0.0, when.timestamp() - time.time()), MAX_RETRY_AFTER)


def post_with_retries(
    client: HttpClient,
    url: Url,
    body: bytes,
    *,
    what: str,
    headers: Callable[[], Mapping[str, str]],
    policy: RetryPolicy,
    deadline: Deadline,
    counters: Counters,
) -> Response:
    """POSTs until an answer that is not worth retrying arrives, and returns it.

    `what` names the peer in errors ("collector https://host"); `headers` is asked anew for every
    attempt (a wait may outlast a token). Raises DeliveryError when retries or time run out.
    """
    attempt = 0
    while True:
        if deadline.remaining() < policy.min_request_time:
            raise DeliveryError(f"{what}: out of time before attempt {attempt + 1}")
        retry_after: float | None = None
        try:
            response = client.post(url, body, headers(), deadline=deadline, timeout=policy.timeout)
        except TransportError as error:
            if not error.retryable:
                raise DeliveryError(f"{what}: {error}") from None
            problem = str(error)
        else:
            if response.status not in RETRYABLE_STATUS:
                return response
            problem = f"HTTP {response.status}"
            retry_after = retry_after_seconds(response.header("Retry-After"))
        if attempt >= policy.max_retries:
            raise DeliveryError(f"{what}: {problem} after {attempt + 1} attempts")
        wait = _wait(policy, attempt, retry_after)
        if wait + policy.min_request_time > deadline.remaining():
            asked = f"asked to wait {retry_after:.0f} s" if retry_after is not None else "backing off"
            raise DeliveryError(
                f"{what}: {problem}, {asked}, longer than the time left; left to the next attempt"
            )
        policy.sleep(wait)
        attempt += 1
        counters.retries += 1


def _wait(policy: RetryPolicy, attempt: int, retry_after: float | None) -> float:
    """Full-jitter backoff, or Retry-After with jitter on top, so that many senders told to wait the
    same time do not come back in step."""
    if retry_after is None:
        return policy.random(0.0, min(policy.max_delay, policy.base_delay * 2**attempt))
    return retry_after + policy.random(0.0, max(policy.base_delay, min(policy.max_delay, retry_after / 2)))
