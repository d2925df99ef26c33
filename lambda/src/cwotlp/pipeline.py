"""One object, start to finish: lease -> read -> records -> rules -> convert -> batch -> export -> progress.

The same steps serve the Lambda handler, `cwotlp send` and `cwotlp replay`; `cwotlp convert` uses
`Conversion` alone. `forward_object` never raises: whatever happens to one object ends in its report,
so the other objects of an event go on.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from cwotlp.deadline import Deadline
from cwotlp.errors import ConfigError, DeliveryError
from cwotlp.formats import OPENTELEMETRY_1_0, stream_format
from cwotlp.otlp.batch import Batch, batches, part_batches
from cwotlp.otlp.convert import Converter
from cwotlp.otlp.encoding import encoding_named
from cwotlp.otlp.pieces import Entry
from cwotlp.report import ObjectReport
from cwotlp.rules import DROPPED_BY_RULE, record_filter
from cwotlp.source import CHUNK_BYTES, Decompressed, ObjectRef, body_of, content_tag

if TYPE_CHECKING:
    from cwotlp.tags import ResourceTags

Send = Callable[[Batch, Deadline, Callable[[Batch], None]], None]
ExporterFactory = Callable[[ObjectReport], Send]


class Conversion:
    """The requests one object's bytes turn into, produced lazily so memory stays bounded by a batch.

    Units (entries, or parts of OpenTelemetry 1.0 frames) before `resume_from` are read but not sent.
    """

    def __init__(
        self,
        chunks: Iterable[bytes],
        settings: Any,
        *,
        resume_from: int = 0,
        tags: ResourceTags | None = None,
    ) -> None:
        self.source = Decompressed(chunks)
        self.skipped: Counter[str] = Counter()
        self.format = settings.stream_format
        self.units = 0  # entries, or parts of frames: what progress counts
        self._part_points = 0
        self._settings = settings
        self._resume_from = resume_from
        self._encoding = encoding_named(settings.encoding)
        self._forward = record_filter(settings.rules)
        self._converter = Converter(settings.naming, self._encoding, tags)
        naming = settings.naming
        self.passthrough = (
            self.format == OPENTELEMETRY_1_0
            and naming.scheme == "native"
            and self._encoding.name == "protobuf"
            and not naming.account_region
            and tags is None
        )

    @property
    def records(self) -> int:
        """CloudWatch records read and converted (for frames forwarded as they are, their datapoints)."""
        return self._part_points if self.passthrough else self._converter.converted

    @property
    def statistics_dropped(self) -> int:
        return self._converter.statistics_dropped

    @property
    def oldest_timestamp_ms(self) -> int | None:
        return self._converter.oldest_timestamp_ms

    def nothing_read(self) -> bool:
        """True when the object had content and not one record of it could be read."""
        read = self.units + self.skipped[DROPPED_BY_RULE]
        return read == 0 and (any(self.skipped.values()) or self.source.truncated)

    def batches(self) -> Iterator[Batch]:
        limit = self._settings.max_request_bytes
        if self.passthrough:
            from cwotlp.formats.otel1_forward import FrameForwarder

            naming = self._settings.naming
            extra = [("service.name", naming.service_name), *naming.resource_attributes.items()]
            # A part is at most a quarter of a request, so that a 413 can always be met by splitting.
            forwarder = FrameForwarder(extra, limit // 4, self._forward)
            parts = self._points(forwarder.parts(self.source, self.skipped))
            return self._counted(part_batches(self._resumed(parts), limit, self._resume_from))
        stream, truncated = stream_format(self.format), lambda: self.source.truncated
        if self._forward is None:
            entries = stream.entries(self._converter, self.source, self.skipped, truncated)
        else:  # rules take records
            records = self._kept(stream.records(self.source, self.skipped, truncated))
            entries = self._converter.entries(records, self.skipped)
        return self._counted(batches(self._resumed(entries), limit, self._encoding, self._resume_from))

    def _kept(self, records: Iterable[Any]) -> Iterator[Any]:
        forward = self._forward
        assert forward is not None
        for record in records:
            if forward(record):
                yield record
            else:
                self.skipped[DROPPED_BY_RULE] += 1

    def _counted(self, batches: Iterable[Batch]) -> Iterator[Batch]:
        """The batches; `units` follows the last one made."""
        for batch in batches:
            self.units = batch.end_record
            yield batch

    def _points(self, parts: Iterable[tuple[bytes, int]]) -> Iterator[tuple[bytes, int]]:
        for part in parts:
            self._part_points += part[1]
            yield part

    def _resumed(self, units: Iterator[Any]) -> Iterator[Any]:
        """The units after the first `resume_from`, which an earlier attempt delivered."""
        return self._skipping(units) if self._resume_from else units

    def _skipping(self, units: Iterator[Any]) -> Iterator[Any]:
        for index, unit in enumerate(units):
            if index >= self._resume_from:
                yield unit
            else:
                self.units = index + 1


def timed(chunks: Iterable[bytes], deadline: Deadline) -> Iterator[bytes]:
    """The chunks, until the deadline: reading a huge object must not outlast the invocation."""
    for chunk in chunks:
        if deadline.remaining() <= 0:
            raise DeliveryError("out of time while reading the object; the retry resumes after what was sent")
        yield chunk


def forward_object(
    s3: Any,
    ref: ObjectRef,
    make_exporter: ExporterFactory,
    settings: Any,
    deadline: Deadline,
    *,
    holder: str,
    tags: ResourceTags | None = None,
) -> ObjectReport:
    """Delivers one S3 object, resuming after what an earlier attempt delivered."""
    from cwotlp.delivery.progress import ProgressStore

    started = time.monotonic()
    report = ObjectReport(ref.bucket, ref.key, format=settings.stream_format)
    store: ProgressStore | None = None
    conversion: Conversion | None = None
    try:
        if deadline.remaining() <= 0:
            raise DeliveryError("out of time before the object was started; the retry delivers it")
        content = content_tag(s3, ref)
        store = ProgressStore(
            s3,
            ref.bucket,
            ref.key,
            prefix=settings.progress_prefix,
            fingerprint=settings.fingerprint(),
            holder=holder,
            content=content,
        )
        progress = store.acquire(deadline)
        if progress.complete:
            report.status = "already_delivered"
            return report
        report.resumed_from, report.restarted = progress.resume_from, progress.restarted
        chunks = timed(body_of(s3, ref, content).iter_chunks(CHUNK_BYTES), deadline)
        conversion = Conversion(chunks, settings, resume_from=progress.resume_from, tags=tags)
        send = make_exporter(report)
        for batch in conversion.batches():
            send(batch, deadline, lambda accepted: store.save(accepted.end_record))
        if conversion.nothing_read():
            raise DeliveryError(
                "nothing in the object could be read (see skipped); is it in the stream's format?"
            )
        store.finish()
    except Exception as error:
        report.status, report.error = "failed", _reason(error)
        if store is not None:
            store.release()
    finally:
        report.progress_recorded = store is None or store.recorded
        if conversion is not None:
            report.absorb(conversion)
        if tags is not None:
            counted = tags.take_counters()
            report.tag_lookups, report.tag_failures = counted.lookups, counted.failures
        report.duration_ms = round((time.monotonic() - started) * 1000)
    return report


def _reason(error: Exception) -> str:
    """An error's message, for ours; for anything else, its type and where it happened, never its text
    (a library's message may quote a credential)."""
    import logging
    import traceback

    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(error, DeliveryError | ConfigError):
        return str(error)
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "error")
        return f"S3 {error.operation_name}: {code}"
    if isinstance(error, BotoCoreError):
        return f"S3: {type(error).__name__}"
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if "cwotlp" in frame.filename]
    where = (
        f" in {frames[-1].name} ({frames[-1].filename.rpartition('/')[2]}:{frames[-1].lineno})"
        if frames
        else ""
    )
    extra = {"error_type": type(error).__name__, "where": where.strip()}
    logging.getLogger("cwotlp").error("internal error", extra=extra)
    return f"internal error: {type(error).__name__}{where}"


__all__ = ["Conversion", "Entry", "ExporterFactory", "ObjectReport", "forward_object"]
