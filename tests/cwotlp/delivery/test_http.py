"""The HTTP layer: URL and header validation, and the client and its retries against real servers on
127.0.0.1 (the local collector, and a scripted server for what a well-behaved server never does)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from conftest import Retries
from cwotlp.delivery.http import (
    MAX_RETRY_AFTER,
    RESPONSE_LIMIT,
    Deadline,
    HttpClient,
    RetryPolicy,
    TransportError,
    post_with_retries,
    retry_after_seconds,
)
from cwotlp.delivery.urls import Url, check_header
from cwotlp.errors import ConfigError, DeliveryError
from cwotlp_local.collector import Collector
from cwotlp_local.faults import Fault

SECRET_PATH = "/tenant-Sx9/v1/metrics"
SECRET_QUERY = "api_key=Qk4-secret-query"

# Scripted server ----------------------------------------------------------------------------------------

Action = Callable[[socket.socket, threading.Event], bool]  # answers one request; False closes the connection


def answer(status: int = 200, body: bytes = b"ok", headers: dict[str, str] | None = None) -> Action:
    def act(connection: socket.socket, stop: threading.Event) -> bool:
        head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        connection.sendall(head.encode() + b"\r\n" + body)
        return (headers or {}).get("Connection") != "close"

    return act


def answer_then_hang_up(connection: socket.socket, stop: threading.Event) -> bool:
    """A keep-alive answer, then the peer closes the idle connection (as servers do after a while)."""
    answer()(connection, stop)
    time.sleep(0.05)
    return False


def trickle(connection: socket.socket, stop: threading.Event) -> bool:
    """Headers, then the body one byte every 50 ms: no read ever waits long, the answer never ends."""
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
    with contextlib.suppress(OSError):
        while not stop.wait(0.05):
            connection.sendall(b"x")
    return False


def chunked_body(size: int) -> Action:
    def act(connection: socket.socket, stop: threading.Event) -> bool:
        connection.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        piece = 8192
        for start in range(0, size, piece):
            data = b"y" * min(piece, size - start)
            connection.sendall(b"%x\r\n%b\r\n" % (len(data), data))
        connection.sendall(b"0\r\n\r\n")
        return True

    return act


class ScriptedServer:
    """HTTP/1.1 on 127.0.0.1: each request, on whichever connection, gets the next scripted action."""

    def __init__(self, actions: list[Action]) -> None:
        self._actions = list(actions)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._threads: list[threading.Thread] = []
        self._open: list[socket.socket] = []
        self.connections = 0
        self.requests: list[bytes] = []

    @property
    def url(self) -> Url:
        return Url.parse(
            f"http://127.0.0.1:{self._listener.getsockname()[1]}/v1/metrics", "test", allow_http=True
        )

    def __enter__(self) -> ScriptedServer:
        self._spawn(self._accept)
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._listener.close()
        with self._lock:
            for connection in self._open:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=5)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = self._listener.accept()
                with self._lock:
                    self.connections += 1
                    self._open.append(connection)
                self._spawn(self._serve, connection)

    def _serve(self, connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):
            reader = connection.makefile("rb")
            while not self._stop.is_set():
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline(65536)
                    if not line:
                        return
                    head += line
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                reader.read(length)
                with self._lock:
                    self.requests.append(head)
                    action = self._actions.pop(0) if self._actions else answer(500, b"unscripted")
                if not action(connection, self._stop):
                    return


@pytest.fixture
def collector() -> Iterator[Collector]:
    with Collector() as server:
        yield server


def url_of(server: Collector) -> Url:
    return Url.parse(server.url, "the collector", allow_http=True)


# Url -----------------------------------------------------------------------------------------------------


def test_an_https_url_gets_the_default_path_and_shows_only_its_origin() -> None:
    url = Url.parse("https://collector.example.test", "endpoint", default_path="/v1/metrics")
    assert (url.scheme, url.host, url.port, url.target) == (
        "https",
        "collector.example.test",
        443,
        "/v1/metrics",
    )
    assert url.origin == "https://collector.example.test"
    assert (
        Url.parse("https://c.example.test/", "endpoint", default_path="/v1/metrics").target == "/v1/metrics"
    )
    custom = Url.parse(f"https://c.example.test:8443{SECRET_PATH}?{SECRET_QUERY}", "endpoint")
    assert (custom.port, custom.target, custom.query) == (8443, f"{SECRET_PATH}?{SECRET_QUERY}", SECRET_QUERY)
    assert custom.origin == "https://c.example.test:8443"
    assert Url.parse("http://[::1]:4318", "endpoint", allow_http=True).origin == "http://[::1]:4318"
    assert Url.parse("http://127.0.0.1:80/x", "endpoint", allow_http=True).origin == "http://127.0.0.1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"http://c.example.test{SECRET_PATH}?{SECRET_QUERY}", "is plain http"),
        (f"ftp://c.example.test{SECRET_PATH}?{SECRET_QUERY}", "must be an https:// URL with a host"),
        (f"https://{SECRET_PATH}?{SECRET_QUERY}", "must be an https:// URL with a host"),
        (f"c.example.test{SECRET_PATH}", "must be an https:// URL with a host"),
        (f"https://user:Pw-9secret@c.example.test{SECRET_PATH}", "must not carry a user or password"),
        (f"https://token-only@c.example.test{SECRET_PATH}", "must not carry a user or password"),
        (f"https://c.example.test:99999{SECRET_PATH}?{SECRET_QUERY}", "has a port that is not a number"),
        (f"https://c.example.test:http{SECRET_PATH}?{SECRET_QUERY}", "has a port that is not a number"),
        (f"https://c.example.test:0{SECRET_PATH}?{SECRET_QUERY}", "has a port that is not a number"),
        (
            f"https://c.example.test{SECRET_PATH}?{SECRET_QUERY}\r\nX: y",
            "contains spaces or control characters",
        ),
        (f"https://c.example.test{SECRET_PATH} ?{SECRET_QUERY}", "contains spaces or control characters"),
        (f"https://c.example.test{SECRET_PATH}?{SECRET_QUERY}\x7f", "contains spaces or control characters"),
    ],
)
def test_bad_urls_are_refused_without_quoting_them(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Url.parse(text, "the field 'endpoint'")
    assert message in str(caught.value)
    assert str(caught.value).startswith("the field 'endpoint'")
    for part in ("tenant-Sx9", "Qk4-secret-query", "Pw-9secret", "token-only"):
        assert part not in str(caught.value)


def test_plain_http_says_how_to_accept_it() -> None:
    with pytest.raises(ConfigError, match="set allow_http to true in the secret"):
        Url.parse("http://c.example.test", "endpoint")


# check_header ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "value"), [("x-api-key", "abc"), ("X_Scope-OrgID", "a\tb c"), ("k", "")])
def test_sendable_headers_pass(name: str, value: str) -> None:
    check_header(name, value, "headers")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("x api key", "Hv1-secret", r"the header name 'x'\.\.\. is not a valid HTTP header name"),
        ("x-key:", "Hv1-secret", "is not a valid HTTP header name"),
        ("", "Hv1-secret", "is not a valid HTTP header name"),
        ("x-key", "Hv1-secret\r\nInjected: 1", "the value of header 'x-key' has a line break"),
        ("x-key", "Hv1-secret\x00", "the value of header 'x-key' has a line break"),
        ("x-key", "Hv1-sécret", "the value of header 'x-key' has a line break"),
        ("x-key", " Hv1-secret", "leading or trailing spaces"),
        ("x-key", "Hv1-secret\t", "leading or trailing spaces"),
    ],
)
def test_unsendable_headers_are_named_never_shown(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        check_header(name, value, "the field 'headers'")
    assert "Hv1-s" not in str(caught.value)


# HttpClient against real servers -----------------------------------------------------------------------


def test_redirects_are_returned_not_followed(collector: Collector) -> None:
    collector.inject(Fault(status=307, headers={"Location": "https://elsewhere.example.test/v1/metrics"}))
    response = HttpClient().post(url_of(collector), b"{}", {}, deadline=Deadline.after(10), timeout=5)
    assert response.status == 307
    assert response.header("location") == "https://elsewhere.example.test/v1/metrics"
    assert collector.attempts == 1


def test_a_long_answer_is_cut_at_the_limit() -> None:
    big = b"z" * (RESPONSE_LIMIT + 1000)
    with ScriptedServer([answer(400, big), answer(200, b"next")]) as server:
        client = HttpClient()
        response = client.post(server.url, b"", {}, deadline=Deadline.after(10), timeout=5)
        assert (response.status, response.complete, len(response.body)) == (400, False, RESPONSE_LIMIT)
        # The rest was dropped with the connection: the next request opens another.
        assert client.post(server.url, b"", {}, deadline=Deadline.after(10), timeout=5).body == b"next"
        assert server.connections == 2


def test_a_chunked_answer_of_exactly_the_limit_is_complete_and_one_byte_more_is_not() -> None:
    with ScriptedServer([chunked_body(RESPONSE_LIMIT), chunked_body(RESPONSE_LIMIT + 1)]) as server:
        client = HttpClient()
        exact = client.post(server.url, b"", {}, deadline=Deadline.after(10), timeout=5)
        over = client.post(server.url, b"", {}, deadline=Deadline.after(10), timeout=5)
    assert (exact.complete, len(exact.body)) == (True, RESPONSE_LIMIT)
    assert (over.complete, len(over.body)) == (False, RESPONSE_LIMIT)
    assert server.connections == 1  # the complete answer left the connection reusable


def test_a_trickling_answer_is_cut_at_the_deadline() -> None:
    with ScriptedServer([trickle]) as server:
        started = time.monotonic()
        response = HttpClient().post(server.url, b"", {}, deadline=Deadline.after(1.5), timeout=15)
        elapsed = time.monotonic() - started
    # The contract: a request never outlives its deadline (1.5 s), give or take scheduling.
    assert 1.4 <= elapsed <= 1.5 + 3.0
    # The status line came: the peer answered, and the answer is marked as cut.
    assert response.status == 200
    assert not response.complete
    assert len(response.body) < 1_000_000


def test_the_deadline_holds_when_the_name_lookup_outlasts_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A slow resolver (a first nameserver timing out) uses the whole budget before any socket exists;
    the request must still end at its deadline, not run on for as long as a trickling peer likes."""
    resolve = socket.getaddrinfo

    def slow_resolver(*args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(1.2)
        return resolve(*args, **kwargs)

    with ScriptedServer([trickle]) as server:
        monkeypatch.setattr(socket, "getaddrinfo", slow_resolver)
        url = Url.parse(f"http://localhost:{server.url.port}/v1/metrics", "endpoint", allow_http=True)
        outcome: list[BaseException | object] = []

        def post() -> None:
            try:
                outcome.append(HttpClient().post(url, b"", {}, deadline=Deadline.after(60), timeout=1.0))
            except BaseException as error:  # handed to the test thread
                outcome.append(error)

        worker = threading.Thread(target=post, daemon=True)
        worker.start()
        worker.join(timeout=1.2 + 4.0)  # the resolver's 1.2 s, then the deadline has long passed
        assert outcome, "the request outlived its deadline: the trickle held it"
    assert isinstance(outcome[0], TransportError), outcome
    assert "within 1.0 s" in str(outcome[0]) and outcome[0].retryable


def test_a_status_line_that_trickles_is_no_answer() -> None:
    def slow_status(connection: socket.socket, stop: threading.Event) -> bool:
        with contextlib.suppress(OSError):
            for byte in b"HTTP/1.1 200 OK\r\n":
                if stop.wait(0.3):
                    break
                connection.sendall(bytes((byte,)))
        return False

    with (
        ScriptedServer([slow_status]) as server,
        pytest.raises(TransportError, match=r"within 1\.5 s") as caught,
    ):
        HttpClient().post(server.url, b"", {}, deadline=Deadline.after(1.5), timeout=15)
    assert caught.value.retryable


def test_connections_are_reused_and_a_peer_closed_one_is_replaced() -> None:
    actions = [
        answer(),
        answer(),
        answer_then_hang_up,
        answer(),
        answer(headers={"Connection": "close"}),
        answer(),
    ]
    with ScriptedServer(actions) as server:
        client = HttpClient()
        statuses = []
        for _ in range(3):
            statuses.append(client.post(server.url, b"a", {}, deadline=Deadline.after(10), timeout=5).status)
        assert server.connections == 1
        time.sleep(0.2)  # the server has closed the idle connection by now
        statuses.append(client.post(server.url, b"b", {}, deadline=Deadline.after(10), timeout=5).status)
        assert server.connections == 2
        statuses.append(client.post(server.url, b"c", {}, deadline=Deadline.after(10), timeout=5).status)
        statuses.append(client.post(server.url, b"d", {}, deadline=Deadline.after(10), timeout=5).status)
        client.close()
    assert statuses == [200] * 6
    assert server.connections == 3  # "Connection: close" is honoured


def test_tls_is_verified_and_a_ca_file_makes_a_private_server_trusted() -> None:
    with Collector(tls=True) as collector:
        url = Url.parse(collector.url, "the collector")
        with pytest.raises(TransportError, match="TLS verification failed") as caught:
            HttpClient().post(url, b"", {}, deadline=Deadline.after(10), timeout=5)
        assert not caught.value.retryable
        response = HttpClient(collector.ca_file).post(
            url, b"{}", {"Content-Type": "application/json"}, deadline=Deadline.after(10), timeout=5
        )
    assert response.status == 200


def test_an_unreadable_ca_file_names_the_setting() -> None:
    with pytest.raises(ConfigError, match="CWOTLP_CA_BUNDLE: cannot read a PEM CA bundle"):
        HttpClient("/nonexistent/ca.pem").post(
            Url.parse("https://127.0.0.1:1", "x"), b"", {}, deadline=Deadline.after(5), timeout=1
        )


def test_a_refused_connection_is_a_retryable_transport_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    url = Url.parse(f"http://127.0.0.1:{port}/", "x", allow_http=True)
    with pytest.raises(TransportError, match="connection refused") as caught:
        HttpClient().post(url, b"", {}, deadline=Deadline.after(5), timeout=2)
    assert caught.value.retryable


def test_no_request_starts_after_the_deadline(collector: Collector) -> None:
    with pytest.raises(TransportError, match="out of time before the request"):
        HttpClient().post(url_of(collector), b"", {}, deadline=Deadline.after(-1), timeout=5)
    assert collector.attempts == 0


# Retry-After -------------------------------------------------------------------------------------------


def interim_then_final(status: int) -> Action:
    """An interim answer with nothing after it, and the final 200 only after the client has moved on:
    read on a reused connection, that 200 would pass for the answer to the next request."""

    def act(connection: socket.socket, stop: threading.Event) -> bool:
        connection.sendall(f"HTTP/1.1 {status} Interim\r\n\r\n".encode())
        stop.wait(0.3)
        with contextlib.suppress(OSError):
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        return True

    return act


@pytest.mark.parametrize("status", [102, 103, 199])
def test_an_interim_answer_is_a_failed_attempt_on_a_connection_never_reused(status: int) -> None:
    with ScriptedServer([interim_then_final(status), answer(503, b"busy")]) as server:
        client = HttpClient()
        with pytest.raises(
            TransportError, match=rf"an interim answer \(HTTP {status}\) instead of a final one"
        ):
            client.post(server.url, b"a", {}, deadline=Deadline.after(10), timeout=5)
        time.sleep(0.4)  # the late 200 has been sent by now
        second = client.post(server.url, b"b", {}, deadline=Deadline.after(10), timeout=5)
        client.close()
    assert second.status == 503
    assert server.connections == 2


def http_date(seconds_from_now: float) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds_from_now), usegmt=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("999999999", MAX_RETRY_AFTER),
        ("0000000001", 1.0),  # leading zeros do not make a long wait
        ("0000000000000000000000000000000000000000030", 30.0),
        ("²", None),
        ("٣", None),
        ("-5", None),
        ("1.5", None),
        ("1e3", None),
        ("", None),
        (None, None),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00", None),  # a date without its zone
        (http_date(-3600), 0.0),
        (http_date(10 * 24 * 3600), MAX_RETRY_AFTER),
    ],
)
def test_retry_after_values(value: str | None, expected: float | None) -> None:
    assert retry_after_seconds(value) == expected


def test_retry_after_as_an_http_date() -> None:
    seconds = retry_after_seconds(http_date(30))
    assert seconds is not None and 27 <= seconds <= 30


# post_with_retries -------------------------------------------------------------------------------------


class Recorder:
    """Injected sleep and jitter: the waits asked for, and the ranges jitter was drawn from."""

    def __init__(self, pick: str = "high") -> None:
        self.pick = pick
        self.waits: list[float] = []
        self.ranges: list[tuple[float, float]] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)

    def random(self, low: float, high: float) -> float:
        self.ranges.append((low, high))
        return high if self.pick == "high" else low

    def policy(self, **options: object) -> RetryPolicy:
        return RetryPolicy(sleep=self.sleep, random=self.random, min_request_time=0.2, **options)  # type: ignore[arg-type]


def send(
    collector: Collector, policy: RetryPolicy, seconds: float = 30, counters: Retries | None = None
) -> int:
    response = post_with_retries(
        HttpClient(),
        url_of(collector),
        b"{}",
        what="collector test",
        headers=lambda: {"Content-Type": "application/json"},
        policy=policy,
        deadline=Deadline.after(seconds),
        counters=counters or Retries(),
    )
    return response.status


def test_retries_are_bounded_in_count(collector: Collector) -> None:
    recorder = Recorder()
    counters = Retries()
    collector.inject(Fault(status=503), times=10)
    with pytest.raises(DeliveryError, match="collector test: HTTP 503 after 4 attempts"):
        send(collector, recorder.policy(max_retries=3), counters=counters)
    assert collector.attempts == 4
    assert counters.retries == 3 == len(recorder.waits)


def test_backoff_is_full_jitter_doubling_up_to_the_cap(collector: Collector) -> None:
    recorder = Recorder()
    collector.inject(Fault(status=502), times=6)
    assert send(collector, recorder.policy(max_retries=6, base_delay=0.5, max_delay=4.0)) == 200
    assert recorder.ranges == [(0.0, 0.5), (0.0, 1.0), (0.0, 2.0), (0.0, 4.0), (0.0, 4.0), (0.0, 4.0)]
    assert recorder.waits == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


@pytest.mark.parametrize("pick", ["low", "high"])
def test_retry_after_is_honoured_with_jitter_on_top_never_below(collector: Collector, pick: str) -> None:
    recorder = Recorder(pick)
    collector.inject(Fault(status=429, headers={"Retry-After": "6"}))
    collector.inject(Fault(status=503, headers={"Retry-After": "1"}))
    assert send(collector, recorder.policy(max_retries=3, base_delay=0.5, max_delay=8.0)) == 200
    assert recorder.ranges == [(0.0, 3.0), (0.0, 0.5)]  # half the wait, at least the base delay
    expected = [6.0, 1.0] if pick == "low" else [9.0, 1.5]
    assert recorder.waits == expected
    assert collector.statuses == [429, 503, 200]


def test_a_wait_longer_than_the_time_left_stops_at_once(collector: Collector) -> None:
    recorder = Recorder()
    collector.inject(Fault(status=503, headers={"Retry-After": "120"}))
    with pytest.raises(DeliveryError, match="HTTP 503, asked to wait 120 s, longer than the time left"):
        send(collector, recorder.policy(max_retries=5), seconds=10)
    assert recorder.waits == []
    assert collector.attempts == 1


def test_no_attempt_starts_without_the_minimum_time(collector: Collector) -> None:
    with pytest.raises(DeliveryError, match="out of time before attempt 1"):
        send(collector, Recorder().policy(), seconds=0.1)
    assert collector.attempts == 0


def test_dropped_connections_are_retried_and_headers_asked_anew(collector: Collector) -> None:
    recorder = Recorder()
    asked = []
    collector.inject(Fault(reset=True), times=2)
    response = post_with_retries(
        HttpClient(),
        url_of(collector),
        b"{}",
        what="collector test",
        headers=lambda: asked.append(1) or {"Content-Type": "application/json"},  # type: ignore[func-returns-value]
        policy=recorder.policy(max_retries=3),
        deadline=Deadline.after(30),
        counters=Retries(),
    )
    assert response.status == 200
    assert len(asked) == 3 and len(recorder.waits) == 2


def test_a_slow_answer_times_out_and_is_retried(collector: Collector) -> None:
    recorder = Recorder()
    counters = Retries()
    collector.inject(Fault(status=200, delay=1.0))
    assert send(collector, recorder.policy(max_retries=2, timeout=0.3), counters=counters) == 200
    assert counters.retries == 1 and len(recorder.waits) == 1  # the first attempt gave up on the slow answer


@pytest.mark.parametrize("status", [400, 401, 413, 500, 302])
def test_other_answers_are_returned_at_once(collector: Collector, status: int) -> None:
    collector.inject(Fault(status=status))
    assert send(collector, Recorder().policy()) == status
    assert collector.attempts == 1


def test_a_tls_failure_is_not_retried() -> None:
    recorder = Recorder()
    with (
        Collector(tls=True) as collector,
        pytest.raises(DeliveryError, match="collector test: TLS verification failed"),
    ):
        post_with_retries(
            HttpClient(),
            Url.parse(collector.url, "x"),
            b"{}",
            what="collector test",
            headers=dict,
            policy=recorder.policy(max_retries=5),
            deadline=Deadline.after(30),
            counters=Retries(),
        )
    assert recorder.waits == []
