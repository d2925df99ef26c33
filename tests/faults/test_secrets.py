"""Secrets in logs and errors. Every test here (as every test of the suite) ends with the witness: the
root logger at DEBUG, and no secret value in any log record, stdout, stderr, error or traceback.
These cases put secrets where a careless error message would quote them."""

from __future__ import annotations

import base64
import logging
import sys
from collections.abc import Callable
from urllib.parse import quote_plus

import orjson
import pytest
from faults.behaviours import outage_after
from faults.peers import Reply, Request
from faults.records import json_object
from faults.world import CLIENT_ID, CLIENT_SECRET, World, basic

SEQS = range(60)
API_KEY = "ak-Hd83Kq02Lm5Pz7Wc4"
TOKEN_WITH_BREAK = "tk-Rg72Jd91Vb6\nXq55Bn30Mf8"
TOKEN_NOT_LATIN1 = "tk-\u03a9mega-Ab39Kd71Zq-\u20ac-Uy62Fr84"


def _token(value: str) -> Callable[[Request], Reply]:
    def hostile(_request: Request) -> Reply:
        body = orjson.dumps({"access_token": value, "token_type": "Bearer", "expires_in": 300})
        return Reply(200, (("Content-Type", "application/json"),), body)

    return hostile


def test_a_header_value_ending_in_a_newline_is_refused_by_name(world: World) -> None:
    world.use_static_headers({"X-Api-Key": API_KEY + "\n"})
    outcome = world.invoke(world.put("metrics/header", json_object(SEQS)))
    text = outcome.failed_with(r"the value of header 'X-Api-Key' has a line break")
    assert "Api-Key" in outcome.line["error"]
    assert API_KEY not in text
    assert world.collector.requests == []


@pytest.mark.parametrize("token", [TOKEN_WITH_BREAK, TOKEN_NOT_LATIN1], ids=["line-break", "not-latin-1"])
def test_a_token_a_header_cannot_carry_is_refused(world: World, token: str) -> None:
    world.secret_values.add(token)
    world.issuer.hostile = _token(token)
    outcome = world.invoke(world.put("metrics/token", json_object(SEQS)))
    outcome.failed_with(r"token endpoint https://127\.0\.0\.1:\d+ issued an access_token that an HTTP header")
    assert world.collector.requests == []
    assert world.marker("metrics/token")["position"] == 0


def test_an_impossible_port_is_refused_without_quoting_the_url(world: World) -> None:
    secret = world.oauth2_secret()
    secret["endpoint"] = f"https://127.0.0.1:99999/v1/metrics?api_key={API_KEY}"
    world.write_secret(secret)
    outcome = world.invoke(world.put("metrics/port", json_object(SEQS)))
    outcome.failed_with(r"the field 'endpoint' has a port that is not a number from 1 to 65535")
    assert world.tokens.requests == world.collector.requests == []


def test_an_api_key_in_the_query_string_is_sent_and_never_shown(world: World) -> None:
    endpoint = world.collector.url(f"/v1/metrics?api_key={API_KEY}")
    world.use_static_headers({"X-Tenant": "tenant-one"}, endpoint=endpoint)
    world.secret_values.add(API_KEY)
    world.receiver.hostile = outage_after(2, status=503)
    event = world.put("metrics/query", json_object(range(300)))
    failed = world.invoke(event)
    failed.failed_with(r"collector https://127\.0\.0\.1:\d+: HTTP 503 after 3 attempts")
    world.receiver.hostile = None
    assert world.invoke(event).error is None
    world.receiver.assert_exactly_once(range(300))
    assert world.leaks("") == []
    assert {r.target for r in world.collector.requests} == {f"/v1/metrics?api_key={API_KEY}"}


def _echo_authorization(request: Request, _points: object) -> Reply:
    echoed = request.headers.get("authorization", "")
    return Reply(
        401, body=f"invalid credentials: Authorization: {echoed} (did you mean {echoed!r}?)".encode()
    )


def test_a_401_echoing_the_bearer_token_is_redacted(world: World) -> None:
    world.receiver.hostile = _echo_authorization
    outcome = world.invoke(world.put("metrics/echo-bearer", json_object(SEQS)))
    text = outcome.failed_with(r"answered HTTP 401: invalid credentials: Authorization: Bearer \*\*\*")
    assert len(world.issuer.issued) == 2  # one fresh token after the first 401, then it gives up
    assert all(token not in text for token in world.issuer.issued)
    assert world.leaks("") == []


@pytest.mark.parametrize("encoding", ["json", "protobuf"])
def test_a_partial_success_echoing_the_bearer_token_is_redacted(
    world: World, monkeypatch: pytest.MonkeyPatch, encoding: str
) -> None:
    """The request is accepted; the collector's message quotes the Authorization header it got."""
    monkeypatch.setenv("CWOTLP_OTLP_ENCODING", encoding)

    def echo(request: Request, _points: object) -> Reply:
        message = f"token {request.headers.get('authorization', '')} lacks the scope metrics:write"
        if encoding == "protobuf":
            from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
                ExportMetricsServiceResponse,
            )

            answer = ExportMetricsServiceResponse()
            answer.partial_success.rejected_data_points = 1
            answer.partial_success.error_message = message
            return Reply(200, (("Content-Type", "application/x-protobuf"),), answer.SerializeToString())
        body = orjson.dumps({"partialSuccess": {"rejectedDataPoints": "1", "errorMessage": message}})
        return Reply(200, (("Content-Type", "application/json"),), body)

    world.receiver.hostile = echo
    outcome = world.invoke(world.put("metrics/echo-partial", json_object(SEQS)))
    assert outcome.error is None, outcome.error
    assert outcome.line["rejected_datapoints"] >= 1
    messages = [getattr(r, "collector_message", "") for r in world.caplog.records]
    assert any("lacks the scope" in message and "Bearer ***" in message for message in messages)
    assert world.issuer.issued and world.leaks("") == []


def test_a_401_echoing_a_static_authorization_header_is_redacted(world: World) -> None:
    world.use_static_headers({"Authorization": f"ApiKey {API_KEY}"})
    world.receiver.hostile = _echo_authorization
    outcome = world.invoke(world.put("metrics/echo-key", json_object(SEQS)))
    outcome.failed_with(r"answered HTTP 401: invalid credentials")
    assert len(world.collector.requests) == 1


SPECIAL_SECRET = "cs-Lq4Vz8Np3 Rt6Wm2Ka9&Yx5Bd7Hj1/Pe4"


@pytest.mark.parametrize(
    "echo",
    [lambda s: s, quote_plus, lambda s: s.replace(" ", "%20")],
    ids=["as-is", "form-encoded", "percent-encoded"],
)
def test_a_token_error_description_echoing_the_client_secret_is_redacted(
    world: World, echo: Callable[[str], str]
) -> None:
    secret = world.oauth2_secret() | {"client_secret": SPECIAL_SECRET}
    world.write_secret(secret)
    world.issuer.rotate(CLIENT_ID, SPECIAL_SECRET)

    def refuse(_request: Request) -> Reply:
        description = f"client {CLIENT_ID} with secret {echo(SPECIAL_SECRET)} is not allowed"
        body = orjson.dumps({"error": "unauthorized_client", "error_description": description})
        return Reply(400, (("Content-Type", "application/json"),), body)

    world.issuer.hostile = refuse
    outcome = world.invoke(world.put("metrics/echo-secret", json_object(SEQS)))
    # The description is quoted with the secret replaced, or withheld when it holds an encoding of the
    # secret that cannot be replaced as such.
    outcome.failed_with(
        r"token endpoint .* answered HTTP 400: unauthorized_client \((client forwarder-7c1d|\(withheld)"
    )
    assert world.collector.requests == []
    assert world.leaks("") == [], "the client secret, as echoed, reached an error or a log record"


def test_outside_lambdas_json_format_the_forwarders_own_lines_hold_no_secret(
    world: World, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_LAMBDA_LOG_FORMAT")
    monkeypatch.setenv("CWOTLP_LOG_LEVEL", "DEBUG")
    endpoint = world.collector.url(f"/v1/metrics?api_key={API_KEY}")
    world.write_secret(world.oauth2_secret() | {"endpoint": endpoint})
    world.receiver.hostile = _echo_authorization
    outcome = world.invoke(world.put("metrics/stderr", json_object(SEQS)))
    outcome.failed_with("HTTP 401")
    err = capfd.readouterr().err
    assert '"status":"failed"' in err.replace(" ", "")  # the object's line went to stderr
    assert world.leaks(err) == []


# Plain http: refused unless the secret opts in, with an error that says why.


@pytest.mark.parametrize("field", ["endpoint", "token_url"])
def test_plain_http_without_opt_in_is_refused_and_says_why(world: World, field: str) -> None:
    plain = world.peer(world.receiver if field == "endpoint" else world.issuer, tls=False)
    secret = world.oauth2_secret()
    secret[field] = plain.url("/v1/metrics" if field == "endpoint" else "/oauth2/token")
    world.write_secret(secret)
    outcome = world.invoke(world.put("metrics/plain-http", json_object(SEQS)))
    outcome.failed_with(rf"the field '{field}' is plain http.*unencrypted.*allow_http")
    assert plain.requests == world.collector.requests == world.tokens.requests == []


def test_plain_http_for_static_headers_without_opt_in_is_refused(world: World) -> None:
    plain = world.peer(world.receiver, tls=False)
    world.use_static_headers({"X-Api-Key": API_KEY}, endpoint=plain.url("/v1/metrics"))
    outcome = world.invoke(world.put("metrics/plain-static", json_object(SEQS)))
    outcome.failed_with(r"plain http.*allow_http")
    assert plain.requests == []


def test_plain_http_with_opt_in_works(world: World) -> None:
    collector = world.peer(world.receiver, tls=False)
    tokens = world.peer(world.issuer, tls=False)
    world.write_secret(world.oauth2_secret(collector, tokens) | {"allow_http": True})
    outcome = world.invoke(world.put("metrics/allowed", json_object(SEQS)))
    assert outcome.error is None, outcome.error
    world.receiver.assert_exactly_once(SEQS)
    assert len(tokens.requests) == 1
    assert world.collector.requests == []


def test_an_opt_in_that_is_not_a_boolean_is_refused(world: World) -> None:
    collector = world.peer(world.receiver, tls=False)
    world.write_secret(world.oauth2_secret(collector) | {"allow_http": "true"})
    outcome = world.invoke(world.put("metrics/allowed-string", json_object(SEQS)))
    outcome.failed_with(r"the field 'allow_http' must be true or false")
    assert collector.requests == []


def test_the_witness_finds_a_secret_wherever_it_is_written(
    world: World, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """The witness can fail: a token in a third-party debug record, a secret with a line break in an
    extra field (escaped), and the client secret on stderr are all found."""
    token = world.issuer.issue()
    world.secret_values.add(TOKEN_WITH_BREAK)
    # A library's debug record (the forwarder keeps urllib3 and botocore quiet, so another library's).
    logging.getLogger("thirdparty.http").debug("sent %r", {"Authorization": f"Bearer {token}"})
    logging.getLogger("cwotlp").info("odd token", extra={"detail": {"token": repr(TOKEN_WITH_BREAK)}})
    print(f"client secret: {CLIENT_SECRET}", file=sys.stderr)
    found = world.leaks(capfd.readouterr().err)
    assert {token, "tk-Rg72Jd91Vb6", "Xq55Bn30Mf8", CLIENT_SECRET} <= set(found)
    caplog.clear()  # what this test wrote on purpose


@pytest.mark.parametrize("echoed", ["secret", "basic"])
def test_a_token_error_code_echoing_the_client_secret_is_redacted(world: World, echoed: str) -> None:
    """The error code, not only its description, is a peer's text."""
    shown = CLIENT_SECRET if echoed == "secret" else basic(CLIENT_ID, CLIENT_SECRET)

    def refuse(_request: Request) -> Reply:
        body = orjson.dumps({"error": f"bad {shown}"})  # an error code is at most 64 characters
        return Reply(401, (("Content-Type", "application/json"),), body)

    world.issuer.hostile = refuse
    outcome = world.invoke(world.put("metrics/echo-code", json_object(SEQS)))
    outcome.failed_with(r"token endpoint .* answered HTTP 401: bad \*\*\*$")
    assert world.collector.requests == []
    assert world.leaks("") == []


PATH_KEY = "pk-4f9a2c71Xw30Tb58"


def test_a_key_in_the_endpoint_path_echoed_by_a_404_is_redacted(world: World) -> None:
    world.use_static_headers(
        {"X-Tenant": "tenant-one"}, endpoint=world.collector.url(f"/i/{PATH_KEY}/v1/metrics")
    )
    world.secret_values.add(PATH_KEY)
    world.collector.script = lambda request: Reply(404, body=f"Cannot POST {request.target}".encode())
    outcome = world.invoke(world.put("metrics/echo-path", json_object(SEQS)))
    outcome.failed_with(r"answered HTTP 404: Cannot POST /i/\*\*\*/v1/metrics")
    assert {request.path for request in world.collector.requests} == {f"/i/{PATH_KEY}/v1/metrics"}
    assert world.leaks("") == []


PASSWORD = "glc_Rb41Xq9Zt7Mv2Kp6"
BASIC_PAIR = f"812345:{PASSWORD}"


@pytest.mark.parametrize(
    ("header", "echoed"),
    [
        (f"ApiKey {API_KEY}", API_KEY),
        ("Basic " + base64.b64encode(BASIC_PAIR.encode()).decode(), BASIC_PAIR),
        ("Basic " + base64.b64encode(BASIC_PAIR.encode()).decode(), PASSWORD),
    ],
    ids=["key-after-its-scheme", "basic-decoded", "basic-password"],
)
def test_a_collector_quoting_part_of_the_authorization_header_is_redacted(
    world: World, header: str, echoed: str
) -> None:
    world.use_static_headers({"Authorization": header})
    world.secret_values.add(echoed)
    world.receiver.hostile = lambda _request, _points: Reply(401, body=f"unknown key {echoed}".encode())
    outcome = world.invoke(world.put("metrics/echo-part", json_object(SEQS)))
    outcome.failed_with(r"answered HTTP 401: unknown key \*\*\*$")
    assert world.leaks("") == []


ESCAPABLE_KEY = "ak/Hd83Kq02&Lm5Pz7Wc4<x>"


@pytest.mark.parametrize(
    "escape",
    [
        lambda key: key.replace("/", "\\/"),
        lambda key: key.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e"),
    ],
    ids=["slash-escaped", "html-safe"],
)
def test_a_key_echoed_inside_json_with_escapes_is_redacted(
    world: World, escape: Callable[[str], str]
) -> None:
    world.use_static_headers({"X-Api-Key": ESCAPABLE_KEY})
    body = b'{"error":"key ' + escape(ESCAPABLE_KEY).encode() + b' is revoked"}'
    world.receiver.hostile = lambda _request, _points: Reply(
        403, (("Content-Type", "application/json"),), body
    )
    outcome = world.invoke(world.put("metrics/echo-json", json_object(SEQS)))
    text = outcome.failed_with(r'answered HTTP 403: \{"error":"key \*\*\* is revoked"\}')
    assert "Hd83" not in text
    assert world.leaks("") == []


def test_a_key_echoed_after_four_kilobytes_of_blanks_is_redacted(world: World) -> None:
    """Blanks collapse to one space, so an echo far into the answer still reaches the excerpt."""
    world.use_static_headers({"X-Api-Key": API_KEY})
    body = b" " * 4080 + f"key={API_KEY}".encode()
    world.receiver.hostile = lambda _request, _points: Reply(403, body=body)
    outcome = world.invoke(world.put("metrics/echo-far", json_object(SEQS)))
    text = outcome.failed_with(r"answered HTTP 403: key=\*\*\*$")
    assert "Hd83" not in text
