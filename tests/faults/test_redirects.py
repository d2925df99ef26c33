"""Silent loss through redirects: a collector or token endpoint that answers 3xx pointing at another
host (which would answer 200) must fail the delivery, naming the status and the target's host but
never its query string, with nothing marked delivered and nothing sent to the other host."""

from __future__ import annotations

import pytest
from faults.otlp_peers import Receiver, TokenIssuer
from faults.peers import Reply
from faults.records import json_object
from faults.world import CLIENT_ID, CLIENT_SECRET, World

REDIRECTS = [301, 302, 303, 307, 308]
QUERY_SECRET = "rk-Hq5Tz8Wd2Mv6Ys3B"
SEQS = range(80)


def redirect(status: int, location: str) -> Reply:
    return Reply(status, (("Location", location),), b"moved")


@pytest.mark.parametrize("status", REDIRECTS)
def test_a_collector_redirect_fails_and_names_the_target_host(world: World, status: int) -> None:
    elsewhere = world.peer(Receiver(lambda _: True))
    target = elsewhere.url(f"/v1/metrics?api_key={QUERY_SECRET}", host="localhost")
    world.secret_values.add(QUERY_SECRET)
    world.receiver.hostile = lambda _request, _points: redirect(status, target)
    outcome = world.invoke(world.put("metrics/redirected", json_object(SEQS)))
    outcome.failed_with(rf"HTTP {status}\b.*redirect.*\blocalhost\b")
    line = outcome.line
    assert line["status"] == "failed"
    assert str(status) in line["error"]
    assert "localhost" in line["error"]
    assert line["datapoints"] == 0
    assert elsewhere.requests == []
    assert len(world.collector.requests) == 1  # not retried either: a redirect is an answer
    assert world.receiver.accepted == {}
    marker = world.marker("metrics/redirected")
    assert marker is not None
    assert (marker["state"], marker["position"]) == ("sending", 0)


def test_a_redirect_on_the_same_host_is_not_followed(world: World) -> None:
    world.secret_values.add(QUERY_SECRET)
    world.receiver.hostile = lambda _request, _points: redirect(307, f"/v2/metrics?token={QUERY_SECRET}")
    outcome = world.invoke(world.put("metrics/relative", json_object(SEQS)))
    outcome.failed_with(r"HTTP 307.*redirect")
    assert [r.target for r in world.collector.requests] == ["/v1/metrics"]
    assert world.marker("metrics/relative")["state"] == "sending"


@pytest.mark.parametrize("status", REDIRECTS)
def test_a_token_endpoint_redirect_fails_and_names_the_target_host(world: World, status: int) -> None:
    elsewhere = world.peer(TokenIssuer(CLIENT_ID, CLIENT_SECRET))
    target = elsewhere.url(f"/oauth2/token?client_secret={QUERY_SECRET}", host="localhost")
    world.secret_values.add(QUERY_SECRET)
    world.issuer.hostile = lambda _request: redirect(status, target)
    outcome = world.invoke(world.put("metrics/token-redirected", json_object(SEQS)))
    outcome.failed_with(rf"token endpoint .*HTTP {status}\b.*redirect")
    line = outcome.line
    assert line["status"] == "failed"
    assert f"HTTP {status}" in line["error"]
    assert "localhost" in line["error"], f"the target host is not named: {line['error']}"
    assert elsewhere.requests == []
    assert world.collector.requests == []
    assert len(world.tokens.requests) == 1
    assert world.marker("metrics/token-redirected")["state"] == "sending"
