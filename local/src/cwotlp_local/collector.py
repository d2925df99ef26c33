"""A real OTLP/HTTP metrics receiver for tests and the demo.

It accepts POST /v1/metrics with an ExportMetricsServiceRequest in OTLP JSON (`application/json`) or
protobuf (`application/x-protobuf`), gzip-compressed or not, decodes it strictly with the official
message definitions, and records what it accepted. Faults, partial success and bearer-token checks can
be switched on per test.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from cwotlp_local._otlp_http import JSON, PROTOBUF, ErrorAnswer, Headers, decode_request
from cwotlp_local._server import (
    HARD_BODY_LIMIT,
    BadRequestFraming,
    BodyTooLarge,
    LocalHandler,
    LocalServer,
)
from cwotlp_local.faults import Fault, FaultQueue
from cwotlp_local.otlp import DataPoint, iter_datapoints

METRICS_PATH = "/v1/metrics"

# Status of a request that was answered by closing the connection (a reset fault).
RESET = 0


@dataclass(frozen=True)
class RecordedRequest:
    """An accepted export request."""

    message: ExportMetricsServiceRequest
    headers: Headers
    raw_bytes: int  # body length after decompression
    wire_bytes: int  # body length as sent
    content_type: str  # JSON or PROTOBUF
    content_encoding: str  # "gzip" or "identity"
    received_at: float  # time.time()


@dataclass(frozen=True)
class RejectedRequest:
    """A request the collector could not accept because it was malformed (a client bug)."""

    status: int
    reason: str
    headers: Headers
    body_head: bytes  # the first bytes of the (decompressed, when possible) body


class _CollectorHandler(LocalHandler):
    def do_POST(self) -> None:
        collector: Collector = self.server.owner  # type: ignore[assignment]
        headers = Headers({k.lower(): v for k, v in self.headers.items()})
        try:
            self._post(collector, headers)
        except OSError:
            raise  # the client went away; nothing to answer
        except ErrorAnswer as answer:
            self._answer(collector, headers, answer)
        except Exception as e:
            # A bug in the collector must not look like a network problem: answer 500 and record it.
            self.close_connection = True
            internal = ErrorAnswer(
                500, 13, "internal error", malformed=True, reason=f"collector error: {e!r}", content_type=JSON
            )
            with contextlib.suppress(OSError):
                self._answer(collector, headers, internal)

    def _answer(self, collector: Collector, headers: Headers, answer: ErrorAnswer) -> None:
        """The one way an error is answered: counted, recorded when the request was malformed, sent."""
        collector._answered(answer.status)
        if answer.malformed:
            collector._reject(RejectedRequest(answer.status, answer.reason, headers, answer.body_head))
        body, content_type = answer.body(headers)
        self.respond(answer.status, body, content_type, answer.headers)

    def _post(self, collector: Collector, headers: Headers) -> None:
        """Accepts and records the request, or raises the ErrorAnswer it gets instead."""
        wire = self._read()
        if collector._answer_fault(self):
            return
        path = self.path.split("?", 1)[0]
        if path != collector.path:
            raise ErrorAnswer(404, 5, f"unknown path {path}", malformed=True, body_head=wire[:200])
        if not collector._authorized(headers.get("authorization", "")):
            raise ErrorAnswer(
                401,
                16,
                "missing or invalid bearer token",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        try:
            message, raw_bytes, content_type, encoding = decode_request(headers, wire, collector.body_limit)
        except BodyTooLarge as e:
            raise ErrorAnswer(413, 8, f"request body too large: {e}") from e
        collector._answered(200)
        collector._record(
            RecordedRequest(
                message=message,
                headers=headers,
                raw_bytes=raw_bytes,
                wire_bytes=len(wire),
                content_type=content_type,
                content_encoding=encoding,
                received_at=time.time(),
            )
        )
        self.respond(200, collector._response_body(content_type), content_type)

    def _read(self) -> bytes:
        """The request body; errors are answered in JSON, before the content type is looked at."""
        try:
            return self.read_body()
        except BodyTooLarge as e:
            raise ErrorAnswer(413, 8, f"request body too large: {e}", content_type=JSON) from e
        except BadRequestFraming as e:
            raise ErrorAnswer(400, 3, str(e), malformed=True, content_type=JSON) from e

    def do_GET(self) -> None:
        self.read_body()
        self.respond(405, b"method not allowed\n", "text/plain", {"Allow": "POST"})

    do_PUT = do_DELETE = do_PATCH = do_GET


class Collector(LocalServer):
    """An OTLP/HTTP metrics receiver on 127.0.0.1 and a free port.

    with Collector(token_check=token_server.is_valid) as collector:
        ... post to collector.url ...
        assert collector.errors == []
    """

    handler_class = _CollectorHandler

    def __init__(
        self,
        token_check: Callable[[str], bool] | None = None,
        tls: bool = False,
        max_body_bytes: int | None = None,
        path: str = METRICS_PATH,
    ) -> None:
        super().__init__(tls)
        self.token_check = token_check
        self.max_body_bytes = max_body_bytes
        self.path = path
        self._faults = FaultQueue()
        self._cond = threading.Condition()
        self._requests: list[RecordedRequest] = []
        self._errors: list[RejectedRequest] = []
        self._statuses: list[int] = []
        self._partial: list[tuple[int, str]] = []
        self._datapoints: list[DataPoint] = []

    @property
    def url(self) -> str:
        return f"{self.base_url}{self.path}"

    @property
    def body_limit(self) -> int:
        """The largest request body accepted, after decompression."""
        return self.max_body_bytes if self.max_body_bytes is not None else HARD_BODY_LIMIT

    # controls ----------------------------------------------------------------------------------------------
    def inject(self, fault: Fault, times: int = 1, after: int = 0) -> None:
        """Queues a fault for each of `times` requests, after any faults already queued.

        With `after`, that many requests are let through first (an outage in the middle of a run).
        """
        self._faults.add(fault, times, after)

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def pending_faults(self) -> int:
        """Queue entries not consumed yet (faults and the requests `after` lets through)."""
        return len(self._faults)

    def partial_success(self, rejected: int, message: str = "") -> None:
        """The next successful response reports `rejected` rejected datapoints (they are still recorded)."""
        with self._cond:
            self._partial.append((rejected, message))

    # what was received -------------------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._cond:
            return list(self._requests)

    @property
    def errors(self) -> list[RejectedRequest]:
        with self._cond:
            return list(self._errors)

    @property
    def attempts(self) -> int:
        """Every request that arrived, faulted or not."""
        with self._cond:
            return len(self._statuses)

    @property
    def statuses(self) -> list[int]:
        """The status answered to each request, in order (0 for a connection reset)."""
        with self._cond:
            return list(self._statuses)

    def status_counts(self) -> Counter[int]:
        with self._cond:
            return Counter(self._statuses)

    def datapoints(self) -> list[DataPoint]:
        """Every accepted datapoint as (resource attributes, metric name, datapoint message)."""
        with self._cond:
            return list(self._datapoints)

    def datapoint_count(self) -> int:
        with self._cond:
            return len(self._datapoints)

    def wait_for_datapoints(self, count: int, timeout: float = 5.0) -> bool:
        """Waits (at most `timeout` seconds) until at least `count` datapoints were accepted."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._datapoints) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def clear(self) -> None:
        """Forgets everything received so far (faults and partial-success settings stay)."""
        with self._cond:
            self._requests.clear()
            self._errors.clear()
            self._statuses.clear()
            self._datapoints.clear()

    # called by the handler ---------------------------------------------------------------------------------
    def _answer_fault(self, handler: LocalHandler) -> bool:
        """Answers the request as the next queued fault says; False when no fault is queued."""
        fault = self._faults.take()
        if fault is None:
            return False
        self._answered(RESET if fault.reset else fault.status)
        handler.apply_fault(fault, self.stopping)
        return True

    def _authorized(self, authorization: str) -> bool:
        if self.token_check is None:
            return True
        scheme, _, token = authorization.partition(" ")
        return scheme.lower() == "bearer" and bool(token.strip()) and self.token_check(token.strip())

    def _response_body(self, content_type: str) -> bytes:
        """The ExportMetricsServiceResponse of an accepted request, with any queued partial success."""
        response = ExportMetricsServiceResponse()
        with self._cond:
            partial = self._partial.pop(0) if self._partial else None
        if partial is not None:
            response.partial_success.rejected_data_points = partial[0]
            response.partial_success.error_message = partial[1]
        if content_type == PROTOBUF:
            return response.SerializeToString()
        return json.dumps(json_format.MessageToDict(response), separators=(",", ":")).encode()

    def _answered(self, status: int) -> None:
        with self._cond:
            self._statuses.append(status)

    def _reject(self, rejected: RejectedRequest) -> None:
        with self._cond:
            self._errors.append(rejected)

    def _record(self, request: RecordedRequest) -> None:
        points = list(iter_datapoints(request.message))
        with self._cond:
            self._requests.append(request)
            self._datapoints.extend(points)
            self._cond.notify_all()
