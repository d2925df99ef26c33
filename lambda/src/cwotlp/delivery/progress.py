"""Delivery progress kept on the S3 object itself, as an object tag, so no other service is needed.

The tag holds how many records of the object the collector has accepted, or "all" once the object is
delivered. A retried invocation resumes after the accepted records; a repeated S3 event for a delivered
object does nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("cwotlp")

TAG_KEY = "cwotlp-delivered"
COMPLETE = "all"
MAX_TAGS = 10  # S3's limit per object


@dataclass(frozen=True)
class Progress:
    records: int = 0
    complete: bool = False

    @classmethod
    def from_tag(cls, value: str | None) -> Progress:
        if value == COMPLETE:
            return cls(complete=True)
        if value is not None and value.isdigit():
            return cls(records=int(value))
        return cls()

    def tag_value(self) -> str:
        return COMPLETE if self.complete else str(self.records)


class ProgressStore:
    """Reads and writes the progress tag of one object, keeping the object's other tags."""

    def __init__(self, s3: Any, bucket: str, key: str) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._key = key
        self._other_tags: list[dict[str, str]] = []
        self._writable = True

    def load(self) -> Progress:
        tags = self._s3.get_object_tagging(Bucket=self._bucket, Key=self._key).get("TagSet", [])
        ours = next((tag["Value"] for tag in tags if tag["Key"] == TAG_KEY), None)
        self._other_tags = [tag for tag in tags if tag["Key"] != TAG_KEY]
        if ours is None and len(self._other_tags) >= MAX_TAGS:
            self._writable = False
            log.warning(
                "object has no room for a progress tag; a retry will resend it from the start",
                extra={"bucket": self._bucket, "key": self._key},
            )
        return Progress.from_tag(ours)

    def save(self, progress: Progress) -> None:
        if not self._writable:
            return
        tags = [*self._other_tags, {"Key": TAG_KEY, "Value": progress.tag_value()}]
        self._s3.put_object_tagging(Bucket=self._bucket, Key=self._key, Tagging={"TagSet": tags})
