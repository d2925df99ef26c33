"""The `opentelemetry1.0` stream format: length-prefixed ExportMetricsServiceRequest messages.

Each message (a frame) is preceded by its length as an unsigned varint. A length of 0 is an empty frame,
counted and passed over (a run of zero bytes in one step, so that a gigabyte of zeros costs little); a
length of more than MAX_FRAME_BYTES means the bytes are not frames: reading stops there. A frame longer
than the bytes left is a truncated object: the complete frames before it are kept and the rest is
counted.
A newline where a frame should start is a delimiter Firehose added by mistake (its newline processor
must be off for this format): it is skipped and counted, when the bytes after it read as a frame and
the newline read as a frame's length do not, or when it is the object's last byte.

Three ways to read frames: `datapoints` gives every summary datapoint with what surrounds it (its
resource's place, its metric's unit, its names), which `cwotlp.otlp.convert` converts without building
a record (`Converter.datapoint_entries`); `records` turns each into the CloudWatch record it stands for,
for drop and keep rules and resource tags, which look at records; `cwotlp.formats.otel1_forward` passes
the frames' bytes on, for the naming that keeps their shape.

`datapoints` parses a frame with the datapoints' attributes left encoded (`lazy_message_class`), and each
distinct attribute once per object: the Namespace, MetricName and Dimensions attributes repeat across
the datapoints of a series' metrics, and reading them was the largest part of a datapoint's time. An attribute
that turns out not to be a KeyValue makes the frame malformed from there on: the datapoints before it
have been read, the rest of the frame is counted as a malformed_frame (protobuf's nesting limit counts
from the attribute, not from the frame).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Generator, Iterable, Iterator
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any, cast

from cwotlp.otlp.units import from_ucum

if TYPE_CHECKING:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

TRUNCATED_FRAME = "truncated_frame"
MALFORMED_FRAME = "malformed_frame"
STRAY_DELIMITER = "stray_delimiter"
EMPTY_FRAME = "empty_frame"
NOT_A_SUMMARY = "not_a_summary"
FRAME = "frame"
_ZEROS = re.compile(rb"\x00+")
NOT_TEXT = ("not a string",)  # an attribute value of another kind: no check takes it for a name
NEWLINE = 0x0A
MAX_VARINT_BYTES = 5  # a uint32 length
# A Firehose record, and so a frame, is at most 1,000 KiB: a longer length is corrupt. The bound also bounds
# what parsing a frame holds: about 90 bytes per datapoint of two bytes, 45 MiB for the longest.
MAX_FRAME_BYTES = 1 << 20
MAX_REMEMBERED_RESOURCE = 4096  # CloudWatch's resources are a few hundred bytes
ATTRIBUTE_MEMO_BYTES = 8 << 20  # about what the attributes kept in an object take (realistic 32 MiB: 4)

# A loop over a repeated field's container ends in an IndexError that protobuf formats a message for: on
# a datapoint's few attributes, that is a tenth of the time. A field of at most LISTED items is read as a
# list instead ([:]), which raises nothing; a longer one, which only a hostile frame has, item by item,
# so that a frame of half a million datapoints does not hold half a million Python objects at once.
LISTED = 64

# (place, unit, namespace, metric name, dimensions, Dimensions attribute's bytes, datapoint): see datapoints
Datapoint = tuple[tuple[str, str, str], str, Any, Any, Any, bytes, Any]


def read_varint(buffer: bytes | bytearray | memoryview, position: int) -> tuple[int, int] | None:
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


def frames(source: Iterable[bytes], skipped: Counter[str]) -> Iterator[bytes]:
    """The payloads of the length-prefixed frames in the source's bytes, streaming, each at most
    MAX_FRAME_BYTES; the buffer holds at most one frame and one chunk."""
    buffer = bytearray()
    for chunk in itertools.chain(source, (None,)):
        ended = chunk is None
        if chunk:
            buffer += chunk
        position = 0
        while position < len(buffer):
            step = _next_frame(buffer, position, ended)
            if step is None:
                break  # more bytes are needed
            kind, after, payload = step
            if kind == MALFORMED_FRAME:
                skipped[MALFORMED_FRAME] += 1
                return
            if kind == FRAME:
                yield payload
            else:  # a stray delimiter, or a run of empty frames
                skipped[kind] += after - position
            position = after
        del buffer[:position]
    if buffer:
        skipped[TRUNCATED_FRAME] += 1


def _next_frame(buffer: bytearray, position: int, ended: bool) -> tuple[str, int, bytes] | None:
    """What starts at position: (kind, position after it, payload), the kind being FRAME, EMPTY_FRAME
    (a run of zero lengths), STRAY_DELIMITER or MALFORMED_FRAME; None when more bytes are needed."""
    if buffer[position] == 0:
        zeros = _ZEROS.match(buffer, position)
        assert zeros is not None
        return EMPTY_FRAME, zeros.end(), b""
    try:
        header = read_varint(buffer, position)
    except ValueError:
        return MALFORMED_FRAME, position, b""
    if header is not None and header[0] > MAX_FRAME_BYTES:
        return MALFORMED_FRAME, position, b""  # no frame is that long: the rest is not frames
    if buffer[position] == NEWLINE:
        stray = _stray_delimiter(buffer, position, ended)
        if stray is None:
            return None
        if stray:
            return STRAY_DELIMITER, position + 1, b""
    if header is None or header[1] + header[0] > len(buffer):
        return None
    length, start = header
    return FRAME, start + length, bytes(buffer[start : start + length])


def _stray_delimiter(buffer: bytearray, position: int, ended: bool) -> bool | None:
    """Whether the newline at position is a stray delimiter rather than a frame's length (10); None
    when more bytes are needed to tell. A newline that ends the object is one."""
    if ended and position == len(buffer) - 1:
        return True
    if len(buffer) < position + 11:
        return False if ended else None
    if parses(bytes(buffer[position + 1 : position + 11])):
        return False
    try:
        following = read_varint(buffer, position + 1)
    except ValueError:
        return False
    if following is not None and following[0] > MAX_FRAME_BYTES:
        return False  # no frame follows: waiting for one would buffer the rest of the object
    if following is None or following[1] + following[0] > len(buffer):
        return False if ended else None
    return parses(bytes(buffer[following[1] : following[1] + following[0]]))


@cache
def message_class() -> type[ExportMetricsServiceRequest]:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    return ExportMetricsServiceRequest


@cache
def lazy_message_class() -> type[ExportMetricsServiceRequest]:
    """ExportMetricsServiceRequest with a summary datapoint's attributes as repeated bytes: each item
    the encoding of one KeyValue, as sent (a repeated message and repeated bytes are encoded alike, so the
    same frames parse, and everything else is read as the official definitions read it)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
    from opentelemetry.proto.common.v1 import common_pb2
    from opentelemetry.proto.metrics.v1 import metrics_pb2
    from opentelemetry.proto.resource.v1 import resource_pb2

    pool = descriptor_pool.DescriptorPool()
    for module in (common_pb2, resource_pb2, metrics_pb2, metrics_service_pb2):
        file = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(file)
        for message in file.message_type:
            if message.name == "SummaryDataPoint":
                (field,) = [field for field in message.field if field.name == "attributes"]
                field.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
                field.ClearField("type_name")
        pool.Add(file)
    descriptor = pool.FindMessageTypeByName(message_class().DESCRIPTOR.full_name)
    return cast("type[ExportMetricsServiceRequest]", message_factory.GetMessageClass(descriptor))


def parses(payload: bytes) -> bool:
    """Whether the bytes are an ExportMetricsServiceRequest with at least one resource."""
    from google.protobuf.message import DecodeError

    try:
        return len(message_class().FromString(payload).resource_metrics) > 0
    except DecodeError:
        return False


def datapoints(chunks: Iterable[bytes], skipped: Counter[str]) -> Iterator[Datapoint]:
    """Every summary datapoint of every frame, with what a record of it needs from around it:
    (place, unit, namespace, metric name, dimensions, the Dimensions attribute's bytes, datapoint).

    The place is (stream name, account, region), from the resource; the unit as CloudWatch names it;
    namespace, metric name and dimensions from the datapoint's attributes, as `attribute_text` reads
    them (None, None and {} where one is missing, the last of each if one repeats); the Dimensions
    attribute's bytes (b"" where it is missing) identify the dimensions within the object.
    """
    from google.protobuf.message import DecodeError

    parse = lazy_message_class().FromString
    memo = _Attributes()
    for payload in frames(chunks, skipped):
        try:
            request = parse(payload)
        except DecodeError:
            skipped[MALFORMED_FRAME] += 1
            continue
        found = 0
        try:
            for resource_metrics in request.resource_metrics:
                found += yield from _resource_datapoints(resource_metrics, skipped, memo)
        except DecodeError:  # an attribute that is no KeyValue
            skipped[MALFORMED_FRAME] += 1
            continue
        if not found:
            skipped[EMPTY_FRAME] += 1


def _resource_datapoints(
    resource_metrics: Any, skipped: Counter[str], memo: _Attributes
) -> Generator[Datapoint, None, int]:
    """The summary datapoints of one resource, returning how many it has; its other metrics are
    counted. A metric's datapoints and a datapoint's attributes, a few of each, are read as lists (see
    LISTED)."""
    place = _place(resource_metrics.resource.SerializeToString())
    found = 0
    known, read = memo.known, memo.read
    for scope_metrics in resource_metrics.scope_metrics:
        for metric in scope_metrics.metrics:
            if not metric.HasField("summary"):  # the data oneof holds another kind
                skipped[NOT_A_SUMMARY] += 1
                continue
            unit = from_ucum(metric.unit)
            points = metric.summary.data_points
            found += (count := len(points))
            for point in points[:] if count <= LISTED else points:
                namespace = metric_name = None
                dimensions: Any = {}
                encoded_dimensions = b""
                attributes = point.attributes  # the loop is point_names', inline: a call would add a tenth
                for encoded in attributes[:] if len(attributes) <= LISTED else attributes:
                    key, text = known(encoded) or read(encoded)
                    if key == "Dimensions":
                        dimensions, encoded_dimensions = text, encoded
                    elif key == "Namespace":
                        namespace = text
                    elif key == "MetricName":
                        metric_name = text
                yield place, unit, namespace, metric_name, dimensions, encoded_dimensions, point
    return found


def records(chunks: Iterable[bytes], skipped: Counter[str]) -> Iterator[dict[str, Any]]:
    """The CloudWatch record behind every summary datapoint of every frame (see `record`)."""
    return map(record, datapoints(chunks, skipped))


def record(datapoint: Datapoint) -> dict[str, Any]:
    """The CloudWatch record a datapoint stands for, what the JSON format would hold for it: names and
    dimensions from its Namespace, MetricName and Dimensions attributes, account and region from the
    resource, the stream's name from aws.exporter.arn, the unit translated back from UCUM, `timestamp`
    the period's start, and the values (`values`)."""
    (stream, account_id, region), unit, namespace, metric_name, dimensions, _, point = datapoint
    return {
        "metric_stream_name": stream,
        "account_id": account_id,
        "region": region,
        "namespace": namespace,
        "metric_name": metric_name,
        "dimensions": dimensions,
        "timestamp": (point.start_time_unix_nano or point.time_unix_nano) // 1_000_000,
        "value": values(point),
        "unit": unit,
    }


def values(point: Any) -> dict[str, Any]:
    """A datapoint's count, sum and statistics as a record's `value`: min and max from quantiles 0 and 1,
    pNN from the others (the last of a repeated quantile); 0 for min and max when a datapoint of no
    observations has no quantile 0, as the JSON format writes them."""
    value: dict[str, Any] = {"count": point.count, "sum": point.sum}
    statistics = _STATISTICS
    quantile_values = point.quantile_values
    for entry in quantile_values[:] if len(quantile_values) <= LISTED else quantile_values:
        quantile = entry.quantile
        value[statistics.get(quantile) or _statistic(quantile)] = entry.value
    if not value["count"] and "min" not in value:
        value["min"] = value["max"] = 0.0
    return value


class _Attributes:
    """The (key, text) of the encoded attributes read in one object, by their bytes: those met first,
    until they take about ATTRIBUTE_MEMO_BYTES; an attribute met after that is parsed each time (starting
    over instead would parse the Namespace and MetricName attributes, met on every datapoint, again).
    The records of a series share its Dimensions dict, which nothing changes."""

    def __init__(self) -> None:
        from opentelemetry.proto.common.v1.common_pb2 import KeyValue

        self._parse = KeyValue.FromString
        self._read: dict[bytes, tuple[str, Any]] = {}
        self._bytes = 0
        self.known = self._read.get

    def read(self, encoded: bytes) -> tuple[str, Any]:
        """DecodeError for bytes that are no KeyValue."""
        found = attribute_text(self._parse(encoded))
        if self._bytes < ATTRIBUTE_MEMO_BYTES:
            self._bytes += 200 + 4 * len(encoded)
            self._read[encoded] = found
        return found


def point_names(point: Any) -> tuple[Any, Any, Any]:
    """A datapoint's Namespace, MetricName and Dimensions attributes (None where one is missing), the
    last of each if one repeats."""
    namespace = metric_name = None
    dimensions: Any = {}
    for attribute in point.attributes:
        key, text = attribute_text(attribute)
        if key == "Dimensions":
            dimensions = text
        elif key == "Namespace":
            namespace = text
        elif key == "MetricName":
            metric_name = text
    return namespace, metric_name, dimensions


def attribute_text(attribute: Any) -> tuple[str, Any]:
    """An attribute's key, and its value as a record holds it: a string, or for Dimensions a dict of
    strings.

    A name or dimension value that is not a string, or Dimensions that are not a key-value list, reads
    as NOT_TEXT, which the record checks refuse, as they refuse a JSON record with such a value;
    reading them as "" (what string_value gives) would merge series.
    """
    key, value = attribute.key, attribute.value
    if key != "Dimensions":
        return key, value.string_value or _text(value)
    dimensions: Any = {kv.key: kv.value.string_value or _text(kv.value) for kv in value.kvlist_value.values}
    if not dimensions and value.WhichOneof("value") not in ("kvlist_value", None):
        dimensions = NOT_TEXT
    return key, dimensions


def _text(value: Any) -> Any:
    """An AnyValue whose string_value is empty: the empty string, or NOT_TEXT for another kind."""
    return "" if value.WhichOneof("value") == "string_value" else NOT_TEXT


def _place(resource: bytes) -> tuple[str, str, str]:
    """(stream name, account, region) of a resource, from aws.exporter.arn, cloud.account.id and
    cloud.region; memoised by the resource's bytes, which repeat in every frame of an account, unless
    they are too long to keep (the memo outlives the object, in a warm Lambda)."""
    return _remembered_place(resource) if len(resource) <= MAX_REMEMBERED_RESOURCE else _place_of(resource)


@lru_cache(maxsize=4096)
def _remembered_place(resource: bytes) -> tuple[str, str, str]:
    return _place_of(resource)


def _place_of(resource: bytes) -> tuple[str, str, str]:
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource

    attributes = {kv.key: kv.value.string_value for kv in Resource.FromString(resource).attributes}
    stream = attributes.get("aws.exporter.arn", "").rpartition("/")[2]
    return stream, attributes.get("cloud.account.id", ""), attributes.get("cloud.region", "")


_STATISTICS: dict[float, str] = {}


def _statistic(quantile: float) -> str:
    """The CloudWatch statistic a quantile stands for: 0 min, 1 max, 0.99 p99, 0.999 p99.9."""
    if quantile == 0.0:
        name = "min"
    elif quantile == 1.0:
        name = "max"
    else:
        from decimal import Decimal  # here, as in quantile_of

        name = f"p{Decimal(repr(quantile)).scaleb(2).normalize():f}"
    if len(_STATISTICS) < 1000:
        _STATISTICS[quantile] = name
    return name
