"""Duplicates: S3 may deliver one event twice at the same moment, an invocation may crash holding an
object's lease, and progress may be impossible to record. Every datapoint still arrives exactly once,
or the forwarder refuses to start and says which permission is missing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from faults.behaviours import outage_after
from faults.otlp_peers import Point
from faults.peers import Reply, Request
from faults.records import json_object
from faults.world import BUCKET, World

SEQS = range(300)
KEY = "metrics/2026/11/30/16/stream-duplicated.gz"


def _slow(_request: Request, _points: list[Point]) -> Reply | None:
    time.sleep(0.15)  # long enough for the invocations to overlap
    return None


@pytest.mark.parametrize("count", [2, 4])
def test_invocations_of_one_object_at_the_same_moment_deliver_it_once(world: World, count: int) -> None:
    world.receiver.hostile = _slow
    event = world.put(KEY, json_object(SEQS, compress=True))
    outcomes = world.invoke_concurrently([event] * count)
    assert [o.error for o in outcomes] == [None] * count
    statuses = sorted(o.line["status"] for o in outcomes)
    assert statuses == ["already_delivered"] * (count - 1) + ["delivered"]
    world.receiver.assert_exactly_once(SEQS)
    assert world.marker(KEY)["state"] == "delivered"


def _crash_after_part(world: World, lease_seconds: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """Delivers part of the object, then leaves its marker as an invocation that crashed would: held
    by it, its lease running `lease_seconds` more (negative: run out)."""
    world.receiver.hostile = outage_after(3)
    event = world.put(KEY, json_object(SEQS, compress=True))
    world.invoke(event).failed_with("HTTP 500")
    world.receiver.hostile = None
    marker = world.marker(KEY)
    assert marker is not None and marker["position"] > 0
    crashed = marker | {"holder": "crashed-invocation", "lease_until": time.time() + lease_seconds}
    world.s3.put_object(Bucket=BUCKET, Key=f"progress/{KEY}", Body=json.dumps(crashed).encode())
    return event, crashed


@pytest.mark.parametrize("lease_seconds", [-30.0, 2.0], ids=["run-out", "running"])
def test_a_lease_left_by_a_crashed_invocation_is_taken_over(world: World, lease_seconds: float) -> None:
    event, crashed = _crash_after_part(world, lease_seconds)
    lease_left = crashed["lease_until"] - time.time()
    outcome = world.invoke(event, seconds=30)
    assert outcome.error is None, outcome.error
    assert outcome.line["resumed_from"] == crashed["position"]
    world.receiver.assert_exactly_once(SEQS)
    assert outcome.elapsed >= lease_left, "the lease was taken while it still ran"


def test_a_lease_held_past_the_deadline_is_left_to_lambdas_retry(world: World) -> None:
    event, _ = _crash_after_part(world, 300.0)
    sent = len(world.collector.requests)
    outcome = world.invoke(event, seconds=9)
    outcome.failed_with(r"another invocation is delivering this object .*left to Lambda's retry")
    assert outcome.elapsed < 9
    assert len(world.collector.requests) == sent


def _deny(operation: str, keys: Callable[[str], bool]) -> None:
    """AccessDenied for the forwarder's S3 calls of `operation` on the keys `keys` accepts."""

    def deny(params: dict[str, Any], **_: Any) -> None:
        if keys(str(params.get("Key", ""))):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, operation)

    boto3.DEFAULT_SESSION.events.register(f"before-parameter-build.s3.{operation}", deny)


@pytest.mark.parametrize("operation", ["PutObject", "GetObject"])
def test_progress_that_cannot_be_recorded_stops_before_the_first_request(
    world: World, operation: str
) -> None:
    _deny(operation, lambda key: key.startswith("progress/"))
    outcome = world.invoke(world.put(KEY, json_object(SEQS)))
    text = outcome.failed_with(rf"cannot record delivery progress: {operation} on s3://{BUCKET}/progress/")
    assert f"s3:{operation}" in text
    assert "progress prefix" in text
    assert world.collector.requests == []
    assert world.tokens.requests == []


def test_a_progress_write_failing_mid_object_does_not_resend_accepted_data(world: World) -> None:
    writes = iter(range(1000))
    _deny("PutObject", lambda key: key.startswith("progress/") and next(writes) >= 2)
    event = world.put(KEY, json_object(SEQS))
    outcome = world.invoke(event)
    assert outcome.error is None, outcome.error
    world.receiver.assert_exactly_once(SEQS)
    assert outcome.line.get("progress_recorded") is False
    assert any(r.getMessage() == "delivery progress not recorded" for r in world.caplog.records)


def test_an_object_with_ten_tags_is_delivered_and_its_tags_left_alone(world: World) -> None:
    event = world.put(KEY, json_object(SEQS))
    tags = [{"Key": f"team-{i}", "Value": str(i)} for i in range(10)]
    world.s3.put_object_tagging(Bucket=BUCKET, Key=KEY, Tagging={"TagSet": tags})
    outcome = world.invoke(event)
    assert outcome.error is None
    world.receiver.assert_exactly_once(SEQS)
    assert world.s3.get_object_tagging(Bucket=BUCKET, Key=KEY)["TagSet"] == tags
    assert world.marker(KEY)["state"] == "delivered"


def test_a_failed_delivery_says_its_progress_was_not_all_recorded(world: World) -> None:
    writes = iter(range(1000))
    _deny("PutObject", lambda key: key.startswith("progress/") and next(writes) >= 2)
    world.receiver.hostile = outage_after(3)
    outcome = world.invoke(world.put(KEY, json_object(SEQS)))
    outcome.failed_with("HTTP 500")
    assert outcome.line["status"] == "failed"
    assert outcome.line.get("progress_recorded") is False  # its retry may send part of it again
