"""CloudWatch metric stream records -> encoded OTLP fragments. Pure: no I/O.

A record becomes one summary datapoint. To keep the per-record cost small, the converter writes the
encoded datapoint directly (OTLP JSON or protobuf, see `cwotlp.otlp.encoding`) and memoises everything that
repeats between records (resource and metric headers, attributes, percentile names). `cwotlp.otlp.batch`
assembles the fragments into requests.

Two naming schemes: `cloudwatch` (the default, the reference guide's names: amazonaws.com/<namespace>/
<metric>, one resource per account and region, Namespace/MetricName/Dimensions attributes) and `otel`
(the OpenTelemetry Collector's CloudWatch metric streams encoding: the metric name as CloudWatch gives
it, one resource per stream, namespace, account and region, dimensions as attributes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from cwotlp.otlp.encoding import Encoding, JsonEncoding

SUMMARY_STATISTICS = frozenset(("min", "max", "sum", "count"))

# Skip reasons for records; decode adds its own for lines.
NOT_A_METRIC = "not_a_metric"
INVALID_VALUE = "invalid_value"

_dumps = orjson.dumps
_NUMBERS = frozenset((int, float))
DIMENSIONS_MEMO_SIZE = 50_000

# The OpenTelemetry Collector renames this dimension to the semantic convention's attribute.
OTEL_DIMENSION_NAMES = {"InstanceId": "service.instance.id"}


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

    def __init__(self, naming: Naming, encoding: Encoding | None = None) -> None:
        self._naming = naming
        self._encoding = encoding or JsonEncoding()
        self._otel = naming.scheme == "otel"
        self._resources: dict[tuple[str, ...], bytes] = {}
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
            namespace = record["namespace"]
            if self._otel:  # the collector's resources: one per stream, namespace, account and region
                place: tuple[str, ...] = (
                    record.get("metric_stream_name", ""),
                    namespace,
                    record.get("account_id", ""),
                    record.get("region", ""),
                )
            else:
                place = (record.get("account_id", ""), record.get("region", ""))
            resource = self._resources.get(place) or self._resource(place)
            # The collector's scheme requires a unit; ours takes a missing one as empty.
            unit = record["unit"] if self._otel else record.get("unit") or ""
            metric_key = (namespace, record["metric_name"], unit)
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
        time = self._times.get(timestamp)
        if time is None:
            time = self._times[timestamp] = self._encoding.time(timestamp)
            if self.oldest_timestamp_ms is None or timestamp < self.oldest_timestamp_ms:
                self.oldest_timestamp_ms = timestamp
        quantiles = self._percentiles(value) if len(value) != 4 else b""
        datapoint = self._encoding.datapoint(
            attributes, dimension_attributes, time, round(count), total, minimum, quantiles, maximum
        )
        return resource, metric, datapoint

    def _resource(self, place: tuple[str, ...]) -> bytes:
        if not all(type(part) is str for part in place):
            raise TypeError("metric_stream_name, namespace, account_id and region must be strings")
        if self._otel:
            stream, namespace, account_id, region = place
            service_namespace, _, service_name = namespace.partition("/")
            if service_namespace.lower() != "aws" or not service_name:
                service_namespace, service_name = "", namespace
            attributes = [
                ("cloud.provider", "aws"),
                ("cloud.account.id", account_id),
                ("cloud.region", region),
            ]
            if service_namespace:
                attributes.append(("service.namespace", service_namespace))
            attributes += [("service.name", service_name), ("aws.cloudwatch.metric_stream_name", stream)]
        else:
            account_id, region = place
            attributes = [
                ("cloud.provider", "aws"),
                ("cloud.account.id", account_id),
                ("cloud.region", region),
                ("service.name", self._naming.service_name),
            ]
        present = {key for key, _ in attributes}
        attributes += [(k, v) for k, v in self._naming.resource_attributes.items() if k not in present]
        header = self._resources[place] = self._encoding.resource(attributes)
        return header

    def _metric(self, namespace: str, metric_name: str, unit: str) -> tuple[bytes, bytes]:
        """The metric's header and the attributes every datapoint of it carries."""
        if type(namespace) is not str or type(metric_name) is not str or type(unit) is not str:
            raise TypeError("namespace, metric_name and unit must be strings")
        encoding = self._encoding
        if self._otel:  # the collector's names: the metric name and unit as CloudWatch gives them
            cached = (encoding.metric(metric_name, unit), b"")
        else:
            cached = (
                encoding.metric(f"amazonaws.com/{namespace}/{metric_name}", "" if unit == "None" else unit),
                encoding.attribute("Namespace", namespace)
                + encoding.separator
                + encoding.attribute("MetricName", metric_name),
            )
        self._metrics[(namespace, metric_name, unit)] = cached
        return cached

    def _dimension_attributes(self, dimensions: dict[str, Any], key: bytes) -> bytes:
        if type(dimensions) is not dict or not all(type(v) is str for v in dimensions.values()):
            raise TypeError("dimensions must be an object of strings")
        encoding = self._encoding
        separator = encoding.separator
        if self._otel:
            text = separator.join(
                encoding.attribute(OTEL_DIMENSION_NAMES.get(k, k), v) for k, v in dimensions.items()
            )
        else:
            # The text users' dashboards match on: Python's json.dumps with its default separators.
            text = separator + encoding.attribute("Dimensions", json.dumps(dimensions))
            if self._naming.dimension_attributes:
                text += b"".join(separator + encoding.attribute(k, v) for k, v in dimensions.items())
        if len(self._dimensions) >= DIMENSIONS_MEMO_SIZE:
            self._dimensions.clear()  # keeps memory bounded on objects with very many distinct series
        self._dimensions[key] = text
        return text

    def _percentiles(self, value: dict[str, Any]) -> bytes:
        """Quantile entries for the pNN statistics, in increasing order; counts the others dropped."""
        found: list[tuple[float, bytes]] = []
        quantile_value = self._encoding.quantile_value
        for statistic, number in value.items():
            if statistic in SUMMARY_STATISTICS:
                continue
            quantile = self._quantile(statistic)
            if quantile is None or type(number) not in _NUMBERS:
                self.statistics_dropped += 1
                continue
            found.append((quantile[0], quantile[1] + quantile_value(number)))
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
        """The quantile of a statistic and the encoded start of its entry, or None if it is no pNN."""
        if statistic not in self._quantiles:
            quantile = _quantile_of(statistic)
            self._quantiles[statistic] = (
                None if quantile is None else (quantile, self._encoding.quantile_prefix(quantile))
            )
        return self._quantiles[statistic]
