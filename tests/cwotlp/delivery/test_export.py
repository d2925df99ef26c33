"""Export and authentication against a real OTLP/HTTP collector and token endpoint on 127.0.0.1."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import requests

from conftest import fixture_bytes
from cwotlp.config import Destination, OAuth2
from cwotlp.delivery.auth import AuthError, ClientCredentials, authenticator
from cwotlp.delivery.export import ExportCounters, Exporter
from cwotlp.delivery.http import Counters, Deadline, DeliveryError, RetryPolicy
from cwotlp.otlp.batch import Batch
from cwotlp.otlp.convert import Naming
from cwotlp.otlp.encoding import JsonEncoding
from cwotlp.pipeline import Conversion
from cwotlp_local.collector import Collector
from cwotlp_local.faults import Fault
from cwotlp_local.token_server import TokenServer

CLIENT_SECRET = "correct horse battery staple"
DATA = fixture_bytes("otel-contrib-cwmetricstream/multiple_records")


def batches(max_bytes: int = 1 << 22) -> list[Batch]:
    return list(Conversion([DATA], Naming(), max_bytes).batches())


class Waits:
    """A sleep that records what it was asked for and waits only briefly, so tests stay fast."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    def __call__(self, seconds: float) -> None:
        import time

        self.asked.append(seconds)
        time.sleep(min(seconds, 0.01))


@pytest.fixture
def tokens() -> Iterator[TokenServer]:
    with TokenServer(client_id="forwarder", client_secret=CLIENT_SECRET, audience="b14collector") as server:
        yield server


@pytest.fixture
def collector(tokens: TokenServer) -> Iterator[Collector]:
    with Collector(token_check=tokens.is_valid) as server:
        yield server


class Setup:
    def __init__(
        self, collector: Collector, tokens: TokenServer, *, timeout: float = 5.0, secret: str = CLIENT_SECRET
    ):
        self.waits = Waits()
        self.policy = RetryPolicy(max_retries=3, timeout=timeout, sleep=self.waits, min_request_time=0.2)
        self.counters = ExportCounters()
        self.session = requests.Session()
        self.destination = Destination(
            endpoint=collector.url,
            oauth2=OAuth2(tokens.url, "forwarder", secret, audience="b14collector"),
        )
        self.accepted: list[Batch] = []
        self.collector = collector

    def exporter(self) -> Exporter:
        auth = authenticator(self.destination, self.session, self.policy, self.counters)
        return Exporter(self.destination.endpoint, auth, self.session, self.policy, self.counters)

    def send(self, batch: Batch, seconds: float = 30.0) -> None:
        self.exporter().send(batch, Deadline.after(seconds), self.accepted.append)


def test_a_batch_arrives_gzipped_with_a_bearer_token(collector: Collector, tokens: TokenServer) -> None:
    setup = Setup(collector, tokens)
    [batch] = batches()
    setup.send(batch)
    setup.send(batch)
    assert collector.errors == []
    assert collector.datapoint_count() == 2 * 127
    request = collector.requests[0]
    assert request.content_encoding == "gzip"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"].startswith("Bearer ")
    assert tokens.issued == 1  # the token is reused
    assert tokens.requests[0].auth_method == "client_secret_basic"
    assert tokens.requests[0].form["audience"] == "b14collector"
    assert setup.counters.requests == 2
    assert setup.counters.gzip_bytes < setup.counters.raw_bytes / 4
    assert setup.accepted == [batch, batch]


def test_429_honours_retry_after(collector: Collector, tokens: TokenServer) -> None:
    setup = Setup(collector, tokens)
    collector.inject(Fault(status=429, headers={"Retry-After": "2"}))
    setup.send(batches()[0])
    assert setup.waits.asked == [2.0]
    assert collector.statuses == [429, 200]
    assert collector.datapoint_count() == 127
    assert setup.counters.retries == 1


def test_a_streak_of_503_is_retried_with_bounded_backoff(collector: Collector, tokens: TokenServer) -> None:
    setup = Setup(collector, tokens)
    collector.inject(Fault(status=503), times=3)
    setup.send(batches()[0])
    assert collector.statuses == [503, 503, 503, 200]
    assert len(setup.waits.asked) == 3
    assert all(0 <= wait <= setup.policy.max_delay for wait in setup.waits.asked)
    assert collector.datapoint_count() == 127


@pytest.mark.parametrize("status", [502, 504])
def test_gateway_errors_are_retried(collector: Collector, tokens: TokenServer, status: int) -> None:
    setup = Setup(collector, tokens)
    collector.inject(Fault(status=status))
    setup.send(batches()[0])
    assert collector.statuses == [status, 200]


def test_retries_are_bounded_in_count(collector: Collector, tokens: TokenServer) -> None:
    setup = Setup(collector, tokens)
    collector.inject(Fault(status=503), times=10)
    with pytest.raises(DeliveryError, match="collector: HTTP 503 after 4 attempts"):
        setup.send(batches()[0])
    assert collector.attempts == 4
    assert collector.datapoint_count() == 0
    assert setup.accepted == []


def test_a_retry_after_past_the_deadline_fails_at_once(collector: Collector, tokens: TokenServer) -> None:
    setup = Setup(collector, tokens)
    collector.inject(Fault(status=503, headers={"Retry-After": "120"}))
    with pytest.raises(DeliveryError, match="would pass the deadline"):
        setup.send(batches()[0], seconds=10)
    assert setup.waits.asked == []
    assert collector.attempts == 1


def test_no_request_starts_when_time_is_up(collector: Collector, tokens: TokenServer) -> None:
    setup = Setup(collector, tokens)
    with pytest.raises(DeliveryError, match="out of time"):
        setup.send(batches()[0], seconds=0.1)
    assert collector.attempts == 0


def test_dropped_connections_are_retried(collector: Collector, tokens: TokenServer) -> None:
    setup = Setup(collector, tokens)
    collector.inject(Fault(reset=True), times=2)
    setup.send(batches()[0])
    assert collector.datapoint_count() == 127
    assert setup.counters.retries == 2


def test_a_slow_collector_times_out_and_is_retried(collector: Collector, tokens: TokenServer) -> None:
    setup = Setup(collector, tokens, timeout=0.3)
    collector.inject(Fault(status=200, delay=1.0))
    setup.send(batches()[0])
    assert setup.counters.retries == 1
    # The slow request may still be recorded late by the server; what matters is that the retry arrived.
    assert collector.datapoint_count() >= 127
    assert collector.errors == []


def test_413_splits_the_request_until_it_fits(tokens: TokenServer) -> None:
    with Collector(token_check=tokens.is_valid, max_body_bytes=12_000) as collector:
        setup = Setup(collector, tokens)
        [batch] = batches()
        setup.send(batch)
        assert collector.datapoint_count() == 127
        assert 413 in collector.statuses
        assert setup.counters.splits >= 2
        # The accepted pieces are the batch's records, in order, each once.
        assert [entry for piece in setup.accepted for entry in piece.entries] == batch.entries
        keys = [(r, m, p.time_unix_nano, tuple(p.attributes)) for r, m, p in collector.datapoints()]
        assert len({repr(key) for key in keys}) == 127


def test_413_for_a_single_datapoint_fails(tokens: TokenServer) -> None:
    with Collector(token_check=tokens.is_valid, max_body_bytes=50) as collector:
        setup = Setup(collector, tokens)
        with pytest.raises(DeliveryError, match=r"cannot be split \(1 datapoints\)"):
            setup.send(Batch(batches()[0].entries[:1], 0, JsonEncoding()))


def test_401_fetches_a_new_token_once(collector: Collector, tokens: TokenServer) -> None:
    setup = Setup(collector, tokens)
    [batch] = batches()
    setup.send(batch)
    tokens.expire_all()  # revoked before its advertised expiry
    setup.send(batch)
    assert collector.statuses == [200, 401, 200]
    assert tokens.issued == 2
    assert collector.datapoint_count() == 2 * 127


def test_a_second_401_fails_without_looping(collector: Collector, tokens: TokenServer) -> None:
    setup = Setup(collector, tokens)
    collector.inject(Fault(status=401), times=5)
    with pytest.raises(DeliveryError, match="HTTP 401"):
        setup.send(batches()[0])
    assert collector.attempts == 2


@pytest.mark.parametrize("status", [400, 403, 404])
def test_other_client_errors_fail_at_once(collector: Collector, tokens: TokenServer, status: int) -> None:
    setup = Setup(collector, tokens)
    collector.inject(Fault(status=status, body=b"nope"))
    with pytest.raises(DeliveryError, match=f"collector answered HTTP {status}: nope"):
        setup.send(batches()[0])
    assert collector.attempts == 1


def test_partial_success_is_logged_with_the_rejected_count(
    collector: Collector, tokens: TokenServer, caplog: pytest.LogCaptureFixture
) -> None:
    setup = Setup(collector, tokens)
    collector.partial_success(rejected=3, message="3 datapoints too old")
    with caplog.at_level(logging.WARNING, logger="cwotlp"):
        setup.send(batches()[0])
    assert setup.counters.rejected_datapoints == 3
    [record] = [r for r in caplog.records if r.getMessage() == "collector rejected part of a request"]
    assert record.rejected_datapoints == 3  # type: ignore[attr-defined]
    assert record.error_message == "3 datapoints too old"  # type: ignore[attr-defined]
    assert collector.attempts == 1


def test_wrong_client_secret_fails_with_the_oauth_error_and_no_secret(
    collector: Collector, tokens: TokenServer
) -> None:
    setup = Setup(collector, tokens, secret="wrong-secret-value")
    with pytest.raises(AuthError, match="token endpoint answered HTTP 401: invalid_client") as caught:
        setup.send(batches()[0])
    assert "wrong-secret-value" not in str(caught.value)
    assert collector.attempts == 0


def test_token_endpoint_400_fails_at_once(collector: Collector, tokens: TokenServer) -> None:
    tokens.inject(Fault(status=400, body=b'{"error":"invalid_request","error_description":"bad audience"}'))
    setup = Setup(collector, tokens)
    with pytest.raises(AuthError, match=r"HTTP 400: invalid_request \(bad audience\)"):
        setup.send(batches()[0])
    assert len(tokens.requests) == 1


def test_token_endpoint_500_is_retried(collector: Collector, tokens: TokenServer) -> None:
    tokens.inject(Fault(status=500), times=1)
    tokens.inject(Fault(status=503), times=1)
    setup = Setup(collector, tokens)
    with pytest.raises(AuthError, match="HTTP 500"):
        setup.send(batches()[0])
    setup.send(batches()[0])  # 503 is retryable: the next attempt gets a token
    assert collector.datapoint_count() == 127


def test_tokens_are_cached_until_shortly_before_they_expire(tokens: TokenServer) -> None:
    now = [1000.0]
    policy = RetryPolicy(max_retries=0)
    oauth2 = OAuth2(tokens.url, "forwarder", CLIENT_SECRET, audience="b14collector")
    credentials = ClientCredentials(oauth2, requests.Session(), policy, Counters(), clock=lambda: now[0])
    deadline = Deadline.after(10)
    first = credentials.headers(deadline)
    now[0] += tokens.expires_in - 61
    assert credentials.headers(deadline) == first
    now[0] += 2
    assert credentials.headers(deadline) != first
    assert tokens.issued == 2


def test_tls_is_verified_and_a_ca_bundle_makes_a_private_collector_trusted(tokens: TokenServer) -> None:
    with Collector(tls=True) as collector:
        destination = Destination(endpoint=collector.url, headers={"x-api-key": "k"})
        policy = RetryPolicy(max_retries=0)
        counters = ExportCounters()
        session = requests.Session()
        exporter = Exporter(
            destination.endpoint,
            authenticator(destination, session, policy, counters),
            session,
            policy,
            counters,
        )
        with pytest.raises(DeliveryError, match="TLS verification failed"):
            exporter.send(batches()[0], Deadline.after(10), lambda _b: None)
        session.verify = collector.ca_file
        exporter.send(batches()[0], Deadline.after(10), lambda _b: None)
        assert collector.datapoint_count() == 127
        assert collector.requests[0].headers["x-api-key"] == "k"
        assert "Authorization" not in collector.requests[0].headers


def test_a_token_that_expires_while_waiting_is_renewed_before_the_next_attempt(collector: Collector) -> None:
    import time

    with TokenServer(
        client_id="forwarder", client_secret=CLIENT_SECRET, audience="b14collector", expires_in=1
    ) as tokens:
        collector.token_check = tokens.is_valid
        setup = Setup(collector, tokens)
        setup.policy.sleep = time.sleep  # a real wait, longer than the token lives
        collector.inject(Fault(status=503, headers={"Retry-After": "1"}))
        setup.send(batches()[0])
        assert collector.statuses == [503, 200]
        assert tokens.issued == 2
