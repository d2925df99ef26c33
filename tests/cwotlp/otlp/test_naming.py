"""Naming schemes: every scheme names a series the same whichever stream format it came in, and each
scheme's own shape (the reference guide's, the OpenTelemetry Collector's, CloudWatch's 1.0 output,
yet-another-cloudwatch-exporter's gauges)."""

from __future__ import annotations

import json
import random
from typing import Any

import orjson
import pytest
import yaml
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from conftest import (
    FIXTURES,
    convert_object,
    flat_points,
    make_settings,
    only_percentiles,
    otel1_frames,
    parse_request,
)
from cwotlp import __version__
from cwotlp.otlp.naming import SCHEMES, Naming, python_json, scheme_for
from cwotlp_local.generator import generate_records
from cwotlp_local.otlp import attributes as otlp_attributes

HAND = [
    {
        "metric_stream_name": "MyMetricStream",
        "account_id": "123456789012",
        "region": "us-east-1",
        "namespace": "AWS/EC2",
        "metric_name": "CPUUtilization",
        "dimensions": {"InstanceId": "i-0abc", "AutoScalingGroupName": "web"},
        "timestamp": 1_767_225_600_000,
        "value": {"max": 3.3, "min": 0.5, "sum": 12.2, "count": 6.0, "p99": 3.1, "p99.9": 3.29},
        "unit": "Percent",
    },
    {
        "metric_stream_name": "MyMetricStream",
        "account_id": "210987654321",
        "region": "eu-west-1",
        "namespace": "Custom/Orders",
        "metric_name": "Latency p/s",
        "dimensions": {},
        "timestamp": 1_767_225_660_000,
        "value": {"max": 9.0, "min": 9.0, "sum": 9.0, "count": 1.0},
        "unit": "None",
    },
    {
        "metric_stream_name": "Other",
        "account_id": "123456789012",
        "region": "us-east-1",
        "namespace": "AWS/ApplicationELB",
        "metric_name": "HTTPCode_Target_5XX_Count",
        "dimensions": {"LoadBalancer": "app/web/50dc6c495c0c9188", "Zone é": 'say "hi"'},
        "timestamp": 1_767_225_600_000,
        "value": {"max": 1.0, "min": 0.0, "sum": 4.0, "count": 9.0, "p50": 0.0},
        "unit": "Count/Second",
    },
]
RECORDS = HAND + [only_percentiles(record) for record in generate_records(400, seed=21)]
JSON_LINES = b"\n".join(orjson.dumps(record) for record in RECORDS)
OTEL1_OBJECT = b"".join(otel1_frames(RECORDS, 64))


@pytest.mark.parametrize("encoding", ["json", "protobuf"])
@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_series_is_named_alike_from_json_and_from_opentelemetry_1_0(scheme: str, encoding: str) -> None:
    naming = Naming(scheme=scheme, resource_attributes={"environment": "production"})
    from_json, _, json_conversion = convert_object(
        JSON_LINES, make_settings(naming=naming, encoding=encoding)
    )
    settings = make_settings(naming=naming, encoding=encoding, stream_format="opentelemetry1.0")
    from_otel1, _, otel1_conversion = convert_object(OTEL1_OBJECT, settings)
    assert otel1_conversion.passthrough == (scheme == "native" and encoding == "protobuf")
    found = flat_points(from_json)
    assert found == flat_points(from_otel1)
    statistics = sum(len(r["value"]) + 1 for r in RECORDS)  # prometheus: each statistic and the average
    assert len(found) == (statistics if scheme == "prometheus" else len(RECORDS))
    assert json_conversion.records == otel1_conversion.records == len(RECORDS)
    assert not json_conversion.skipped and not otel1_conversion.skipped


def one(record: dict[str, Any], naming: Naming | None = None) -> tuple[ExportMetricsServiceRequest, Any]:
    requests, _, conversion = convert_object(orjson.dumps(record), make_settings(naming=naming or Naming()))
    [request] = requests
    return request, conversion


def resource_of(request: ExportMetricsServiceRequest, index: int = 0) -> dict[str, Any]:
    return otlp_attributes(request.resource_metrics[index].resource.attributes)


def metrics_of(request: ExportMetricsServiceRequest) -> list[Any]:
    return [m for rm in request.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]


def test_cloudwatch_the_reference_guides_shape() -> None:
    request, _ = one(HAND[0])
    assert resource_of(request) == {
        "cloud.provider": "aws",
        "cloud.account.id": "123456789012",
        "cloud.region": "us-east-1",
        "service.name": "aws-cloudwatch-stream",
        "environment": "production",
    }
    scope = request.resource_metrics[0].scope_metrics[0].scope
    assert (scope.name, scope.version) == ("aws.cloudwatch", __version__)
    [metric] = metrics_of(request)
    assert (metric.name, metric.unit) == ("amazonaws.com/AWS/EC2/CPUUtilization", "Percent")
    [point] = metric.summary.data_points
    assert (point.start_time_unix_nano, point.time_unix_nano) == (0, 1_767_225_600_000 * 1_000_000)
    assert (point.count, point.sum) == (6, 12.2)
    assert [(q.quantile, q.value) for q in point.quantile_values] == [
        (0.0, 0.5),
        (0.99, 3.1),
        (0.999, 3.29),
        (1.0, 3.3),
    ]
    assert otlp_attributes(point.attributes) == {
        "Namespace": "AWS/EC2",
        "MetricName": "CPUUtilization",
        "Dimensions": '{"InstanceId": "i-0abc", "AutoScalingGroupName": "web"}',
    }


def test_cloudwatch_options() -> None:
    naming = Naming(
        service_name="billing",
        resource_attributes={"team": "core", "cloud.region": "not-this"},
        dimension_attributes=True,
        account_region_attributes=True,
    )
    request, _ = one(HAND[0], naming)
    resource = resource_of(request)
    assert (resource["service.name"], resource["team"], resource["cloud.region"]) == (
        "billing",
        "core",
        "us-east-1",
    )
    assert "environment" not in resource
    [point] = metrics_of(request)[0].summary.data_points
    assert otlp_attributes(point.attributes) == {
        "Namespace": "AWS/EC2",
        "MetricName": "CPUUtilization",
        "Dimensions": '{"InstanceId": "i-0abc", "AutoScalingGroupName": "web"}',
        "InstanceId": "i-0abc",
        "AutoScalingGroupName": "web",
        "cloud.account.id": "123456789012",
        "cloud.region": "us-east-1",
    }


def test_cloudwatch_unit_none_is_empty() -> None:
    request, _ = one(HAND[1])
    assert metrics_of(request)[0].unit == ""


def test_native_the_shape_of_cloudwatchs_1_0_output() -> None:
    naming = Naming(scheme="native", exporter_account="999988887777", partition="aws-cn")
    request, _ = one(HAND[2], naming)
    assert resource_of(request) == {
        "cloud.provider": "aws",
        "cloud.account.id": "123456789012",
        "cloud.region": "us-east-1",
        "aws.exporter.arn": "arn:aws-cn:cloudwatch:us-east-1:999988887777:metric-stream/Other",
        "service.name": "aws-cloudwatch-stream",
        "environment": "production",
    }
    assert not request.resource_metrics[0].scope_metrics[0].HasField("scope")
    [metric] = metrics_of(request)
    assert (metric.name, metric.unit) == (
        "amazonaws.com/AWS/ApplicationELB/HTTPCode_Target_5XX_Count",
        "{Count}/s",
    )
    [point] = metric.summary.data_points
    start = 1_767_225_600_000 * 1_000_000
    assert (point.start_time_unix_nano, point.time_unix_nano) == (start, start + 60 * 1_000_000_000)
    assert otlp_attributes(point.attributes) == {
        "Namespace": "AWS/ApplicationELB",
        "MetricName": "HTTPCode_Target_5XX_Count",
        "Dimensions": {"LoadBalancer": "app/web/50dc6c495c0c9188", "Zone é": 'say "hi"'},
    }


def test_native_without_an_exporter_account_uses_the_records() -> None:
    request, _ = one(HAND[1], Naming(scheme="native"))
    assert resource_of(request)["aws.exporter.arn"] == (
        "arn:aws:cloudwatch:eu-west-1:210987654321:metric-stream/MyMetricStream"
    )
    [point] = metrics_of(request)[0].summary.data_points
    assert point.attributes[2].value.HasField("kvlist_value")  # no dimensions: an empty list


def test_otel_the_collectors_shape() -> None:
    request, _ = one(HAND[0], Naming(scheme="otel", resource_attributes={}))
    assert resource_of(request) == {
        "cloud.provider": "aws",
        "cloud.account.id": "123456789012",
        "cloud.region": "us-east-1",
        "service.namespace": "AWS",
        "service.name": "EC2",
        "aws.cloudwatch.metric_stream_name": "MyMetricStream",
    }
    [metric] = metrics_of(request)
    assert (metric.name, metric.unit) == ("CPUUtilization", "Percent")
    [point] = metric.summary.data_points
    assert otlp_attributes(point.attributes) == {
        "service.instance.id": "i-0abc",
        "AutoScalingGroupName": "web",
    }
    custom, _ = one(HAND[1], Naming(scheme="otel", resource_attributes={}))
    assert "service.namespace" not in resource_of(custom)
    assert resource_of(custom)["service.name"] == "Custom/Orders"


def test_otel_skips_records_without_a_unit_as_the_collector_does() -> None:
    record = {k: v for k, v in HAND[0].items() if k != "unit"}
    _, _, conversion = convert_object(orjson.dumps(record), make_settings(naming=Naming(scheme="otel")))
    assert conversion.skipped == {"not_a_metric": 1}
    requests, _, _ = convert_object(orjson.dumps(record))
    assert metrics_of(requests[0])[0].unit == ""  # the other schemes take it as no unit


def gauges(request: ExportMetricsServiceRequest) -> dict[str, tuple[float, dict[str, Any]]]:
    found = {}
    for metric in metrics_of(request):
        assert metric.WhichOneof("data") == "gauge" and metric.unit == ""
        [point] = metric.gauge.data_points
        found[metric.name] = (point.as_double, otlp_attributes(point.attributes))
    return found


def test_prometheus_one_gauge_per_statistic_as_yace_names_them() -> None:
    request, _ = one(HAND[0], Naming(scheme="prometheus"))
    labels = {
        "dimension_InstanceId": "i-0abc",
        "dimension_AutoScalingGroupName": "web",
        "account_id": "123456789012",
        "region": "us-east-1",
    }
    assert gauges(request) == {
        "aws_ec2_cpuutilization_maximum": (3.3, labels),
        "aws_ec2_cpuutilization_minimum": (0.5, labels),
        "aws_ec2_cpuutilization_sum": (12.2, labels),
        "aws_ec2_cpuutilization_sample_count": (6.0, labels),
        "aws_ec2_cpuutilization_p99": (3.1, labels),
        "aws_ec2_cpuutilization_p99_9": (3.29, labels),
        "aws_ec2_cpuutilization_average": (12.2 / 6, labels),
    }
    point = metrics_of(request)[0].gauge.data_points[0]
    assert (point.start_time_unix_nano, point.time_unix_nano) == (0, 1_767_225_600_000 * 1_000_000)


def test_prometheus_labels_that_are_not_valid_are_left_out_and_place_labels_can_be_off() -> None:
    request, _ = one(HAND[2], Naming(scheme="prometheus", account_region_attributes=False))
    for _, labels in gauges(request).values():
        assert labels == {"dimension_LoadBalancer": "app/web/50dc6c495c0c9188"}  # "Zone é" is no label


def test_prometheus_extended_statistics_become_gauges_too_and_no_average_without_samples() -> None:
    record = {**HAND[1], "value": {"max": 0.0, "min": 0.0, "sum": 0.0, "count": 0.0, "TM(10%:90%)": 0.0}}
    request, conversion = one(record, Naming(scheme="prometheus"))
    assert sorted(gauges(request)) == [
        "aws_custom_orders_latency_p_s_maximum",
        "aws_custom_orders_latency_p_s_minimum",
        "aws_custom_orders_latency_p_s_sample_count",
        "aws_custom_orders_latency_p_s_sum",
        "aws_custom_orders_latency_p_s_tm_10_percent_90_percent_",
    ]
    assert conversion.statistics_dropped == 0


def test_prometheus_statistics_that_are_not_numbers_are_dropped() -> None:
    record = {**HAND[0], "value": {**HAND[0]["value"], "p50": "fast", "IQM": None}}
    request, conversion = one(record, Naming(scheme="prometheus"))
    assert len(gauges(request)) == 7
    assert conversion.statistics_dropped == 2


def test_prometheus_statistics_that_name_one_gauge_give_it_one_value() -> None:
    """`Sum` beside `sum` and `p99_9` beside `p99.9`: the first is kept. `Average` beside the average:
    the average of sum and count is kept, as documented."""
    record = {**HAND[0], "value": {**HAND[0]["value"], "Sum": 5.0, "p99_9": 1.0, "Average": 7.0}}
    request, conversion = one(record, Naming(scheme="prometheus"))
    found = gauges(request)  # one datapoint per gauge, or it fails
    assert found["aws_ec2_cpuutilization_sum"][0] == 12.2
    assert found["aws_ec2_cpuutilization_p99_9"][0] == 3.29
    assert found["aws_ec2_cpuutilization_average"][0] == 12.2 / 6
    assert len(found) == 7
    assert conversion.statistics_dropped == 3


@pytest.mark.parametrize("encoding", ["json", "protobuf"])
@pytest.mark.parametrize(("count", "total"), [(0.5, 1.7e308), (1e-300, 1e10)])
def test_prometheus_an_average_that_is_not_finite_is_dropped(
    encoding: str, count: float, total: float
) -> None:
    """A tiny sample count under a huge sum: JSON would write the infinite average as null."""
    record = {**HAND[0], "value": {"max": 1e308, "min": 0.5, "sum": total, "count": count}}
    requests, _, conversion = convert_object(
        orjson.dumps(record), make_settings(naming=Naming(scheme="prometheus"), encoding=encoding)
    )
    found = gauges(requests[0])
    assert "aws_ec2_cpuutilization_average" not in found
    assert found["aws_ec2_cpuutilization_sum"][0] == total
    assert conversion.statistics_dropped == 1


@pytest.mark.parametrize(
    ("scheme", "key", "attribute"),
    [
        ("cloudwatch", "team", "aws.tag.team"),
        ("native", "cost center", "aws.tag.cost center"),
        ("otel", "team", "aws.tag.team"),
        ("prometheus", "cost-center", "tag_cost_center"),
        ("prometheus", "1st", None),
    ],
)
def test_tag_attributes(scheme: str, key: str, attribute: str | None) -> None:
    assert scheme_for(Naming(scheme=scheme)).tag_attribute(key) == attribute


@pytest.mark.parametrize(
    ("scheme", "default"), [("cloudwatch", False), ("otel", False), ("native", False), ("prometheus", True)]
)
def test_account_and_region_attributes_default_on_for_prometheus_only(scheme: str, default: bool) -> None:
    assert Naming(scheme=scheme).account_region is default
    assert Naming(scheme=scheme, account_region_attributes=not default).account_region is not default


ANY_TEXT = 'abcXYZ09 _-/.:"\\\t\n\x00\x1f\x7fé€😀'
PLAIN_TEXT = "ab09 :,{}[]'/."  # no escapes, but the separators' characters


def random_text(rng: random.Random, alphabet: str = ANY_TEXT) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))


@pytest.mark.parametrize("alphabet", [ANY_TEXT, PLAIN_TEXT], ids=["any", "plain"])
def test_dimensions_text_is_exactly_pythons_json_dumps(alphabet: str) -> None:
    """Text that needs escapes, and text that needs none but holds the separators' characters."""
    rng = random.Random(7)
    for _ in range(2000):
        dimensions = {random_text(rng, alphabet): random_text(rng, alphabet) for _ in range(rng.randrange(5))}
        assert python_json(dimensions) == json.dumps(dimensions)


# The otel scheme against the OpenTelemetry Collector's golden files -----------------------------------
#
# Where the collector's output and ours differ on purpose, the comparison takes it out: the
# instrumentation scope is ours, and the order of resources, metrics and attributes carries no meaning.

GOLDEN = FIXTURES / "otel-contrib-encoding-json"
OTEL = make_settings(naming=Naming(resource_attributes={}, scheme="otel"))


def expected(name: str) -> ExportMetricsServiceRequest:
    path = GOLDEN / name
    data = yaml.safe_load(path.read_text()) if path.suffix == ".yaml" else json.loads(path.read_text())
    return parse_request(json.dumps(data))


def ours(lines: list[Any]) -> ExportMetricsServiceRequest:
    [request], _, _ = convert_object(b"\n".join(json.dumps(line).encode() for line in lines), OTEL)
    return request


def normalised(request: ExportMetricsServiceRequest) -> list[bytes]:
    """The request's resources, each with sorted parts and no scope, as comparable bytes."""
    resources = []
    for resource_metrics in request.resource_metrics:
        copy = type(resource_metrics)()
        copy.CopyFrom(resource_metrics)
        copy.resource.attributes.sort(key=lambda a: a.key)
        metrics = []
        for scope_metrics in copy.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in metric.summary.data_points:
                    point.attributes.sort(key=lambda a: a.key)
                metric.summary.data_points.sort(key=lambda p: p.time_unix_nano)
                metrics.append(metric)
        metrics.sort(key=lambda m: (m.name, m.unit))
        del copy.scope_metrics[:]
        copy.scope_metrics.add().metrics.extend(metrics)
        resources.append(copy.SerializeToString(deterministic=True))
    return sorted(resources)


def lines_of(name: str) -> list[Any]:
    text = (GOLDEN / name).read_text()
    try:
        value = json.loads(text)
    except ValueError:  # JSON lines
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize(
    ("source", "golden"),
    [
        ("valid_metric.json", "valid_record_single_metric_expected.yaml"),
        ("valid_metric_with_percentiles.json", "valid_record_with_percentiles_expected.yaml"),
        ("valid_metric_with_unsupported_stats.json", "valid_record_with_unsupported_stats_expected.yaml"),
        ("multiple_metrics.json", "multiple_metrics_expected.json"),
    ],
)
def test_otel_naming_matches_the_collector(source: str, golden: str) -> None:
    assert normalised(ours(lines_of(source))) == normalised(expected(golden))


@pytest.mark.parametrize("line", [1, 2, 3])
def test_otel_naming_matches_the_collector_line_by_line(line: int) -> None:
    record = lines_of("stream/valid_metric.json")[line - 1]
    assert normalised(ours([record])) == normalised(expected(f"stream/valid_metric_expect_{line}.yaml"))


def test_the_comparison_can_fail() -> None:
    changed = {**lines_of("valid_metric.json")[0], "dimensions": {"InstanceId": "i-other"}}
    assert normalised(ours([changed])) != normalised(expected("valid_record_single_metric_expected.yaml"))


def test_records_without_unit_or_value_are_skipped_as_the_collector_does() -> None:
    data = b"\n".join(json.dumps(line).encode() for line in lines_of("multiple_metrics.json"))
    _, _, conversion = convert_object(data, OTEL)
    assert conversion.skipped == {"not_a_metric": 2}


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("encoding", ["json", "protobuf"])
def test_a_dimension_named_like_another_attribute_does_not_repeat_a_key(scheme: str, encoding: str) -> None:
    """OTLP keys are once in their list and Prometheus labels once in their series: a dimension that
    would repeat one is left to the Dimensions attribute (cloudwatch) or the first of its name."""
    naming = Naming(scheme=scheme, dimension_attributes=True, account_region_attributes=True)
    dimensions = {
        "Namespace": "ns",
        "MetricName": "name",
        "Dimensions": "dims",
        "cloud.region": "elsewhere",
        "Stage.Name": "first",
        "Stage_Name": "second",
    }
    record = {**HAND[0], "dimensions": dimensions}
    requests, _, conversion = convert_object(
        orjson.dumps(record), make_settings(naming=naming, encoding=encoding)
    )
    points = [
        point
        for request in requests
        for metric in metrics_of(request)
        for point in getattr(metric, metric.WhichOneof("data")).data_points
    ]
    assert points and conversion.records == 1
    for point in points:
        keys = [attribute.key for attribute in point.attributes]
        assert len(keys) == len(set(keys)), keys
    found = otlp_attributes(points[0].attributes)
    if scheme == "cloudwatch":
        assert (found["Namespace"], found["MetricName"], found["cloud.region"]) == (
            "AWS/EC2",
            "CPUUtilization",
            "us-east-1",
        )
        assert json.loads(found["Dimensions"]) == dimensions and found["Stage.Name"] == "first"
    if scheme == "prometheus":
        assert found["dimension_Stage_Name"] == "first"


def test_prometheus_average_divides_by_the_sample_count_as_streamed() -> None:
    record = {**HAND[1], "value": {"max": 6.0, "min": 2.0, "sum": 10.0, "count": 2.5}}
    request, _ = one(record, Naming(scheme="prometheus"))
    found = gauges(request)
    assert found["aws_custom_orders_latency_p_s_average"][0] == 4.0
    assert found["aws_custom_orders_latency_p_s_sample_count"][0] == 2.5
