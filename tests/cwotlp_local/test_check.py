"""The delivery check: it passes a complete delivery under every naming, and finds what is missing,
duplicated, foreign or altered; with the forwarder's own conversion of generated objects."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from google.protobuf.json_format import Parse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from cwotlp.config import Settings
from cwotlp.otlp.naming import Naming as ForwarderNaming
from cwotlp.pipeline import Conversion
from cwotlp_local.check import check_delivery, received_datapoints
from cwotlp_local.environment import ForwarderSettings
from cwotlp_local.generator import firehose_object, generate_records
from cwotlp_local.names import ModuleNames
from cwotlp_local.namings import JSON, NAMINGS, OTEL1, ForwarderTraits, Naming, Received, naming_of
from cwotlp_local.otel1 import otel1_object
from cwotlp_local.otlp import attributes
from cwotlp_local.scenario import OWNER, STREAMS

SETTINGS = ForwarderSettings()  # the demo's settings
FORWARDER = ForwarderTraits(SETTINGS.service_name, SETTINGS.resource_attributes, ModuleNames().account)


def stream_records(output_format: str, count: int, seed: int) -> list[dict]:
    """Records of the demo's stream of a format (its accounts and metric stream name), as the format
    carries them (a 1.0 summary has no room for statistics other than percentiles)."""
    stream = STREAMS[output_format]
    records = list(
        generate_records(count, seed=seed, accounts=stream.accounts, stream_name=stream.metric_stream)
    )
    if output_format == OTEL1:
        for record in records:
            record["value"] = {
                k: v for k, v in record["value"].items() if k in ("count", "sum", "min", "max") or k[0] == "p"
            }
    return records


def forwarded_requests(
    records: list[dict], output_format: str = JSON, encoding: str = "json", naming: str = "cloudwatch"
) -> list[ExportMetricsServiceRequest]:
    """The requests the forwarder makes of an object of these records, with the demo's settings and the
    function's account, each parsed strictly."""
    body = (
        firehose_object(records)
        if output_format == JSON
        else otel1_object(records, per_frame=40, owner=OWNER)
    )
    forwarder_naming = ForwarderNaming(
        scheme=naming,
        service_name=SETTINGS.service_name,
        resource_attributes=dict(SETTINGS.resource_attributes),
        exporter_account=ModuleNames().account,
    )
    settings = dataclasses.replace(
        Settings(),
        stream_format=output_format,
        naming=forwarder_naming,
        encoding=encoding,
        max_request_bytes=64 * 1024,
    )
    conversion = Conversion([body], settings)
    messages = []
    for batch in conversion.batches():
        message = ExportMetricsServiceRequest()
        if encoding == "protobuf":
            message.ParseFromString(batch.body())
        else:
            Parse(batch.body(), message, ignore_unknown_fields=False)
        messages.append(message)
    return messages


def forwarded(
    records: list[dict], output_format: str = JSON, encoding: str = "json", naming: str = "cloudwatch"
) -> list[Received]:
    """The datapoints the forwarder makes of an object of these records (see forwarded_requests)."""
    return received_datapoints(forwarded_requests(records, output_format, encoding, naming))


def naming(name: str = "cloudwatch") -> Naming:
    return naming_of(name, FORWARDER)


@pytest.mark.parametrize("name", NAMINGS)
@pytest.mark.parametrize("encoding", ["json", "protobuf"])
def test_delivery_check_passes_a_complete_delivery_of_both_formats(encoding: str, name: str) -> None:
    streams = {JSON: stream_records(JSON, 300, 11), OTEL1: stream_records(OTEL1, 300, 12)}
    points = forwarded(streams[JSON], JSON, encoding, name) + forwarded(streams[OTEL1], OTEL1, encoding, name)
    check = check_delivery(streams, points, naming(name))
    assert check.examples == []
    assert list(check.formats) == [JSON, OTEL1]
    per_record = 1 if name != "prometheus" else 5  # count, sum, min, max and the average at least
    assert all(c.records == c.received == c.delivered >= 300 * per_record for c in check.formats.values())
    total = check.total
    assert not (total.missing or total.duplicates or total.unexpected or total.altered)


def test_delivery_check_finds_missing_duplicated_altered_and_foreign_datapoints() -> None:
    records = list(generate_records(600, seed=12))
    points = forwarded(records)
    del points[10]
    points.append(points[20])  # delivered twice
    points[30].point.sum += 1.0
    stranger = forwarded(list(generate_records(1, seed=99, start_ms=1_600_000_000_000)))
    points.extend(stranger)
    check = check_delivery({JSON: records}, points, naming())
    total = check.total
    assert (total.missing, total.duplicates, total.altered, total.unexpected) == (1, 1, 1, 1)
    assert sum(c.missing for c in check.namespaces.values()) == 1
    assert any(e.startswith("missing") for e in check.examples)
    assert any("sum" in e for e in check.examples)


def test_native_datapoints_are_checked_for_their_names_units_and_attributes() -> None:
    records = stream_records(OTEL1, 300, 13)
    points = forwarded(records, OTEL1, "protobuf", "native")
    first = points[0]
    labels = attributes(first.point.attributes)
    assert first.name == f"amazonaws.com/{labels['Namespace']}/{labels['MetricName']}"
    assert isinstance(labels["Dimensions"], dict)
    assert first.resource["aws.exporter.arn"].endswith(
        f":{OWNER}:metric-stream/{STREAMS[OTEL1].metric_stream}"
    )
    assert first.resource["service.name"] == SETTINGS.service_name

    without_arn = {k: v for k, v in points[1].resource.items() if k != "aws.exporter.arn"}
    points[1] = points[1]._replace(resource=without_arn)
    points[2] = points[2]._replace(unit=points[2].unit + "x")
    points[3] = points[3]._replace(name=points[3].name.replace("amazonaws.com/", "aws/"))
    points[4].point.time_unix_nano += 1
    dimensions = next(a for a in points[5].point.attributes if a.key == "Dimensions")
    dimensions.value.kvlist_value.values[0].value.string_value += "-renamed"
    check = check_delivery({OTEL1: records}, points, naming("native"))
    assert check.formats[OTEL1].altered == 4, check.examples
    assert check.formats[OTEL1].unexpected == 1  # a renamed dimension is another datapoint
    assert check.formats[OTEL1].missing == 1
    assert any("resource" in e for e in check.examples)
    assert any("unit" in e for e in check.examples)


@pytest.mark.parametrize(
    ("sent", "expected"), [("cloudwatch", "native"), ("otel", "cloudwatch"), ("native", "prometheus")]
)
def test_datapoints_of_another_naming_do_not_pass(sent: str, expected: str) -> None:
    records = stream_records(JSON, 100, 14)
    check = check_delivery({JSON: records}, forwarded(records, JSON, "json", sent), naming(expected))
    total = check.total
    assert total.delivered - total.altered == 0
    assert total.missing + total.altered >= 100


def test_a_gauge_value_that_differs_is_altered() -> None:
    records = stream_records(JSON, 50, 16)
    points = forwarded(records, JSON, "protobuf", "prometheus")
    points[0].point.as_double += 1
    check = check_delivery({JSON: records}, points, naming("prometheus"))
    assert check.total.altered == 1
    assert any("value" in e for e in check.examples)


def _metrics(requests: list[ExportMetricsServiceRequest], kind: str) -> list[Any]:
    return [
        metric
        for request in requests
        for resource_metrics in request.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
        if metric.WhichOneof("data") == kind
    ]


def _gauge_as_sum(requests: list[ExportMetricsServiceRequest]) -> None:
    """The first gauge turned into a sum of the same datapoints."""
    metric = _metrics(requests, "gauge")[0]
    metric.sum.data_points.extend(metric.gauge.data_points)


def _renamed_scope(requests: list[ExportMetricsServiceRequest]) -> None:
    requests[0].resource_metrics[0].scope_metrics[0].scope.name = "aws.cloudwatch.other"


def _other_scope_version(requests: list[ExportMetricsServiceRequest]) -> None:
    requests[0].resource_metrics[0].scope_metrics[0].scope.version += ".1"


def _a_scope_added(requests: list[ExportMetricsServiceRequest]) -> None:
    requests[0].resource_metrics[0].scope_metrics[0].scope.name = "aws.cloudwatch"


def _quantiles_reversed(requests: list[ExportMetricsServiceRequest]) -> None:
    """The quantiles of the first summary datapoint with percentiles, in decreasing order."""
    points = (point for metric in _metrics(requests, "summary") for point in metric.summary.data_points)
    point = next(point for point in points if len(point.quantile_values) > 2)
    reversed_values = list(reversed(point.quantile_values))
    del point.quantile_values[:]
    point.quantile_values.extend(reversed_values)


def _flagged(kind: str) -> Callable[[list[ExportMetricsServiceRequest]], None]:
    def alter(requests: list[ExportMetricsServiceRequest]) -> None:
        getattr(_metrics(requests, kind)[0], kind).data_points[0].flags = 1  # no_recorded_value

    return alter


def _gauge_a_nanosecond_late(requests: list[ExportMetricsServiceRequest]) -> None:
    _metrics(requests, "gauge")[0].gauge.data_points[0].time_unix_nano += 1


# What a collector might receive other than the forwarder sent, and what the check must call it.
ALTERATIONS = [
    ("prometheus", _gauge_as_sum, "kind"),
    ("cloudwatch", _renamed_scope, "scope"),
    ("otel", _other_scope_version, "scope"),
    ("native", _a_scope_added, "scope"),
    ("cloudwatch", _quantiles_reversed, "quantiles"),
    ("cloudwatch", _flagged("summary"), "flags"),
    ("prometheus", _flagged("gauge"), "flags"),
    ("prometheus", _gauge_a_nanosecond_late, "time"),
]


@pytest.mark.parametrize(
    ("name", "alter", "problem"), ALTERATIONS, ids=[f"{name}-{problem}" for name, _, problem in ALTERATIONS]
)
def test_a_delivery_altered_on_the_way_is_reported(
    name: str, alter: Callable[[list[ExportMetricsServiceRequest]], None], problem: str
) -> None:
    records = stream_records(JSON, 200, 17)
    requests = forwarded_requests(records, JSON, "protobuf", name)
    alter(requests)
    check = check_delivery({JSON: records}, received_datapoints(requests), naming(name))
    total = check.total
    assert total.altered >= 1, check.examples
    assert (total.missing, total.duplicates, total.unexpected) == (0, 0, 0), check.examples
    assert all(example.split(": ", 1)[1].startswith(problem) for example in check.examples), check.examples
