"""The OpenTelemetry Collector's own test data for the OpenTelemetry 1.0 stream format
(tests/fixtures/otel-contrib-otel1, see SOURCES.md), read by the records path and forwarded by the
passthrough, checked against the collector's golden files; and converted by the fast path as by the
records path."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf.json_format import ParseDict
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import MetricsData

from conftest import FIXTURES, convert_object, converted_both_ways, frame, make_settings, varint
from cwotlp.formats.otel1 import frames, records
from cwotlp.otlp.naming import Naming

DATA = FIXTURES / "otel-contrib-otel1"
# What the collector sets on every scope it decodes (the expected files have it; the inputs do not).
COLLECTOR_SCOPE = (
    "github.com/open-telemetry/opentelemetry-collector-contrib/extension/encoding/"
    "awscloudwatchmetricstreamsencodingextension"
)
NATIVE = Naming(scheme="native", resource_attributes={})
PASSTHROUGH = make_settings(stream_format="opentelemetry1.0", naming=NATIVE, encoding="protobuf")
RECORDS_PATH = make_settings(stream_format="opentelemetry1.0", naming=NATIVE, encoding="json")


def metrics_data(path: Path) -> MetricsData:
    """A YAML test file as OTLP metrics; a field the definitions do not know is an error."""
    return ParseDict(yaml.safe_load(path.read_text()), MetricsData(), ignore_unknown_fields=False)


def record_of(*names: str) -> bytes:
    """A Firehose record as the collector's tests build it: each file's metrics marshalled to protobuf
    as Go's pdata does (resource and scope always written, empty or not), after its length as an
    unsigned varint."""
    out = b""
    for name in names:
        data = metrics_data(DATA / name)
        for resource_metrics in data.resource_metrics:
            resource_metrics.resource.SetInParent()
            for scope_metrics in resource_metrics.scope_metrics:
                scope_metrics.scope.SetInParent()
        payload = data.SerializeToString()
        out += varint(len(payload)) + payload
    return out


def test_frames_are_built_as_the_collectors_tests_build_them() -> None:
    # The upstream stream test skips its first frame, built from the content of valid_metric_3.yaml,
    # with `offset: 325`.
    assert len(record_of("extension/stream/valid_metric_3.yaml")) == 325


# The one datapoint of extension/valid_metric.yaml as a CloudWatch JSON record.
SQS_RECORD = {
    "metric_stream_name": "test-metric-stream",
    "account_id": "123",
    "region": "eu-central-1",
    "namespace": "AWS/SQS",
    "metric_name": "ApproximateNumberOfMessagesVisible",
    "dimensions": {"QueueName": "test-queue"},
    "timestamp": 1,  # start_time_unix_nano 1000000
    "value": {"count": 1, "sum": 0.0, "max": 0.0, "min": 0.0},
    "unit": "Count",  # {Count}
}


def test_the_golden_file_holds_the_values_of_the_record() -> None:
    [resource_metrics] = metrics_data(DATA / "extension/valid_metric_single_expected.yaml").resource_metrics
    resource = {a.key: a.value.string_value for a in resource_metrics.resource.attributes}
    assert resource["aws.exporter.arn"].endswith(":metric-stream/" + SQS_RECORD["metric_stream_name"])
    assert (resource["cloud.account.id"], resource["cloud.region"]) == ("123", "eu-central-1")
    [metric] = resource_metrics.scope_metrics[0].metrics
    assert (metric.name, metric.unit) == (
        "amazonaws.com/AWS/SQS/ApproximateNumberOfMessagesVisible",
        "{Count}",
    )
    [point] = metric.summary.data_points
    assert (point.start_time_unix_nano, point.count, point.sum) == (1_000_000, 1, 0.0)
    assert [(q.quantile, q.value) for q in point.quantile_values] == [(0.0, 0.0), (1.0, 0.0)]
    attributes = {a.key: a.value for a in point.attributes}
    assert attributes["Namespace"].string_value == SQS_RECORD["namespace"]
    assert attributes["MetricName"].string_value == SQS_RECORD["metric_name"]
    assert {kv.key: kv.value.string_value for kv in attributes["Dimensions"].kvlist_value.values} == {
        "QueueName": "test-queue"
    }


@pytest.mark.parametrize("frames", [1, 2])
def test_the_records_path_reads_cloudwatch_shaped_frames(frames: int) -> None:
    skipped: Counter[str] = Counter()
    found = list(records([record_of(*["extension/valid_metric.yaml"] * frames)], skipped))
    assert found == [SQS_RECORD] * frames
    assert not skipped


def test_the_records_path_refuses_their_1970_timestamps() -> None:
    """The test data's periods start a millisecond after 1970: the converter's timestamp check skips them."""
    requests, _, conversion = convert_object(record_of("extension/valid_metric.yaml"), RECORDS_PATH)
    assert requests == []
    assert conversion.skipped == {"invalid_timestamp": 1}
    assert conversion.nothing_read()


@pytest.mark.parametrize(
    ("inputs", "points"),
    [
        (["extension/stream/valid_metric_2.yaml"], 1),
        (["extension/stream/valid_metric_3.yaml", "extension/stream/valid_metric_2.yaml"], 2),
        (["receiver/single_record.yaml"], 1),
        (["receiver/multiple_records.yaml"], 6),
    ],
)
def test_frames_without_cloudwatch_attributes_are_not_metric_records(inputs: list[str], points: int) -> None:
    _, _, conversion = convert_object(record_of(*inputs), RECORDS_PATH)
    assert conversion.skipped == {"not_a_metric": points}


def ours_as_expected(golden: str) -> MetricsData:
    """The collector's expected output turned into ours: its own scope name taken out, and the
    service.name the forwarder adds to a resource that lacks one."""
    data = metrics_data(DATA / golden)
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            assert scope_metrics.scope.name == COLLECTOR_SCOPE
            scope_metrics.scope.name = ""
        attributes = resource_metrics.resource.attributes
        if all(a.key != "service.name" for a in attributes):
            attributes.add(key="service.name").value.string_value = NATIVE.service_name
    return data


def forwarded(requests: list[Any]) -> MetricsData:
    data = MetricsData()
    for request in requests:
        data.resource_metrics.extend(request.resource_metrics)
    return data


@pytest.mark.parametrize(
    ("inputs", "golden", "datapoints"),
    [
        (["extension/valid_metric.yaml"], "extension/valid_metric_single_expected.yaml", 1),
        (["extension/valid_metric.yaml"] * 2, "extension/valid_metric_multiple_expected.yaml", 2),
        (["extension/stream/valid_metric_3.yaml"], "extension/stream/valid_metric_expect_1.yaml", None),
        (["extension/stream/valid_metric_2.yaml"], "extension/stream/valid_metric_expect_2.yaml", None),
        (["receiver/single_record.yaml"], "receiver/single_record_expected.yaml", None),
        (["receiver/multiple_records.yaml"], "receiver/multiple_records_expected.yaml", None),
    ],
)
def test_the_passthrough_forwards_them_as_the_collector_reads_them(
    inputs: list[str], golden: str, datapoints: int | None
) -> None:
    requests, _, conversion = convert_object(record_of(*inputs), PASSTHROUGH)
    assert conversion.passthrough
    assert not conversion.skipped
    expected = ours_as_expected(golden)
    assert forwarded(requests).SerializeToString(deterministic=True) == expected.SerializeToString(
        deterministic=True
    )
    assert conversion.units == len(inputs)  # a part per frame: a frame's resources fit in one
    if datapoints is not None:  # counted by the Namespace attribute CloudWatch gives every datapoint
        assert conversion.records == datapoints


INPUTS = [
    ["extension/valid_metric.yaml", "extension/valid_metric.yaml"],
    ["extension/stream/valid_metric_3.yaml", "extension/stream/valid_metric_2.yaml"],
    ["receiver/single_record.yaml"],
    ["receiver/multiple_records.yaml"],
]
YEARS_2024_NS = 1_704_067_200_000_000_000  # added to their 1970 times, so that the converter takes them


def moved_to_2024(data: bytes) -> bytes:
    """An object of the test data with every datapoint's times moved from 1970 to 2024."""
    moved = b""
    for payload in frames([data], Counter()):
        request = ExportMetricsServiceRequest.FromString(payload)
        for resource_metrics in request.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    for point in metric.summary.data_points:
                        point.start_time_unix_nano += YEARS_2024_NS
                        point.time_unix_nano += YEARS_2024_NS
        moved += frame(request)
    return moved


@pytest.mark.parametrize("scheme", ["cloudwatch", "otel", "native", "prometheus"])
@pytest.mark.parametrize("inputs", INPUTS, ids=lambda inputs: inputs[-1].rpartition("/")[2])
def test_the_fast_path_converts_them_as_their_records_convert(inputs: list[str], scheme: str) -> None:
    naming = Naming(scheme=scheme)
    for data in (record_of(*inputs), moved_to_2024(record_of(*inputs))):
        fast, straightforward = converted_both_ways(data, naming, "protobuf")
        assert fast == straightforward
    if inputs[0] == "extension/valid_metric.yaml":  # the only datapoints with CloudWatch's attributes
        assert fast[2][0] == 2
