"""Converted entries -> OTLP export requests no larger than a byte limit.

Batches are cut at record boundaries in record order, so the same object and limit always give the same
requests, and a batch knows which records it carries: that is what lets a retried object resume after
the last request the collector accepted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from cwotlp.otlp.encoding import Groups, ProtobufEncoding
from cwotlp.otlp.pieces import Entry


class Layout(Protocol):
    """How grouped entries become a request body, and what each element adds to its size."""

    content_type: str
    datapoint_overhead: int
    metric_overhead: int
    resource_overhead: int
    empty_size: int

    def render(self, groups: Groups) -> list[bytes]: ...


class Batch:
    """Consecutive records `first_record` .. `end_record - 1` of one object, grouped for the request.

    `weights` are the datapoints each entry carries, when an entry is not a single datapoint.
    """

    def __init__(
        self,
        entries: list[Entry],
        first_record: int,
        layout: Layout,
        groups: Groups | None = None,
        weights: list[int] | None = None,
    ) -> None:
        self.entries = entries
        self.first_record = first_record
        self.layout = layout
        self._groups = groups
        self._weights = weights

    @property
    def end_record(self) -> int:
        return self.first_record + len(self.entries)

    @property
    def datapoints(self) -> int:
        return len(self.entries) if self._weights is None else sum(self._weights)

    def body(self) -> bytes:
        """The ExportMetricsServiceRequest."""
        return b"".join(self.body_parts())

    def body_parts(self) -> list[bytes]:
        """body() in pieces, for writers that take pieces (gzip, files): it saves copying megabytes into
        a fresh buffer, which costs more than the copy itself on first touch of its pages."""
        return self.layout.render(self._groups if self._groups is not None else _group(self.entries))

    def split(self) -> tuple[Batch, Batch]:
        """Two halves, for a collector that rejected this batch as too large."""
        if len(self.entries) < 2:
            raise ValueError("a batch of one record cannot be split")
        half = len(self.entries) // 2
        weights = self._weights
        return (
            Batch(self.entries[:half], self.first_record, self.layout, None, weights and weights[:half]),
            Batch(
                self.entries[half:], self.first_record + half, self.layout, None, weights and weights[half:]
            ),
        )


def _group(entries: Iterable[Entry]) -> Groups:
    groups: Groups = {}
    for resource, metric, datapoint in entries:
        groups.setdefault(resource, {}).setdefault(metric, []).append(datapoint)
    return groups


def batches(
    entries: Iterable[Entry], max_bytes: int, layout: Layout, first_record: int = 0
) -> Iterator[Batch]:
    """Groups entries into batches whose body() stays within max_bytes.

    The size is tracked from the layout's overheads, which are upper bounds, so a body may come out a
    few bytes under the tracked size, never over, without being written. A single entry larger than the
    limit still forms a batch of its own (the collector decides).
    """
    point_overhead = layout.datapoint_overhead
    metric_overhead = layout.metric_overhead
    resource_overhead = layout.resource_overhead
    empty = layout.empty_size
    current: list[Entry] = []
    groups: Groups = {}
    size = empty
    for entry in entries:
        resource, metric, datapoint = entry
        added = len(datapoint) + point_overhead
        metrics = groups.get(resource)
        points = None if metrics is None else metrics.get(metric)
        if points is None:  # the first datapoint of its metric (or resource) in this batch
            added += len(metric) + metric_overhead
            if metrics is None:
                added += len(resource) + resource_overhead
        if size + added > max_bytes and current:
            yield Batch(current, first_record, layout, groups)
            first_record += len(current)
            current, groups, size = [], {}, empty
            added = (
                len(datapoint)
                + point_overhead
                + len(metric)
                + metric_overhead
                + len(resource)
                + resource_overhead
            )
            metrics = points = None
        if points is None:
            if metrics is None:
                metrics = groups[resource] = {}
            points = metrics[metric] = []
        points.append(datapoint)
        current.append(entry)
        size += added
    if current:
        yield Batch(current, first_record, layout, groups)


class PartsLayout:
    """Requests made of ready ResourceMetrics fields (OpenTelemetry 1.0 parts), side by side:
    concatenated, they are one ExportMetricsServiceRequest with its repeated field joined."""

    content_type = ProtobufEncoding.content_type
    datapoint_overhead = 0
    metric_overhead = 0
    resource_overhead = 0
    empty_size = 0

    def render(self, groups: Groups) -> list[bytes]:
        return [part for metrics in groups.values() for parts in metrics.values() for part in parts]


def part_batches(
    parts: Iterable[tuple[bytes, int]], max_bytes: int, first_record: int = 0
) -> Iterator[Batch]:
    """Parts grouped into batches within max_bytes; each batch knows the datapoints it carries."""
    layout = PartsLayout()
    entries: list[Entry] = []
    weights: list[int] = []
    size = 0
    for part, points in parts:
        if entries and size + len(part) > max_bytes:
            yield Batch(entries, first_record, layout, None, weights)
            first_record += len(entries)
            entries, weights, size = [], [], 0
        entries.append((b"", b"", part))
        weights.append(points)
        size += len(part)
    if entries:
        yield Batch(entries, first_record, layout, None, weights)
