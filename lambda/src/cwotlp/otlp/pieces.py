"""The pieces entries are made of, memoised: what the converter's loops (cwotlp.otlp.convert) look up.

Everything that repeats between records is kept in pieces that repeat at different rates: the resource
(per account and region), the metric (per namespace, name and unit) and the dimensions (shared by all
metrics of a resource). Whole series repeat too rarely to be worth it: in a realistic stream a series
appears once or twice per object. The memos are bounded in bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from cwotlp.otlp.encoding import GAUGE, SUMMARY, Attribute, Encoding, JsonEncoding
from cwotlp.otlp.naming import PERIOD_MS, Naming, scheme_for
from cwotlp.otlp.quantiles import Percentiles, finite
from cwotlp.otlp.yace import STATISTICS

AVERAGE = "Average"  # not streamed: sum / count, as YACE users query it
MEMO_BYTES = 16 * 1024 * 1024

Entry = tuple[bytes, bytes, bytes]
# A metric's pieces: its header (summary schemes), its datapoint attributes, namespace, name, and
# (prometheus) the gauge header of each statistic.
Metric = tuple[bytes, bytes, str, str, dict[str, bytes]]


class TagSource(Protocol):
    """What the converter asks for resource tags (cwotlp.tags.ResourceTags)."""

    def tags(
        self, account_id: str, region: str, namespace: str, dimensions: Mapping[str, str]
    ) -> tuple[tuple[str, str], ...]: ...


class Pieces:
    """The memos of one object's conversion under one naming and encoding, and how each piece is made."""

    def __init__(
        self, naming: Naming, encoding: Encoding | None = None, tags: TagSource | None = None
    ) -> None:
        self._scheme = scheme_for(naming)
        self._encoding = encoding or JsonEncoding()
        self._separator = self._encoding.separator
        self._tags = tags
        self._places: dict[tuple[Any, ...], tuple[bytes, bytes]] = {}
        self._metric_pieces: dict[tuple[Any, ...], Metric] = {}
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

    def _gauges(
        self,
        resource: bytes,
        metric: Metric,
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
        gauge, head = self._encoding.gauge, self._encoding.gauge_head(attributes, times)
        gauges, found = metric[4], []
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
            found.append((resource, header, gauge(head, number)))
        if average is not None:
            number = total / count
            if number - number:  # infinite: a tiny count under a huge sum
                self._gauges_dropped += 1
            else:
                found.append((resource, average, gauge(head, number)))
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

    def _metric_of(self, key: tuple[Any, ...]) -> Metric:
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
        found: Metric = (header, attributes, namespace, metric_name, {})
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

    def _gauge(self, metric: Metric, statistic: str) -> bytes:
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

    def _pieces(
        self,
        place_key: tuple[Any, ...],
        metric_key: tuple[Any, ...],
        memo: dict[bytes, bytes],
        key: bytes,
        dimensions: Any,
    ) -> tuple[Any, Any, Any]:
        """The place, metric and dimension attributes (kept in memo under key) of a record read from
        typed input, from the memos or made as entries() makes them; three Nones when they are no
        metric's."""
        try:
            place = self._places.get(place_key) or self._place(place_key)
            metric = self._metric_pieces.get(metric_key) or self._metric_of(metric_key)
            attributes = memo.get(key)
            if attributes is None:
                attributes = self._dimension_attributes(memo, key, dimensions)
        except (TypeError, AttributeError, ValueError):  # what entries() counts as no metric's
            return None, None, None
        return place, metric, attributes
