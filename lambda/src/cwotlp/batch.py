"""Converted entries -> OTLP export requests no larger than a byte limit.

Batches are cut at record boundaries in record order, so the same object and limit always give the same
requests, and a batch knows which records it carries: that is what lets a retried object resume after
the last request the collector accepted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from cwotlp.convert import Entry

_REQUEST_OPEN = b'{"resourceMetrics":['
_REQUEST_CLOSE = b"]}"
_RESOURCE_CLOSE = b"]}]}"
_METRIC_CLOSE = b"]}}"


@dataclass(frozen=True)
class Batch:
    """Consecutive records `first_record` .. `first_record + len(entries) - 1` of one object."""

    entries: list[Entry]
    first_record: int

    @property
    def end_record(self) -> int:
        return self.first_record + len(self.entries)

    def body(self) -> bytes:
        """The ExportMetricsServiceRequest as OTLP JSON, entries grouped by resource and metric."""
        groups: dict[bytes, dict[bytes, list[bytes]]] = {}
        for resource, metric, datapoint in self.entries:
            metrics = groups.get(resource)
            if metrics is None:
                metrics = groups[resource] = {}
            datapoints = metrics.get(metric)
            if datapoints is None:
                metrics[metric] = [datapoint]
            else:
                datapoints.append(datapoint)
        resources = [
            resource
            + b",".join(m + b",".join(dps) + _METRIC_CLOSE for m, dps in metrics.items())
            + _RESOURCE_CLOSE
            for resource, metrics in groups.items()
        ]
        return _REQUEST_OPEN + b",".join(resources) + _REQUEST_CLOSE

    def split(self) -> tuple[Batch, Batch]:
        """Two halves, for a collector that rejected this batch as too large."""
        if len(self.entries) < 2:
            raise ValueError("a batch of one record cannot be split")
        half = len(self.entries) // 2
        return (
            Batch(self.entries[:half], self.first_record),
            Batch(self.entries[half:], self.first_record + half),
        )


def batches(entries: Iterable[Entry], max_bytes: int, first_record: int = 0) -> Iterator[Batch]:
    """Groups entries into batches whose body() stays within max_bytes.

    The size is tracked exactly as body() will write it, without writing it. A single entry larger
    than the limit still forms a batch of its own (the collector decides).
    """
    current: list[Entry] = []
    start = first_record
    size = len(_REQUEST_OPEN) + len(_REQUEST_CLOSE)
    seen_resources: set[bytes] = set()
    seen_metrics: set[tuple[bytes, bytes]] = set()
    for entry in entries:
        resource, metric, datapoint = entry
        added = len(datapoint) + 1
        key = (resource, metric)
        if key not in seen_metrics:
            added += len(metric) + len(_METRIC_CLOSE)
            if resource not in seen_resources:
                added += len(resource) + len(_RESOURCE_CLOSE) + 1
        if size + added > max_bytes and current:
            yield Batch(current, start)
            start += len(current)
            current = []
            size = len(_REQUEST_OPEN) + len(_REQUEST_CLOSE)
            seen_resources = set()
            seen_metrics = set()
            added = (
                len(datapoint) + len(metric) + len(_METRIC_CLOSE) + len(resource) + len(_RESOURCE_CLOSE) + 2
            )
        seen_metrics.add(key)
        seen_resources.add(resource)
        current.append(entry)
        size += added
    if current:
        yield Batch(current, start)
