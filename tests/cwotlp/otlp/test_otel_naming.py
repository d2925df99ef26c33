"""The `otel` naming scheme against the OpenTelemetry Collector's golden files.

The collector's CloudWatch metric streams encoding is the reference. Where we differ on purpose, the
comparison normalises it away and the README says so: the instrumentation scope is ours, and the order
of resources, metrics and attributes is not part of OTLP's meaning.
"""

from __future__ import annotations

import json

import pytest
import yaml
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from conftest import FIXTURES, convert_object, parse_request
from cwotlp.otlp.convert import Naming

GOLDEN = FIXTURES / "otel-contrib-encoding-json"
OTEL = Naming(resource_attributes={}, scheme="otel")


def expected(name: str) -> ExportMetricsServiceRequest:
    path = GOLDEN / name
    data = yaml.safe_load(path.read_text()) if path.suffix == ".yaml" else json.loads(path.read_text())
    return parse_request(json.dumps(data))


def ours(lines: list[object]) -> ExportMetricsServiceRequest:
    data = b"\n".join(json.dumps(line).encode() for line in lines)
    [body], _ = convert_object(data, OTEL)
    return parse_request(body)


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
        scope_metrics = copy.scope_metrics.add()
        scope_metrics.metrics.extend(metrics)
        resources.append(copy.SerializeToString(deterministic=True))
    return sorted(resources)


def lines_of(name: str) -> list[object]:
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
    record = lines_of("valid_metric.json")[0]
    assert isinstance(record, dict)
    changed = {**record, "dimensions": {"InstanceId": "i-other"}}
    assert normalised(ours([changed])) != normalised(expected("valid_record_single_metric_expected.yaml"))


def test_records_without_unit_or_value_are_skipped_as_the_collector_does() -> None:
    data = b"\n".join(json.dumps(line).encode() for line in lines_of("multiple_metrics.json"))
    _, conversion = convert_object(data, OTEL)
    assert conversion.skipped == {"not_a_metric": 2}
