"""Export against real OTLP/HTTP collectors on 127.0.0.1: gzip and headers, 413 splitting, 400
narrowing to the records a collector refuses, partial-success answers of every shape, one token
refresh on 401, redirects, and answers quoted only with the credentials taken out."""

from __future__ import annotations

import gzip
import json
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse

from conftest import Retries, decode, make_settings
from cwotlp import __version__
from cwotlp.delivery import export
from cwotlp.delivery.auth import AuthError, ClientCredentials, StaticHeaders
from cwotlp.delivery.export import MAX_REFUSALS, Delivery, ExportCounters, Exporter
from cwotlp.delivery.http import Deadline, HttpClient, RetryPolicy
from cwotlp.delivery.urls import Url
from cwotlp.errors import DeliveryError
from cwotlp.otlp.batch import Batch
from cwotlp.pipeline import Conversion
from cwotlp.report import ObjectReport
from cwotlp.secret import Destination, OAuth2
from cwotlp_local._server import LocalHandler, LocalServer
from cwotlp_local.collector import Collector
from cwotlp_local.faults import Fault
from cwotlp_local.token_server import TokenServer

API_KEY = "Ak9-api-key-value"
QUERY_KEY = "Qm2-query-key-value"
CLIENT_SECRET = "Cs5-client-secret-value"


def records(count: int) -> bytes:
    """JSON lines of `count` records told apart by their dimension Seq, one datapoint each."""
    lines = [
        {
            "metric_stream_name": "stream",
            "account_id": "123456789012",
            "region": "us-east-1",
            "namespace": "Test/Export",
            "metric_name": "Requests",
            "dimensions": {"Seq": str(seq)},
            "timestamp": 1_767_225_600_000,
            "value": {"count": 2.0, "sum": 3.0, "min": 1.0, "max": 2.0},
            "unit": "Count",
        }
        for seq in range(count)
    ]
    return b"\n".join(orjson.dumps(line) for line in lines)


def one_batch(count: int, encoding: str = "json") -> Batch:
    settings = make_settings(encoding=encoding)
    [batch] = list(Conversion([records(count)], settings).batches())
    assert len(batch.entries) == count
    return batch


def sequence(request: Any) -> list[int]:
    """The Seq dimension of every datapoint of a request, in order."""
    found = []
    for resource_metrics in request.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in metric.summary.data_points:
                    dimensions = next(a.value.string_value for a in point.attributes if a.key == "Dimensions")
                    found.append(int(json.loads(dimensions)["Seq"]))
    return found


class _PoisonHandler(LocalHandler):
    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this each answer waits for a delayed ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        owner: PoisonCollector = self.server.owner  # type: ignore[assignment]
        body = self.read_body()
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        kind = "protobuf" if "protobuf" in self.headers.get("Content-Type", "") else "json"
        seqs = sequence(decode(body, kind))
        with owner.lock:
            refused = bool(owner.poison & set(seqs))
            owner.statuses.append(400 if refused else 200)
            if not refused:
                owner.accepted.extend(seqs)
        if refused:
            status = {"code": 3, "message": f"datapoint rejected: bad value; key {API_KEY}"}
            self.respond(400, json.dumps(status).encode(), "application/json")
        else:
            self.respond(200, b"{}", "application/json")


class PoisonCollector(LocalServer):
    """A collector that refuses (HTTP 400) every request holding one of the poison records."""

    handler_class = _PoisonHandler

    def __init__(self, poison: set[int]) -> None:
        super().__init__()
        self.poison = poison
        self.lock = threading.Lock()
        self.statuses: list[int] = []
        self.accepted: list[int] = []


class Setup:
    def __init__(self, url: str, auth: Any = None, *, max_retries: int = 2) -> None:
        self.policy = RetryPolicy(max_retries=max_retries, sleep=lambda _: None, min_request_time=0.1)
        self.counters = ExportCounters()
        self.client = HttpClient()
        endpoint = Url.parse(f"{url}?key={QUERY_KEY}", "endpoint", allow_http=True)
        destination = Destination(endpoint, headers={"x-api-key": API_KEY})
        self.exporter = Exporter(
            endpoint,
            auth or StaticHeaders(destination.headers),
            self.client,
            self.policy,
            self.counters,
            destination.secrets(),
        )
        self.accepted: list[Batch] = []

    def send(self, batch: Batch, seconds: float = 30.0) -> None:
        self.exporter.send(batch, Deadline.after(seconds), self.accepted.append)

    def progress(self) -> list[tuple[int, int]]:
        return [(batch.first_record, batch.end_record) for batch in self.accepted]


@pytest.fixture
def collector() -> Iterator[Collector]:
    with Collector(path="/v1/metrics") as server:
        yield server
        assert server.errors == []


def contiguous(progress: list[tuple[int, int]], start: int, end: int) -> bool:
    position = start
    for first, last in progress:
        if first != position or last <= first:
            return False
        position = last
    return position == end


@pytest.mark.parametrize("encoding", ["json", "protobuf"])
def test_a_batch_arrives_gzipped_with_its_headers(collector: Collector, encoding: str) -> None:
    setup = Setup(collector.url)
    batch = one_batch(20, encoding)
    setup.send(batch)
    [request] = collector.requests
    assert request.content_encoding == "gzip"
    assert request.content_type == (
        "application/x-protobuf" if encoding == "protobuf" else "application/json"
    )
    assert request.headers["User-Agent"] == f"cwotlp/{__version__}"
    assert request.headers["x-api-key"] == API_KEY
    assert sequence(request.message) == list(range(20))
    counters = setup.counters
    assert (counters.requests, counters.datapoints, counters.raw_bytes) == (1, 20, len(batch.body()))
    assert counters.gzip_bytes == request.wire_bytes < counters.raw_bytes
    assert setup.accepted == [batch]


def test_413_splits_the_batch_until_it_fits() -> None:
    batch = one_batch(64)
    with Collector(max_body_bytes=len(batch.body()) // 5) as collector:
        setup = Setup(collector.url)
        setup.send(batch)
        assert sorted(s for r in collector.requests for s in sequence(r.message)) == list(range(64))
        assert 413 in collector.statuses
    assert setup.counters.splits >= 3
    assert setup.counters.datapoints == 64
    assert contiguous(setup.progress(), 0, 64)


def test_413_for_a_single_record_fails() -> None:
    with Collector(max_body_bytes=50) as collector:
        with pytest.raises(
            DeliveryError, match=r"HTTP 413 for a request that cannot be split \(1 datapoints\)"
        ):
            Setup(collector.url).send(one_batch(1))
        assert collector.attempts == 1


@pytest.mark.parametrize("poison", [{37}, {0}, {63}, {5, 6}, {40, 41, 60}])
def test_400_is_narrowed_down_to_the_refused_records(
    poison: set[int], caplog: pytest.LogCaptureFixture
) -> None:
    with PoisonCollector(poison) as collector, caplog.at_level(logging.WARNING, logger="cwotlp"):
        setup = Setup(collector.base_url + "/v1/metrics")
        setup.send(one_batch(64))
    assert sorted(collector.accepted) == sorted(set(range(64)) - poison)
    assert len(collector.accepted) == 64 - len(poison)  # each once
    assert setup.counters.rejected_by_collector == len(poison)
    assert setup.counters.datapoints == 64 - len(poison)
    # Progress hears of every piece, the refused records included, strictly in record order.
    assert contiguous(setup.progress(), 0, 64)
    passed_over = [
        r for r in caplog.records if r.getMessage() == "collector refused a record; it is passed over"
    ]
    assert sorted(r.first_record for r in passed_over) == sorted(poison)  # type: ignore[attr-defined]
    for record in passed_over:
        assert "datapoint rejected: bad value" in record.collector_message  # type: ignore[attr-defined]
        assert API_KEY not in record.collector_message  # type: ignore[attr-defined]
    assert collector.statuses.count(400) <= 2 * 6 * len(poison) + 1


def test_a_collector_refusing_everything_fails_after_seven_requests(collector: Collector) -> None:
    body = json.dumps({"code": 3, "message": f"unknown tenant for key {API_KEY}"}).encode()
    collector.inject(Fault(status=400, body=body, headers={"Content-Type": "application/json"}), times=100)
    setup = Setup(collector.url)
    with pytest.raises(
        DeliveryError, match="refused a request with HTTP 400, and every quarter of it"
    ) as caught:
        setup.send(one_batch(64))
    assert collector.attempts == 7  # the request, its halves, its quarters
    assert "unknown tenant for key ***" in str(caught.value)
    assert API_KEY not in str(caught.value)
    assert setup.accepted == []


@pytest.mark.parametrize("poison", [{5, 40}, {3, 20, 50}, {0, 63}])
def test_poison_in_both_halves_of_a_request_is_isolated(poison: set[int]) -> None:
    """Up to three bad records, wherever they lie, leave a quarter the collector takes: the exporter goes
    on narrowing down instead of taking them for a collector that refuses everything."""
    with PoisonCollector(poison) as collector:
        setup = Setup(collector.base_url + "/v1/metrics")
        setup.send(one_batch(64))
    assert setup.counters.rejected_by_collector == len(poison)
    assert setup.counters.datapoints == 64 - len(poison)
    assert contiguous(setup.progress(), 0, 64)


def test_poison_in_every_quarter_looks_like_refusing_everything() -> None:
    """The trade-off the exporter makes: bad records in all four quarters of a request fail it after
    seven requests, as a collector refusing everything does, rather than cost one request per record."""
    with PoisonCollector({5, 20, 40, 60}) as collector:
        setup = Setup(collector.base_url + "/v1/metrics")
        with pytest.raises(DeliveryError, match="it refuses everything, not single records"):
            setup.send(one_batch(64))
    assert collector.statuses == [400] * 7


def test_too_many_refusals_fail_the_delivery() -> None:
    poison = set(range(0, 100, 2))  # all in the first half: the second half is accepted
    with PoisonCollector(poison) as collector:
        setup = Setup(collector.base_url + "/v1/metrics")
        with pytest.raises(DeliveryError, match=f"more than {MAX_REFUSALS} requests refused with HTTP 400"):
            setup.send(one_batch(200))
    assert collector.statuses.count(400) == MAX_REFUSALS + 1
    assert contiguous(setup.progress(), 0, setup.progress()[-1][1])


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data)


RUN = export.GZIP_RUN_BYTES


@pytest.mark.parametrize(
    "sizes",
    [[], [0], [3] * 200_000, [RUN - 1, 1, 2], [RUN, 0, RUN], [3 << 20], [7, 3 << 20, 7]],
    ids=["none", "empty", "many-small", "across-a-run", "runs-exactly", "one-large", "large-between"],
)
def test_a_request_is_gzipped_whole_whatever_its_parts(sizes: list[int]) -> None:
    parts = [bytes([n % 251]) * size for n, size in enumerate(sizes)]
    raw_bytes, compressed = export.gzipped(parts)
    assert raw_bytes == sum(sizes)
    assert gzip.decompress(compressed) == b"".join(parts)


PROTOBUF_ANSWER = ExportMetricsServiceResponse()
PROTOBUF_ANSWER.partial_success.rejected_data_points = 7
PROTOBUF_ANSWER.partial_success.error_message = f"7 too old, key {API_KEY}"


@pytest.mark.parametrize(
    ("body", "headers", "rejected", "logged"),
    [
        (b"", {}, 0, None),
        (b"{}", {}, 0, None),
        (b'{"partialSuccess":{}}', {}, 0, None),
        (b'{"partialSuccess":{"rejectedDataPoints":"5","errorMessage":"old"}}', {}, 5, "rejected"),
        (b'{"partialSuccess":{"rejectedDataPoints":3}}', {}, 3, "rejected"),
        (b'{"partialSuccess":{"rejectedDataPoints":0,"errorMessage":"warning only"}}', {}, 0, "rejected"),
        (b"garbage", {}, 0, "unreadable"),
        (b"[]", {}, 0, "unreadable"),
        (b'{"partialSuccess":{"rejectedDataPoints":1e400}}', {}, 0, "unreadable"),
        (b'{"partialSuccess":{"rejectedDataPoints":-3}}', {}, 0, "unreadable"),
        (b'{"partialSuccess":{"rejectedDataPoints":true}}', {}, 0, "unreadable"),
        (b'{"partialSuccess":{"rejectedDataPoints":"99999999999999999999"}}', {}, 0, "unreadable"),
        (b'{"partialSuccess":"none"}', {}, 0, "unreadable"),
        (
            gzipped(b'{"partialSuccess":{"rejectedDataPoints":"4","errorMessage":"too old"}}'),
            {"Content-Encoding": "gzip"},
            4,
            "rejected",
        ),
        (gzipped(b"\x00" * 10_000_000), {"Content-Encoding": "gzip"}, 0, "unreadable"),
        (b"\x1f\x8b\x08garbage", {"Content-Encoding": "gzip"}, 0, "unreadable"),
        (b'{"partialSuccess":{"rejectedDataPoints":2}}', {"Content-Encoding": "br"}, 0, "unreadable"),
        (
            PROTOBUF_ANSWER.SerializeToString(),
            {"Content-Type": "application/x-protobuf"},
            7,
            "rejected",
        ),
        (b"\xff\xff\xff", {"Content-Type": "application/x-protobuf"}, 0, "unreadable"),
    ],
)
def test_partial_success_answers_of_any_shape_never_fail_an_accepted_request(
    collector: Collector,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    headers: dict[str, str],
    rejected: int,
    logged: str | None,
) -> None:
    collector.inject(Fault(status=200, body=body, headers={"Content-Type": "application/json", **headers}))
    setup = Setup(collector.url)
    batch = one_batch(3)
    with caplog.at_level(logging.WARNING, logger="cwotlp"):
        setup.send(batch)
    assert setup.accepted == [batch]
    assert (setup.counters.requests, setup.counters.datapoints) == (1, 3)
    assert setup.counters.rejected_datapoints == rejected
    messages = [r.getMessage() for r in caplog.records]
    expected = {
        None: [],
        "rejected": ["collector rejected part of a request"],
        "unreadable": ["collector accepted a request with an answer that cannot be read"],
    }[logged]
    assert messages == expected
    for record in caplog.records:
        assert API_KEY not in str(record.__dict__)
    assert collector.attempts == 1


def test_a_partial_success_message_is_logged_redacted(
    collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    collector.inject(
        Fault(
            status=200,
            body=PROTOBUF_ANSWER.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        )
    )
    with caplog.at_level(logging.WARNING, logger="cwotlp"):
        Setup(collector.url).send(one_batch(3, "protobuf"))
    [record] = [r for r in caplog.records if r.name == "cwotlp"]
    assert record.rejected_datapoints == 7  # type: ignore[attr-defined]
    assert record.collector_message == "7 too old, key ***"  # type: ignore[attr-defined]


def oauth_setup(collector: Collector, tokens: TokenServer) -> Setup:
    oauth2 = OAuth2(Url.parse(tokens.url, "token_url", allow_http=True), "forwarder", CLIENT_SECRET)
    policy = RetryPolicy(max_retries=1, sleep=lambda _: None)
    return Setup(collector.url, ClientCredentials(oauth2, HttpClient(), policy, Retries()))


def test_401_gets_one_fresh_token_and_one_more_try() -> None:
    with (
        TokenServer(client_id="forwarder", client_secret=CLIENT_SECRET) as tokens,
        Collector(token_check=tokens.is_valid) as collector,
    ):
        setup = oauth_setup(collector, tokens)
        setup.send(one_batch(3))
        setup.send(one_batch(3))
        assert tokens.issued == 1  # the token is reused
        tokens.expire_all()  # revoked before its advertised expiry
        setup.send(one_batch(3))
        assert collector.statuses == [200, 200, 401, 200]
        assert tokens.issued == 2
        collector.inject(Fault(status=401), times=5)
        with pytest.raises(DeliveryError, match="answered HTTP 401"):
            setup.send(one_batch(3))
        assert collector.statuses[4:] == [401, 401]
        assert tokens.issued == 3


def test_a_refused_client_secret_fails_before_anything_is_sent() -> None:
    with (
        TokenServer(client_id="forwarder", client_secret=CLIENT_SECRET) as tokens,
        Collector(token_check=tokens.is_valid) as collector,
    ):
        oauth2 = OAuth2(
            Url.parse(tokens.url, "token_url", allow_http=True), "forwarder", "Wrong-secret-value"
        )
        auth = ClientCredentials(oauth2, HttpClient(), RetryPolicy(sleep=lambda _: None), Retries())
        with pytest.raises(AuthError, match="answered HTTP 401: invalid_client") as caught:
            Setup(collector.url, auth).send(one_batch(3))
        assert "Wrong-secret-value" not in str(caught.value)
        assert collector.attempts == 0


def test_a_token_that_expires_during_a_wait_is_renewed_for_the_next_attempt() -> None:
    now = [0.0]

    def wait(seconds: float) -> None:
        now[0] += seconds  # the wait outlasts the token

    with (
        TokenServer(client_id="forwarder", client_secret=CLIENT_SECRET, expires_in=100) as tokens,
        Collector(token_check=tokens.is_valid) as collector,
    ):
        oauth2 = OAuth2(Url.parse(tokens.url, "token_url", allow_http=True), "forwarder", CLIENT_SECRET)
        auth = ClientCredentials(oauth2, HttpClient(), RetryPolicy(), Retries(), clock=lambda: now[0])
        setup = Setup(collector.url, auth)
        setup.policy.sleep = wait
        collector.inject(Fault(status=503, headers={"Retry-After": "120"}))
        setup.send(one_batch(3), seconds=600)
        assert collector.statuses == [503, 200]
        assert tokens.issued == 2


def test_401_with_static_headers_fails_at_once(collector: Collector) -> None:
    collector.inject(Fault(status=401, body=f"key {API_KEY} unknown".encode()))
    with pytest.raises(DeliveryError, match=r"answered HTTP 401: key \*\*\* unknown"):
        Setup(collector.url).send(one_batch(3))
    assert collector.attempts == 1


@pytest.mark.parametrize(
    ("location", "said"),
    [
        (f"https://other.example.test/v1/metrics?api_key={QUERY_KEY}", "a redirect to other.example.test;"),
        (f"/v2/metrics?api_key={QUERY_KEY}", "a redirect on the same host;"),
        (f"https://{API_KEY.lower()}.example.test/v1/metrics", "a redirect to another host;"),
        (None, "a redirect;"),
    ],
)
def test_a_redirect_is_not_followed_and_says_where_to(
    collector: Collector, location: str | None, said: str
) -> None:
    collector.inject(Fault(status=308, headers={"Location": location} if location else {}))
    with pytest.raises(DeliveryError) as caught:
        Setup(collector.url).send(one_batch(3))
    message = str(caught.value)
    assert f"answered HTTP 308, {said} redirects are not followed" in message
    assert "set the endpoint to the URL that takes the data" in message
    assert QUERY_KEY not in message and "api_key" not in message and "?" not in message
    assert API_KEY.lower() not in message.lower()
    assert collector.attempts == 1


@pytest.mark.parametrize("status", [403, 404, 500])
def test_other_answers_fail_with_a_redacted_excerpt(collector: Collector, status: int) -> None:
    echo = f"denied: x-api-key {API_KEY}, url /v1/metrics?key={QUERY_KEY}\n\x1b[31m" + "y" * 5000
    collector.inject(Fault(status=status, body=echo.encode()))
    with pytest.raises(DeliveryError) as caught:
        Setup(collector.url).send(one_batch(3))
    message = str(caught.value)
    assert message.startswith(f"collector {collector.base_url} answered HTTP {status}: denied: x-api-key ***")
    assert API_KEY not in message and QUERY_KEY not in message and "\x1b" not in message
    assert len(message) < 400


def test_retries_are_counted(collector: Collector) -> None:
    collector.inject(Fault(status=503), times=2)
    setup = Setup(collector.url)
    setup.send(one_batch(3))
    assert setup.counters.retries == 2
    assert collector.statuses == [503, 503, 200]


class Rotating:
    """A destination source whose secret was rotated: get() has the old client secret, refresh() the new."""

    def __init__(self, old: Destination, new: Destination) -> None:
        self.old, self.new = old, new
        self.refreshed = 0

    def get(self) -> Destination:
        return self.new if self.refreshed else self.old

    def refresh(self) -> Destination:
        self.refreshed += 1
        return self.new


def test_delivery_reads_the_rotated_secret_when_the_client_is_refused() -> None:
    with (
        TokenServer(client_id="forwarder", client_secret=CLIENT_SECRET) as tokens,
        Collector(token_check=tokens.is_valid) as collector,
    ):
        secret = {
            "endpoint": collector.url,
            "token_url": tokens.url,
            "client_id": "forwarder",
            "allow_http": True,
        }
        old = Destination.from_secret({**secret, "client_secret": "Old-secret"}, "secret")
        new = Destination.from_secret({**secret, "client_secret": CLIENT_SECRET}, "secret")
        source = Rotating(old, new)
        delivery = Delivery(source, make_settings(max_retries=1))
        report = ObjectReport("bucket-a", "key")
        send = delivery.exporter(report)
        accepted: list[Batch] = []
        send(one_batch(5), Deadline.after(30), accepted.append)
    assert source.refreshed == 1
    assert report.counters.datapoints == 5 == collector.datapoint_count()
    assert [r.status for r in tokens.requests] == [401, 200]
    assert len(accepted) == 1
