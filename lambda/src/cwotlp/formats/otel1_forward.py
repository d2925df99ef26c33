"""OpenTelemetry 1.0 frames forwarded as they are, for the `native` naming with protobuf requests.

CloudWatch already writes OTLP; under the naming that keeps its shape there is nothing to convert. The
frames' bytes are walked at the level of resources (and of metrics only where a resource must be cut),
never decoded into Python objects datapoint by datapoint:
- each ResourceMetrics gets the configured resource attributes its resource lacks, appended to the
  resource's repeated attributes field (a key the frame already has is kept);
- a ResourceMetrics larger than the part budget is cut between metrics, so that a request never has to
  carry more than a part and a collector's 413 can always be met by splitting;
- drop and keep rules need the datapoints' attributes: with rules, each metric is decoded (only its
  attributes are read) and rewritten when some of its datapoints are dropped.
A part (a serialized ResourceMetrics field of an ExportMetricsServiceRequest) is the unit of progress.
Its datapoints are counted by their `Namespace` attribute, which CloudWatch gives each datapoint.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from cwotlp.formats.otel1 import EMPTY_FRAME, MALFORMED_FRAME, MAX_REMEMBERED_RESOURCE, frames, point_names
from cwotlp.otlp.encoding import field, varint
from cwotlp.rules import DROPPED_BY_RULE

# A datapoint's `Namespace` attribute: the attributes field (7) of the datapoint, its length (one or two
# bytes), then KeyValue.key "Namespace". A dimension named Namespace sits in a key-value list instead,
# after a field-1 tag, and is not counted.
DATAPOINT_NAMESPACE = re.compile(rb"\x3a(?:[\x80-\xff][\x00-\x7f]|[\x00-\x7f])\x0a\x09Namespace")
Part = tuple[bytes, int]  # a ResourceMetrics field and the datapoints it carries


class Malformed(Exception):
    """The bytes are not the protobuf message they should be."""


def fields(buffer: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int, int, int]]:
    """(field number, start of the field's tag, start of its value, end) of each field of a message.

    Only what the metrics messages use is accepted: varint, 64-bit, length-delimited and 32-bit fields.
    """
    end = len(buffer) if end is None else end
    position = start
    while position < end:
        tag_start = position
        key, position = _varint(buffer, position, end)
        kind = key & 7
        if kind == 0:
            value_start, position = position, _varint(buffer, position, end)[1]
        elif kind in (1, 5):
            value_start, position = position, position + (8 if kind == 1 else 4)
        elif kind == 2:
            length, value_start = _varint(buffer, position, end)
            position = value_start + length
        else:
            raise Malformed("unsupported wire type")
        if position > end:
            raise Malformed("field runs past the end of its message")
        yield key >> 3, tag_start, value_start, position


def _varint(buffer: bytes, position: int, end: int) -> tuple[int, int]:
    """(value, position after it) of a varint of up to ten bytes (a 64-bit value)."""
    value = shift = 0
    for index in range(position, min(end, position + 10)):
        byte = buffer[index]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, index + 1
        shift += 7
    raise Malformed("bad varint")


class FrameForwarder:
    """Frames -> parts, with resource attributes added and rules applied."""

    def __init__(
        self, extra: list[tuple[str, str]], part_bytes: int, forward: Callable[[Any], bool] | None
    ) -> None:
        self._extra = extra
        self._part_bytes = part_bytes
        self._forward = forward
        self._resources: dict[bytes, bytes] = {}  # a resource -> its field with the attributes added
        self.dropped = 0

    def parts(self, chunks: Iterable[bytes], skipped: Counter[str]) -> Iterator[Part]:
        """Each frame's resources with the attributes added, grouped into parts within the budget."""
        for payload in frames(chunks, skipped):
            dropped = self.dropped
            try:
                found = list(self._frame_parts(payload))
            except (Malformed, IndexError):  # IndexError: a frame that ends inside a field's tag or length
                skipped[MALFORMED_FRAME] += 1
                continue
            if not found and self.dropped == dropped:  # empty before the rules, not emptied by them
                skipped[EMPTY_FRAME] += 1
            yield from found
        if self.dropped:
            skipped[DROPPED_BY_RULE] += self.dropped

    def _frame_parts(self, payload: bytes) -> Iterator[Part]:
        """Consecutive ResourceMetrics of a frame, joined while they fit a part; one too large for a
        part is cut between its metrics."""
        group: list[bytes] = []
        size, position, end = 0, 0, len(payload)
        while position < end:
            if payload[position] != 0x0A:  # not a ResourceMetrics: an unknown field, dropped
                position = next(fields(payload, position, end))[3]
                continue
            length, start = payload[position + 1], position + 2
            if length > 0x7F:
                length, start = _varint(payload, position + 1, end)
            position = start + length
            if position > end:
                raise Malformed("a field runs past the end of its frame")
            for piece in self._quick(payload, start, position) or self._split(payload[start:position]):
                if group and size + len(piece) > self._part_bytes:
                    yield _part(group)
                    group, size = [], 0
                group.append(piece)
                size += len(piece)
        if group:
            yield _part(group)

    def _quick(self, payload: bytes, start: int, stop: int) -> list[bytes] | None:
        """The common case, which runs once per resource of every frame and so is kept tight: no rules,
        the resource first in its ResourceMetrics, and room in a part. None for the others."""
        if self._forward is not None or start == stop or payload[start] != 0x0A:
            return None
        size, resource_start = payload[start + 1], start + 2
        if size > 0x7F:
            size, resource_start = _varint(payload, start + 1, stop)
        resource = payload[resource_start : resource_start + size]
        head = self._resources.get(resource) or self._resource_field(resource)
        body = head + payload[resource_start + size : stop]
        return [b"\x0a" + varint(len(body)) + body] if len(body) <= self._part_bytes - 10 else None

    def _resource_field(self, resource: bytes) -> bytes:
        found = self._resources.get(resource)
        if found is None:
            found = field(1, resource + self._missing_attributes(resource))
            if len(self._resources) < 10_000 and len(resource) <= MAX_REMEMBERED_RESOURCE:
                self._resources[resource] = found
        return found

    def _split(self, resource_metrics: bytes) -> list[bytes]:
        return list(self._split_fields(resource_metrics))

    def _split_fields(self, resource_metrics: bytes) -> Iterator[bytes]:
        """The ResourceMetrics as request fields: rules applied, the resource's attributes added, cut
        between metrics when it is larger than a part."""
        resource = b""
        scopes: list[bytes] = []
        rest: list[bytes] = []
        for number, tag_start, value_start, end in fields(resource_metrics):
            if number == 1:
                resource = resource_metrics[value_start:end]
            elif number == 2:
                scopes.append(resource_metrics[value_start:end])
            else:
                rest.append(resource_metrics[tag_start:end])
        if self._forward is not None:
            scopes = [scope for scope in map(self._filtered, scopes) if scope]
        if not scopes:
            return
        head = self._resource_field(resource)
        tail = b"".join(rest)
        whole = head + b"".join(field(2, scope) for scope in scopes) + tail
        if len(whole) + 10 <= self._part_bytes:
            yield field(1, whole)
            return
        for scope in scopes:
            for metrics in self._cut(scope, self._part_bytes - len(head) - len(tail) - 20):
                yield field(1, head + field(2, metrics) + tail)

    def _missing_attributes(self, resource: bytes) -> bytes:
        present = set()
        for number, _, value_start, end in fields(resource):
            if number == 1:  # Resource.attributes: KeyValue{key 1}
                for key_number, _, key_start, key_end in fields(resource, value_start, end):
                    if key_number == 1:
                        present.add(resource[key_start:key_end].decode("utf-8", "replace"))
        added = []
        for key, value in self._extra:  # the first of a key wins, as every key is once in a resource
            if key not in present:
                present.add(key)
                added.append((key, value))
        return b"".join(field(1, field(1, k.encode()) + field(2, field(1, v.encode()))) for k, v in added)

    def _cut(self, scope: bytes, budget: int) -> Iterator[bytes]:
        """The scope's metrics in consecutive groups within the budget, each with the scope's header."""
        header = b"".join(scope[tag:end] for number, tag, _, end in fields(scope) if number != 2)
        group: list[bytes] = []
        size = 0
        for number, tag, _, end in fields(scope):
            if number != 2:
                continue
            metric = scope[tag:end]
            if group and size + len(metric) > budget:
                yield header + b"".join(group)
                group, size = [], 0
            group.append(metric)
            size += len(metric)
        if group:
            yield header + b"".join(group)

    def _filtered(self, scope: bytes) -> bytes:
        """The scope with the datapoints the rules drop taken out; empty when nothing is left."""
        kept: list[bytes] = []
        for number, tag, value_start, end in fields(scope):
            if number != 2:
                kept.append(scope[tag:end])
                continue
            metric = self._filtered_metric(scope[value_start:end])
            if metric:
                kept.append(field(2, metric))
        return b"".join(kept) if any(part[:1] == b"\x12" for part in kept) else b""

    def _filtered_metric(self, data: bytes) -> bytes:
        from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

        assert self._forward is not None
        metric = Metric.FromString(data)
        kind = metric.WhichOneof("data")
        if kind is None:
            return data
        points = getattr(metric, kind).data_points
        keep = [point for point in points if self._forward(_rule_view(point))]
        if len(keep) == len(points):
            return data
        self.dropped += len(points) - len(keep)
        if not keep:
            return b""
        del points[:]
        points.extend(keep)
        return bytes(metric.SerializeToString())


def _part(pieces: list[bytes]) -> Part:
    joined = b"".join(pieces)
    return joined, len(DATAPOINT_NAMESPACE.findall(joined))


def _rule_view(point: Any) -> dict[str, Any]:
    """What the rules look at in a datapoint: its Namespace, MetricName and Dimensions attributes."""
    namespace, metric_name, dimensions = point_names(point)
    return {"namespace": namespace or "", "metric_name": metric_name or "", "dimensions": dimensions}
