"""How converted records are written on the wire: OTLP JSON or OTLP protobuf.

The converter asks an encoding for the pieces of a request (attributes, resource and metric headers,
summary datapoints) and `cwotlp.otlp.batch` asks it to assemble a request from grouped pieces. JSON follows
the OTLP/HTTP specification (lowerCamelCase, 64-bit integers as decimal strings); protobuf is the
ExportMetricsServiceRequest wire format of opentelemetry-proto, written directly with `struct` so the
per-record cost stays as low as JSON's.
"""

from __future__ import annotations

import struct

import orjson

from cwotlp import __version__

SCOPE_NAME = "aws.cloudwatch"

_dumps = orjson.dumps

Groups = dict[bytes, dict[bytes, list[bytes]]]  # resource header -> metric header -> datapoints


class JsonEncoding:
    name = "json"
    content_type = "application/json"
    separator = b","  # between repeated elements
    # Upper bounds of what an element adds to a request besides its own bytes (separators, closers).
    datapoint_overhead = 1
    metric_overhead = 3
    resource_overhead = 5
    empty_size = len(b'{"resourceMetrics":[]}')

    _DATAPOINT_WITH_QUANTILES = (
        b'{"attributes":[%b%b],"timeUnixNano":"%b","count":"%d","sum":%b,'
        b'"quantileValues":[{"quantile":0.0,"value":%b}%b,{"quantile":1.0,"value":%b}]}'
    )
    _DATAPOINT = b'{"attributes":[%b%b],"timeUnixNano":"%b","count":"0","sum":%b}'

    def attribute(self, key: str, value: str) -> bytes:
        return b'{"key":' + _dumps(key) + b',"value":{"stringValue":' + _dumps(value) + b"}}"

    def resource(self, attributes: list[tuple[str, str]]) -> bytes:
        return b"".join(
            (
                b'{"resource":{"attributes":[',
                b",".join(self.attribute(k, v) for k, v in attributes),
                b']},"scopeMetrics":[{"scope":{"name":',
                _dumps(SCOPE_NAME),
                b',"version":',
                _dumps(__version__),
                b'},"metrics":[',
            )
        )

    def metric(self, name: str, unit: str) -> bytes:
        return b'{"name":' + _dumps(name) + b',"unit":' + _dumps(unit) + b',"summary":{"dataPoints":['

    def time(self, timestamp_ms: int) -> bytes:
        return str(timestamp_ms * 1_000_000).encode()

    def quantile_prefix(self, quantile: float) -> bytes:
        return b',{"quantile":' + _dumps(quantile) + b',"value":'

    def quantile_value(self, value: float) -> bytes:
        return _dumps(value) + b"}"

    def datapoint(
        self,
        attributes: bytes,
        more_attributes: bytes,
        time: bytes,
        count: int,
        total: float,
        minimum: float,
        quantiles: bytes,
        maximum: float,
    ) -> bytes:
        if not count:  # a summary of no observations has no quantiles
            return self._DATAPOINT % (attributes, more_attributes, time, _dumps(total))
        return self._DATAPOINT_WITH_QUANTILES % (
            attributes,
            more_attributes,
            time,
            count,
            _dumps(total),
            _dumps(minimum),
            quantiles,
            _dumps(maximum),
        )

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


def varint(value: int) -> bytes:
    """An unsigned varint, as protobuf writes lengths."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload."""
    return bytes((number << 3 | 2,)) + varint(len(payload)) + payload


def _key_value(key: str, value: str) -> bytes:
    """KeyValue{key 1, value 2: AnyValue{string_value 1}}."""
    return field(1, key.encode()) + field(2, field(1, value.encode()))


# Field numbers of opentelemetry-proto's metrics messages, as tags (number << 3 | wire type).
_TIME_COUNT_SUM = struct.Struct("<BQBQBd").pack  # time_unix_nano 3 (fixed64), count 4 (fixed64), sum 5
_COUNT_SUM = struct.Struct("<BQBd").pack
_QUANTILE = struct.Struct("<BBBdBd").pack  # quantile_values 6: ValueAtQuantile{quantile 1, value 2}
_DOUBLE = struct.Struct("<Bd").pack


class ProtobufEncoding:
    name = "protobuf"
    content_type = "application/x-protobuf"
    separator = b""
    datapoint_overhead = 5  # tag and a length of up to 4 bytes
    metric_overhead = 10
    empty_size = 0

    def __init__(self) -> None:
        scope = field(1, SCOPE_NAME.encode()) + field(2, __version__.encode())
        self._scope = field(1, scope)  # ScopeMetrics.scope
        self.resource_overhead = 10 + len(self._scope)

    def attribute(self, key: str, value: str) -> bytes:
        """A datapoint attribute: SummaryDataPoint.attributes (7)."""
        return field(7, _key_value(key, value))

    def resource(self, attributes: list[tuple[str, str]]) -> bytes:
        """ResourceMetrics.resource (1): Resource{attributes 1}."""
        return field(1, b"".join(field(1, _key_value(k, v)) for k, v in attributes))

    def metric(self, name: str, unit: str) -> bytes:
        return field(1, name.encode()) + field(3, unit.encode())

    def time(self, timestamp_ms: int) -> bytes:
        return struct.pack("<BQ", 0x19, timestamp_ms * 1_000_000)

    def quantile_prefix(self, quantile: float) -> bytes:
        return struct.pack("<BBBd", 0x32, 18, 0x09, quantile)

    def quantile_value(self, value: float) -> bytes:
        return _DOUBLE(0x11, value)

    def datapoint(
        self,
        attributes: bytes,
        more_attributes: bytes,
        time: bytes,
        count: int,
        total: float,
        minimum: float,
        quantiles: bytes,
        maximum: float,
    ) -> bytes:
        if not count:
            return attributes + more_attributes + time + _COUNT_SUM(0x21, 0, 0x29, total)
        return b"".join(
            (
                attributes,
                more_attributes,
                time,
                _COUNT_SUM(0x21, count, 0x29, total),
                _QUANTILE(0x32, 18, 0x09, 0.0, 0x11, minimum),
                quantiles,
                _QUANTILE(0x32, 18, 0x09, 1.0, 0x11, maximum),
            )
        )

    def render(self, groups: Groups) -> list[bytes]:
        parts = []
        for resource, metrics in groups.items():
            metric_fields = b"".join(
                field(2, metric + field(11, b"".join([field(1, point) for point in datapoints])))
                for metric, datapoints in metrics.items()
            )
            parts.append(field(1, resource + field(2, self._scope + metric_fields)))
        return parts


Encoding = JsonEncoding | ProtobufEncoding


def encoding_named(name: str) -> Encoding:
    """The encoding for a CWOTLP_OTLP_ENCODING value."""
    return ProtobufEncoding() if name == "protobuf" else JsonEncoding()
