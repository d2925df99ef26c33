"""Converted entries -> OTLP export requests no larger than a byte limit.

Batches are cut at record boundaries in record order, so the same object and limit always give the same
requests, and a batch knows which records it carries: that is what lets a retried object resume after
the last request the collector accepted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from cwotlp.convert import Entry

_REQUEST_OPEN = b'{"resourceMetrics":['
_REQUEST_CLOSE = b"]}"
_RESOURCE_CLOSE = b"]}]}"
_METRIC_CLOSE = b"]}}"
_EMPTY_SIZE = len(_REQUEST_OPEN) + len(_REQUEST_CLOSE)

# resource header -> metric header -> datapoints, in order of first appearance
Groups = dict[bytes, dict[bytes, list[bytes]]]


class Batch:
    """Consecutive records `first_record` .. `end_record - 1` of one object, grouped for the request."""

    def __init__(self, entries: list[Entry], first_record: int, groups: Groups | None = None) -> None:
        self.entries = entries
        self.first_record = first_record
        self._groups = groups

    @property
    def end_record(self) -> int:
        return self.first_record + len(self.entries)

    def body(self) -> bytes:
        """The ExportMetricsServiceRequest as OTLP JSON."""
        return b"".join(self.body_parts())

    def body_parts(self) -> list[bytes]:
        """body() in pieces, for writers that take pieces (gzip, files): it saves copying megabytes into
        a fresh buffer, which costs more than the copy itself on first touch of its pages."""
        groups = self._groups if self._groups is not None else _group(self.entries)
        parts = [_REQUEST_OPEN]
        for resource_index, (resource, metrics) in enumerate(groups.items()):
            parts.append(b"," + resource if resource_index else resource)
            for metric_index, (metric, datapoints) in enumerate(metrics.items()):
                parts += (b"," + metric if metric_index else metric, b",".join(datapoints), _METRIC_CLOSE)
            parts.append(_RESOURCE_CLOSE)
        parts.append(_REQUEST_CLOSE)
        return parts

    def split(self) -> tuple[Batch, Batch]:
        """Two halves, for a collector that rejected this batch as too large."""
        if len(self.entries) < 2:
            raise ValueError("a batch of one record cannot be split")
        half = len(self.entries) // 2
        return Batch(self.entries[:half], self.first_record), Batch(
            self.entries[half:], self.first_record + half
        )


def _group(entries: Iterable[Entry]) -> Groups:
    groups: Groups = {}
    for resource, metric, datapoint in entries:
        groups.setdefault(resource, {}).setdefault(metric, []).append(datapoint)
    return groups


def batches(entries: Iterable[Entry], max_bytes: int, first_record: int = 0) -> Iterator[Batch]:
    """Groups entries into batches whose body() stays within max_bytes.

    The size is tracked as body() will write it (counting a separator for every element, so it may be
    over by a few bytes, never under), without writing it. A single entry larger than the limit still
    forms a batch of its own (the collector decides).
    """
    current: list[Entry] = []
    groups: Groups = {}
    size = _EMPTY_SIZE
    for entry in entries:
        resource, metric, datapoint = entry
        added = len(datapoint) + 1
        metrics = groups.get(resource)
        points = None if metrics is None else metrics.get(metric)
        if points is None:  # the first datapoint of its metric (or resource) in this batch
            added += len(metric) + len(_METRIC_CLOSE)
            if metrics is None:
                added += len(resource) + len(_RESOURCE_CLOSE) + 1
        if size + added > max_bytes and current:
            yield Batch(current, first_record, groups)
            first_record += len(current)
            current, groups, size = [], {}, _EMPTY_SIZE
            added = (
                len(datapoint) + len(metric) + len(_METRIC_CLOSE) + len(resource) + len(_RESOURCE_CLOSE) + 2
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
        yield Batch(current, first_record, groups)
