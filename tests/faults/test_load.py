"""Under load: many invocations at once against a collector that limits its rate (a token bucket
answering 429 with Retry-After). Retries come back no earlier than asked and not in step; a wait longer
than the time left ends the invocation early; and Lambda's asynchronous runtime (reserved concurrency,
two retries, an on-failure queue) gets every datapoint delivered exactly once."""

from __future__ import annotations

import statistics
from typing import Any

import pytest
from faults.behaviours import TokenBucket
from faults.figures import report
from faults.lambda_sim import AsyncLambda
from faults.records import json_object
from faults.world import World

RECORDS = 120  # three requests per object at CWOTLP_MAX_REQUEST_BYTES=20000


def _objects(world: World, count: int) -> tuple[list[dict[str, Any]], list[int]]:
    events, seqs = [], []
    for index in range(count):
        object_seqs = range(index * 1000, index * 1000 + RECORDS)
        events.append(
            world.put(f"metrics/load/object-{index:03}.gz", json_object(object_seqs, compress=True))
        )
        seqs += object_seqs
    return events, seqs


def _retry_gaps(world: World, bucket: TokenBucket) -> list[float]:
    """For every 429, the time until the same request body came back."""
    arrivals = [(exchange.request.arrived, exchange.request.body) for exchange in world.collector.exchanges]
    gaps = []
    for limited_at, body in bucket.limited:
        later = [arrived for arrived, again in arrivals if again == body and arrived > limited_at]
        if later:
            gaps.append(min(later) - limited_at)
    return gaps


def test_concurrent_invocations_retry_no_earlier_than_asked_and_not_in_step(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Enough retries that no invocation runs out of them in the crowd: every 429 gets its retry.
    monkeypatch.setenv("CWOTLP_MAX_RETRIES", "8")
    bucket = TokenBucket(rate=6, burst=6, retry_after=1)
    world.receiver.hostile = bucket
    events, seqs = _objects(world, 12)
    outcomes = world.invoke_concurrently(events, seconds=60)
    assert [o.error for o in outcomes] == [None] * len(outcomes)
    world.receiver.assert_exactly_once(seqs)
    gaps = _retry_gaps(world, bucket)
    assert len(bucket.limited) >= 6, "the collector never limited: the test proves nothing"
    assert len(gaps) == len(bucket.limited) == sum(o.line["retries"] for o in outcomes)
    assert min(gaps) >= 1.0, f"a retry came back {min(gaps):.3f} s after Retry-After: 1"
    assert max(gaps) - min(gaps) > 0.1, "every retry waited the same time: no jitter"
    report(
        f"load: {len(gaps)} retries after 429 Retry-After 1: waits {min(gaps):.2f}-{max(gaps):.2f} s, "
        f"median {statistics.median(gaps):.2f} s"
    )


def test_a_wait_longer_than_the_time_left_ends_the_invocation_early(world: World) -> None:
    # Two requests pass, then the bucket stays empty: each object needs three, so however the two are
    # shared out, no object completes and all eight stop.
    bucket = TokenBucket(rate=0.01, burst=2, retry_after=30)
    world.receiver.hostile = bucket
    events, seqs = _objects(world, 8)
    outcomes = world.invoke_concurrently(events, seconds=12)
    failed = [o for o in outcomes if o.error is not None]
    assert len(failed) == 8
    for outcome in failed:
        outcome.failed_with(
            r"HTTP 429, asked to wait 30 s, longer than the time left; left to the next attempt"
        )
        assert outcome.elapsed < 12 - 5, "it waited instead of leaving the object to Lambda's retry"
    assert len(world.collector.requests) == 2 + len(failed)  # no retry came before the 30 s
    world.receiver.hostile = None
    for index, outcome in enumerate(outcomes):
        if outcome.error is not None:
            assert world.invoke(events[index]).error is None
    world.receiver.assert_exactly_once(seqs)


def test_lambdas_async_runtime_at_the_collectors_rate_delivers_everything_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CWOTLP_MAX_RETRIES", "5")  # the forwarder's default
    world.receiver.hostile = TokenBucket(rate=8, burst=8, retry_after=1)
    events, seqs = _objects(world, 16)
    function = AsyncLambda(world, reserved_concurrency=4, function_seconds=30)
    function.run(events, timeout=120)
    world.receiver.assert_exactly_once(seqs)
    assert function.failed_events() == []
    invocations = len(function.attempts)
    report(f"async lambda at the collector's rate: {invocations} invocations for 16 objects, none parked")


def test_lambdas_async_runtime_over_the_collectors_rate_loses_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CWOTLP_MAX_RETRIES", "5")
    world.receiver.hostile = TokenBucket(rate=2, burst=2, retry_after=1)
    events, seqs = _objects(world, 12)
    function = AsyncLambda(world, reserved_concurrency=12, function_seconds=8)
    function.run(events, timeout=120)
    parked = function.failed_events()
    assert parked, "36 requests cannot pass at 2/s within three 3 s attempts: some events must be parked"
    assert world.receiver.duplicates() == {}
    world.receiver.hostile = None
    for event in parked:  # an operator redrives the on-failure queue
        assert world.invoke(event).error is None
    world.receiver.assert_exactly_once(seqs)
    report(
        f"async lambda over the collector's rate: {len(function.attempts)} invocations, "
        f"{len(parked)} of {len(events)} events in the on-failure queue, all delivered once redriven"
    )
