"""CloudWatch records -> encoded OTLP datapoints. Pure but for the optional tag lookups.

A record is a CloudWatch metric stream record as the JSON format writes it (a dict), whichever stream
format it came in. Each is checked before it is converted: a record whose types or ranges are wrong is
skipped and counted by reason, so that one bad record never makes a collector refuse a whole request.
Everything that repeats between records is memoised in pieces that repeat at different rates: the
resource (per account and region), the metric (per namespace, name and unit) and the dimensions (shared
by all metrics of a resource). Whole series repeat too rarely to be worth it: in a realistic stream a
series appears once or twice per object. The memos are bounded in bytes.

An entry is (resource header, metric header, datapoint): the first two are the opening bytes of the
resource and metric a datapoint belongs to, shared between entries, so grouping by them is cheap.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from cwotlp.otlp.encoding import GAUGE, SUMMARY, Attribute, Encoding, JsonEncoding
from cwotlp.otlp.naming import PERIOD_MS, Naming, scheme_for
from cwotlp.otlp.quantiles import Percentiles, finite
from cwotlp.otlp.yace import STATISTICS

if TYPE_CHECKING:
    from cwotlp.formats.otel1 import Datapoint

# Skip reasons for records (the formats add their own for lines and frames).
NOT_A_METRIC = "not_a_metric"
INVALID_TIMESTAMP = "invalid_timestamp"
INVALID_VALUE = "invalid_value"

AVERAGE = "Average"  # not streamed: sum / count, as YACE users query it
MIN_TIMESTAMP_MS = 946_684_800_000  # 2000-01-01
MAX_TIMESTAMP_MS = 4_102_444_800_000  # 2100-01-01
COUNT_BOUND = float(2**63)  # a count must be below it: it has to fit a signed 64-bit integer
MEMO_BYTES = 16 * 1024 * 1024
_dumps = orjson.dumps

Entry = tuple[bytes, bytes, bytes]


class TagSource(Protocol):
    """What the converter asks for resource tags (cwotlp.tags.ResourceTags)."""

    def tags(
        self, account_id: str, region: str, namespace: str, dimensions: Mapping[str, str]
    ) -> tuple[tuple[str, str], ...]: ...


# A metric's pieces: its header (summary schemes), its datapoint attributes, namespace, name, and
# (prometheus) the gauge header of each statistic.
_Metric = tuple[bytes, bytes, str, str, dict[str, bytes]]
_EMPTY: dict[str, str] = {}
_OPTIONAL = ("unit", "metric_stream_name", "account_id", "region", "dimensions")  # fields a record may lack
_optional_fields = itemgetter(*_OPTIONAL)


def _invalid(timestamp: Any) -> str:
    """Why a record with the right fields is skipped: its timestamp, or else one of its numbers."""
    if type(timestamp) is not int or not MIN_TIMESTAMP_MS <= timestamp < MAX_TIMESTAMP_MS:
        return INVALID_TIMESTAMP
    return INVALID_VALUE


class Converter:
    """Records -> entries under one naming and encoding; one instance per object."""

    def __init__(
        self, naming: Naming, encoding: Encoding | None = None, tags: TagSource | None = None
    ) -> None:
        self._scheme = scheme_for(naming)
        self._encoding = encoding or JsonEncoding()
        self._separator = self._encoding.separator
        self._tags = tags
        self._places: dict[tuple[Any, ...], tuple[bytes, bytes]] = {}
        self._metric_pieces: dict[tuple[Any, ...], _Metric] = {}
        self._dimensions: dict[bytes, bytes] = {}  # by the dimensions' JSON
        self._encoded_dimensions: dict[bytes, bytes] = {}  # by the OpenTelemetry 1.0 attribute's bytes
        self._tag_memo: dict[tuple[Any, ...], bytes] = {}
        self._memo_bytes = 0
        self._metrics: dict[tuple[str, str, str], bytes] = {}
        self._quantiles = Percentiles(self._encoding, self._remember)
        self._times: dict[int, bytes] = {}
        self._gauges_dropped = 0
        self.converted = 0  # records that passed the checks
        self.oldest_timestamp_ms: int | None = None

    @property
    def statistics_dropped(self) -> int:
        """Statistics not sent: numbers that are not finite, names that are no statistic, repeats."""
        return self._gauges_dropped + self._quantiles.dropped

    def entries(self, records: Iterable[Any], skipped: Counter[str]) -> Iterator[Entry]:
        """The entries of the records that pass the checks; the others are counted in `skipped`. (One
        loop, its lookups bound to locals: it runs once per record of every object.)"""
        places, metrics, dimensions_of = self._places.get, self._metric_pieces.get, self._dimensions.get
        times_of, separator, tags = self._times.get, self._separator, self._tags
        summary, percentiles, gauges = self._encoding.summary, self._quantiles.entries, self._gauges
        by_namespace, summaries = self._scheme.resource_by_namespace, self._scheme.kind == SUMMARY
        converted = 0
        try:
            for record in records:
                try:
                    timestamp, value, namespace = record["timestamp"], record["value"], record["namespace"]
                    count, total, low, high = value["count"], value["sum"], value["min"], value["max"]
                    try:  # an itemgetter costs less than get() per field, and CloudWatch writes every field
                        unit, stream, account_id, region, dimensions = _optional_fields(record)
                    except KeyError:
                        unit, stream, account_id, region, dimensions = map(record.get, _OPTIONAL)
                    metric_key = (namespace, record["metric_name"], unit)
                    place_key = (stream, account_id, region, namespace if by_namespace else None)
                    dimensions_key = _dumps(dimensions := dimensions or _EMPTY)
                    place = places(place_key) or self._place(place_key)
                    metric = metrics(metric_key) or self._metric_of(metric_key)
                    attributes = dimensions_of(dimensions_key)
                    if attributes is None:
                        attributes = self._dimension_attributes(self._dimensions, dimensions_key, dimensions)
                except (KeyError, TypeError, AttributeError, ValueError, orjson.JSONEncodeError):
                    skipped[NOT_A_METRIC] += 1
                    continue
                # Inline (a call costs more): types by identity (not bool; cheaper than `in` a tuple); x - x
                # is NaN unless x is finite; the count's bound as a float, exact for ints and floats alike.
                if (
                    type(timestamp) is not int
                    or not MIN_TIMESTAMP_MS <= timestamp < MAX_TIMESTAMP_MS
                    or (type(count) is not float and type(count) is not int)
                    or (type(total) is not float and type(total) is not int)
                    or (type(low) is not float and type(low) is not int)
                    or (type(high) is not float and type(high) is not int)
                    or (total - total or low - low or high - high)
                    or not 0 <= count < COUNT_BOUND
                ):
                    skipped[_invalid(timestamp)] += 1
                    continue
                converted += 1
                if metric[1]:  # the metric's own attributes come first, the account and region last
                    attributes = metric[1] + separator + attributes if attributes else metric[1]
                if place[1]:
                    attributes = attributes + separator + place[1] if attributes else place[1]
                if tags is not None:
                    attributes = self._tagged(attributes, place_key, namespace, dimensions_key, dimensions)
                times = times_of(timestamp) or self._times_of(timestamp)
                if summaries:
                    quantiles = percentiles(value) if (count := round(count)) and len(value) != 4 else b""
                    yield place[0], metric[0], summary(attributes, times, count, total, low, quantiles, high)
                else:
                    yield from gauges(place[0], metric, attributes, times, count, total, value)
        finally:
            self.converted += converted

    def datapoint_entries(self, datapoints: Iterable[Datapoint], skipped: Counter[str]) -> Iterator[Entry]:
        """The entries of OpenTelemetry 1.0 datapoints (`cwotlp.formats.otel1.datapoints`): exactly what
        entries() makes of their records, without making the records, unless there are tags to look
        up (by record)."""
        from cwotlp.formats.otel1 import record

        if self._tags is not None:
            return self.entries(map(record, datapoints), skipped)
        return self._untagged_datapoint_entries(datapoints, skipped)

    def _untagged_datapoint_entries(
        self, datapoints: Iterable[Datapoint], skipped: Counter[str]
    ) -> Iterator[Entry]:
        """A protobuf datapoint's fields have their types already, so what is left to check is ranges; a
        datapoint that fails a check, or whose names or dimensions are no metric's, goes through
        entries() as its record, which counts why it is skipped."""
        from cwotlp.formats.otel1 import record, values

        places, metrics, times_of = self._places.get, self._metric_pieces.get, self._times.get
        dimensions_of, separator = self._encoded_dimensions.get, self._separator
        summary, percentiles, gauges = self._encoding.summary, self._quantiles.entries, self._gauges
        by_namespace, summaries = self._scheme.resource_by_namespace, self._scheme.kind == SUMMARY
        converted = 0
        try:
            for datapoint in datapoints:
                place_of, unit, namespace, metric_name, dimensions, encoded, point = datapoint
                count, total, quantile_values = point.count, point.sum, point.quantile_values
                value = low = high = None  # a summary of min and max alone needs no dict
                if summaries and len(quantile_values) == 2:
                    first, last = quantile_values
                    if first.quantile == 0.0 and last.quantile == 1.0:
                        low, high = first.value, last.value
                if low is None:
                    value = values(point)
                    low, high = value.get("min"), value.get("max")
                timestamp = (point.start_time_unix_nano or point.time_unix_nano) // 1_000_000
                place_key = (*place_of, namespace if by_namespace else None)
                metric_key = (namespace, metric_name, unit)
                place, metric, attributes = places(place_key), metrics(metric_key), dimensions_of(encoded)
                if place is None or metric is None or attributes is None:
                    place, metric, attributes = self._datapoint_pieces(
                        place_key, metric_key, encoded, dimensions
                    )
                if (
                    attributes is None
                    or low is None
                    or high is None
                    or not MIN_TIMESTAMP_MS <= timestamp < MAX_TIMESTAMP_MS
                    or total - total
                    or low - low
                    or high - high
                    or count >= COUNT_BOUND
                ):
                    yield from self.entries((record(datapoint),), skipped)
                    continue
                converted += 1
                if metric[1]:  # as in entries()
                    attributes = metric[1] + separator + attributes if attributes else metric[1]
                if place[1]:
                    attributes = attributes + separator + place[1] if attributes else place[1]
                times = times_of(timestamp) or self._times_of(timestamp)
                if summaries:
                    quantiles = percentiles(value) if value is not None and count and len(value) != 4 else b""
                    yield place[0], metric[0], summary(attributes, times, count, total, low, quantiles, high)
                else:
                    yield from gauges(place[0], metric, attributes, times, count, total, value)
        finally:
            self.converted += converted

    def _datapoint_pieces(
        self, place_key: tuple[Any, ...], metric_key: tuple[Any, ...], encoded: bytes, dimensions: Any
    ) -> tuple[Any, Any, Any]:
        """A datapoint's place, metric and dimension attributes, from the memos or made, as entries()
        makes them; three Nones when they are no metric's."""
        try:
            place = self._places.get(place_key) or self._place(place_key)
            metric = self._metric_pieces.get(metric_key) or self._metric_of(metric_key)
            attributes = self._encoded_dimensions.get(encoded)
            if attributes is None:
                attributes = self._dimension_attributes(self._encoded_dimensions, encoded, dimensions)
        except (TypeError, AttributeError, ValueError):  # what entries() counts as no metric's
            return None, None, None
        return place, metric, attributes

    def _gauges(
        self,
        resource: bytes,
        metric: _Metric,
        attributes: bytes,
        times: bytes,
        count: float,
        total: float,
        value: Any,
    ) -> list[Entry]:
        """A record's gauges: one per statistic, and the average (of the sample count as streamed).

        A value that is not a finite number is dropped, and so is a statistic whose gauge another of the
        record has (`Sum` beside `sum`, `Average` beside the average), so that no series gets two
        values at one time.
        """
        gauge, gauges, found = self._encoding.gauge, metric[4], []
        average = (gauges.get(AVERAGE) or self._gauge(metric, AVERAGE)) if count else None
        taken = [average]
        for statistic, number in value.items():
            if not finite(number):
                self._gauges_dropped += 1
                continue
            header = gauges.get(statistic) or self._gauge(metric, statistic)
            if header in taken:
                self._gauges_dropped += 1
                continue
            taken.append(header)
            found.append((resource, header, gauge(attributes, times, number)))
        if average is not None:
            number = total / count
            if number - number:  # infinite: a tiny count under a huge sum
                self._gauges_dropped += 1
            else:
                found.append((resource, average, gauge(attributes, times, number)))
        return found

    def _place(self, key: tuple[Any, ...]) -> tuple[bytes, bytes]:
        """The resource header and the account and region attributes. ValueError for what is no place."""
        stream, account_id, region, namespace = (text or "" for text in key)
        if not (type(stream) is str and type(account_id) is str and type(region) is str):
            raise ValueError("metric_stream_name, account_id and region must be strings")
        scheme, encoding = self._scheme, self._encoding
        resource = encoding.resource(scheme.resource(stream, namespace, account_id, region), scheme.scope)
        place = encoding.attributes(scheme.place_attributes(account_id, region))
        found = self._places[key] = (resource, place)
        self._remember(200 + len(resource) + len(place))
        return found

    def _metric_of(self, key: tuple[Any, ...]) -> _Metric:
        """A metric's header and attributes. ValueError for names that are no metric's."""
        namespace, metric_name, unit = key
        if unit is None and not self._scheme.unit_required:
            unit = ""
        if not (type(namespace) is str and type(metric_name) is str and type(unit) is str):
            raise ValueError("namespace, metric_name and unit must be strings")
        if not namespace or not metric_name:
            raise ValueError("namespace and metric_name must not be empty")
        scheme = self._scheme
        header = b""
        if scheme.kind == SUMMARY:
            header = self._metric(*scheme.metric(namespace, metric_name, unit), SUMMARY)
        attributes = self._encoding.attributes(scheme.metric_attributes(namespace, metric_name))
        found: _Metric = (header, attributes, namespace, metric_name, {})
        self._metric_pieces[key] = found
        self._remember(300 + len(namespace) + len(metric_name) + len(unit) + len(header) + len(attributes))
        return found

    def _dimension_attributes(self, memo: dict[bytes, bytes], key: bytes, dimensions: Any) -> bytes:
        """The attributes that stand for a dimensions object, kept in memo under key. ValueError for
        what is no such object."""
        if type(dimensions) is not dict or not all(type(v) is str for v in dimensions.values()):
            raise ValueError("dimensions must be an object of strings")
        if "" in dimensions:
            raise ValueError("a dimension's name must not be empty")  # OTLP forbids empty attribute keys
        found = self._encoding.attributes(self._scheme.dimension_attributes(dimensions))
        memo[bytes(memoryview(key))] = found  # orjson's buffer is larger than its text
        self._remember(100 + len(key) + len(found))
        return found

    def _remember(self, size: int) -> None:
        """Counts what a memo keeps (`size` bytes, roughly); past MEMO_BYTES every memo starts over, so
        that an object with very many distinct metrics, resources or series stays within its bound."""
        self._memo_bytes += size
        if self._memo_bytes > MEMO_BYTES:
            for memo in (
                self._places,
                self._metric_pieces,
                self._dimensions,
                self._encoded_dimensions,
                self._tag_memo,
                self._metrics,
                self._times,
            ):
                memo.clear()
            self._quantiles.forget()
            self._memo_bytes = 0

    def _tagged(
        self,
        attributes: bytes,
        place_key: tuple[Any, ...],
        namespace: str,
        dimensions_key: bytes,
        dimensions: dict[str, str],
    ) -> bytes:
        """The attributes with the selected tags of the resource behind the dimensions, looked up once
        per series and object."""
        assert self._tags is not None
        key = (place_key[1] or "", place_key[2] or "", namespace, dimensions_key)
        found = self._tag_memo.get(key)
        if found is None:
            tags: list[Attribute] = []
            for tag, text in self._tags.tags(key[0], key[1], namespace, dimensions):
                label = self._scheme.tag_attribute(tag)
                if label is not None:
                    tags.append((label, text))
            found = self._tag_memo[(*key[:3], bytes(memoryview(dimensions_key)))] = self._encoding.attributes(
                self._scheme.distinct(tags)
            )
            self._remember(200 + len(dimensions_key) + len(found))
        return attributes + self._separator + found if attributes and found else attributes or found

    def _metric(self, name: str, unit: str, kind: str) -> bytes:
        header = self._metrics.get((name, unit, kind))
        if header is None:
            header = self._metrics[(name, unit, kind)] = self._encoding.metric(name, unit, kind)
            self._remember(200 + 2 * len(name) + len(unit))
        return header

    def _gauge(self, metric: _Metric, statistic: str) -> bytes:
        """The gauge of one statistic of a metric: `sum` as YACE's Sum, `p99` as p99, and so on."""
        name = self._scheme.gauge(metric[2], metric[3], STATISTICS.get(statistic, statistic))
        header = metric[4][statistic] = self._metric(name, "", GAUGE)
        self._remember(100 + len(statistic))
        return header

    def _times_of(self, timestamp: int) -> bytes:
        start = timestamp if self._scheme.start_time else None
        end = timestamp + PERIOD_MS if self._scheme.start_time else timestamp
        times = self._times[timestamp] = self._encoding.times(start, end)
        self._remember(150)
        if self.oldest_timestamp_ms is None or timestamp < self.oldest_timestamp_ms:
            self.oldest_timestamp_ms = timestamp
        return times
