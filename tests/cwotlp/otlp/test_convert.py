"""The conversion of CloudWatch records: the checks every record passes, values and quantiles, and what
real CloudWatch Metric Streams data turns into."""

from __future__ import annotations

import json
import math
import struct
from collections import Counter
from collections.abc import Mapping
from typing import Any

import orjson
import pytest

from conftest import attributes, convert_object, datapoints, fixture_bytes, make_settings
from cwotlp.otlp import pieces
from cwotlp.otlp.convert import (
    INVALID_TIMESTAMP,
    INVALID_VALUE,
    MAX_TIMESTAMP_MS,
    MIN_TIMESTAMP_MS,
    NOT_A_METRIC,
    Converter,
)
from cwotlp.otlp.encoding import JsonEncoding
from cwotlp.otlp.naming import Naming
from cwotlp.otlp.quantiles import quantile_of
from cwotlp_local.generator import generate_records

RECORD: dict[str, Any] = {
    "metric_stream_name": "MyMetricStream",
    "account_id": "123456789012",
    "region": "us-east-1",
    "namespace": "AWS/EC2",
    "metric_name": "CPUUtilization",
    "dimensions": {"InstanceId": "i-0abc", "AutoScalingGroupName": "web"},
    "timestamp": 1611929698000,
    "value": {"max": 3.3, "min": 0.5, "sum": 12.2, "count": 6.0},
    "unit": "Percent",
}


def point_of(record: dict[str, Any]) -> tuple[Any, Any]:
    requests, _, conversion = convert_object(orjson.dumps(record))
    [(_, _, point)] = list(datapoints(requests[0]))
    return point, conversion


def skipped_for(record: object, naming: Naming | None = None) -> Counter[str]:
    skipped: Counter[str] = Counter()
    assert list(Converter(naming or Naming()).entries([record], skipped)) == []
    return skipped


def without(key: str, record: dict[str, Any] = RECORD) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != key}


def with_value(**changes: object) -> dict[str, Any]:
    return {**RECORD, "value": {**RECORD["value"], **changes}}


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"CHANGE": -0.09, "PRICE": 4.96, "TICKER_SYMBOL": "KIN"}, NOT_A_METRIC),
        ([1, 2, 3], NOT_A_METRIC),
        ("a string", NOT_A_METRIC),
        (None, NOT_A_METRIC),
        (7, NOT_A_METRIC),
        (without("value"), NOT_A_METRIC),
        (without("timestamp"), NOT_A_METRIC),
        (without("namespace"), NOT_A_METRIC),
        (without("metric_name"), NOT_A_METRIC),
        (without("metric_name", without("unit")), NOT_A_METRIC),  # read the way of a record lacking fields
        ({**RECORD, "value": {"max": 1.0, "min": 0.0, "sum": 1.0}}, NOT_A_METRIC),
        ({**RECORD, "value": [1.0, 0.0]}, NOT_A_METRIC),
        ({**RECORD, "namespace": 7}, NOT_A_METRIC),
        ({**RECORD, "namespace": ""}, NOT_A_METRIC),
        ({**RECORD, "metric_name": ""}, NOT_A_METRIC),
        ({**RECORD, "unit": 7}, NOT_A_METRIC),
        ({**RECORD, "account_id": 123456789012}, NOT_A_METRIC),
        ({**RECORD, "dimensions": {"InstanceId": ["i-1", "i-2"]}}, NOT_A_METRIC),
        ({**RECORD, "dimensions": "InstanceId=i-1"}, NOT_A_METRIC),
        ({**RECORD, "dimensions": {"InstanceId": "i-1", "": "x"}}, NOT_A_METRIC),  # OTLP keys are not empty
        ({**RECORD, "timestamp": "2021-01-29"}, INVALID_TIMESTAMP),
        ({**RECORD, "timestamp": -1611929698000}, INVALID_TIMESTAMP),
        ({**RECORD, "timestamp": 0}, INVALID_TIMESTAMP),
        ({**RECORD, "timestamp": 32_503_680_000_000}, INVALID_TIMESTAMP),  # the year 3000
        ({**RECORD, "timestamp": 1611929698000.0}, INVALID_TIMESTAMP),
        ({**RECORD, "timestamp": True}, INVALID_TIMESTAMP),
        ({**RECORD, "timestamp": MIN_TIMESTAMP_MS - 1}, INVALID_TIMESTAMP),
        ({**RECORD, "timestamp": MAX_TIMESTAMP_MS}, INVALID_TIMESTAMP),
        (with_value(count=-1.0), INVALID_VALUE),
        (with_value(count=1e30), INVALID_VALUE),
        (with_value(count="6"), INVALID_VALUE),
        (with_value(count=True), INVALID_VALUE),
        (with_value(count=2**63), INVALID_VALUE),  # a count must fit a signed 64-bit integer
        (with_value(count=float(2**63)), INVALID_VALUE),
        (with_value(sum=True), INVALID_VALUE),
        (with_value(min=False), INVALID_VALUE),
        (with_value(max=[]), INVALID_VALUE),
        (with_value(count=math.nan), INVALID_VALUE),
        (with_value(sum=math.inf), INVALID_VALUE),
        (with_value(min=-math.inf), INVALID_VALUE),
        (with_value(max="1"), INVALID_VALUE),
        (with_value(max=None), INVALID_VALUE),
    ],
)
def test_records_that_cannot_be_converted_are_skipped_with_a_reason(record: object, reason: str) -> None:
    assert skipped_for(record) == {reason: 1}


@pytest.mark.parametrize("count", [0, 2**63 - 1, math.nextafter(2.0**63, 0), 0.0, 0.4])
def test_counts_up_to_the_largest_int64_are_sent(count: float) -> None:
    point, conversion = point_of(with_value(count=count))
    assert point.count == round(count) and not conversion.skipped


@pytest.mark.parametrize("key", ["unit", "metric_stream_name", "account_id", "region", "dimensions"])
@pytest.mark.parametrize("scheme", ["cloudwatch", "native", "prometheus"])
def test_an_optional_field_left_out_reads_as_null(key: str, scheme: str) -> None:
    naming = Naming(scheme=scheme)
    lacking = list(Converter(naming).entries([without(key)], Counter()))
    null = list(Converter(naming).entries([{**RECORD, key: None}], Counter()))
    assert lacking == null and lacking


@pytest.mark.parametrize("timestamp", [MIN_TIMESTAMP_MS, MAX_TIMESTAMP_MS - 1])
def test_the_timestamp_bounds_are_inclusive_below_and_exclusive_above(timestamp: int) -> None:
    skipped: Counter[str] = Counter()
    assert len(list(Converter(Naming()).entries([{**RECORD, "timestamp": timestamp}], skipped))) == 1
    assert not skipped


def test_counts_up_to_the_largest_64_bit_integer_pass() -> None:
    point, _ = point_of(with_value(count=float(2**62)))
    assert point.count == 2**62


def test_the_converter_counts_what_passed_and_the_oldest_timestamp() -> None:
    converter = Converter(Naming(), JsonEncoding())
    skipped: Counter[str] = Counter()
    records = [{**RECORD, "timestamp": RECORD["timestamp"] + 60_000}, RECORD, {"not": "a metric"}]
    assert len(list(converter.entries(records, skipped))) == 2
    assert (converter.converted, converter.oldest_timestamp_ms) == (2, RECORD["timestamp"])
    assert skipped == {NOT_A_METRIC: 1}


def test_count_is_rounded_and_count_zero_carries_no_quantiles() -> None:
    point, _ = point_of(with_value(max=1.0, min=0.0, sum=2.0, count=2.6))
    assert point.count == 3
    point, _ = point_of({**RECORD, "value": {"max": 0.0, "min": 0.0, "sum": 0.0, "count": 0.0, "p99": 0.0}})
    assert point.count == 0
    assert list(point.quantile_values) == []


def test_percentiles_become_quantiles_in_strictly_increasing_order() -> None:
    value = {"p99.9": 9.9, "max": 10.0, "p50": 5.0, "min": 1.0, "sum": 50.0, "count": 10.0, "p90": 9.0}
    point, conversion = point_of({**RECORD, "value": value})
    assert [(q.quantile, q.value) for q in point.quantile_values] == [
        (0.0, 1.0),
        (0.5, 5.0),
        (0.9, 9.0),
        (0.999, 9.9),
        (1.0, 10.0),
    ]
    assert conversion.statistics_dropped == 0


def test_other_statistics_are_counted_not_emitted() -> None:
    record = orjson.loads(
        fixture_bytes("otel-contrib-encoding-json/valid_metric_with_unsupported_stats.json")
    )
    point, conversion = point_of(record)
    assert [q.quantile for q in point.quantile_values] == [0.0, 0.99, 1.0]
    assert conversion.statistics_dropped == 8  # TM, WM, TC, TS, PR, IQM, tm99 and wm98


def test_p0_and_p100_repeat_min_and_max_and_are_left_out() -> None:
    value = {"max": 10.0, "min": 1.0, "sum": 50.0, "count": 10.0, "p0": 1.0, "p100": 10.0, "p50": 4.0}
    point, conversion = point_of({**RECORD, "value": value})
    assert [q.quantile for q in point.quantile_values] == [0.0, 0.5, 1.0]
    assert conversion.statistics_dropped == 2


def test_percentiles_that_are_not_numbers_are_dropped() -> None:
    point, conversion = point_of(with_value(p50="fast", p90=math.nan, p99=3.0))
    assert [q.quantile for q in point.quantile_values] == [0.0, 0.99, 1.0]
    assert conversion.statistics_dropped == 2


def test_records_naming_the_same_statistics_are_each_read_with_their_own_numbers() -> None:
    """The order of a set of statistic names is worked out once; a record whose number cannot be sent
    still gives its place to the next statistic at that quantile (p50 and p50.0 are both 0.5)."""
    names = {"max": 0, "min": 0, "sum": 0, "count": 0, "p90": 0, "p50": 0, "p50.0": 0, "TM": 0}
    values = [
        {**names, "max": 9.0, "min": 1.0, "sum": 10.0, "count": 2.0, "p90": 8.0, "p50": 5.0, "p50.0": 6.0},
        {
            **names,
            "max": 7.0,
            "min": 2.0,
            "sum": 9.0,
            "count": 2.0,
            "p90": 6.0,
            "p50": math.nan,
            "p50.0": 4.0,
        },
        {**names, "max": 5.0, "min": 3.0, "sum": 8.0, "count": 2.0, "p90": 4.5, "p50": 3.5, "p50.0": 3.6},
    ]
    lines = b"\n".join(orjson.dumps({**RECORD, "value": value}) for value in values)
    requests, _, conversion = convert_object(lines)
    quantiles = [[(q.quantile, q.value) for q in p.quantile_values] for _, _, p in datapoints(requests[0])]
    assert quantiles == [
        [(0.0, 1.0), (0.5, 5.0), (0.9, 8.0), (1.0, 9.0)],
        [(0.0, 2.0), (0.5, 4.0), (0.9, 6.0), (1.0, 7.0)],
        [(0.0, 3.0), (0.5, 3.5), (0.9, 4.5), (1.0, 5.0)],
    ]
    assert conversion.statistics_dropped == 2 + 2 + 2  # TM and p50.0, TM and p50, TM and p50.0


@pytest.mark.parametrize("encoding", ["json", "protobuf"])
def test_quantiles_whose_bytes_hold_a_percent_sign_are_written_exactly(encoding: str) -> None:
    """A summary's quantile entries are %-templates (`Encoding.quantile_entry`): the eight bytes of
    0.00023 (p0.023) and 0.00165 (p0.165) hold "%", which must come out as it is, values in place."""
    value = {"max": 9.0, "min": 1.0, "sum": 10.0, "count": 2.0, "p0.023": 1.5, "p0.165": 2.5, "p50": 5.0}
    assert b"%" in struct.pack("<d", 0.00023) and b"%" in struct.pack("<d", 0.00165)
    requests, _, conversion = convert_object(
        orjson.dumps({**RECORD, "value": value}), make_settings(encoding=encoding)
    )
    [(_, _, point)] = datapoints(requests[0])
    assert [(q.quantile, q.value) for q in point.quantile_values] == [
        (0.0, 1.0),
        (0.00023, 1.5),
        (0.00165, 2.5),
        (0.5, 5.0),
        (1.0, 9.0),
    ]
    assert conversion.statistics_dropped == 0


@pytest.mark.parametrize(
    ("statistic", "quantile"),
    [
        ("p50", 0.5),
        ("p99", 0.99),
        ("p99.9", 0.999),
        ("p99.99", 0.9999),
        ("p0", 0.0),
        ("p100", 1.0),
        ("p101", None),
        ("p-1", None),
        ("p", None),
        ("pNaN", None),
        ("pInfinity", None),
        ("max", None),
        ("TM(10%:90%)", None),
    ],
)
def test_quantiles_of_statistics(statistic: str, quantile: float | None) -> None:
    assert quantile_of(statistic) == quantile


def test_the_single_record_fixture_has_four_quantiles() -> None:
    requests, _, conversion = convert_object(fixture_bytes("otel-contrib-cwmetricstream/single_record"))
    [(resource, name, point)] = list(datapoints(requests[0]))
    assert name == "amazonaws.com/AWS/EC2/DiskWriteOps"
    assert resource["cloud.account.id"] == "1234567890"
    assert [(q.quantile, q.value) for q in point.quantile_values] == [
        (0.0, 0.0),
        (0.9, 16.0),
        (0.99, 17.0),
        (1.0, 18.0),
    ]
    assert (point.count, point.sum) == (3, 20.0)
    assert conversion.records == 1


def test_datapoints_of_one_name_and_unit_share_a_metric() -> None:
    data = fixture_bytes("otel-contrib-cwmetricstream/multiple_records")
    lines = [orjson.loads(line) for line in data.splitlines() if line.strip()]
    [request], _, _ = convert_object(data)
    metrics = [m for rm in request.resource_metrics for m in rm.scope_metrics[0].metrics]
    names = [(m.name, m.unit) for m in metrics]
    assert len(names) == len(set(names))
    expected = {
        (f"amazonaws.com/{r['namespace']}/{r['metric_name']}", "" if r["unit"] == "None" else r["unit"])
        for r in lines
    }
    assert set(names) == expected
    assert sum(len(m.summary.data_points) for m in metrics) == len(lines) == 127


def test_accounts_and_regions_become_separate_resources() -> None:
    records = [
        {**RECORD, "account_id": "111111111111", "region": "us-east-1"},
        {**RECORD, "account_id": "222222222222", "region": "us-east-1"},
        {**RECORD, "account_id": "111111111111", "region": "eu-west-1"},
        {**RECORD, "account_id": "111111111111", "region": "us-east-1", "metric_name": "NetworkIn"},
    ]
    [request], _, _ = convert_object(b"\n".join(orjson.dumps(r) for r in records))
    resources = [
        {a.key: a.value.string_value for a in rm.resource.attributes} for rm in request.resource_metrics
    ]
    assert [(r["cloud.account.id"], r["cloud.region"]) for r in resources] == [
        ("111111111111", "us-east-1"),
        ("222222222222", "us-east-1"),
        ("111111111111", "eu-west-1"),
    ]
    assert [len(rm.scope_metrics[0].metrics) for rm in request.resource_metrics] == [2, 1, 1]


@pytest.mark.parametrize("scheme", ["cloudwatch", "otel", "native", "prometheus"])
@pytest.mark.parametrize("encoding", ["json", "protobuf"])
def test_the_memos_are_bounded_without_changing_the_output(
    monkeypatch: pytest.MonkeyPatch, scheme: str, encoding: str
) -> None:
    data = b"\n".join(orjson.dumps(r) for r in generate_records(600, seed=3))
    settings = make_settings(max_request_bytes=50_000, naming=Naming(scheme=scheme), encoding=encoding)
    _, unbounded, _ = convert_object(data, settings)
    monkeypatch.setattr(pieces, "MEMO_BYTES", 2000)  # every memo starts over every few records
    _, bounded, _ = convert_object(data, settings)
    assert bounded == unbounded


def test_many_distinct_metrics_stay_within_the_memo_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hostile or very wide object: every record a metric of its own. What the converter keeps between
    records must stay near MEMO_BYTES (here 2 MiB, to keep the test short), not grow with the object."""
    import tracemalloc

    monkeypatch.setattr(pieces, "MEMO_BYTES", 2 << 20)
    template = next(iter(generate_records(1, seed=1)))
    records = ({**template, "metric_name": f"Metric{n:06d}"} for n in range(20_000))
    converter = Converter(Naming(scheme="prometheus"))
    skipped: Counter[str] = Counter()
    tracemalloc.start()
    try:
        for _ in converter.entries(records, skipped):
            pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert converter.converted == 20_000 and not skipped
    assert peak < (2 << 20) + (6 << 20), f"peak {peak >> 20} MiB"


class Tags:
    """Resource tags as the tag lookup would give them, for some resources."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str, str, dict[str, str]]] = []

    def tags(
        self, account_id: str, region: str, namespace: str, dimensions: Mapping[str, str]
    ) -> tuple[tuple[str, str], ...]:
        self.asked.append((account_id, region, namespace, dict(dimensions)))
        return (("team", "core"), ("cost-center", "42")) if dimensions.get("InstanceId") == "i-0abc" else ()


@pytest.mark.parametrize(
    ("scheme", "expected"),
    [
        ("cloudwatch", {"aws.tag.team": "core", "aws.tag.cost-center": "42"}),
        ("prometheus", {"tag_team": "core", "tag_cost_center": "42"}),
    ],
)
def test_resource_tags_become_attributes_once_per_series(scheme: str, expected: dict[str, str]) -> None:
    tags = Tags()
    converter = Converter(Naming(scheme=scheme, account_region_attributes=False), JsonEncoding(), tags)
    other = {**RECORD, "dimensions": {"InstanceId": "i-0def"}}
    entries = list(converter.entries([RECORD, other, RECORD], Counter()))
    assert len(tags.asked) == 2  # once per series
    assert tags.asked[0] == ("123456789012", "us-east-1", "AWS/EC2", RECORD["dimensions"])
    point = orjson.loads(b"[" + entries[0][2] + b"]")[0]
    found = {a["key"]: a["value"]["stringValue"] for a in point["attributes"] if a["key"] in {*expected}}
    assert found == expected


def test_conversion_is_deterministic_whatever_the_chunking() -> None:
    data = fixture_bytes("telegraf-cloudwatch-metric-streams/decoded.jsonl")
    settings = make_settings(max_request_bytes=50_000)
    _, first, _ = convert_object(data, settings)
    _, second, _ = convert_object(data, settings, chunk=777)
    assert first == second


def test_every_record_of_the_real_data_arrives_once_with_its_values() -> None:
    data = fixture_bytes("telegraf-cloudwatch-metric-streams/decoded.jsonl")
    records = [orjson.loads(line) for line in data.splitlines()]
    requests, bodies, conversion = convert_object(data, make_settings(max_request_bytes=64_000))
    assert len(bodies) > 5
    assert all(len(body) <= 64_000 for body in bodies)
    seen = [
        (
            resource["cloud.account.id"],
            name,
            attributes(point)["Dimensions"],
            point.time_unix_nano,
            point.sum,
            point.count,
        )
        for request in requests
        for resource, name, point in datapoints(request)
    ]
    expected = [
        (
            r["account_id"],
            f"amazonaws.com/{r['namespace']}/{r['metric_name']}",
            json.dumps(r["dimensions"]),
            r["timestamp"] * 1_000_000,
            r["value"]["sum"],
            round(r["value"]["count"]),
        )
        for r in records
    ]
    assert sorted(seen) == sorted(expected)
    assert conversion.records == len(records) == 1160
    assert not conversion.skipped


def test_an_entry_is_the_datapoint_and_the_headers_it_shares() -> None:
    converter = Converter(Naming(), JsonEncoding())
    [(resource, metric, point), (resource2, metric2, _)] = list(
        converter.entries([RECORD, RECORD], Counter())
    )
    assert resource is resource2 and metric is metric2  # shared, so grouping is cheap
    assert metric.startswith(b'{"name":"amazonaws.com/AWS/EC2/CPUUtilization"')
    assert b'"cloud.account.id"' in resource
    assert point.startswith(b'{"attributes":[')
