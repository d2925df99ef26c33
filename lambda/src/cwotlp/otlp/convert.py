"""CloudWatch records -> encoded OTLP datapoints. Pure but for the optional tag lookups.

A record is a CloudWatch metric stream record as the JSON format writes it (a dict), whichever stream
format it came in. Each is checked before it is converted: a record whose types or ranges are wrong is
skipped and counted by reason, so that one bad record never makes a collector refuse a whole request.
The pieces a datapoint is made of are memoised (cwotlp.otlp.pieces).

Besides records, two inputs whose fields have their types already take loops of their own that make the
records' entries without making the records: typed `json` lines (`line_entries`) and OpenTelemetry 1.0
datapoints (`datapoint_entries`). Whatever fails one of their checks goes through entries() as a record,
so that it is skipped, and counted, exactly as the straightforward path would.

An entry is (resource header, metric header, datapoint): the first two are the opening bytes of the
resource and metric a datapoint belongs to, shared between entries, so grouping by them is cheap.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import orjson

from cwotlp.otlp.encoding import SUMMARY
from cwotlp.otlp.pieces import Entry, Pieces

if TYPE_CHECKING:
    from cwotlp.formats.json_typed import TypedLines
    from cwotlp.formats.otel1 import Datapoint

# Skip reasons for records (the formats add their own for lines and frames).
NOT_A_METRIC = "not_a_metric"
INVALID_TIMESTAMP = "invalid_timestamp"
INVALID_VALUE = "invalid_value"

MIN_TIMESTAMP_MS = 946_684_800_000  # 2000-01-01
MAX_TIMESTAMP_MS = 4_102_444_800_000  # 2100-01-01
COUNT_BOUND = float(2**63)  # a count must be below it: it has to fit a signed 64-bit integer
_dumps = orjson.dumps
_EMPTY: dict[str, str] = {}
_OPTIONAL = ("unit", "metric_stream_name", "account_id", "region", "dimensions")  # fields a record may lack
_optional_fields = itemgetter(*_OPTIONAL)


def _invalid(timestamp: Any) -> str:
    """Why a record with the right fields is skipped: its timestamp, or else one of its numbers."""
    if type(timestamp) is not int or not MIN_TIMESTAMP_MS <= timestamp < MAX_TIMESTAMP_MS:
        return INVALID_TIMESTAMP
    return INVALID_VALUE


class Converter(Pieces):
    """Records -> entries under one naming and encoding; one instance per object."""

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

    def line_entries(self, lines: TypedLines, skipped: Counter[str]) -> Iterator[Entry]:
        """The entries of a `json` object's lines: exactly what entries() makes of the records they parse
        to, without making the records, unless there are tags to look up (by record)."""
        if self._tags is not None:
            return self.entries(lines.records(), skipped)
        return self._typed_line_entries(lines, skipped)

    def _typed_line_entries(self, lines: TypedLines, skipped: Counter[str]) -> Iterator[Entry]:
        """A typed record's fields have their types already, so what is left to check is ranges and
        names; a line that does not decode to one, or fails a check, goes through entries() as the
        record it parses to, which counts why it is skipped."""
        places, metrics, dimensions_of = self._places.get, self._metric_pieces.get, self._dimensions.get
        times_of, separator, decode, error = self._times.get, self._separator, lines.decode, lines.error
        read_dimensions, unread = lines.dimensions, (*error, KeyError)
        summary, percentiles, gauges = self._encoding.summary, self._quantiles.entries, self._gauges
        by_namespace, summaries = self._scheme.resource_by_namespace, self._scheme.kind == SUMMARY
        converted = 0
        try:
            for line in chain.from_iterable(lines.runs()):  # the runs' lists, with no generator step
                try:
                    record = decode(line)
                    timestamp, value, namespace = record.timestamp, record.value, record.namespace
                    count, total, low, high = value["count"], value["sum"], value["min"], value["max"]
                except unread:
                    yield from self.entries(lines.parsed(line), skipped)
                    continue
                metric_key = (namespace, record.metric_name, record.unit)
                place_key = (
                    record.metric_stream_name,
                    record.account_id,
                    record.region,
                    namespace if by_namespace else None,
                )
                dimensions_key = bytes(record.dimensions)  # as the line writes them
                place, metric = places(place_key), metrics(metric_key)
                attributes = dimensions_of(dimensions_key)
                if place is None or metric is None or attributes is None:
                    dimensions = read_dimensions(dimensions_key)  # only to make a piece; None: not strings
                    place, metric, attributes = self._pieces(
                        place_key, metric_key, self._dimensions, dimensions_key, dimensions
                    )
                if (
                    attributes is None
                    or not MIN_TIMESTAMP_MS <= timestamp < MAX_TIMESTAMP_MS
                    or total - total
                    or low - low
                    or high - high
                    or not 0 <= count < COUNT_BOUND
                ):
                    yield from self.entries(lines.parsed(line), skipped)
                    continue
                converted += 1
                if metric[1]:  # as in entries()
                    attributes = metric[1] + separator + attributes if attributes else metric[1]
                if place[1]:
                    attributes = attributes + separator + place[1] if attributes else place[1]
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
                    first, last = quantile_values[0], quantile_values[1]  # unpacking would look for a third
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
                    place, metric, attributes = self._pieces(
                        place_key, metric_key, self._encoded_dimensions, encoded, dimensions
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
