"""Strange answers: whatever a collector says, the forwarder ends with a clear delivery error or a
delivery, never an internal error; and nothing that follows a 2xx status line (an unreadable body, a
lying Content-Encoding, an absurd partial-success count, a body cut short) makes the request be sent
again: every datapoint arrives exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest
from faults.behaviours import once
from faults.peers import Reply, SilentListener
from faults.records import gzip, json_object, repeating_gzip
from faults.tls import create_authority
from faults.world import World

SEQS = range(300)
PROTOBUF = (("Content-Type", "application/x-protobuf"),)
JSON = (("Content-Type", "application/json"),)


def _partial(rejected: str) -> Reply:
    return Reply(200, JSON, f'{{"partialSuccess": {{"rejectedDataPoints": {rejected}}}}}'.encode())


AFTER_2XX = {
    "garbage-protobuf": ("protobuf", Reply(200, PROTOBUF, bytes(range(255, 0, -1)) * 4)),
    "garbage-json": ("json", Reply(200, JSON, b'{"partialSuccess": {"rejectedDataPoints": ')),
    "html": ("json", Reply(200, (("Content-Type", "text/html"),), b"<html><body>OK</body></html>")),
    "gzip-that-is-not": (
        "json",
        Reply(200, (*JSON, ("Content-Encoding", "gzip")), b'{"partialSuccess": {}}'),
    ),
    "brotli": ("json", Reply(200, (*JSON, ("Content-Encoding", "br")), b"\x8b\x03\x80hello\x03")),
    "identity-that-is-gzip": ("json", Reply(200, (*JSON, ("Content-Encoding", "identity")), gzip(b"{}"))),
    "gzip-bomb": (
        "json",
        Reply(200, (*JSON, ("Content-Encoding", "gzip")), repeating_gzip(b"", bytes(1 << 20), 60, b"")),
    ),
    "rejected-1e400": ("json", _partial("1e400")),
    "rejected-abc": ("json", _partial('"abc"')),
    "rejected-negative": ("json", _partial("-5")),
    "rejected-1e30": ("json", _partial("1e30")),
    "rejected-huge-string": ("json", _partial('"99999999999999999999999"')),
    "rejected-object": ("json", _partial('{"n": 1}')),
    "a-megabyte-of-body": ("json", Reply(200, JSON, b" " * (1 << 20))),
    "202-accepted": ("protobuf", Reply(202, PROTOBUF, b"")),
    "body-cut-short": ("json", Reply(200, JSON, b'{"partial', length=4096, close=True)),
    "broken-chunking": (
        "json",
        Reply(raw=b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n"),
    ),
    "garbage-headers": ("json", Reply(raw=b"HTTP/1.1 200 OK\r\n\x00\x01 not a header\r\n\r\n")),
}


@pytest.mark.parametrize("case", list(AFTER_2XX))
def test_nothing_after_a_2xx_makes_a_request_be_sent_again(
    world: World, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    encoding, reply = AFTER_2XX[case]
    monkeypatch.setenv("CWOTLP_OTLP_ENCODING", encoding)
    world.receiver.hostile = once(reply)
    outcome = world.invoke(world.put("metrics/odd-answer", json_object(SEQS)))
    assert outcome.error is None, outcome.error
    world.receiver.assert_exactly_once(SEQS)
    line = outcome.line
    assert line["status"] == "delivered"
    assert len(world.collector.requests) == line["requests"], "a request was sent again"
    assert line["retries"] == 0
    assert world.marker("metrics/odd-answer")["state"] == "delivered"


def test_a_readable_partial_success_is_counted(world: World) -> None:
    world.receiver.hostile = once(_partial('"12"'))
    outcome = world.invoke(world.put("metrics/partial", json_object(SEQS)))
    assert outcome.error is None
    assert outcome.line["rejected_datapoints"] == 12
    world.receiver.assert_exactly_once(SEQS)


@pytest.mark.parametrize("value", ["\u00b2", "1.5", "-3", "soon", "Wed, 21 Oct 2015 07:28:00 GMT", ""])
def test_an_odd_retry_after_is_ridden_out(world: World, value: str) -> None:
    world.receiver.hostile = once(Reply(429, (("Retry-After", value),), b"slow down"))
    outcome = world.invoke(world.put("metrics/retry-after", json_object(SEQS)))
    assert outcome.error is None, outcome.error
    world.receiver.assert_exactly_once(SEQS)
    assert outcome.line["retries"] == 1
    assert len(world.collector.requests) == outcome.line["requests"] + 1


@pytest.mark.parametrize("value", ["999999999", "86400000000", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_a_retry_after_far_in_the_future_leaves_the_object_to_lambdas_retry(world: World, value: str) -> None:
    world.receiver.hostile = once(Reply(503, (("Retry-After", value),), b"maintenance"))
    event = world.put("metrics/far-future", json_object(SEQS))
    outcome = world.invoke(event, seconds=20)
    outcome.failed_with(r"HTTP 503, asked to wait \d+ s, longer than the time left")
    assert outcome.elapsed < 5, "it waited instead of leaving the object to the retry"
    assert len(world.collector.requests) == 1
    retry = world.invoke(event)
    assert retry.error is None
    world.receiver.assert_exactly_once(SEQS)


def test_an_answer_that_is_not_http_is_a_clear_error(world: World) -> None:
    world.receiver.hostile = lambda _request, _points: Reply(raw=b"SPAM SPAM SPAM\r\n\r\n")
    outcome = world.invoke(world.put("metrics/not-http", json_object(SEQS)))
    outcome.failed_with(r"collector https://127\.0\.0\.1:\d+: the answer was not valid HTTP after 3 attempts")
    assert "internal error" not in outcome.line["error"]
    assert world.receiver.accepted == {}
    assert world.marker("metrics/not-http")["position"] == 0


def test_an_s3_error_reading_the_object_is_a_clear_error(world: World) -> None:
    import boto3
    from botocore.exceptions import ClientError

    def deny(params: dict[str, object], **_: object) -> None:
        if not str(params.get("Key", "")).startswith("progress/"):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject")

    event = world.put("metrics/denied", json_object(SEQS))
    boto3.DEFAULT_SESSION.events.register("before-parameter-build.s3.GetObject", deny)
    outcome = world.invoke(event)
    outcome.failed_with(r"metrics/denied: S3 GetObject: AccessDenied")
    assert world.collector.requests == []
    assert world.marker("metrics/denied")["state"] == "sending"


def test_a_collector_that_is_not_listening_is_a_clear_error(world: World) -> None:
    with SilentListener() as closed:
        port = closed.port  # a port that was just free, and is free again once the listener closes
    world.write_secret(world.oauth2_secret() | {"endpoint": f"https://127.0.0.1:{port}/v1/metrics"})
    outcome = world.invoke(world.put("metrics/refused", json_object(SEQS)))
    outcome.failed_with(rf"collector https://127\.0\.0\.1:{port}: connection refused after 3 attempts")
    assert world.marker("metrics/refused")["position"] == 0


def test_a_certificate_from_another_authority_is_refused_without_retries(
    world: World, tmp_path: Path
) -> None:
    stranger = create_authority(tmp_path)
    impostor = world.peer(world.receiver, context=stranger.server_context())
    world.write_secret(world.oauth2_secret(collector=impostor))
    outcome = world.invoke(world.put("metrics/impostor", json_object(SEQS)))
    outcome.failed_with(r"collector https://127\.0\.0\.1:\d+: TLS verification failed \(.+\)")
    assert outcome.line["retries"] == 0
    assert impostor.requests == []


def test_a_ca_bundle_that_cannot_be_read_is_a_configuration_error(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CWOTLP_CA_BUNDLE", str(tmp_path / "missing.pem"))
    outcome = world.invoke(world.put("metrics/no-bundle", json_object(SEQS)))
    outcome.failed_with(r"CWOTLP_CA_BUNDLE: cannot read a PEM CA bundle at .*missing\.pem")
    assert world.tokens.requests == world.collector.requests == []
