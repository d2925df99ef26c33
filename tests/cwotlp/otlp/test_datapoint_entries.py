"""The converter's fast path for OpenTelemetry 1.0 objects (`Converter.datapoint_entries`) makes exactly
what the straightforward one makes (`Converter.entries` on the records the datapoints stand for):
the same entries byte for byte, the same skipped counts and the same converted, dropped and oldest
figures, on hostile and damaged objects under every naming and encoding, and on the fixtures (the
OpenTelemetry Collector's own 1.0 test data: test_otel1_collector_data.py; generated and realistic
objects: test_fast_paths.py)."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from conftest import (
    EVERY_WAY,
    assert_converted_alike,
    fixture_bytes,
    frame,
    only_percentiles,
    otel1_frames,
    otel1_request,
)
from cwotlp.formats.otel1 import read_varint
from cwotlp_local.generator import generate_records

RECORDS = [only_percentiles(record) for record in generate_records(400, seed=9)]
OBJECT = b"".join(otel1_frames(RECORDS, 50))


def assert_same(data: bytes, naming: str, encoding: str) -> tuple[Any, ...]:
    return assert_converted_alike(data, naming, encoding)


# Hostile datapoints: each change is made to a datapoint of its own in one request.


def _quantiles(point: Any, pairs: list[tuple[float, float]]) -> None:
    del point.quantile_values[:]
    for quantile, value in pairs:
        point.quantile_values.add(quantile=quantile, value=value)


def _attributes(point: Any, pairs: list[tuple[str, Any]]) -> None:
    del point.attributes[:]
    for key, value in pairs:
        attribute = point.attributes.add(key=key)
        if isinstance(value, str):
            attribute.value.string_value = value
        elif isinstance(value, int):
            attribute.value.int_value = value
        else:
            attribute.value.kvlist_value.SetInParent()
            for name, text in value.items():
                attribute.value.kvlist_value.values.add(key=name).value.string_value = text


def _names(point: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for attribute in point.attributes:
        if attribute.value.WhichOneof("value") == "kvlist_value":
            found[attribute.key] = {
                kv.key: kv.value.string_value for kv in attribute.value.kvlist_value.values
            }
        else:
            found[attribute.key] = attribute.value.string_value
    return found


def _with_names(change: Callable[[dict[str, Any]], list[tuple[str, Any]]]) -> Callable[[Any], None]:
    return lambda point: _attributes(point, change(_names(point)))


def _min_max(point: Any) -> tuple[float, float]:
    return point.quantile_values[0].value, point.quantile_values[-1].value


CHANGES: dict[str, Callable[[Any], None]] = {
    "sum NaN": lambda p: setattr(p, "sum", math.nan),
    "sum infinite": lambda p: setattr(p, "sum", -math.inf),
    "min NaN": lambda p: setattr(p.quantile_values[0], "value", math.nan),
    "max infinite": lambda p: setattr(p.quantile_values[-1], "value", math.inf),
    "percentiles NaN": lambda p: _quantiles(p, [(0.0, 1.0), (0.5, math.nan), (0.99, 2.0), (1.0, 3.0)]),
    "count at 2**63": lambda p: setattr(p, "count", 2**63),
    "count the largest": lambda p: setattr(p, "count", 2**64 - 1),
    "count 0 with quantiles": lambda p: setattr(p, "count", 0),
    "count 0 without quantiles": lambda p: (setattr(p, "count", 0), _quantiles(p, [])),
    "no quantiles": lambda p: _quantiles(p, []),
    "max first": lambda p: _quantiles(p, [(1.0, _min_max(p)[1]), (0.0, _min_max(p)[0])]),
    "min alone": lambda p: _quantiles(p, [(0.0, 1.0)]),
    "min twice": lambda p: _quantiles(p, [(0.0, 1.0), (0.0, 2.0), (1.0, 3.0)]),
    "quantiles out of range": lambda p: _quantiles(p, [(-0.5, 1.0), (0.0, 1.0), (1.5, 9.0), (1.0, 3.0)]),
    "quantile NaN": lambda p: _quantiles(p, [(0.0, 1.0), (math.nan, 2.0), (1.0, 3.0)]),
    "percentiles unsorted": lambda p: _quantiles(p, [(0.0, 1.0), (0.99, 5.0), (0.5, 2.0), (1.0, 6.0)]),
    "period start 0": lambda p: setattr(p, "start_time_unix_nano", 0),
    "no times": lambda p: (setattr(p, "start_time_unix_nano", 0), setattr(p, "time_unix_nano", 0)),
    "in 2100": lambda p: setattr(p, "start_time_unix_nano", 4_102_444_800_000 * 1_000_000),
    "in 1999": lambda p: setattr(p, "start_time_unix_nano", 946_684_799_999 * 1_000_000),
    "no attributes": lambda p: _attributes(p, []),
    "no namespace": _with_names(lambda n: [("MetricName", n["MetricName"]), ("Dimensions", n["Dimensions"])]),
    "empty metric name": _with_names(lambda n: [("Namespace", n["Namespace"]), ("MetricName", "")]),
    "no dimensions": _with_names(lambda n: [("Namespace", n["Namespace"]), ("MetricName", n["MetricName"])]),
    "names twice": _with_names(
        lambda n: [*n.items(), ("Namespace", "Other/Space"), ("Dimensions", {"A": "b"})]
    ),
    "names in another order": _with_names(lambda n: list(reversed(n.items()))),
    "an attribute more": _with_names(lambda n: [("Unknown", "x"), *n.items()]),
    "int namespace": _with_names(lambda n: [("Namespace", 7), ("MetricName", n["MetricName"])]),
    "dimensions as text": _with_names(lambda n: [*n.items(), ("Dimensions", "InstanceId=i-1")]),
    "a dimension of no name": _with_names(lambda n: [*n.items(), ("Dimensions", {"": "x"})]),
    "an empty dimension value": _with_names(lambda n: [*n.items(), ("Dimensions", {"Queue": ""})]),
}


def hostile_request() -> ExportMetricsServiceRequest:
    request = otel1_request(RECORDS[:120])
    points = [
        point
        for resource_metrics in request.resource_metrics
        for metric in resource_metrics.scope_metrics[0].metrics
        for point in metric.summary.data_points
    ]
    assert len(points) > 3 * len(CHANGES)
    for index, change in enumerate(CHANGES.values()):
        change(points[3 * index])
    metric = request.resource_metrics[0].scope_metrics[0].metrics.add(name="a gauge", unit="1")
    metric.gauge.data_points.add(as_double=1.0)
    request.resource_metrics[-1].scope_metrics[0].metrics[0].unit = "NoneTranslated"
    return request


@pytest.mark.parametrize(("naming", "encoding"), EVERY_WAY)
def test_hostile_datapoints_convert_alike(naming: str, encoding: str) -> None:
    _, skipped, (converted, _, _) = assert_same(frame(hostile_request()), naming, encoding)
    assert skipped["not_a_summary"] == 1
    assert skipped["invalid_value"] and skipped["invalid_timestamp"] and skipped["not_a_metric"]
    assert converted < 120


@pytest.mark.parametrize("naming", ["cloudwatch", "otel", "prometheus"])
def test_damaged_frames_convert_alike(naming: str) -> None:
    """Random bytes changed, cut out or put in: some frames still parse, into odd datapoints; the
    others are counted as malformed by both paths alike."""
    frames = otel1_frames(RECORDS[:90], 30)
    rng = random.Random(17)
    outcomes = set()
    for _ in range(150):
        whole = frames[rng.randrange(len(frames))]
        header = read_varint(whole, 0)
        assert header is not None
        payload = bytearray(whole[header[1] :])
        for _ in range(rng.randint(1, 4)):
            position, action = rng.randrange(len(payload)), rng.random()
            if action < 0.5:
                payload[position] = rng.randrange(256)
            elif action < 0.75:
                del payload[position : position + rng.randint(1, 8)]
            else:
                payload[position:position] = rng.randbytes(rng.randint(1, 8))
        _, skipped, _ = assert_same(frame(bytes(payload)), naming, "protobuf")
        outcomes.add("malformed_frame" in skipped)
    assert outcomes == {True, False}


NUMBERS = [0.0, -0.0, 1.0, -5.5, 1e308, math.inf, -math.inf, math.nan, 2.5e-300]
QUANTILES = [0.0, 1.0, 0.5, 0.99, 0.999, -1.0, 2.0, math.nan, 0.25]
COUNTS = [0, 1, 5, 2**63 - 1, 2**63, 2**64 - 1]
TIMES_NS = [0, 1, 1_714_564_800_123_456_789, 4_102_444_800_000_000_000, 946_684_799_999_999_999]


def _shuffle(rng: random.Random, point: Any) -> None:
    """The datapoint's values and attributes drawn from the edges of what each can hold."""
    choice = rng.randrange(5)
    if choice == 0:
        point.count = rng.choice(COUNTS)
    elif choice == 1:
        point.sum = rng.choice(NUMBERS)
    elif choice == 2:
        _quantiles(point, [(rng.choice(QUANTILES), rng.choice(NUMBERS)) for _ in range(rng.randint(0, 5))])
    elif choice == 3:
        point.start_time_unix_nano, point.time_unix_nano = rng.choice(TIMES_NS), rng.choice(TIMES_NS)
    else:
        pairs = list(_names(point).items())
        rng.shuffle(pairs)
        _attributes(point, pairs[: rng.randint(0, len(pairs))])


@pytest.mark.parametrize(("naming", "encoding"), EVERY_WAY)
def test_random_datapoints_at_the_edges_convert_alike(naming: str, encoding: str) -> None:
    rng = random.Random(naming + encoding)
    for _ in range(8):
        request = otel1_request(RECORDS[:40])
        for resource_metrics in request.resource_metrics:
            for metric in resource_metrics.scope_metrics[0].metrics:
                for point in metric.summary.data_points:
                    if rng.random() < 0.5:
                        _shuffle(rng, point)
        assert_same(frame(request), naming, encoding)


# The repository's fixtures (tests/fixtures, see SOURCES.md): the JSON ones' metric records as CloudWatch's
# 1.0 output would carry them.
JSON_FIXTURES = [
    "otel-contrib-cwmetricstream/multiple_records",
    "otel-contrib-cwmetricstream/some_invalid_records",
    "otel-contrib-encoding-json/valid_metric_with_percentiles.json",
    "otel-contrib-encoding-json/valid_metric_with_unsupported_stats.json",
    "telegraf-cloudwatch-metric-streams/decoded.jsonl",
]


def fixture_records(name: str) -> list[dict[str, Any]]:
    data = fixture_bytes(name)
    lines = [data] if name.endswith(".json") else data.splitlines()
    parsed = [json.loads(line) for line in lines if line.strip()]
    return [only_percentiles(record) for record in parsed if "metric_name" in record]


@pytest.mark.parametrize("name", JSON_FIXTURES)
@pytest.mark.parametrize(("naming", "encoding"), EVERY_WAY)
def test_the_fixtures_convert_alike(name: str, naming: str, encoding: str) -> None:
    records = fixture_records(name)
    _, skipped, (converted, _, _) = assert_same(b"".join(otel1_frames(records, 7)), naming, encoding)
    assert converted == len(records) and not skipped
