"""Progress and lease markers in S3 (moto): conditional writes, resuming, restarting, waiting for a live
holder, taking over an expired or released lease, and failures that say what to fix."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from cwotlp.deadline import RESERVE_SECONDS
from cwotlp.delivery.http import Deadline
from cwotlp.delivery.progress import (
    ACQUIRE_ATTEMPTS,
    DELIVERED,
    MAX_KEY_BYTES,
    MAX_POLLS,
    SENDING,
    LeaseLost,
    Marker,
    Progress,
    ProgressStore,
    marker_key,
)
from cwotlp.errors import DeliveryError

BUCKET = "metrics-bucket"
KEY = "metrics/2026/11/24/21/stream-1-2026-11-24-21-30-00-abc.gz"
MARKER = f"progress/{KEY}"


class Clock:
    """Wall and deadline clock in one; sleeping advances it."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.sleeps: list[float] = []
        self.during_sleep: list[Any] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.during_sleep:
            self.during_sleep.pop(0)()

    def deadline(self, seconds: float) -> Deadline:
        return Deadline(self.now + seconds, self)


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def clock() -> Clock:
    return Clock()


def store(
    s3: Any,
    clock: Clock,
    holder: str = "invocation-1",
    fingerprint: str = "fp-1",
    key: str = KEY,
    content: str = '"etag-1"',
) -> ProgressStore:
    return ProgressStore(
        s3,
        BUCKET,
        key,
        prefix="progress/",
        fingerprint=fingerprint,
        holder=holder,
        content=content,
        clock=clock,
        sleep=clock.sleep,
    )


def put_marker(s3: Any, **fields: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key=MARKER, Body=json.dumps(fields).encode())


def marker(s3: Any, key: str = MARKER) -> dict[str, Any]:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def fail(s3: Any, operation: str, code: str) -> None:
    """Makes every call of the operation on this client fail with the code, as S3 would answer."""

    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": code, "Message": "refused"}}, operation)

    s3.meta.events.register(f"before-call.s3.{operation}", refuse, unique_id=f"test-{operation}")


def heal(s3: Any, operation: str) -> None:
    s3.meta.events.unregister(f"before-call.s3.{operation}", unique_id=f"test-{operation}")


def test_a_fresh_object_is_leased_until_the_deadline(s3: Any, clock: Clock) -> None:
    progress = store(s3, clock).acquire(clock.deadline(120))
    assert progress == Progress(resume_from=0, complete=False, restarted=False)
    assert marker(s3) == {
        "state": SENDING,
        "position": 0,
        "fingerprint": "fp-1",
        "holder": "invocation-1",
        "lease_until": clock.now + 120 + RESERVE_SECONDS,  # the holder still records progress after it
        "content": '"etag-1"',
    }
    assert clock.sleeps == []


def test_progress_is_saved_and_finished(s3: Any, clock: Clock) -> None:
    mine = store(s3, clock)
    mine.acquire(clock.deadline(120))
    mine.save(17)
    assert (marker(s3)["state"], marker(s3)["position"]) == (SENDING, 17)
    mine.save(40)
    mine.finish()
    assert marker(s3) == {
        "state": DELIVERED,
        "position": 40,
        "fingerprint": "fp-1",
        "holder": "invocation-1",
        "lease_until": 0.0,
        "content": '"etag-1"',
    }
    assert mine.recorded
    later = store(s3, clock, holder="invocation-2")
    assert later.acquire(clock.deadline(120)) == Progress(complete=True)
    assert marker(s3)["holder"] == "invocation-1"  # a delivered marker is not written again


def test_a_retry_resumes_with_the_same_fingerprint(s3: Any, clock: Clock) -> None:
    first = store(s3, clock)
    first.acquire(clock.deadline(120))
    first.save(25)
    first.release()
    assert marker(s3)["lease_until"] == 0.0 and marker(s3)["position"] == 25
    retry = store(s3, clock, holder="invocation-2")
    assert retry.acquire(clock.deadline(120)) == Progress(resume_from=25)
    assert clock.sleeps == []  # a released lease is taken at once
    assert marker(s3)["holder"] == "invocation-2"


def test_a_retry_under_other_settings_starts_over(s3: Any, clock: Clock) -> None:
    first = store(s3, clock)
    first.acquire(clock.deadline(120))
    first.save(25)
    first.release()
    retry = store(s3, clock, holder="invocation-2", fingerprint="fp-2")
    assert retry.acquire(clock.deadline(120)) == Progress(resume_from=0, restarted=True)
    assert (marker(s3)["position"], marker(s3)["fingerprint"]) == (0, "fp-2")


def test_the_same_holder_takes_its_own_lease_again(s3: Any, clock: Clock) -> None:
    store(s3, clock).acquire(clock.deadline(120))
    assert store(s3, clock).acquire(clock.deadline(120)) == Progress()
    assert clock.sleeps == []


def test_a_second_invocation_waits_for_a_live_holder_that_finishes(s3: Any, clock: Clock) -> None:
    holder = store(s3, clock)
    holder.acquire(clock.deadline(600))
    holder.save(9)
    clock.during_sleep = [lambda: None, holder.finish]  # the holder finishes during the second wait
    waiting = store(s3, clock, holder="invocation-2")
    assert waiting.acquire(clock.deadline(120)) == Progress(complete=True)
    assert clock.sleeps == [0.5, 1.0]


def test_a_second_invocation_gives_up_when_the_holder_outlasts_its_time(s3: Any, clock: Clock) -> None:
    store(s3, clock).acquire(clock.deadline(600))
    waiting = store(s3, clock, holder="invocation-2")
    with pytest.raises(DeliveryError, match=r"another invocation is delivering this object \(its lease runs"):
        waiting.acquire(clock.deadline(10))
    assert sum(clock.sleeps) <= 10
    assert clock.sleeps[:4] == [0.5, 1.0, 2.0, 3.0]
    assert marker(s3)["holder"] == "invocation-1"


def test_an_expired_lease_is_taken_over_and_the_old_holder_stops(s3: Any, clock: Clock) -> None:
    crashed = store(s3, clock)
    crashed.acquire(clock.deadline(60))
    crashed.save(12)
    clock.now += 60 + RESERVE_SECONDS + 1
    successor = store(s3, clock, holder="invocation-2")
    assert successor.acquire(clock.deadline(120)) == Progress(resume_from=12)
    assert clock.sleeps == []
    with pytest.raises(LeaseLost, match="another invocation took this object over"):
        crashed.save(20)
    with pytest.raises(LeaseLost):
        crashed.finish()
    crashed.release()  # after losing the lease, releasing changes nothing
    assert (marker(s3)["holder"], marker(s3)["position"]) == ("invocation-2", 12)


def test_a_failed_save_is_logged_and_not_raised(
    s3: Any, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    mine = store(s3, clock)
    mine.acquire(clock.deadline(120))
    fail(s3, "PutObject", "InternalError")
    with caplog.at_level(logging.WARNING, logger="cwotlp"):
        mine.save(30)
    assert not mine.recorded
    [record] = [r for r in caplog.records if r.getMessage() == "delivery progress not recorded"]
    assert record.reason == (  # type: ignore[attr-defined]
        f"cannot record delivery progress: PutObject on s3://{BUCKET}/{MARKER} failed (InternalError)"
    )
    heal(s3, "PutObject")
    mine.save(31)  # the next write goes through with the same lease
    assert marker(s3)["position"] == 31
    mine.finish()
    assert mine.recorded and marker(s3)["state"] == DELIVERED


def test_finish_tries_a_few_times_and_does_not_raise(s3: Any, clock: Clock) -> None:
    mine = store(s3, clock)
    mine.acquire(clock.deadline(120))
    mine.save(5)
    fail(s3, "PutObject", "SlowDown")
    mine.finish()
    assert not mine.recorded
    assert marker(s3)["state"] == SENDING


@pytest.mark.parametrize("operation", ["GetObject", "PutObject"])
def test_access_denied_names_the_permissions(s3: Any, clock: Clock, operation: str) -> None:
    fail(s3, operation, "AccessDenied")
    with pytest.raises(DeliveryError) as caught:
        store(s3, clock).acquire(clock.deadline(120))
    assert str(caught.value) == (
        f"cannot record delivery progress: {operation} on s3://{BUCKET}/{MARKER} denied; the role needs "
        "s3:GetObject and s3:PutObject on the progress prefix and s3:ListBucket on the bucket"
    )


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"state": "lost", "position": 3}',
        b'{"state": "sending", "position": -1}',
        b"{}x",
    ],
)
def test_an_unreadable_marker_is_replaced(
    s3: Any, clock: Clock, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    s3.put_object(Bucket=BUCKET, Key=MARKER, Body=body)
    with caplog.at_level(logging.WARNING, logger="cwotlp"):
        assert store(s3, clock).acquire(clock.deadline(120)) == Progress()
    assert any(r.getMessage() == "unreadable progress marker replaced" for r in caplog.records)
    assert Marker.parse(json.dumps(marker(s3)).encode()) is not None


def test_a_marker_that_keeps_changing_fails_after_bounded_attempts(s3: Any, clock: Clock) -> None:
    rival = boto3.client("s3", region_name="us-east-1")
    writes = []

    def rival_writes_first(**_: Any) -> None:
        writes.append(1)
        body = Marker(SENDING, 0, "fp-x", "rival", 0.0).body()
        rival.put_object(Bucket=BUCKET, Key=MARKER, Body=body + b" " * len(writes))

    s3.meta.events.register("before-call.s3.PutObject", rival_writes_first)
    with pytest.raises(DeliveryError, match="its marker kept changing"):
        store(s3, clock).acquire(clock.deadline(120))
    assert len(writes) == ACQUIRE_ATTEMPTS


def test_long_keys_get_a_digest_marker(s3: Any, clock: Clock) -> None:
    assert marker_key("progress/", KEY) == MARKER
    fits = "é" * ((MAX_KEY_BYTES - len("progress/")) // 2)
    assert marker_key("progress/", fits) == "progress/" + fits
    long_key = "metrics/" + "k" * 1100
    digest = marker_key("progress/", long_key)
    assert digest.startswith("progress/sha256/") and len(digest) == len("progress/sha256/") + 64
    assert marker_key("progress/", long_key + "x") != digest
    assert marker_key("progress/", fits + "é").startswith("progress/sha256/")
    store(s3, clock, key=long_key).acquire(clock.deadline(120))
    assert marker(s3, digest)["holder"] == "invocation-1"


def test_peek_reads_without_taking(s3: Any, clock: Clock) -> None:
    assert store(s3, clock).peek() is None
    holder = store(s3, clock)
    holder.acquire(clock.deadline(120))
    holder.save(3)
    seen = store(s3, clock, holder="dry-run").peek()
    assert seen is not None and (seen.state, seen.position, seen.holder) == (SENDING, 3, "invocation-1")
    assert marker(s3)["holder"] == "invocation-1"


def test_release_without_a_lease_writes_nothing(s3: Any, clock: Clock) -> None:
    store(s3, clock).release()
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_an_object_written_again_is_delivered_again_from_its_start(s3: Any, clock: Clock) -> None:
    """Progress counts the units of one content: another ETag under the key is another object."""
    first = store(s3, clock)
    first.acquire(clock.deadline(120))
    first.save(40)
    first.finish()
    rewritten = store(s3, clock, holder="invocation-2", content='"etag-2"')
    assert rewritten.acquire(clock.deadline(120)) == Progress(resume_from=0, restarted=True)
    rewritten.save(7)
    rewritten.release()  # a failed attempt at the new content
    retry = store(s3, clock, holder="invocation-3", content='"etag-2"')
    assert retry.acquire(clock.deadline(120)) == Progress(resume_from=7)
    assert marker(s3)["content"] == '"etag-2"'


def test_a_marker_written_before_contents_were_recorded_counts_for_the_content_there(
    s3: Any, clock: Clock
) -> None:
    put_marker(s3, state=SENDING, position=9, fingerprint="fp-1", holder="old", lease_until=0.0)
    assert store(s3, clock).acquire(clock.deadline(120)) == Progress(resume_from=9)
    put_marker(s3, state=DELIVERED, position=9, fingerprint="fp-1", holder="old", lease_until=0.0)
    assert store(s3, clock).acquire(clock.deadline(120)) == Progress(complete=True)


def test_a_lease_is_not_taken_while_its_holder_may_still_record_progress(s3: Any, clock: Clock) -> None:
    """The holder's deadline has passed, but it keeps RESERVE_SECONDS to record what was accepted."""
    holder = store(s3, clock)
    holder.acquire(clock.deadline(60))
    clock.now += 60 + RESERVE_SECONDS / 2
    waiting = store(s3, clock, holder="invocation-2")
    clock.during_sleep.append(lambda: holder.save(30))  # the holder's last write, in its reserve
    clock.during_sleep.append(holder.release)
    assert waiting.acquire(clock.deadline(120)) == Progress(resume_from=30)
    assert clock.sleeps[:2] == [0.5, 1.0]


@pytest.mark.parametrize("lease_until", [float("inf"), "far"], ids=["infinite", "far-future"])
def test_a_lease_longer_than_any_invocation_does_not_block_the_object(
    s3: Any, clock: Clock, lease_until: object
) -> None:
    until = clock.now + 10 * 24 * 3600 if lease_until == "far" else lease_until
    body = json.dumps(
        {"state": SENDING, "position": 3, "fingerprint": "fp-1", "holder": "x", "lease_until": until}
    )  # json writes an infinite float as Infinity, which Python reads back
    s3.put_object(Bucket=BUCKET, Key=MARKER, Body=body.encode())
    progress = store(s3, clock).acquire(clock.deadline(120))
    assert progress.resume_from == (3 if lease_until == "far" else 0)  # an unreadable marker starts over
    assert clock.sleeps == []


def test_a_live_holder_is_waited_for_until_the_deadline_not_a_count_of_polls(s3: Any, clock: Clock) -> None:
    store(s3, clock).acquire(clock.deadline(800))
    waiting = store(s3, clock, holder="invocation-2")
    with pytest.raises(DeliveryError, match=r"another invocation is delivering this object"):
        waiting.acquire(clock.deadline(300))
    assert ACQUIRE_ATTEMPTS < len(clock.sleeps) < MAX_POLLS
    assert 290 <= sum(clock.sleeps) <= 300
