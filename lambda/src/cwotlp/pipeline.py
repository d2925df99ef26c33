"""One object, start to finish: read -> decode -> convert -> batch -> export, with progress and a report.

The same steps serve the Lambda handler, `cwotlp send` and `cwotlp replay`; `cwotlp convert` uses
`Conversion` alone.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from cwotlp.config import ConfigError, Destination, Settings
from cwotlp.delivery.auth import authenticator
from cwotlp.delivery.export import ExportCounters, Exporter
from cwotlp.delivery.http import Deadline, DeliveryError, RetryPolicy
from cwotlp.delivery.progress import Progress, ProgressStore
from cwotlp.formats.json_lines import json_lines
from cwotlp.formats.otel1 import FrameConverter, FrameLayout, frame_batches, frames, parses
from cwotlp.otlp.batch import Batch, batches
from cwotlp.otlp.convert import Converter, Entry, Naming
from cwotlp.otlp.encoding import Encoding, JsonEncoding, encoding_named
from cwotlp.rules import DROPPED_BY_RULE, Rule, record_filter
from cwotlp.source import CHUNK_BYTES, Decompressed, ObjectRef

log = logging.getLogger("cwotlp")


def _is_json(head: bytes) -> bool:
    """Whether an object starts like JSON lines (a record opens with '{"'); anything else is taken for
    OpenTelemetry 1.0 frames, whose first byte is a length."""
    text = head.lstrip()
    return not text or (text[:1] == b"{" and text[1:2] in (b'"', b" ", b"}", b""))


class Conversion:
    """The requests one object's bytes turn into, produced lazily so memory stays bounded by a batch.

    Records before `resume_from` (counting the records forwarded: converted, and kept by the rules)
    are read but not sent again.
    """

    def __init__(
        self,
        chunks: Iterable[bytes],
        naming: Naming,
        max_request_bytes: int,
        *,
        resume_from: int = 0,
        rules: tuple[Rule, ...] = (),
        encoding: Encoding | None = None,
    ) -> None:
        self.source = Decompressed(chunks)
        self.skipped: Counter[str] = Counter()
        self.encoding = encoding or JsonEncoding()
        self.converter = Converter(naming, self.encoding)
        self.records = 0
        self.format = "json"
        self._naming = naming
        self._max_request_bytes = max_request_bytes
        self._resume_from = resume_from
        self._forward = record_filter(rules)
        self._frames: FrameConverter | None = None

    @classmethod
    def configured(cls, chunks: Iterable[bytes], settings: Settings, *, resume_from: int = 0) -> Conversion:
        return cls(
            chunks,
            settings.naming,
            settings.max_request_bytes,
            resume_from=resume_from,
            rules=settings.rules,
            encoding=encoding_named(settings.encoding),
        )

    @property
    def oldest_timestamp_ms(self) -> int | None:
        return (self._frames or self.converter).oldest_timestamp_ms

    def batches(self) -> Iterator[Batch]:
        """The requests, from JSON lines or from OpenTelemetry 1.0 frames: the bytes tell which."""
        if _is_json(self.source.peek()):
            return batches(self._entries(), self._max_request_bytes, self.encoding, self._resume_from)
        self.format = "opentelemetry1.0"
        self._frames = FrameConverter(
            self._naming, self.encoding, self._forward, self._max_request_bytes // 4
        )
        layout = FrameLayout(self.encoding)
        return frame_batches(self._frame_units(), self._max_request_bytes, layout, self._resume_from)

    def _frame_units(self) -> Iterator[tuple[bytes, int]]:
        assert self._frames is not None
        convert = self._frames.convert
        skipped = self.skipped
        records = 0
        try:
            for payload in frames(self.source, skipped, parses):
                parts = convert(payload)
                if isinstance(parts, str):
                    skipped[parts] += 1
                    continue
                for part in parts:
                    records += 1
                    if records > self._resume_from:
                        yield part
        finally:
            self.records = records
            if self._frames.dropped:
                skipped[DROPPED_BY_RULE] += self._frames.dropped

    def _entries(self) -> Iterator[Entry]:
        convert = self.converter.convert
        forward = self._forward
        skipped = self.skipped
        resume_from = self._resume_from
        records = 0
        try:
            for value in json_lines(self.source, skipped):
                if forward is not None and not forward(value):
                    skipped[DROPPED_BY_RULE] += 1
                    continue
                entry = convert(value)
                if isinstance(entry, str):
                    skipped[entry] += 1
                    continue
                records += 1
                if records > resume_from:
                    yield entry
        finally:
            self.records = records


@dataclass
class ObjectReport:
    """What happened to one object; logged as one structured line."""

    bucket: str
    key: str
    status: str = "delivered"
    format: str = "json"
    records: int = 0
    resumed_from: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    statistics_dropped: int = 0
    object_bytes: int = 0
    truncated: bool = False
    counters: ExportCounters = field(default_factory=ExportCounters)
    duration_ms: int = 0
    lag_seconds: float | None = None
    error: str | None = None

    def absorb(self, conversion: Conversion) -> None:
        self.format = conversion.format
        self.records = conversion.records
        self.skipped = conversion.skipped
        self.statistics_dropped = conversion.converter.statistics_dropped
        self.object_bytes = conversion.source.bytes_read
        self.truncated = conversion.source.truncated
        oldest = conversion.oldest_timestamp_ms
        if oldest is not None:  # end-to-end latency: from the oldest datapoint to the end of its delivery
            self.lag_seconds = round(time.time() - oldest / 1000, 1)
        if self.truncated:
            self.skipped["truncated_gzip"] += 1

    def log_fields(self) -> dict[str, Any]:
        counters = self.counters
        fields: dict[str, Any] = {
            "bucket": self.bucket,
            "key": self.key,
            "status": self.status,
            "format": self.format,
            "records": self.records,
            "datapoints": counters.datapoints,
            "skipped": dict(self.skipped),
            "statistics_dropped": self.statistics_dropped,
            "requests": counters.requests,
            "raw_bytes": counters.raw_bytes,
            "gzip_bytes": counters.gzip_bytes,
            "object_bytes": self.object_bytes,
            "retries": counters.retries,
            "splits": counters.splits,
            "rejected_datapoints": counters.rejected_datapoints,
            "resumed_from": self.resumed_from,
            "duration_ms": self.duration_ms,
        }
        if self.lag_seconds is not None:
            fields["lag_seconds"] = self.lag_seconds
        if self.error:
            fields["error"] = self.error
        return fields

    def log(self) -> None:
        level = logging.ERROR if self.status == "failed" else logging.INFO
        log.log(level, f"object {self.status}", extra={"object": self.log_fields()})


ExporterFactory = Callable[[ExportCounters], Exporter]


def exporter_factory(destination: Destination, session: Any, settings: Settings) -> ExporterFactory:
    """Exporters for one destination, each counting into the counters of the object it serves."""
    policy = RetryPolicy(max_retries=settings.max_retries, timeout=settings.request_timeout_seconds)

    def make(counters: ExportCounters) -> Exporter:
        auth = authenticator(destination, session, policy, counters)
        return Exporter(destination.endpoint, auth, session, policy, counters)

    return make


def forward_object(
    s3: Any, ref: ObjectRef, make_exporter: ExporterFactory, settings: Settings, deadline: Deadline
) -> ObjectReport:
    """Delivers one S3 object, resuming after what an earlier attempt delivered. Never raises for
    delivery problems: the report's status is "failed" and its error says why."""
    from botocore.exceptions import BotoCoreError, ClientError

    started = time.monotonic()
    report = ObjectReport(ref.bucket, ref.key)
    conversion: Conversion | None = None
    try:
        store = ProgressStore(s3, ref.bucket, ref.key)
        progress = store.load()
        if progress.complete:
            report.status = "already_delivered"
            return report
        report.resumed_from = progress.records
        body = s3.get_object(Bucket=ref.bucket, Key=ref.key)["Body"]
        conversion = Conversion.configured(
            body.iter_chunks(CHUNK_BYTES), settings, resume_from=progress.records
        )
        exporter = make_exporter(report.counters)

        def accepted(batch: Batch) -> None:
            store.save(Progress(records=batch.end_record))

        for batch in conversion.batches():
            exporter.send(batch, deadline, accepted)
        store.save(Progress(complete=True))
    except (DeliveryError, ConfigError) as error:
        report.status, report.error = "failed", str(error)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "error")
        report.status, report.error = "failed", f"S3 {error.operation_name}: {code}"
    except BotoCoreError as error:
        report.status, report.error = "failed", f"S3: {type(error).__name__}"
    finally:
        if conversion is not None:
            report.absorb(conversion)
        report.duration_ms = round((time.monotonic() - started) * 1000)
    return report
