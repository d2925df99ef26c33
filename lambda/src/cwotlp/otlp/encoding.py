"""How converted records are written on the wire: OTLP JSON or OTLP protobuf.

The converter asks an encoding for the pieces of a request (attributes, resource and metric headers,
datapoints) and `cwotlp.otlp.batch` asks it to assemble a request from grouped pieces. JSON follows the
OTLP/HTTP specification (lowerCamelCase, 64-bit integers as decimal strings); protobuf is the
ExportMetricsServiceRequest wire format of opentelemetry-proto, written directly with `struct` so the
per-record cost stays as low as JSON's.

An attribute value is a string, or a key-value list (a tuple of string pairs) for CloudWatch's
`Dimensions` attribute as its OpenTelemetry 1.0 output writes it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

import orjson

SUMMARY, GAUGE = "summary", "gauge"

_dumps = orjson.dumps

Groups = dict[bytes, dict[bytes, list[bytes]]]  # resource header -> metric header -> datapoints
AttributeValue = str | tuple[tuple[str, str], ...]
Attribute = tuple[str, AttributeValue]
Scope = tuple[str, str] | None  # (name, version), or no scope at all


class JsonEncoding:
    name = "json"
    content_type = "application/json"
    separator = b","  # between repeated elements
    # Upper bounds of what an element adds to a request besides its own bytes (separators, closers).
    datapoint_overhead = 1
    metric_overhead = 3
    resource_overhead = 5
    empty_size = len(b'{"resourceMetrics":[]}')

    _SUMMARY = (
        b'{"attributes":[%b],%b,"count":"%d","sum":%b,'
        b'"quantileValues":[{"quantile":0.0,"value":%b}%b,{"quantile":1.0,"value":%b}]}'
    )
    _EMPTY_SUMMARY = b'{"attributes":[%b],%b,"count":"0","sum":%b}'
    _GAUGE_HEAD = b'{"attributes":[%b],%b,"asDouble":'
    _STRING = b'{"key":%b,"value":{"stringValue":%b}}'
    _KVLIST = b'{"key":%b,"value":{"kvlistValue":{"values":[%b]}}}'

    def attribute(self, key: str, value: AttributeValue) -> bytes:
        if isinstance(value, str):
            return self._STRING % (_dumps(key), _dumps(value))
        return self._KVLIST % (_dumps(key), self.attributes(value))

    def attributes(self, attributes: Iterable[Attribute]) -> bytes:
        return b",".join([self.attribute(k, v) for k, v in attributes])

    def resource(self, attributes: list[Attribute], scope: Scope) -> bytes:
        scope_text = b""
        if scope is not None:
            scope_text = b'"scope":{"name":' + _dumps(scope[0]) + b',"version":' + _dumps(scope[1]) + b"},"
        return b"".join(
            (
                b'{"resource":{"attributes":[',
                self.attributes(attributes),
                b']},"scopeMetrics":[{',
                scope_text,
                b'"metrics":[',
            )
        )

    def metric(self, name: str, unit: str, kind: str = SUMMARY) -> bytes:
        return b'{"name":%b,"unit":%b,"%b":{"dataPoints":[' % (_dumps(name), _dumps(unit), kind.encode())

    def times(self, start_ms: int | None, time_ms: int) -> bytes:
        text = b'"timeUnixNano":"%d"' % (time_ms * 1_000_000)
        return text if start_ms is None else b'"startTimeUnixNano":"%d",' % (start_ms * 1_000_000) + text

    quantile_number = staticmethod(_dumps)  # a quantile's value, for the %b of its entry

    def quantile_entry(self, quantile: float) -> bytes:
        """A quantile's entry in a summary, after min's: a %-template, its value's place %b."""
        return b',{"quantile":' + _dumps(quantile) + b',"value":%b}'

    def summary(
        self,
        attributes: bytes,
        times: bytes,
        count: int,
        total: float,
        low: float,
        quantiles: bytes,
        high: float,
    ) -> bytes:
        if not count:  # a summary of no observations has no quantiles
            return self._EMPTY_SUMMARY % (attributes, times, _dumps(total))
        return self._SUMMARY % (attributes, times, count, _dumps(total), _dumps(low), quantiles, _dumps(high))

    def gauge_head(self, attributes: bytes, times: bytes) -> bytes:
        """What a record's gauges share, made once for them all: a gauge is `gauge(head, value)`."""
        return self._GAUGE_HEAD % (attributes, times)

    def gauge(self, head: bytes, value: float) -> bytes:
        return head + _dumps(value) + b"}"

    def render(self, groups: Groups) -> list[bytes]:
        """The request in pieces; joined, they are the ExportMetricsServiceRequest."""
        parts = [b'{"resourceMetrics":[']
        for resource_index, (resource, metrics) in enumerate(groups.items()):
            parts.append(b"," + resource if resource_index else resource)
            for metric_index, (metric, datapoints) in enumerate(metrics.items()):
                parts += (b"," + metric if metric_index else metric, b",".join(datapoints), b"]}}")
            parts.append(b"]}]}")
        parts.append(b"]}")
        return parts


def _read_varint(data: bytes, position: int) -> tuple[int, int]:
    """(value, position after it) of the varint at position, in bytes this module wrote."""
    value = shift = 0
    while data[position] & 0x80:
        value |= (data[position] & 0x7F) << shift
        position += 1
        shift += 7
    return value | data[position] << shift, position + 1


def varint(value: int) -> bytes:
    """An unsigned varint, as protobuf writes lengths."""
    if value < 0x80:
        return _ONE_BYTE[value]
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_ONE_BYTE = [bytes((value,)) for value in range(0x80)]


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload."""
    return bytes((number << 3 | 2,)) + varint(len(payload)) + payload


# Tags (number << 3 | wire type) of opentelemetry-proto's metrics messages.
_COUNT_SUM = struct.Struct("<BQBd").pack  # SummaryDataPoint count 4 (fixed64), sum 5 (double)
_COUNT_SUM_MIN = struct.Struct("<BQBdBBBdBd").pack  # and the first of quantile_values: quantile 0, min
_QUANTILE = struct.Struct("<BBBdBd").pack  # quantile_values 6: ValueAtQuantile{quantile 1, value 2}
_DOUBLE = struct.Struct("<Bd").pack
_FIXED64 = struct.Struct("<BQ").pack
_DATA_FIELD = {SUMMARY: 11, GAUGE: 5}  # Metric's oneof data
_METRICS_TAG = bytes((2 << 3 | 2,))  # ScopeMetrics.metrics 2, length-delimited
_REMEMBERED_SIZES = 1 << 14  # the sizes whose varint is at most two bytes: every datapoint's, in practice
_DATAPOINT_PREFIXES: dict[int, bytes] = {}


class ProtobufEncoding:
    name = "protobuf"
    content_type = "application/x-protobuf"
    separator = b""
    datapoint_overhead = 5  # tag and a length of up to 4 bytes
    metric_overhead = 12
    resource_overhead = 12
    empty_size = 0

    def attribute(self, key: str, value: AttributeValue) -> bytes:
        """A datapoint attribute: the attributes field (7) of SummaryDataPoint and NumberDataPoint."""
        return field(7, _key_value(key, value))

    def attributes(self, attributes: list[Attribute]) -> bytes:
        return b"".join(self.attribute(k, v) for k, v in attributes)

    def resource(self, attributes: list[Attribute], scope: Scope) -> bytes:
        """ResourceMetrics.resource (1): Resource{attributes 1}, then the scope to go in ScopeMetrics."""
        resource = field(1, b"".join(field(1, _key_value(k, v)) for k, v in attributes))
        scope_field = (
            b"" if scope is None else field(1, field(1, scope[0].encode()) + field(2, scope[1].encode()))
        )
        return resource + scope_field  # render() tells them apart by the resource field's length

    def metric(self, name: str, unit: str, kind: str = SUMMARY) -> bytes:
        """Metric{name 1, unit 3}; the last byte is the tag of the data field, whose length render() adds."""
        return field(1, name.encode()) + field(3, unit.encode()) + bytes((_DATA_FIELD[kind] << 3 | 2,))

    def times(self, start_ms: int | None, time_ms: int) -> bytes:
        text = _FIXED64(0x19, time_ms * 1_000_000)  # time_unix_nano 3
        return text if start_ms is None else _FIXED64(0x11, start_ms * 1_000_000) + text  # start 2

    quantile_number = staticmethod(struct.Struct("<d").pack)

    def quantile_entry(self, quantile: float) -> bytes:
        """quantile_values 6: ValueAtQuantile{quantile 1, value 2}, as a %-template (a "%" in the packed
        quantile doubled), its value's eight bytes at %b."""
        return struct.pack("<BBBd", 0x32, 18, 0x09, quantile).replace(b"%", b"%%") + b"\x11%b"

    def summary(
        self,
        attributes: bytes,
        times: bytes,
        count: int,
        total: float,
        low: float,
        quantiles: bytes,
        high: float,
    ) -> bytes:
        if not count:
            return attributes + times + _COUNT_SUM(0x21, 0, 0x29, total)
        return b"".join(
            (
                attributes,
                times,
                _COUNT_SUM_MIN(0x21, count, 0x29, total, 0x32, 18, 0x09, 0.0, 0x11, low),
                quantiles,
                _QUANTILE(0x32, 18, 0x09, 1.0, 0x11, high),
            )
        )

    def gauge_head(self, attributes: bytes, times: bytes) -> bytes:
        return attributes + times

    def gauge(self, head: bytes, value: float) -> bytes:
        return head + _DOUBLE(0x21, value)  # NumberDataPoint.as_double 4

    def render(self, groups: Groups) -> list[bytes]:
        parts = []
        for header, metrics in groups.items():
            length, start = _read_varint(header, 1)  # the resource field: its tag, then its length
            resource_field, scope = header[: start + length], header[start + length :]
            metric_fields = b"".join([_metric_field(metric, points) for metric, points in metrics.items()])
            parts.append(field(1, resource_field + field(2, scope + metric_fields)))
        return parts


def _metric_field(metric: bytes, datapoints: list[bytes]) -> bytes:
    """A metric as the metrics field (2) of ScopeMetrics: its header, whose last byte is the tag of its
    data field (Summary or Gauge), then that field's length and its repeated data_points field (1).
    A request holds thousands of datapoints and, with a gauge per statistic (prometheus), tens of
    thousands of metrics: the datapoints' tags and lengths are looked up by their size, and a metric's
    lengths are worked out first, so that its pieces are joined in one step, not wrapped field by field."""
    pieces = []
    prefixes = _DATAPOINT_PREFIXES
    for datapoint in datapoints:
        size = len(datapoint)
        pieces.append(prefixes.get(size) or _datapoint_prefix(size))
        pieces.append(datapoint)
    points = b"".join(pieces)
    data_length = varint(len(points))
    length = varint(len(metric) + len(data_length) + len(points))
    return b"".join((_METRICS_TAG, length, metric, data_length, points))


def _datapoint_prefix(size: int) -> bytes:
    prefix = b"\x0a" + varint(size)  # field 1, length-delimited
    if size < _REMEMBERED_SIZES:
        _DATAPOINT_PREFIXES[size] = prefix
    return prefix


def _key_value(key: str, value: AttributeValue) -> bytes:
    """KeyValue{key 1, value 2: AnyValue{string_value 1 | kvlist_value 6: KeyValueList{values 1}}}."""
    if isinstance(value, str):
        return field(1, key.encode()) + field(2, field(1, value.encode()))
    values = b"".join(field(1, _key_value(k, v)) for k, v in value)
    return field(1, key.encode()) + field(2, field(6, values))


Encoding = JsonEncoding | ProtobufEncoding


def encoding_named(name: str) -> Encoding:
    """The encoding for a CWOTLP_OTLP_ENCODING value."""
    return ProtobufEncoding() if name == "protobuf" else JsonEncoding()
