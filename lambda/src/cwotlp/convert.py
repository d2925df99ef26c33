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
from typing import Any, NamedTuple

import orjson

from cwotlp import __version__

SCOPE_NAME = "aws.cloudwatch"
SUMMARY_STATISTICS = frozenset(("min", "max", "sum", "count"))

# Skip reasons for records; decode adds its own for lines.
NOT_A_METRIC = "not_a_metric"
INVALID_VALUE = "invalid_value"

_dumps = orjson.dumps


class Entry(NamedTuple):
    """One converted record: the datapoint text and the resource and metric it belongs to.

    `resource` and `metric` are the opening JSON text of their objects; equal headers are the same
    object, so grouping by them is cheap.
    """

    resource: bytes
    metric: bytes
    datapoint: bytes


class SkippedRecord(NamedTuple):
    reason: str


@dataclass(frozen=True)
class Naming:
    """How records are named and labelled in OTLP."""

    service_name: str = "aws-cloudwatch-stream"
    resource_attributes: dict[str, str] = field(default_factory=lambda: {"environment": "production"})
    dimension_attributes: bool = False


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


def _is_number(value: object) -> bool:
    kind = type(value)
    return kind is float or kind is int


class Converter:
    """Turns records into `Entry` values; one instance per object keeps its memo tables small."""

    def __init__(self, naming: Naming) -> None:
        self._naming = naming
        self._resources: dict[tuple[str, str], bytes] = {}
        self._metrics: dict[tuple[str, str, str], tuple[bytes, bytes]] = {}
        self._dimensions: dict[tuple[tuple[str, Any], ...], bytes] = {}
        self._quantiles: dict[str, tuple[float, bytes] | None] = {}
        self.statistics_dropped = 0

    def convert(self, record: Any) -> Entry | SkippedRecord:
        try:
            namespace = record["namespace"]
            metric_name = record["metric_name"]
            timestamp = record["timestamp"]
            value = record["value"]
            dimensions = record.get("dimensions") or {}
            resource = self._resource(record.get("account_id", ""), record.get("region", ""))
            unit = record.get("unit") or ""
            count = value["count"]
            total = value["sum"]
            minimum = value["min"]
            maximum = value["max"]
        except (KeyError, TypeError, AttributeError):
            return SkippedRecord(NOT_A_METRIC)
        if type(namespace) is not str or type(metric_name) is not str or type(unit) is not str:
            return SkippedRecord(INVALID_VALUE)
        if type(timestamp) is not int or type(dimensions) is not dict:
            return SkippedRecord(INVALID_VALUE)
        if not (_is_number(count) and _is_number(total) and _is_number(minimum) and _is_number(maximum)):
            return SkippedRecord(INVALID_VALUE)
        if count < 0:
            return SkippedRecord(INVALID_VALUE)

        try:
            dimension_attributes = self._dimension_attributes(dimensions)
        except TypeError:  # a dimension value that is not a string (lists cannot be memo keys)
            return SkippedRecord(INVALID_VALUE)
        metric, attributes = self._metric(namespace, metric_name, unit)
        rounded_count = round(count)
        parts = [
            b'{"attributes":[',
            attributes,
            dimension_attributes,
            b'],"timeUnixNano":"',
            str(timestamp * 1_000_000).encode(),
            b'","count":"',
            str(rounded_count).encode(),
            b'","sum":',
            _dumps(total),
        ]
        if rounded_count:
            parts += (b',"quantileValues":[{"quantile":0.0,"value":', _dumps(minimum), b"}")
            if len(value) != 4:
                parts.append(self._percentiles(value))
            parts += (b',{"quantile":1.0,"value":', _dumps(maximum), b"}]")
        elif len(value) != 4:
            self._percentiles(value)  # still counts the statistics left out
        parts.append(b"}")
        return Entry(resource, metric, b"".join(parts))

    def _resource(self, account_id: str, region: str) -> bytes:
        key = (account_id, region)
        header = self._resources.get(key)
        if header is None:
            if type(account_id) is not str or type(region) is not str:
                raise TypeError("account_id and region must be strings")
            naming = self._naming
            attributes = [
                _attribute("cloud.provider", "aws"),
                _attribute("cloud.account.id", account_id),
                _attribute("cloud.region", region),
                _attribute("service.name", naming.service_name),
            ]
            attributes += [_attribute(k, v) for k, v in naming.resource_attributes.items()]
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
            self._resources[key] = header
        return header

    def _metric(self, namespace: str, metric_name: str, unit: str) -> tuple[bytes, bytes]:
        key = (namespace, metric_name, unit)
        cached = self._metrics.get(key)
        if cached is None:
            otlp_unit = "" if unit == "None" else unit
            header = (
                b'{"name":'
                + _dumps(f"amazonaws.com/{namespace}/{metric_name}")
                + b',"unit":'
                + _dumps(otlp_unit)
                + b',"summary":{"dataPoints":['
            )
            attributes = _attribute("Namespace", namespace) + b"," + _attribute("MetricName", metric_name)
            cached = self._metrics[key] = (header, attributes)
        return cached

    def _dimension_attributes(self, dimensions: dict[str, Any]) -> bytes:
        key = tuple(dimensions.items())
        text = self._dimensions.get(key)
        if text is None:
            # The text users' dashboards match on: Python's json.dumps with its default separators.
            text = b"," + _attribute("Dimensions", json.dumps(dimensions))
            if self._naming.dimension_attributes:
                text += b"".join(b"," + _attribute(str(k), str(v)) for k, v in dimensions.items())
            self._dimensions[key] = text
        return text

    def _percentiles(self, value: dict[str, Any]) -> bytes:
        """Quantile entries for the pNN statistics, in increasing order; counts the others dropped."""
        found: list[tuple[float, bytes]] = []
        for statistic, number in value.items():
            if statistic in SUMMARY_STATISTICS:
                continue
            quantile = self._quantile(statistic)
            if quantile is None or not _is_number(number):
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
