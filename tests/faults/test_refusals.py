"""A collector that refuses some records with 400 (a poison record the forwarder cannot know about) gets
everything else, with the refused records counted; one that refuses everything fails the delivery in a
handful of requests, never one request per record."""

from __future__ import annotations

import math

import pytest
from faults.behaviours import outage_after, refusing
from faults.otlp_peers import decode
from faults.peers import Reply
from faults.records import json_object
from faults.world import World

SEQS = range(256)


def _one_request_per_object(monkeypatch: pytest.MonkeyPatch, encoding: str) -> None:
    monkeypatch.setenv("CWOTLP_MAX_REQUEST_BYTES", "2000000")
    monkeypatch.setenv("CWOTLP_OTLP_ENCODING", encoding)


@pytest.mark.parametrize("encoding", ["json", "protobuf"])
@pytest.mark.parametrize("poison", [[137], [0], [255], [37, 200]], ids=["middle", "first", "last", "two"])
def test_refused_records_are_isolated_and_the_rest_delivered(
    world: World, monkeypatch: pytest.MonkeyPatch, encoding: str, poison: list[int]
) -> None:
    _one_request_per_object(monkeypatch, encoding)
    world.receiver.hostile = refusing(poison, b"datapoint out of bounds")
    outcome = world.invoke(world.put("metrics/poisoned", json_object(SEQS, compress=True)))
    assert outcome.error is None, outcome.error
    world.receiver.assert_exactly_once(set(SEQS) - set(poison))
    line = outcome.line
    assert line["status"] == "delivered"
    assert line["rejected_by_collector"] == len(poison)
    assert line["datapoints"] == len(SEQS) - len(poison)
    assert line["splits"] > 0
    bound = len(poison) * 2 * math.ceil(math.log2(len(SEQS))) + 1
    assert len(world.collector.requests) <= bound, (len(world.collector.requests), bound)
    assert world.marker("metrics/poisoned")["state"] == "delivered"


def test_a_refused_record_in_a_later_request_costs_only_that_request(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.receiver.hostile = refusing([300])
    outcome = world.invoke(world.put("metrics/later", json_object(range(400))))
    assert outcome.error is None, outcome.error
    world.receiver.assert_exactly_once(set(range(400)) - {300})
    assert outcome.line["rejected_by_collector"] == 1
    requests = outcome.line["requests"]  # accepted ones
    per_request = 400 / requests
    assert len(world.collector.requests) <= requests + 2 * math.ceil(math.log2(per_request)) + 1


@pytest.mark.parametrize("records", [2, 3, 256, 2000])
def test_a_collector_refusing_everything_fails_within_a_few_requests(
    world: World, monkeypatch: pytest.MonkeyPatch, records: int
) -> None:
    _one_request_per_object(monkeypatch, "json")
    world.receiver.hostile = lambda _request, _points: Reply(400, body=b"unknown tenant")
    outcome = world.invoke(world.put("metrics/refused", json_object(range(records))))
    outcome.failed_with(r"refuses everything.*unknown tenant")
    assert len(world.collector.requests) <= 7  # the request, its halves and its quarters
    sent = [tuple(point.seq for point in decode(request)) for request in world.collector.requests]
    assert len(set(sent)) == len(sent), sent  # no piece is tried twice
    assert world.receiver.accepted == {}
    line = outcome.line
    assert (line["status"], line["datapoints"], line["rejected_by_collector"]) == ("failed", 0, 0)
    assert world.marker("metrics/refused")["position"] == 0


def test_a_collector_that_starts_refusing_mid_object_fails_fast_and_keeps_progress(world: World) -> None:
    accepted_first = outage_after(2, status=400)
    world.receiver.hostile = accepted_first
    outcome = world.invoke(world.put("metrics/tenant-gone", json_object(range(600))))
    outcome.failed_with(r"refuses everything")
    assert len(world.collector.requests) <= 2 + 7
    assert outcome.line["rejected_by_collector"] == 0
    accepted = len(world.receiver.seqs())
    assert accepted > 0
    assert world.marker("metrics/tenant-gone")["position"] == accepted
