"""CloudWatch records -> encoded OTLP datapoints. Pure but for the optional tag lookups.

A record is a CloudWatch metric stream record as the JSON format writes it (a dict), whichever stream
format it came in. Each is checked before it is converted: a record whose types or ranges are wrong is
skipped and counted by reason, so that one bad record never makes a collector refuse a whole request.
Everything that repeats between records of a series (resource and metric headers, attributes) is
memoised per series, in a memo bounded in bytes; the per-record work is the values.

An entry is (resource header, metric header, datapoint): the first two are the opening bytes of the
resource and metric a datapoint belongs to, shared between entries, so grouping by them is cheap.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

import orjson

from cwotlp.otlp.encoding import GAUGE, SUMMARY, Encoding, JsonEncoding
from cwotlp.otlp.naming import PERIOD_MS, Naming, SeriesName, scheme_for
from cwotlp.otlp.yace import STATISTICS

# Skip reasons for records (the formats add their own for lines and frames).
NOT_A_METRIC = "not_a_metric"
INVALID_TIMESTAMP = "invalid_timestamp"
INVALID_VALUE = "invalid_value"

SUMMARY_STATISTICS = frozenset(STATISTICS)
AVERAGE = "Average"  # not streamed: sum / count, as YACE users query it
MIN_TIMESTAMP_MS = 946_684_800_000  # 2000-01-01
MAX_TIMESTAMP_MS = 4_102_444_800_000  # 2100-01-01
MAX_COUNT = 2**63 - 1
MEMO_BYTES = 16 * 1024 * 1024
_NUMBERS = (int, float)
_dumps = orjson.dumps

Entry = tuple[bytes, bytes, bytes]


class TagSource(Protocol):
    """What the converter asks for resource tags (cwotlp.tags.ResourceTags)."""

    def tags(
        self, account_id: str, region: str, namespace: str, dimensions: Mapping[str, str]
    ) -> tuple[tuple[str, str], ...]: ...


@dataclass
class _Series:
    resource: bytes
    metric: bytes  # summary schemes
    attributes: bytes
    name: SeriesName
    gauges: dict[str, bytes] = field(default_factory=dict)  # prometheus: statistic -> metric


# A record that passed: series, encoded times, count (rounded), sum, min, max, and all its statistics.
_Checked = tuple[_Series, bytes, int, float, float, float, dict[str, Any]]


def quantile_of(statistic: str) -> float | None:
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
    """Records -> entries under one naming and encoding; one instance per object."""

    def __init__(
        self, naming: Naming, encoding: Encoding | None = None, tags: TagSource | None = None
    ) -> None:
        self._scheme = scheme_for(naming)
        self._encoding = encoding or JsonEncoding()
        self._tags = tags
        self._series: dict[tuple[Any, ...], _Series] = {}
        self._memo_bytes = 0
        self._resources: dict[tuple[str, ...], bytes] = {}
        self._metrics: dict[tuple[str, str, str], bytes] = {}
        self._quantiles: dict[str, tuple[float, bytes] | None] = {}
        self._times: dict[int, bytes] = {}
        self.statistics_dropped = 0
        self.converted = 0  # records that passed the checks
        self.oldest_timestamp_ms: int | None = None

    def entries(self, records: Iterable[Any], skipped: Counter[str]) -> Iterator[Entry]:
        """The entries of the records that pass the checks; the others are counted in `skipped`."""
        if self._scheme.kind == SUMMARY:
            return self._summaries(records, skipped)
        return self._gauges(records, skipped)

    def _summaries(self, records: Iterable[Any], skipped: Counter[str]) -> Iterator[Entry]:
        summary = self._encoding.summary
        for record in records:
            checked = self._check(record)
            if isinstance(checked, str):
                skipped[checked] += 1
                continue
            series, times, count, total, low, high, value = checked
            self.converted += 1
            quantiles = self._percentiles(value) if len(value) != 4 and count else b""
            yield (
                series.resource,
                series.metric,
                summary(series.attributes, times, count, total, low, quantiles, high),
            )

    def _gauges(self, records: Iterable[Any], skipped: Counter[str]) -> Iterator[Entry]:
        gauge = self._encoding.gauge
        for record in records:
            checked = self._check(record)
            if isinstance(checked, str):
                skipped[checked] += 1
                continue
            series, times, count, total, _, _, value = checked
            self.converted += 1
            gauges = series.gauges
            for statistic, number in value.items():
                if type(number) not in _NUMBERS or number - number != 0:
                    self.statistics_dropped += 1
                    continue
                metric = gauges.get(statistic) or self._gauge_metric(series, statistic)
                yield series.resource, metric, gauge(series.attributes, times, number)
            if count:
                metric = gauges.get(AVERAGE) or self._gauge_metric(series, AVERAGE)
                yield series.resource, metric, gauge(series.attributes, times, total / count)

    def _check(self, record: Any) -> _Checked | str:
        """(series, times, count, total, min, max, value), or why the record is skipped."""
        try:
            timestamp = record["timestamp"]
            value = record["value"]
            count = value["count"]
            total = value["sum"]
            low = value["min"]
            high = value["max"]
            dimensions = record.get("dimensions") or {}
            key = (
                record["namespace"],
                record["metric_name"],
                record.get("unit"),
                record.get("account_id"),
                record.get("region"),
                record.get("metric_stream_name"),
                _dumps(dimensions),
            )
        except (KeyError, TypeError, AttributeError, orjson.JSONEncodeError):
            return NOT_A_METRIC
        series = self._series.get(key) or self._new_series(key, dimensions)
        if series is None:
            return NOT_A_METRIC
        if type(timestamp) is not int or not MIN_TIMESTAMP_MS <= timestamp < MAX_TIMESTAMP_MS:
            return INVALID_TIMESTAMP
        for number in (count, total, low, high):  # x - x is 0 for finite numbers, NaN otherwise
            if type(number) not in _NUMBERS or number - number != 0:
                return INVALID_VALUE
        if not 0 <= count <= MAX_COUNT:
            return INVALID_VALUE
        times = self._times.get(timestamp) or self._times_of(timestamp)
        return series, times, round(count), total, low, high, value

    def _new_series(self, key: tuple[Any, ...], dimensions: Any) -> _Series | None:
        namespace, metric_name, unit, account_id, region, stream, dimensions_text = key
        if unit is None and not self._scheme.unit_required:
            unit = ""
        texts = (namespace, metric_name, unit, account_id or "", region or "", stream or "")
        if not all(type(text) is str for text in texts) or not namespace or not metric_name:
            return None
        if type(dimensions) is not dict or not all(type(v) is str for v in dimensions.values()):
            return None
        name = SeriesName(
            stream or "", account_id or "", region or "", namespace, metric_name, unit, dimensions
        )
        series = self._build(name)
        if self._memo_bytes > MEMO_BYTES:  # keeps memory bounded on objects with very many series
            self._series.clear()
            self._memo_bytes = 0
        self._series[(*key[:-1], bytes(memoryview(dimensions_text)))] = series
        self._memo_bytes += 200 + len(dimensions_text) + len(series.attributes)
        return series

    def _build(self, name: SeriesName) -> _Series:
        scheme, encoding = self._scheme, self._encoding
        place = scheme.resource_key(name)
        resource = self._resources.get(place)
        if resource is None:
            resource = self._resources[place] = encoding.resource(scheme.resource(name), scheme.scope)
        metric = b""
        if scheme.kind == SUMMARY:
            metric_name, unit = scheme.metric(name)
            metric = self._metric(metric_name, unit, SUMMARY)
        attributes = scheme.attributes(name)
        if self._tags is not None:
            for key, text in self._tags.tags(name.account_id, name.region, name.namespace, name.dimensions):
                label = scheme.tag_attribute(key)
                if label is not None:
                    attributes.append((label, text))
        return _Series(resource, metric, encoding.attributes(attributes), name)

    def _metric(self, name: str, unit: str, kind: str) -> bytes:
        header = self._metrics.get((name, unit, kind))
        if header is None:
            header = self._metrics[(name, unit, kind)] = self._encoding.metric(name, unit, kind)
        return header

    def _gauge_metric(self, series: _Series, statistic: str) -> bytes:
        """The gauge of one statistic of a series: `sum` as YACE's Sum, `p99` as p99, and so on."""
        metric_name = self._scheme.gauge(series.name, STATISTICS.get(statistic, statistic))
        header = series.gauges[statistic] = self._metric(metric_name, "", GAUGE)
        return header

    def _times_of(self, timestamp: int) -> bytes:
        start = timestamp if self._scheme.start_time else None
        end = timestamp + PERIOD_MS if self._scheme.start_time else timestamp
        times = self._times[timestamp] = self._encoding.times(start, end)
        if self.oldest_timestamp_ms is None or timestamp < self.oldest_timestamp_ms:
            self.oldest_timestamp_ms = timestamp
        return times

    def _percentiles(self, value: dict[str, Any]) -> bytes:
        """Quantile entries for the pNN statistics, in increasing order; counts the others dropped."""
        found: list[tuple[float, bytes]] = []
        quantile_value = self._encoding.quantile_value
        for statistic, number in value.items():
            if statistic in SUMMARY_STATISTICS:
                continue
            quantile = self._quantile(statistic)
            if quantile is None or type(number) not in _NUMBERS or number - number != 0:
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
            quantile = quantile_of(statistic)
            self._quantiles[statistic] = (
                None if quantile is None else (quantile, self._encoding.quantile_prefix(quantile))
            )
        return self._quantiles[statistic]
