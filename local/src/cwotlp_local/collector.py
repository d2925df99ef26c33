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
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.protobuf.unknown_fields import UnknownFieldSet
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from cwotlp_local._server import (
    HARD_BODY_LIMIT,
    BadRequestFraming,
    BodyTooLarge,
    LocalHandler,
    LocalServer,
)
from cwotlp_local.faults import Fault, FaultQueue
from cwotlp_local.otlp import DataPoint, iter_datapoints

JSON = "application/json"
PROTOBUF = "application/x-protobuf"
METRICS_PATH = "/v1/metrics"

# Status of a request that was answered by closing the connection (a reset fault).
RESET = 0


class Headers(dict[str, str]):
    """Request headers with lower-case names; lookups ignore case."""

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


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


class _Malformed(Exception):
    def __init__(self, status: int, reason: str, body_head: bytes = b"") -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.body_head = body_head


def _status_body(code: int, message: str, content_type: str) -> bytes:
    """A google.rpc.Status (the OTLP error body) in the given content type."""
    if content_type == PROTOBUF:
        text = message.encode()
        out = bytearray()
        if code:
            out += b"\x08" + _varint(code)
        out += b"\x12" + _varint(len(text)) + text
        return bytes(out)
    return json.dumps({"code": code, "message": message}).encode()


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _find_unknown_fields(message: Message, path: str = "") -> str | None:
    """The path of the first message holding fields unknown to the schema, or None."""
    if len(UnknownFieldSet(message)):
        return path or "<root>"
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            continue
        children = value if field.is_repeated else [value]
        for index, child in enumerate(children):
            found = _find_unknown_fields(child, f"{path}.{field.name}[{index}]")
            if found:
                return found
    return None


def _gunzip(data: bytes, limit: int) -> bytes:
    """Decompresses gzip (possibly several members) without producing more than limit + 1 bytes."""
    out = bytearray()
    remaining = data
    for _ in range(64):
        decompressor = zlib.decompressobj(wbits=31)
        out += decompressor.decompress(remaining, limit + 1 - len(out))
        if len(out) > limit:
            raise BodyTooLarge(f"more than {limit} bytes after decompression")
        if not decompressor.eof:
            if decompressor.unconsumed_tail:
                raise BodyTooLarge(f"more than {limit} bytes after decompression")
            raise zlib.error("truncated gzip stream")
        remaining = decompressor.unused_data
        if not remaining:
            return bytes(out)
    raise zlib.error("too many gzip members")


class _CollectorHandler(LocalHandler):
    def do_POST(self) -> None:
        collector: Collector = self.server.owner  # type: ignore[assignment]
        headers = Headers({k.lower(): v for k, v in self.headers.items()})
        try:
            self._post(collector, headers)
        except OSError:
            raise  # the client went away; nothing to answer
        except Exception as e:
            # A bug in the collector must not look like a network problem: answer 500 and record it.
            collector._answered(500)
            collector._reject(RejectedRequest(500, f"collector error: {e!r}", headers, b""))
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.respond(500, _status_body(13, "internal error", JSON), JSON)

    def _post(self, collector: Collector, headers: Headers) -> None:
        try:
            wire = self.read_body()
        except BodyTooLarge as e:
            collector._answered(413)
            self.respond(413, _status_body(8, f"request body too large: {e}", JSON), JSON)
            return
        except BadRequestFraming as e:
            collector._answered(400)
            collector._reject(RejectedRequest(400, str(e), headers, b""))
            self.respond(400, _status_body(3, str(e), JSON), JSON)
            return

        fault = collector._next_fault()
        if fault is not None:
            collector._answered(RESET if fault.reset else fault.status)
            self.apply_fault(fault, collector.stopping)
            return

        response_type = PROTOBUF if self._media_type(headers) == PROTOBUF else JSON
        path = self.path.split("?", 1)[0]
        if path != collector.path:
            collector._answered(404)
            collector._reject(RejectedRequest(404, f"unknown path {path}", headers, wire[:200]))
            self.respond(404, _status_body(5, f"unknown path {path}", response_type), response_type)
            return

        if collector.token_check is not None:
            authorization = headers.get("authorization", "")
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip() or not collector.token_check(token.strip()):
                collector._answered(401)
                self.respond(
                    401,
                    _status_body(16, "missing or invalid bearer token", response_type),
                    response_type,
                    {"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )
                return

        try:
            message, raw_bytes, content_type, encoding = self._decode(collector, headers, wire)
        except BodyTooLarge as e:
            collector._answered(413)
            self.respond(413, _status_body(8, f"request body too large: {e}", response_type), response_type)
            return
        except _Malformed as e:
            collector._answered(e.status)
            collector._reject(RejectedRequest(e.status, e.reason, headers, e.body_head))
            self.respond(e.status, _status_body(3, e.reason, response_type), response_type)
            return

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
        response = ExportMetricsServiceResponse()
        partial = collector._take_partial_success()
        if partial is not None:
            response.partial_success.rejected_data_points = partial[0]
            response.partial_success.error_message = partial[1]
        if content_type == PROTOBUF:
            body = response.SerializeToString()
        else:
            body = json.dumps(json_format.MessageToDict(response), separators=(",", ":")).encode()
        self.respond(200, body, content_type)

    def do_GET(self) -> None:
        self.read_body()
        self.respond(405, b"method not allowed\n", "text/plain", {"Allow": "POST"})

    do_PUT = do_DELETE = do_PATCH = do_GET

    @staticmethod
    def _media_type(headers: Headers) -> str:
        return str(headers.get("content-type", "")).split(";", 1)[0].strip().lower()

    def _decode(
        self, collector: Collector, headers: Headers, wire: bytes
    ) -> tuple[ExportMetricsServiceRequest, int, str, str]:
        content_type = self._media_type(headers)
        if content_type not in (JSON, PROTOBUF):
            raise _Malformed(415, f"unsupported Content-Type {content_type!r}", wire[:200])
        encoding = str(headers.get("content-encoding", "identity")).strip().lower() or "identity"
        limit = collector.max_body_bytes if collector.max_body_bytes is not None else HARD_BODY_LIMIT
        if encoding == "gzip":
            try:
                raw = _gunzip(wire, limit)
            except zlib.error as e:
                raise _Malformed(400, f"bad gzip body: {e}", wire[:200]) from e
        elif encoding == "identity":
            if len(wire) > limit:
                raise BodyTooLarge(f"{len(wire)} bytes")
            raw = wire
        else:
            raise _Malformed(415, f"unsupported Content-Encoding {encoding!r}", wire[:200])

        message = ExportMetricsServiceRequest()
        if content_type == JSON:
            try:
                json_format.Parse(raw.decode("utf-8"), message, ignore_unknown_fields=False)
            except (json_format.ParseError, UnicodeDecodeError, ValueError) as e:
                raise _Malformed(400, f"bad OTLP JSON: {e}", raw[:200]) from e
        else:
            try:
                message.ParseFromString(raw)
            except DecodeError as e:
                raise _Malformed(400, f"bad OTLP protobuf: {e}", raw[:200]) from e
            unknown = _find_unknown_fields(message)
            if unknown is not None:
                raise _Malformed(400, f"unknown protobuf fields at {unknown}", raw[:200])
        return message, len(raw), content_type, encoding


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
    def _next_fault(self) -> Fault | None:
        return self._faults.take()

    def _take_partial_success(self) -> tuple[int, str] | None:
        with self._cond:
            return self._partial.pop(0) if self._partial else None

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
