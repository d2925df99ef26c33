"""What happened to one object, logged as one structured line (the dashboard and alarms read it)."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cwotlp.pipeline import Conversion


@dataclass
class ExportCounters:
    """What the exporter did for one object."""

    retries: int = 0
    requests: int = 0
    raw_bytes: int = 0
    gzip_bytes: int = 0
    datapoints: int = 0
    rejected_datapoints: int = 0  # refused by a partial-success answer
    rejected_by_collector: int = 0  # refused with 400 and passed over
    splits: int = 0
    refusals: int = 0


@dataclass
class ObjectReport:
    bucket: str
    key: str
    status: str = "delivered"
    format: str = "json"
    records: int = 0
    units: int = 0
    resumed_from: int = 0
    restarted: bool = False  # progress recorded under other settings was set aside
    skipped: Counter[str] = field(default_factory=Counter)
    statistics_dropped: int = 0
    object_bytes: int = 0
    truncated: bool = False
    counters: ExportCounters = field(default_factory=ExportCounters)
    tag_lookups: int = 0
    tag_failures: int = 0
    progress_recorded: bool = True
    duration_ms: int = 0
    lag_seconds: float | None = None
    error: str | None = None

    def absorb(self, conversion: Conversion) -> None:
        self.format = conversion.format
        self.records = conversion.records
        self.units = conversion.units
        self.skipped = conversion.skipped
        self.statistics_dropped = conversion.statistics_dropped
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
            "rejected_by_collector": counters.rejected_by_collector,
            "units": self.units,
            "resumed_from": self.resumed_from,
            "duration_ms": self.duration_ms,
        }
        optional = {
            "restarted": self.restarted or None,
            "progress_recorded": None if self.progress_recorded else False,
            "tag_lookups": self.tag_lookups or None,
            "tag_failures": self.tag_failures or None,
            "lag_seconds": self.lag_seconds,
            "error": self.error,
        }
        fields.update((key, value) for key, value in optional.items() if value is not None)
        return fields

    def log(self) -> None:
        import logging  # here: `cwotlp convert`, which prints its reports, never loads it

        failed = self.status == "failed"
        level = logging.ERROR if failed else logging.INFO  # an object with nothing readable has failed
        logging.getLogger("cwotlp").log(level, f"object {self.status}", extra={"object": self.log_fields()})
