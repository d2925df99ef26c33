"""Delivery progress and the lease on an object, kept in a small marker object beside it in the bucket.

The marker `<prefix><object key>` holds JSON: the state (`sending` or `delivered`), how many units of the
object the collector has accepted, the fingerprint of the settings those units were cut under, the ETag
of the content they were cut from, and who holds the lease and until when. Every write is an S3
conditional write: the first with `If-None-Match: *`, later ones with `If-Match: <the marker's ETag>`,
so two invocations of one object (S3 delivers events at least once, sometimes at the same moment)
cannot both send it. The second waits for the first: it ends as `already_delivered` when the first
succeeds, takes over when the first releases its lease (on failure) or the lease runs out (a crash),
and fails, to be retried by Lambda, when its own time runs out first. A lease lasts until its holder's
deadline and the reserve after it in which the holder still records progress; a live holder never
outlives it. A lease said to last longer than any invocation can is not taken for a live one (a
corrupt marker must not block its object).

A retry resumes after the accepted units only if the fingerprint and the content match; under other
settings the units would be cut elsewhere, and an object written again under its key is another
content, delivered again from its start (even when the old content was delivered): at least once,
never less.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cwotlp.deadline import RESERVE_SECONDS, Deadline
from cwotlp.errors import DeliveryError

log = logging.getLogger("cwotlp")

SENDING, DELIVERED = "sending", "delivered"
MAX_KEY_BYTES = 1024
ACQUIRE_ATTEMPTS = 20  # writes that lose a race before giving up
MAX_POLLS = 400  # waits for a live holder: more than a 900 s invocation has room for
POLL_SECONDS = (0.5, 1.0, 2.0, 3.0)
MAX_LEASE_SECONDS = 900.0 + RESERVE_SECONDS  # Lambda's longest invocation
FINAL_WRITE_ATTEMPTS = 3


class LeaseLost(DeliveryError):
    """Another invocation took the object over; this one must stop sending."""


@dataclass(frozen=True)
class Marker:
    state: str = SENDING
    position: int = 0
    fingerprint: str = ""
    holder: str = ""
    lease_until: float = 0.0
    content: str = ""  # the object's ETag; empty in markers written before it was recorded

    def body(self) -> bytes:
        return json.dumps(self.__dict__, sort_keys=True).encode()

    def counts_for(self, content: str) -> bool:
        """Whether the marker counts units of this content (the object's ETag); one written before
        contents were recorded counts for whatever content is there."""
        return self.content in ("", content)

    @classmethod
    def parse(cls, data: bytes) -> Marker | None:
        try:
            value = json.loads(data)
            marker = cls(**value)
        except (ValueError, TypeError):
            return None
        ok = (
            marker.state in (SENDING, DELIVERED)
            and type(marker.position) is int
            and marker.position >= 0
            and isinstance(marker.lease_until, int | float)
            and math.isfinite(marker.lease_until)
            and isinstance(marker.fingerprint, str)
            and isinstance(marker.holder, str)
            and isinstance(marker.content, str)
        )
        return marker if ok else None


@dataclass(frozen=True)
class Progress:
    """Where delivery of an object starts: after `resume_from` units, or nothing to do."""

    resume_from: int = 0
    complete: bool = False
    restarted: bool = False  # progress existed under other settings or content and was set aside


def marker_key(prefix: str, key: str) -> str:
    """The marker's key; a key too long for S3 with the prefix is replaced by its digest."""
    name = prefix + key
    if len(name.encode()) <= MAX_KEY_BYTES:
        return name
    return f"{prefix}sha256/{hashlib.sha256(key.encode()).hexdigest()}"


class ProgressStore:
    """The marker of one object, held by one invocation (`holder`)."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        key: str,
        *,
        prefix: str,
        fingerprint: str,
        holder: str,
        content: str = "",
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._key = marker_key(prefix, key)
        self._fingerprint = fingerprint
        self._holder = holder
        self._content = content
        self._clock = clock
        self._sleep = sleep
        self._etag: str | None = None
        self._marker = Marker()
        self.recorded = True  # False once a progress write failed

    def peek(self) -> Marker | None:
        """The marker as it is, without taking anything (for dry runs)."""
        return self._read()[0]

    def acquire(self, deadline: Deadline) -> Progress:
        """Takes the lease, or finds the object delivered; waits for a live holder within the deadline.

        Raises DeliveryError when the marker cannot be read or written (so nothing is sent whose
        progress could not be recorded) or when another invocation holds the lease past the deadline.
        """
        lease_until = self._clock() + max(deadline.remaining(), 0.0) + RESERVE_SECONDS
        conflicts = polls = 0
        while True:
            marker, etag = self._read()
            same = marker is not None and marker.counts_for(self._content)
            if marker is not None and marker.state == DELIVERED and same:
                return Progress(complete=True)
            if marker is not None and marker.holder != self._holder and self._live(marker):
                self._wait_for(marker, deadline, polls)
                polls += 1
                continue
            resume = marker is not None and same and marker.fingerprint == self._fingerprint
            position = marker.position if marker is not None and resume else 0
            if self._write(self._marker_at(SENDING, position, lease_until), etag):
                return Progress(resume_from=position, restarted=marker is not None and not resume)
            conflicts += 1
            if conflicts >= ACQUIRE_ATTEMPTS:
                raise DeliveryError("could not take the object's lease: its marker kept changing")

    def save(self, position: int) -> None:
        """Records accepted units. A failed write is logged and left to the next one: the data was
        accepted and must not be sent again because of it. Raises LeaseLost if another took over."""
        self._record(self._marker_at(SENDING, position, self._marker.lease_until))

    def finish(self) -> None:
        """Marks the object delivered, trying a few times; raises only LeaseLost."""
        for _ in range(FINAL_WRITE_ATTEMPTS):
            self.recorded = True
            self._record(self._marker_at(DELIVERED, self._marker.position, 0.0))
            if self.recorded:
                return

    def release(self) -> None:
        """Gives the lease up after a failure, keeping the position, so a retry need not wait."""
        if self._etag is None:
            return
        with contextlib.suppress(LeaseLost):
            self._record(self._marker_at(SENDING, self._marker.position, 0.0))

    def _marker_at(self, state: str, position: int, lease_until: float) -> Marker:
        return Marker(state, position, self._fingerprint, self._holder, lease_until, self._content)

    def _live(self, marker: Marker) -> bool:
        """Whether the marker's lease still runs; one said to run longer than an invocation can is
        not believed."""
        now = self._clock()
        return now < marker.lease_until <= now + MAX_LEASE_SECONDS

    def _wait_for(self, marker: Marker, deadline: Deadline, polls: int) -> None:
        pause = POLL_SECONDS[min(polls, len(POLL_SECONDS) - 1)]
        if deadline.remaining() < pause + 1.0 or polls >= MAX_POLLS:
            raise DeliveryError(
                "another invocation is delivering this object (its lease runs "
                f"{max(marker.lease_until - self._clock(), 0):.0f} s more); left to Lambda's retry"
            )
        self._sleep(pause)

    def _record(self, marker: Marker) -> None:
        try:
            if not self._write(marker, self._etag):
                raise LeaseLost("another invocation took this object over; it sends the rest")
        except LeaseLost:
            raise
        except DeliveryError as error:
            self.recorded = False
            log.warning("delivery progress not recorded", extra={"reason": str(error)})

    def _read(self) -> tuple[Marker | None, str | None]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._s3.get_object(Bucket=self._bucket, Key=self._key)
            data = response["Body"].read(4096)
        except ClientError as error:
            if _code(error) in ("NoSuchKey", "404"):
                return None, None
            raise DeliveryError(self._problem("GetObject", _code(error))) from None
        except BotoCoreError as error:
            raise DeliveryError(self._problem("GetObject", type(error).__name__)) from None
        marker = Marker.parse(data)
        if marker is None:
            log.warning("unreadable progress marker replaced", extra={"marker": self._key})
        return marker, response.get("ETag")

    def _write(self, marker: Marker, etag: str | None) -> bool:
        """A conditional write; False when the condition failed (another invocation wrote first)."""
        from botocore.exceptions import BotoCoreError, ClientError

        condition = {"If-Match": etag} if etag else {"If-None-Match": "*"}
        try:
            response = _put_if(self._s3, self._bucket, self._key, marker.body(), condition)
        except ClientError as error:
            if _code(error) in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                return False
            raise DeliveryError(self._problem("PutObject", _code(error))) from None
        except BotoCoreError as error:
            raise DeliveryError(self._problem("PutObject", type(error).__name__)) from None
        self._etag, self._marker = response.get("ETag"), marker
        return True

    def _problem(self, operation: str, code: str) -> str:
        where = f"s3://{self._bucket}/{self._key}"
        if code in ("AccessDenied", "403"):
            return (
                f"cannot record delivery progress: {operation} on {where} denied; the role needs "
                "s3:GetObject and s3:PutObject on the progress prefix and s3:ListBucket on the bucket"
            )
        return f"cannot record delivery progress: {operation} on {where} failed ({code})"


def _put_if(s3: Any, bucket: str, key: str, body: bytes, condition: dict[str, str]) -> Any:
    """PutObject with conditional headers, added through botocore's events so that it works whether or
    not the installed botocore knows the IfMatch/IfNoneMatch parameters."""

    def add_condition(request: Any, **_: Any) -> None:
        for name, value in condition.items():
            request.headers[name] = value

    events = s3.meta.events
    events.register_first("before-sign.s3.PutObject", add_condition, unique_id="cwotlp-condition")
    try:
        return s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    finally:
        events.unregister("before-sign.s3.PutObject", unique_id="cwotlp-condition")


def _code(error: Any) -> str:
    return str(error.response.get("Error", {}).get("Code", "error"))
