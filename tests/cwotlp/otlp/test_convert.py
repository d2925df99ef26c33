"""The conversion contract, on real CloudWatch Metric Streams data."""

from __future__ import annotations

import json

import orjson
import pytest

from conftest import attributes, convert_object, datapoints, fixture_bytes, parse_request
from cwotlp import __version__
from cwotlp.otlp.convert import Converter, Naming

RECORD = {
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


def one(record: dict[str, object], naming: Naming | None = None):
    bodies, conversion = convert_object(orjson.dumps(record) + b"\n", naming)
    assert len(bodies) == 1
    [(resource, name, point)] = list(datapoints(parse_request(bodies[0])))
    return parse_request(bodies[0]), resource, name, point, conversion


def test_a_record_becomes_a_summary_datapoint_as_the_contract_says() -> None:
    request, resource, name, point, _ = one(RECORD)
    assert resource == {
        "cloud.provider": "aws",
        "cloud.account.id": "123456789012",
        "cloud.region": "us-east-1",
        "service.name": "aws-cloudwatch-stream",
        "environment": "production",
    }
    scope = request.resource_metrics[0].scope_metrics[0].scope
    assert (scope.name, scope.version) == ("aws.cloudwatch", __version__)
    metric = request.resource_metrics[0].scope_metrics[0].metrics[0]
    assert name == "amazonaws.com/AWS/EC2/CPUUtilization"
    assert metric.unit == "Percent"
    assert point.time_unix_nano == 1611929698000 * 1_000_000
    assert point.start_time_unix_nano == 0
    assert point.count == 6
    assert point.sum == 12.2
    assert [(q.quantile, q.value) for q in point.quantile_values] == [(0.0, 0.5), (1.0, 3.3)]
    assert attributes(point) == {
        "Namespace": "AWS/EC2",
        "MetricName": "CPUUtilization",
        "Dimensions": '{"InstanceId": "i-0abc", "AutoScalingGroupName": "web"}',
    }


def test_dimensions_text_is_pythons_json_dumps_in_record_order() -> None:
    dimensions = {"Z": "last-first", "A": "é ünïcode", "Quote": 'say "hi"'}
    _, _, _, point, _ = one({**RECORD, "dimensions": dimensions})
    assert attributes(point)["Dimensions"] == json.dumps(dimensions)


def test_64_bit_integers_are_decimal_strings_on_the_wire() -> None:
    bodies, _ = convert_object(orjson.dumps(RECORD))
    point = orjson.loads(bodies[0])["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["summary"][
        "dataPoints"
    ][0]
    assert point["timeUnixNano"] == "1611929698000000000"
    assert point["count"] == "6"


def test_unit_none_becomes_empty() -> None:
    request, *_ = one({**RECORD, "unit": "None"})
    assert request.resource_metrics[0].scope_metrics[0].metrics[0].unit == ""


def test_count_is_rounded_and_count_zero_carries_no_quantiles() -> None:
    *_, point, _ = one({**RECORD, "value": {"max": 1.0, "min": 0.0, "sum": 2.0, "count": 2.6}})
    assert point.count == 3
    *_, point, _ = one({**RECORD, "value": {"max": 0.0, "min": 0.0, "sum": 0.0, "count": 0.0, "p99": 0.0}})
    assert point.count == 0
    assert list(point.quantile_values) == []


def test_percentiles_become_quantiles_in_strictly_increasing_order() -> None:
    value = {"p99.9": 9.9, "max": 10.0, "p50": 5.0, "min": 1.0, "sum": 50.0, "count": 10.0, "p90": 9.0}
    *_, point, conversion = one({**RECORD, "value": value})
    assert [(q.quantile, q.value) for q in point.quantile_values] == [
        (0.0, 1.0),
        (0.5, 5.0),
        (0.9, 9.0),
        (0.999, 9.9),
        (1.0, 10.0),
    ]
    assert conversion.converter.statistics_dropped == 0


def test_other_statistics_are_counted_not_emitted() -> None:
    record = orjson.loads(
        fixture_bytes("otel-contrib-encoding-json/valid_metric_with_unsupported_stats.json")
    )
    *_, point, conversion = one(record)
    assert [q.quantile for q in point.quantile_values] == [0.0, 0.99, 1.0]
    # TM, WM, TC, TS, PR, IQM, tm99 and wm98
    assert conversion.converter.statistics_dropped == 8


def test_p0_and_p100_repeat_min_and_max_and_are_left_out() -> None:
    value = {"max": 10.0, "min": 1.0, "sum": 50.0, "count": 10.0, "p0": 1.0, "p100": 10.0, "p50": 4.0}
    *_, point, conversion = one({**RECORD, "value": value})
    assert [q.quantile for q in point.quantile_values] == [0.0, 0.5, 1.0]
    assert conversion.converter.statistics_dropped == 2


def test_single_record_fixture_has_four_quantiles() -> None:
    bodies, conversion = convert_object(fixture_bytes("otel-contrib-cwmetricstream/single_record"))
    [(resource, name, point)] = list(datapoints(parse_request(bodies[0])))
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
    bodies, _ = convert_object(data)
    [request] = [parse_request(body) for body in bodies]
    metrics = request.resource_metrics[0].scope_metrics[0].metrics
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
    bodies, _ = convert_object(b"\n".join(orjson.dumps(r) for r in records))
    request = parse_request(bodies[0])
    resources = [
        {a.key: a.value.string_value for a in rm.resource.attributes} for rm in request.resource_metrics
    ]
    assert [(r["cloud.account.id"], r["cloud.region"]) for r in resources] == [
        ("111111111111", "us-east-1"),
        ("222222222222", "us-east-1"),
        ("111111111111", "eu-west-1"),
    ]
    assert [len(rm.scope_metrics[0].metrics) for rm in request.resource_metrics] == [2, 1, 1]


def test_naming_options() -> None:
    naming = Naming(service_name="billing", resource_attributes={"team": "core"}, dimension_attributes=True)
    _, resource, _, point, _ = one(RECORD, naming)
    assert resource["service.name"] == "billing"
    assert resource["team"] == "core"
    assert "environment" not in resource
    assert attributes(point)["InstanceId"] == "i-0abc"
    assert attributes(point)["AutoScalingGroupName"] == "web"


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"CHANGE": -0.09, "PRICE": 4.96, "TICKER_SYMBOL": "KIN"}, "not_a_metric"),
        ([1, 2, 3], "not_a_metric"),
        ("a string", "not_a_metric"),
        ({k: v for k, v in RECORD.items() if k != "value"}, "not_a_metric"),
        ({**RECORD, "value": {"max": 1.0, "min": 0.0, "sum": 1.0}}, "not_a_metric"),
        ({**RECORD, "value": {"max": "1", "min": 0.0, "sum": 1.0, "count": 1.0}}, "invalid_value"),
        ({**RECORD, "value": {"max": 1.0, "min": 0.0, "sum": 1.0, "count": -1.0}}, "invalid_value"),
        ({**RECORD, "timestamp": "2021-01-29"}, "invalid_value"),
        ({**RECORD, "namespace": 7}, "invalid_value"),
        ({**RECORD, "dimensions": {"InstanceId": ["i-1", "i-2"]}}, "invalid_value"),
        ({**RECORD, "value": {"max": True, "min": 0.0, "sum": 1.0, "count": 1.0}}, "invalid_value"),
    ],
)
def test_records_that_cannot_be_converted_are_skipped_with_a_reason(record: object, reason: str) -> None:
    assert Converter(Naming()).convert(record) == reason


def test_conversion_is_deterministic() -> None:
    data = fixture_bytes("telegraf-cloudwatch-metric-streams/decoded.jsonl")
    first, _ = convert_object(data, max_request_bytes=50_000)
    second, _ = convert_object(data, max_request_bytes=50_000, chunk=777)
    assert first == second


def test_every_record_of_the_real_data_arrives_once_with_its_values() -> None:
    data = fixture_bytes("telegraf-cloudwatch-metric-streams/decoded.jsonl")
    records = [orjson.loads(line) for line in data.splitlines()]
    bodies, conversion = convert_object(data, max_request_bytes=64_000)
    assert len(bodies) > 5
    seen = []
    for body in bodies:
        for resource, name, point in datapoints(parse_request(body)):
            attrs = attributes(point)
            seen.append(
                (
                    resource["cloud.account.id"],
                    name,
                    attrs["Dimensions"],
                    point.time_unix_nano,
                    point.sum,
                    point.count,
                )
            )
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


def test_entry_is_the_datapoint_text_and_its_headers() -> None:
    resource, metric, _ = Converter(Naming()).convert(RECORD)
    assert metric.startswith(b'{"name":"amazonaws.com/AWS/EC2/CPUUtilization"')
    assert b'"cloud.account.id"' in resource
