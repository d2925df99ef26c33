"""Scripts for peers: an OTLP/HTTP metrics receiver and an OAuth2 token endpoint, each with a `hostile`
hook that may answer instead of the well-behaved default.

The receiver decodes every request strictly with the official opentelemetry-proto definitions and
counts what it accepted by datapoint identity: the metric's name and the record's `Seq` dimension,
which every record of the suite carries (whatever the naming scheme makes of dimensions). A request
counts as accepted when the answer given to it starts with a 2xx status line: from then on, a
collector has the data, whatever happens to the rest of the answer.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import unquote_plus

import orjson
from faults.peers import Reply, Request
from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

METRICS_PATH = "/v1/metrics"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
MAX_INFLATED_BYTES = 256 << 20


@dataclass(frozen=True)
class Point:
    metric: str
    seq: int | None  # None: the datapoint carries no Seq dimension (a conversion bug)

    @property
    def identity(self) -> tuple[str, int | None]:
        return self.metric, self.seq


def accepted(reply: Reply) -> bool:
    """Whether the answer tells the client its data was taken: it opens with a 2xx status line."""
    if reply.raw is not None:
        return reply.raw.startswith(b"HTTP/1.1 2")
    return 200 <= reply.status < 300


def _seq(attributes: Iterable[object]) -> int | None:
    for attribute in attributes:
        key, value = attribute.key, attribute.value  # type: ignore[attr-defined]
        if key in ("Seq", "dimension_Seq"):
            return int(value.string_value)
        if key == "Dimensions" and value.HasField("kvlist_value"):
            found = {kv.key: kv.value.string_value for kv in value.kvlist_value.values}
            return int(found["Seq"]) if "Seq" in found else None
        if key == "Dimensions" and value.string_value:
            dimensions = json.loads(value.string_value)
            return int(dimensions["Seq"]) if "Seq" in dimensions else None
    return None


def decode(request: Request) -> list[Point]:
    """The datapoints of an export request; ValueError when it is not a valid one."""
    body = request.body
    if request.headers.get("content-encoding") == "gzip":
        inflater = zlib.decompressobj(wbits=31)
        body = inflater.decompress(body, MAX_INFLATED_BYTES)
        if not inflater.eof:
            raise ValueError("gzip body truncated or too large")
    content_type = request.headers.get("content-type", "")
    message = ExportMetricsServiceRequest()
    if content_type == PROTOBUF:
        message.ParseFromString(body)
    elif content_type == JSON:
        json_format.Parse(body, message, ignore_unknown_fields=False)
    else:
        raise ValueError(f"unexpected content type {content_type!r}")
    points = []
    for resource_metrics in message.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                for point in getattr(metric, kind).data_points if kind else ():
                    points.append(Point(metric.name, _seq(point.attributes)))
    return points


Hostile = Callable[[Request, list[Point]], Reply | None]


class Receiver:
    """The collector's script. `hostile(request, points)` may answer instead (None: the default)."""

    def __init__(self, authorize: Callable[[Request], bool]) -> None:
        self.authorize = authorize
        self.hostile: Hostile | None = None
        self.accepted: Counter[tuple[str, int | None]] = Counter()
        self.malformed: list[str] = []  # requests that did not decode: a forwarder bug
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Reply:
        if request.method != "POST" or request.path != METRICS_PATH:
            return Reply(404, body=b"not found")
        if not self.authorize(request):
            return Reply(401, body=b'{"error": "unauthorized"}')
        try:
            points = decode(request)
        except Exception as error:  # any decoding failure is a malformed request
            with self._lock:
                self.malformed.append(f"{type(error).__name__}: {str(error)[:200]}")
            return Reply(400, body=b"malformed request")
        reply = self.hostile(request, points) if self.hostile else None
        if reply is None:
            reply = Reply(200, (("Content-Type", request.headers.get("content-type", JSON)),))
        if accepted(reply):
            with self._lock:
                self.accepted.update(point.identity for point in points)
        return reply

    def seqs(self) -> set[int | None]:
        return {seq for _, seq in self.accepted}

    def duplicates(self) -> dict[tuple[str, int | None], int]:
        return {identity: n for identity, n in self.accepted.items() if n > 1}

    def assert_exactly_once(self, expected: Iterable[int]) -> None:
        expected = set(expected)
        received = self.seqs()
        missing, unexpected = sorted(expected - received), sorted(received - expected, key=str)
        assert received == expected, f"missing {missing[:20]}, unexpected {unexpected[:20]}"
        assert self.duplicates() == {}, f"sent twice: {sorted(self.duplicates(), key=str)[:20]}"

    def assert_nothing_missing(self, expected: Iterable[int]) -> None:
        missing = set(expected) - self.seqs()
        assert not missing, f"missing {sorted(missing)[:20]}"
        assert None not in self.seqs(), "a datapoint without its Seq dimension arrived"


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """(client_id, client_secret) from client_secret_basic, form-decoded as RFC 6749 2.3.1 says."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme != "Basic":
        return None
    try:
        pair = base64.b64decode(encoded, validate=True).decode()
    except ValueError:
        return None
    client_id, _, client_secret = pair.partition(":")
    return unquote_plus(client_id), unquote_plus(client_secret)


class TokenIssuer:
    """The token endpoint's script: the client-credentials grant with client_secret_basic."""

    def __init__(self, client_id: str, client_secret: str, lifetime: int = 300) -> None:
        self.credentials = {client_id: client_secret}
        self.lifetime = lifetime
        self.hostile: Callable[[Request], Reply | None] | None = None
        self.issued: list[str] = []
        self.live: set[str] = set()
        self.refused: list[tuple[str, str] | None] = []  # credentials of invalid_client answers
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Reply:
        reply = self.hostile(request) if self.hostile else None
        if reply is not None:
            return reply
        pair = basic_credentials(request)
        if pair is None or self.credentials.get(pair[0]) != pair[1]:
            with self._lock:
                self.refused.append(pair)
            return Reply(401, (("Content-Type", JSON),), b'{"error": "invalid_client"}')
        token = self.issue()
        body = {"access_token": token, "token_type": "Bearer", "expires_in": self.lifetime}
        return Reply(200, (("Content-Type", JSON),), orjson.dumps(body))

    def issue(self, token: str | None = None) -> str:
        token = token or f"tok-{secrets.token_hex(16)}"
        with self._lock:
            self.issued.append(token)
            self.live.add(token)
        return token

    def rotate(self, client_id: str, client_secret: str) -> None:
        """New client credentials; the old ones and every token issued so far stop working."""
        with self._lock:
            self.credentials = {client_id: client_secret}
            self.live.clear()

    def bearer_valid(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        with self._lock:
            return scheme == "Bearer" and token in self.live
