"""CloudWatch metric stream records -> OTLP JSON fragments. Pure: no I/O.

A record becomes one summary datapoint. To keep the per-record cost small, the converter writes the
OTLP JSON text of each datapoint directly and memoises everything that repeats between records
(resource headers, metric headers, attribute text, percentile names). `cwotlp.batch` assembles the
fragments into requests.

The OTLP JSON encoding follows the OTLP/HTTP specification: lowerCamelCase field names and 64-bit
integers (timeUnixNano, count) as decimal strings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from cwotlp import __version__

SCOPE_NAME = "aws.cloudwatch"
SUMMARY_STATISTICS = frozenset(("min", "max", "sum", "count"))

# Skip reasons for records; decode adds its own for lines.
NOT_A_METRIC = "not_a_metric"
INVALID_VALUE = "invalid_value"

_dumps = orjson.dumps
_NUMBERS = frozenset((int, float))
DIMENSIONS_MEMO_SIZE = 50_000

# A summary datapoint; count is an integer, the other numbers are JSON text from orjson.
_DATAPOINT_WITH_QUANTILES = (
    b'{"attributes":[%b%b],"timeUnixNano":"%b","count":"%d","sum":%b,'
    b'"quantileValues":[{"quantile":0.0,"value":%b}%b,{"quantile":1.0,"value":%b}]}'
)
_DATAPOINT = b'{"attributes":[%b%b],"timeUnixNano":"%b","count":"0","sum":%b}'


# One converted record: (resource, metric, datapoint). The first two are the opening JSON text of the
# resource and metric the datapoint belongs to; equal headers are the same object, so grouping by them is
# cheap. A plain tuple, because this is built once per record and a NamedTuple costs several times more.
Entry = tuple[bytes, bytes, bytes]


@dataclass(frozen=True)
class Naming:
    """How records are named and labelled in OTLP."""

    service_name: str = "aws-cloudwatch-stream"
    resource_attributes: dict[str, str] = field(default_factory=lambda: {"environment": "production"})
    dimension_attributes: bool = False
    scheme: str = "cloudwatch"  # or "otel": the OpenTelemetry Collector's names for JSON records


def _attribute(key: str, value: str) -> bytes:
    return b'{"key":' + _dumps(key) + b',"value":{"stringValue":' + _dumps(value) + b"}}"


def _quantile_of(statistic: str) -> float | None:
    """The quantile a `pNN` statistic stands for (p99 -> 0.99, p99.9 -> 0.999), or None.

    Decimal keeps the division exact: 99.9 / 100 in binary floating point is 0.9990000000000001.
    """
    if not statistic.startswith("p"):
        return None
    try:
        percent = Decimal(statistic[1:])
    except InvalidOperation:
        return None
    if not percent.is_finite() or not 0 <= percent <= 100:
        return None
    return float(percent.scaleb(-2))


class Converter:
    """Turns records into `Entry` values; one instance per object keeps its memo tables small."""

    def __init__(self, naming: Naming) -> None:
        self._naming = naming
        self._resources: dict[tuple[str, str], bytes] = {}
        self._metrics: dict[tuple[str, str, str], tuple[bytes, bytes]] = {}
        self._dimensions: dict[bytes, bytes] = {}
        self._quantiles: dict[str, tuple[float, bytes] | None] = {}
        self._times: dict[int, bytes] = {}
        self.statistics_dropped = 0
        self.oldest_timestamp_ms: int | None = None

    def convert(self, record: Any) -> Entry | str:
        """The record's entry, or the reason (a str) it cannot be converted.

        Types that repeat between records (names, units, dimensions) are checked when their memo entry is
        made; the numbers of every record are checked here.
        """
        try:
            timestamp = record["timestamp"]
            value = record["value"]
            count = value["count"]
            total = value["sum"]
            minimum = value["min"]
            maximum = value["max"]
            place = (record.get("account_id", ""), record.get("region", ""))
            resource = self._resources.get(place) or self._resource(*place)
            metric_key = (record["namespace"], record["metric_name"], record.get("unit") or "")
            metric, attributes = self._metrics.get(metric_key) or self._metric(*metric_key)
            dimensions = record.get("dimensions") or {}
            dimensions_key = _dumps(dimensions)  # a cheap memo key that keeps the record's key order
            dimension_attributes = self._dimensions.get(dimensions_key) or self._dimension_attributes(
                dimensions, dimensions_key
            )
        except (KeyError, AttributeError):
            return NOT_A_METRIC
        except (TypeError, orjson.JSONEncodeError):
            return NOT_A_METRIC if type(record) is not dict or type(value) is not dict else INVALID_VALUE
        if (
            type(timestamp) is not int
            or type(count) not in _NUMBERS
            or type(total) not in _NUMBERS
            or type(minimum) not in _NUMBERS
            or type(maximum) not in _NUMBERS
            or count < 0
        ):
            return INVALID_VALUE
        time_text = self._times.get(timestamp)
        if time_text is None:
            time_text = self._times[timestamp] = str(timestamp * 1_000_000).encode()
            if self.oldest_timestamp_ms is None or timestamp < self.oldest_timestamp_ms:
                self.oldest_timestamp_ms = timestamp
        rounded_count = round(count)
        quantiles = self._percentiles(value) if len(value) != 4 else b""
        if rounded_count:
            datapoint = _DATAPOINT_WITH_QUANTILES % (
                attributes,
                dimension_attributes,
                time_text,
                rounded_count,
                _dumps(total),
                _dumps(minimum),
                quantiles,
                _dumps(maximum),
            )
        else:  # a summary of no observations has no quantiles
            datapoint = _DATAPOINT % (attributes, dimension_attributes, time_text, _dumps(total))
        return resource, metric, datapoint

    def _resource(self, account_id: str, region: str) -> bytes:
        if type(account_id) is not str or type(region) is not str:
            raise TypeError("account_id and region must be strings")
        naming = self._naming
        attributes = [
            _attribute("cloud.provider", "aws"),
            _attribute("cloud.account.id", account_id),
            _attribute("cloud.region", region),
            _attribute("service.name", naming.service_name),
            *(_attribute(k, v) for k, v in naming.resource_attributes.items()),
        ]
        header = b"".join(
            (
                b'{"resource":{"attributes":[',
                b",".join(attributes),
                b']},"scopeMetrics":[{"scope":{"name":"',
                SCOPE_NAME.encode(),
                b'","version":"',
                __version__.encode(),
                b'"},"metrics":[',
            )
        )
        self._resources[(account_id, region)] = header
        return header

    def _metric(self, namespace: str, metric_name: str, unit: str) -> tuple[bytes, bytes]:
        """The metric's opening text and its datapoints' Namespace and MetricName attributes."""
        if type(namespace) is not str or type(metric_name) is not str or type(unit) is not str:
            raise TypeError("namespace, metric_name and unit must be strings")
        header = (
            b'{"name":'
            + _dumps(f"amazonaws.com/{namespace}/{metric_name}")
            + b',"unit":'
            + _dumps("" if unit == "None" else unit)
            + b',"summary":{"dataPoints":['
        )
        attributes = _attribute("Namespace", namespace) + b"," + _attribute("MetricName", metric_name)
        cached = self._metrics[(namespace, metric_name, unit)] = (header, attributes)
        return cached

    def _dimension_attributes(self, dimensions: dict[str, Any], key: bytes) -> bytes:
        if type(dimensions) is not dict or not all(type(v) is str for v in dimensions.values()):
            raise TypeError("dimensions must be an object of strings")
        # The text users' dashboards match on: Python's json.dumps with its default separators.
        text = b"," + _attribute("Dimensions", json.dumps(dimensions))
        if self._naming.dimension_attributes:
            text += b"".join(b"," + _attribute(k, v) for k, v in dimensions.items())
        if len(self._dimensions) >= DIMENSIONS_MEMO_SIZE:
            self._dimensions.clear()  # keeps memory bounded on objects with very many distinct series
        self._dimensions[key] = text
        return text

    def _percentiles(self, value: dict[str, Any]) -> bytes:
        """Quantile entries for the pNN statistics, in increasing order; counts the others dropped."""
        found: list[tuple[float, bytes]] = []
        for statistic, number in value.items():
            if statistic in SUMMARY_STATISTICS:
                continue
            quantile = self._quantile(statistic)
            if quantile is None or type(number) not in _NUMBERS:
                self.statistics_dropped += 1
                continue
            found.append((quantile[0], b',{"quantile":' + quantile[1] + b',"value":' + _dumps(number) + b"}"))
        found.sort()
        out = []
        previous = 0.0
        for position, text in found:
            # min and max already stand for quantiles 0 and 1; keep the sequence strictly increasing.
            if previous < position < 1.0:
                out.append(text)
                previous = position
            else:
                self.statistics_dropped += 1
        return b"".join(out)

    def _quantile(self, statistic: str) -> tuple[float, bytes] | None:
        if statistic not in self._quantiles:
            quantile = _quantile_of(statistic)
            self._quantiles[statistic] = None if quantile is None else (quantile, _dumps(quantile))
        return self._quantiles[statistic]
