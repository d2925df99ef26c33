"""Objects of a metric stream in the OpenTelemetry 1.0 format: length-prefixed protobuf messages.

Each message is an ExportMetricsServiceRequest preceded by its length as an unsigned varint. The
forwarder passes the messages on, with the configured resource attributes added and the drop/keep rules
applied, in the same batches, with the same retries and resumption as JSON records: the unit of
progress is the message (a frame).

Frames are cut into parts of whole metrics, and the part is the unit of progress. A frame longer than
the bytes left is a truncated object: the complete frames before it are kept and
the rest is counted. A newline where a frame should start is a delimiter Firehose added by mistake (its
newline processor must be off for this format): it is skipped and counted, when the bytes after it
read as a frame and the newline read as a frame's length do not.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import orjson

from cwotlp.otlp.batch import Batch
from cwotlp.otlp.convert import Naming
from cwotlp.otlp.encoding import Encoding, Groups, field

if TYPE_CHECKING:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

TRUNCATED_FRAME = "truncated_frame"
MALFORMED_FRAME = "malformed_frame"
STRAY_DELIMITER = "stray_delimiter"
EMPTY_FRAME = "empty_frame"
NEWLINE = 0x0A
MAX_VARINT_BYTES = 5  # a uint32 length


def read_varint(buffer: bytes | bytearray, position: int) -> tuple[int, int] | None:
    """(value, position after it) of the unsigned varint at position, None if the buffer ends inside it.

    ValueError for a varint longer than a 32-bit length can be.
    """
    value = shift = 0
    for index in range(position, min(len(buffer), position + MAX_VARINT_BYTES)):
        byte = buffer[index]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, index + 1
        shift += 7
    if len(buffer) - position >= MAX_VARINT_BYTES:
        raise ValueError("frame length longer than five bytes")
    return None


def frames(
    source: Iterable[bytes], skipped: Counter[str], is_request: Callable[[bytes], bool]
) -> Iterator[bytes]:
    """The payloads of the length-prefixed frames in the source's bytes, streaming.

    `is_request` tells whether bytes parse as a request; it decides whether a newline at a frame
    boundary is a stray delimiter.
    """
    buffer = bytearray()
    position = 0
    ended = False
    chunks = iter(source)
    while True:
        if not ended:
            chunk = next(chunks, None)
            if chunk is None:
                ended = True
            else:
                del buffer[:position]
                position = 0
                buffer += chunk
        while position < len(buffer):
            try:
                header = read_varint(buffer, position)
            except ValueError:
                skipped[MALFORMED_FRAME] += 1
                return
            if header is None:
                break
            length, start = header
            end = start + length
            if end > len(buffer):
                break
            if buffer[position] == NEWLINE and not is_request(bytes(buffer[start:end])):
                following = read_varint(buffer, position + 1)
                if following is None or following[1] + following[0] > len(buffer):
                    if not ended:
                        break  # decide when more bytes are here
                elif is_request(bytes(buffer[following[1] : following[1] + following[0]])):
                    skipped[STRAY_DELIMITER] += 1
                    position += 1
                    continue
            yield bytes(buffer[start:end])
            position = end
        if ended:
            if position < len(buffer):
                skipped[TRUNCATED_FRAME] += 1
            return


def _message_class() -> type[ExportMetricsServiceRequest]:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    return ExportMetricsServiceRequest


def parses(payload: bytes) -> bool:
    """Whether the bytes are an ExportMetricsServiceRequest with at least one resource."""
    from google.protobuf.message import DecodeError

    try:
        return len(_message_class().FromString(payload).resource_metrics) > 0
    except DecodeError:
        return False


_POINTS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")


def _points(metric: Any) -> Any:
    kind = metric.WhichOneof("data")
    return getattr(metric, kind).data_points if kind in _POINTS else ()


def _attribute_text(point: Any, key: str) -> str | None:
    for attribute in point.attributes:
        if attribute.key == key:
            return str(attribute.value.string_value)
    return None


def _dimensions(point: Any) -> dict[str, str]:
    for attribute in point.attributes:
        if attribute.key == "Dimensions":
            return {kv.key: kv.value.string_value for kv in attribute.value.kvlist_value.values}
    return {}


class FrameConverter:
    """Frames -> requests to forward: attributes added, rules applied, datapoints counted."""

    def __init__(
        self, naming: Naming, encoding: Encoding, forward: Callable[[Any], bool] | None, part_bytes: int
    ) -> None:
        self._extra = {"service.name": naming.service_name, **naming.resource_attributes}
        self._encoding = encoding
        self._forward = forward
        # JSON text is about twice the protobuf size; parts are budgeted by their protobuf size.
        self._part_budget = part_bytes // (3 if encoding.name == "json" else 1)
        self.dropped = 0
        self.oldest_timestamp_ms: int | None = None

    def convert(self, payload: bytes) -> list[tuple[bytes, int]] | str:
        """The frame's parts to forward, each encoded with its datapoint count, or a skip reason.

        A frame is cut into parts of whole metrics within the part budget, so that a request never has
        to carry more than a part and a collector's 413 can always be met by splitting.
        """
        from google.protobuf.message import DecodeError

        try:
            request = _message_class().FromString(payload)
        except DecodeError:
            return MALFORMED_FRAME
        points = 0
        for resource_metrics in request.resource_metrics:
            attributes = resource_metrics.resource.attributes
            present = {attribute.key for attribute in attributes}
            for key, value in self._extra.items():
                if key not in present:
                    added = attributes.add()
                    added.key = key
                    added.value.string_value = value
            for scope_metrics in resource_metrics.scope_metrics:
                points += self._filter(scope_metrics)
        if not points:
            return EMPTY_FRAME
        return [(self._encode(part), count) for part, count in self._parts(request)]

    def _parts(self, request: Any) -> Iterator[tuple[Any, int]]:
        """Resource metrics holding consecutive metrics of one scope, each within the part budget."""
        for resource_metrics in request.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                part, size, count = None, 0, 0
                for metric in scope_metrics.metrics:
                    metric_size = metric.ByteSize()
                    if part is not None and size + metric_size > self._part_budget:
                        yield part, count
                        part = None
                    if part is None:
                        part, size, count = type(resource_metrics)(), 0, 0
                        part.resource.CopyFrom(resource_metrics.resource)
                        part.schema_url = resource_metrics.schema_url
                        scope = part.scope_metrics.add()
                        scope.scope.CopyFrom(scope_metrics.scope)
                        scope.schema_url = scope_metrics.schema_url
                    part.scope_metrics[0].metrics.append(metric)
                    size += metric_size
                    count += len(_points(metric))
                if part is not None:
                    yield part, count

    def _filter(self, scope_metrics: Any) -> int:
        """Applies the rules to the datapoints of a scope; returns how many remain."""
        remaining = 0
        for metric in list(scope_metrics.metrics):
            data_points = _points(metric)
            if self._forward is not None:
                for point in list(data_points):
                    record = {
                        "namespace": _attribute_text(point, "Namespace") or "",
                        "metric_name": _attribute_text(point, "MetricName") or metric.name,
                        "dimensions": _dimensions(point),
                    }
                    if not self._forward(record):
                        data_points.remove(point)
                        self.dropped += 1
                if not data_points:
                    scope_metrics.metrics.remove(metric)
                    continue
            for point in data_points:
                timestamp = point.time_unix_nano // 1_000_000
                if timestamp and (self.oldest_timestamp_ms is None or timestamp < self.oldest_timestamp_ms):
                    self.oldest_timestamp_ms = timestamp
            remaining += len(data_points)
        return remaining

    def _encode(self, resource_metrics: Any) -> bytes:
        if self._encoding.name == "protobuf":  # ExportMetricsServiceRequest.resource_metrics (1)
            return field(1, resource_metrics.SerializeToString())
        from google.protobuf.json_format import MessageToDict

        # OTLP/HTTP JSON: lowerCamelCase names, enums as integers, 64-bit integers as strings.
        return orjson.dumps(MessageToDict(resource_metrics, use_integers_for_enums=True))


class FrameLayout:
    """Requests made of whole frames: their resource metrics side by side."""

    datapoint_overhead = 1
    metric_overhead = 0
    resource_overhead = 0

    def __init__(self, encoding: Encoding) -> None:
        self.content_type = encoding.content_type
        self._json = encoding.name == "json"
        self.empty_size = len(b'{"resourceMetrics":[]}') if self._json else 0

    def render(self, groups: Groups) -> list[bytes]:
        units = [unit for metrics in groups.values() for units in metrics.values() for unit in units]
        if self._json:
            return [b'{"resourceMetrics":[', b",".join(units), b"]}"]
        return units  # concatenated messages are one message with their repeated fields joined


def frame_batches(
    units: Iterable[tuple[bytes, int]], max_bytes: int, layout: FrameLayout, first_record: int = 0
) -> Iterator[Batch]:
    """Frames grouped into batches within max_bytes; each batch knows the datapoints it carries."""
    entries: list[tuple[bytes, bytes, bytes]] = []
    weights: list[int] = []
    size = layout.empty_size
    for unit, points in units:
        added = len(unit) + layout.datapoint_overhead
        if entries and size + added > max_bytes:
            yield Batch(entries, first_record, layout, None, weights)
            first_record += len(entries)
            entries, weights, size = [], [], layout.empty_size
        entries.append((b"", b"", unit))
        weights.append(points)
        size += added
    if entries:
        yield Batch(entries, first_record, layout, None, weights)
