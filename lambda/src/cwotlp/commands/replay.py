"""`cwotlp replay`: deliver again the objects an operator chooses, outside Lambda.

Objects come from a bucket and prefix (optionally within a time window of their LastModified), or from
the on-failure queue, whose messages are the records Lambda's on-failure destination writes (the
original S3 event is the record's requestPayload). Delivery is the forwarder's own: objects already
delivered are skipped, partly delivered ones resume. A queue message is deleted only once every object
it names is delivered; a message that cannot be read is counted, reported and left in the queue.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from cwotlp.delivery.progress import DELIVERED, ProgressStore
from cwotlp.errors import DeliveryError
from cwotlp.pipeline import ObjectReport
from cwotlp.source import ObjectRef, content_tag, objects_in_event

RECEIVE_BATCH = 10  # SQS's maximum per ReceiveMessage
RECEIVE_WAIT_SECONDS = 1


@dataclass
class QueueMessage:
    receipt_handle: str
    message_id: str
    objects: list[ObjectRef] = field(default_factory=list)
    problem: str | None = None


def objects_under_prefix(
    s3: Any, bucket: str, prefix: str, since: datetime | None = None, until: datetime | None = None
) -> Iterator[ObjectRef]:
    """Objects under the prefix, in key order, whose LastModified lies in [since, until)."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            modified = item["LastModified"]
            if (since is None or modified >= since) and (until is None or modified < until):
                yield ObjectRef(bucket, item["Key"], item.get("Size"))


def parse_failure_record(body: str) -> list[ObjectRef]:
    """The S3 objects named by one on-failure destination record; ValueError says why it is unusable."""
    try:
        record = json.loads(body)
    except ValueError:
        raise ValueError("not JSON") from None
    payload = record.get("requestPayload") if isinstance(record, dict) else None
    if isinstance(payload, str):  # some senders nest the event as a JSON string
        try:
            payload = json.loads(payload)
        except ValueError:
            payload = None
    if not isinstance(payload, dict):
        raise ValueError("no requestPayload holding the S3 event")
    refs = objects_in_event(payload).refs
    if not refs:
        raise ValueError("the requestPayload names no S3 object")
    return refs


def queue_messages(
    sqs: Any, queue_url: str, max_messages: int, visibility_timeout: int
) -> Iterator[QueueMessage]:
    """Receives until the queue has nothing new, or max_messages were read.

    While a message is being handled it is invisible to other readers for visibility_timeout seconds; a
    message seen again (its timeout ran out) ends the loop, so every message is handled once per run.
    """
    seen: set[str] = set()
    while len(seen) < max_messages:
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(RECEIVE_BATCH, max_messages - len(seen)),
            WaitTimeSeconds=RECEIVE_WAIT_SECONDS,
            VisibilityTimeout=visibility_timeout,
        )
        fresh = [m for m in response.get("Messages", []) if m["MessageId"] not in seen]
        if not fresh:
            return
        for raw in fresh:
            seen.add(raw["MessageId"])
            message = QueueMessage(raw["ReceiptHandle"], raw["MessageId"])
            try:
                message.objects = parse_failure_record(raw.get("Body", ""))
            except ValueError as error:
                message.problem = str(error)
            yield message


@dataclass
class ReplaySummary:
    objects: Counter[str] = field(default_factory=Counter)
    datapoints: int = 0
    messages_deleted: int = 0
    messages_unreadable: int = 0
    messages_kept: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "objects": sum(self.objects.values()),
            **{status: count for status, count in sorted(self.objects.items())},
            "datapoints": self.datapoints,
            "messages_deleted": self.messages_deleted,
            "messages_kept": self.messages_kept,
            "messages_unreadable": self.messages_unreadable,
        }

    @property
    def failed(self) -> bool:
        return bool(self.objects["failed"])


Forward = Callable[[ObjectRef], ObjectReport]


class Replay:
    """Runs deliveries and reports progress on `out` (one line per object, prefixed by a counter)."""

    def __init__(self, s3: Any, forward: Forward | None, settings: Any, out: TextIO | None = None) -> None:
        self._s3 = s3
        self._forward = forward  # None: a dry run
        self._settings = settings
        self._out = out or sys.stderr
        self.summary = ReplaySummary()
        self._started = time.monotonic()

    def deliver(self, ref: ObjectRef) -> str:
        if self._forward is None:
            settings = self._settings
            store = ProgressStore(
                self._s3, ref.bucket, ref.key, prefix=settings.progress_prefix, fingerprint="", holder=""
            )
            try:
                content, marker = content_tag(self._s3, ref), store.peek()
            except DeliveryError as error:  # gone, or its marker unreadable: say so, go on with the others
                status, detail = "failed", str(error)
            else:
                delivered = marker is not None and marker.state == DELIVERED and marker.counts_for(content)
                status = "already_delivered" if delivered else "would_deliver"
                detail = (
                    f"{marker.position} units sent before" if marker is not None and marker.position else ""
                )
        else:
            report = self._forward(ref)
            status = report.status
            self.summary.datapoints += report.counters.datapoints
            detail = report.error or f"{report.counters.datapoints} datapoints"
        self.summary.objects[status] += 1
        done = sum(self.summary.objects.values())
        elapsed = time.monotonic() - self._started
        print(
            f"[{done} {elapsed:.0f}s] {status:<17} s3://{ref.bucket}/{ref.key} {detail}".rstrip(),
            file=self._out,
        )
        return status

    def run_objects(self, refs: Iterator[ObjectRef]) -> None:
        for ref in refs:
            self.deliver(ref)

    def run_queue(self, sqs: Any, queue_url: str, messages: Iterator[QueueMessage]) -> None:
        for message in messages:
            if message.problem:
                self.summary.messages_unreadable += 1
                print(
                    f"unreadable message {message.message_id}: {message.problem}; left in the queue",
                    file=self._out,
                )
                continue
            statuses = [self.deliver(ref) for ref in message.objects]
            if self._forward is not None and all(s in ("delivered", "already_delivered") for s in statuses):
                self._delete(sqs, queue_url, message)
            else:
                self.summary.messages_kept += 1

    def _delete(self, sqs: Any, queue_url: str, message: QueueMessage) -> None:
        """Deletes a handled message; one that cannot be deleted stays (a later run finds its objects
        delivered) and the run goes on."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message.receipt_handle)
        except (ClientError, BotoCoreError) as error:
            code = error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else None
            print(
                f"message {message.message_id} not deleted ({code or type(error).__name__}); its objects "
                "are delivered, a later run finds them so",
                file=self._out,
            )
            self.summary.messages_kept += 1
        else:
            self.summary.messages_deleted += 1
