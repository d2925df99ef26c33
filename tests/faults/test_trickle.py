"""A peer that trickles its answer, one byte every half second, in the status line, the headers or the
body (or never finishes the TLS handshake): the invocation ends before Lambda's deadline, with its log
line written and its progress recorded, and Lambda's retry loses nothing. The forwarder keeps 5 s of
the remaining time in reserve; these invocations get 8 s."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from faults.otlp_peers import Hostile, Point, decode
from faults.peers import STAGES, Reply, Request, SilentListener
from faults.records import json_object
from faults.world import Outcome, World

SECONDS = 8.0
SEQS = range(400)
KEY = "metrics/trickled.gz"
SLOW_BODY = b'{"partialSuccess": {}}' + b" " * 40


def trickling_after(requests: int, stage: str) -> tuple[Hostile, list[Request]]:
    """Answers the first requests at once, then 200 trickled from `stage`; notes the trickled ones."""
    counter = itertools.count()
    trickled: list[Request] = []

    def hostile(request: Request, _points: list[Point]) -> Reply | None:
        if next(counter) < requests:
            return None
        trickled.append(request)
        return Reply(200, (("Content-Type", "application/json"),), SLOW_BODY, trickle_from=stage)

    return hostile, trickled


def _ended_in_time(world: World, outcome: Outcome, pattern: str) -> dict[str, object]:
    assert outcome.elapsed < SECONDS, outcome.elapsed
    outcome.failed_with(pattern)
    line = outcome.line
    assert line["status"] == "failed"
    marker = world.marker(KEY)
    assert marker is not None
    assert (marker["state"], marker["lease_until"]) == ("sending", 0.0), marker
    return marker


@pytest.mark.parametrize("stage", STAGES)
def test_a_collector_trickling_its_answer_is_left_before_the_deadline(world: World, stage: str) -> None:
    world.receiver.hostile, trickled = trickling_after(2, stage)
    event = world.put(KEY, json_object(SEQS, compress=True))
    outcome = world.invoke(event, seconds=SECONDS)
    marker = _ended_in_time(world, outcome, r"no complete answer|out of time")
    assert marker["position"] > 0
    assert outcome.line["datapoints"] == marker["position"]
    assert len(trickled) == 1
    world.receiver.hostile = None
    assert world.invoke(event).error is None
    world.receiver.assert_nothing_missing(SEQS)
    # At least once: the trickled request began with 200, so the collector has it, and it is sent again.
    resent = {point.seq for request in trickled for point in decode(request)}
    assert {seq for _, seq in world.receiver.duplicates()} <= resent


def _trickling_token(stage: str) -> Callable[[Request], Reply]:
    def hostile(_request: Request) -> Reply:
        body = b'{"access_token": "tk-Sl0w7Dr1p9Qa2Zx4", "token_type": "Bearer", "expires_in": 300}'
        return Reply(200, (("Content-Type", "application/json"),), body, trickle_from=stage)

    return hostile


@pytest.mark.parametrize("stage", STAGES)
def test_a_token_endpoint_trickling_its_answer_is_left_before_the_deadline(world: World, stage: str) -> None:
    world.secret_values.add("tk-Sl0w7Dr1p9Qa2Zx4")
    world.issuer.hostile = _trickling_token(stage)
    event = world.put(KEY, json_object(SEQS, compress=True))
    outcome = world.invoke(event, seconds=SECONDS)
    marker = _ended_in_time(
        world, outcome, r"token endpoint .*(no complete answer|out of time|did not arrive whole)"
    )
    assert marker["position"] == 0
    assert world.collector.requests == []
    world.issuer.hostile = None
    assert world.invoke(event).error is None
    world.receiver.assert_exactly_once(SEQS)


@pytest.mark.parametrize("peer", ["collector", "token_url"])
def test_a_tls_handshake_that_never_ends_is_left_before_the_deadline(world: World, peer: str) -> None:
    with SilentListener() as silent:
        secret = world.oauth2_secret()
        key = "endpoint" if peer == "collector" else "token_url"
        secret[key] = f"https://127.0.0.1:{silent.port}/" + ("v1/metrics" if peer == "collector" else "token")
        world.write_secret(secret)
        event = world.put(KEY, json_object(SEQS, compress=True))
        outcome = world.invoke(event, seconds=SECONDS)
        _ended_in_time(world, outcome, r"timed out|no complete answer|out of time")
        assert silent.connections >= 1
    world.write_secret(world.oauth2_secret())
    world.reset_runtime()
    assert world.invoke(event).error is None
    world.receiver.assert_exactly_once(SEQS)
