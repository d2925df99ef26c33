"""One broken object in an S3 event must not stop the others: each object gets its own log line, the
invocation fails only when some object was not delivered, and a retry of the event delivers nothing
twice."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from faults.records import json_object
from faults.world import World, s3_event, s3_record

from cwotlp_local.events import S3_TEST_EVENT, load_event

FIRST, SECOND = range(100), range(100, 220)


def _broken_event(world: World) -> dict[str, Any]:
    world.put("metrics/first.gz", json_object(FIRST, compress=True))
    world.put("metrics/garbage.gz", b"\x1f\x8b\x08\x00" + bytes(range(256)) * 8)
    world.put("metrics/second", json_object(SECOND))
    records = s3_event(("metrics/first.gz", 1), ("metrics/gone.gz", 1))["Records"]
    records += [
        s3_record({"size": 10}),  # no key
        s3_record({"key": 12345, "size": 10}),  # a key that is a number
        s3_record({"key": "", "size": 10}),
        s3_record({"key": "metrics/bad\ud800", "size": 10}),  # JSON's "\ud800": no UTF-8 key is that
        *s3_event(("metrics/garbage.gz", 1), ("metrics/second", 1))["Records"],
    ]
    return {"Records": records}


def test_broken_objects_do_not_stop_the_others(world: World) -> None:
    outcome = world.invoke(_broken_event(world))
    outcome.failed_with(r"^6 of 8 objects not delivered: ")
    world.receiver.assert_exactly_once([*FIRST, *SECOND])
    by_key = {line["key"]: line for line in outcome.lines}
    assert len(outcome.lines) == 8
    assert by_key["metrics/first.gz"]["status"] == by_key["metrics/second"]["status"] == "delivered"
    assert "NoSuchKey" in by_key["metrics/gone.gz"]["error"]
    assert "could be read" in by_key["metrics/garbage.gz"]["error"]
    unusable = [line for line in outcome.lines if line["key"] == ""]
    assert len(unusable) == 4
    assert all(line["status"] == "failed" and "bucket and key" in line["error"] for line in unusable)
    assert world.marker("metrics/first.gz")["state"] == "delivered"
    assert world.marker("metrics/second")["state"] == "delivered"


def test_a_retry_of_the_event_delivers_nothing_twice(world: World) -> None:
    event = _broken_event(world)
    world.invoke(event)
    requests = len(world.collector.requests)
    retry = world.invoke(event)
    retry.failed_with(r"^6 of 8 objects not delivered: ")
    assert len(world.collector.requests) == requests
    statuses = {line["key"]: line["status"] for line in retry.lines}
    assert statuses["metrics/first.gz"] == statuses["metrics/second"] == "already_delivered"
    world.receiver.assert_exactly_once([*FIRST, *SECOND])


def test_an_event_of_good_objects_only_succeeds(world: World) -> None:
    world.put("metrics/a", json_object(FIRST))
    world.put("metrics/b b+c=d", json_object(SECOND, compress=True))
    outcome = world.invoke(s3_event(("metrics/a", 1), ("metrics/b b+c=d", 1)))
    assert outcome.error is None
    assert outcome.result == {"objects": 2, "delivered": 2, "already_delivered": 0, "datapoints": 220}
    world.receiver.assert_exactly_once([*FIRST, *SECOND])
    assert world.marker("metrics/b b+c=d")["state"] == "delivered"


def test_events_that_are_not_s3_object_creations_are_ignored(world: World) -> None:
    odd = [{"eventSource": "aws:sqs"}, "a string", None, s3_record({"key": "metrics/x"}) | {"eventName": 5}]
    outcome = world.invoke({"Records": odd})
    assert outcome.error is None
    assert outcome.result is not None and outcome.result["objects"] == 0
    assert outcome.lines == []
    assert any(getattr(r, "ignored", 0) == 4 for r in world.caplog.records)


NOT_A_NOTIFICATION = "the event is not an S3 notification; it names no object to deliver"
IGNORED = "event records that are not S3 object creations were ignored"


@pytest.mark.parametrize(
    ("event", "warning"),
    [
        ({}, NOT_A_NOTIFICATION),
        ({"Records": "none"}, NOT_A_NOTIFICATION),
        ({"detail-type": "Object Created", "detail": {}}, NOT_A_NOTIFICATION),
        ({"Records": [[]]}, IGNORED),
        (load_event(S3_TEST_EVENT), None),
    ],
    ids=["empty", "records-not-a-list", "eventbridge", "record-not-an-object", "s3-test-event"],
)
def test_an_event_that_is_not_a_notification_fails_nothing(
    world: World, event: Any, warning: str | None
) -> None:
    outcome = world.invoke(event)
    assert outcome.error is None
    assert outcome.result is not None and outcome.result["objects"] == 0
    warned = [r.getMessage() for r in world.caplog.records if r.levelno == logging.WARNING]
    assert warned == ([warning] if warning else [])
    assert world.collector.requests == []
