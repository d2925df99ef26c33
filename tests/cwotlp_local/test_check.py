"""The delivery check: it passes a complete delivery, and finds what is missing, duplicated, foreign or
altered, in both stream formats; with the forwarder's own conversion of generated objects."""

from __future__ import annotations

import pytest
from google.protobuf.json_format import Parse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from cwotlp_local.check import check_delivery, received_datapoints
from cwotlp_local.environment import ForwarderSettings
from cwotlp_local.generator import firehose_object, generate_records, otel1_object, otel1_request
from cwotlp_local.namings import JSON, OTEL1, OTEL1_UNITS, Naming, Received, stream_namings
from cwotlp_local.otlp import attributes
from cwotlp_local.scenario import STREAMS

FORWARDER = ForwarderSettings()  # the demo's settings
SERVICE_NAME = FORWARDER.service_name
RESOURCE_ATTRIBUTES = FORWARDER.resource_attributes
NAMINGS: dict[str, Naming] = stream_namings(SERVICE_NAME, RESOURCE_ATTRIBUTES)


def stream_records(output_format: str, count: int, seed: int) -> list[dict]:
    """Records of the demo's stream of a format (its accounts and metric stream name)."""
    stream = STREAMS[output_format]
    return list(
        generate_records(count, seed=seed, accounts=stream.accounts, stream_name=stream.metric_stream)
    )


def forwarded(records: list[dict], output_format: str = JSON, encoding: str = "json") -> list[Received]:
    """The datapoints the forwarder makes of an object of these records, with the demo's settings and
    parsed strictly."""
    from cwotlp.otlp.convert import Naming as ForwarderNaming
    from cwotlp.otlp.encoding import encoding_named
    from cwotlp.pipeline import Conversion

    body = firehose_object(records) if output_format == JSON else otel1_object(records, per_frame=40)
    naming = ForwarderNaming(service_name=SERVICE_NAME, resource_attributes=dict(RESOURCE_ATTRIBUTES))
    conversion = Conversion([body], naming, 64 * 1024, encoding=encoding_named(encoding))
    messages = []
    for batch in conversion.batches():
        message = ExportMetricsServiceRequest()
        if encoding == "protobuf":
            message.ParseFromString(batch.body())
        else:
            Parse(batch.body(), message, ignore_unknown_fields=False)
        messages.append(message)
    assert conversion.format == output_format
    return received_datapoints(messages)


@pytest.mark.parametrize("encoding", ["json", "protobuf"])
def test_delivery_check_passes_a_complete_delivery_of_both_formats(encoding: str) -> None:
    streams = {JSON: stream_records(JSON, 600, 11), OTEL1: stream_records(OTEL1, 600, 12)}
    points = forwarded(streams[JSON], JSON, encoding) + forwarded(streams[OTEL1], OTEL1, encoding)
    check = check_delivery(streams, points, NAMINGS)
    assert check.examples == []
    assert list(check.formats) == [JSON, OTEL1]
    assert all(c.records == c.received == c.delivered == 600 for c in check.formats.values())
    assert sum(c.records for c in check.namespaces.values()) == 1200
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
    check = check_delivery({JSON: records}, points, NAMINGS)
    total = check.total
    assert (total.missing, total.duplicates, total.altered, total.unexpected) == (1, 1, 1, 1)
    assert sum(c.missing for c in check.namespaces.values()) == 1
    assert any(e.startswith("missing") for e in check.examples)
    assert any("sum" in e for e in check.examples)


def test_opentelemetry_1_0_datapoints_are_checked_for_their_names_units_and_attributes() -> None:
    records = stream_records(OTEL1, 300, 13)
    points = forwarded(records, OTEL1)
    first = points[0]
    labels = attributes(first.point.attributes)
    assert first.name == f"amazonaws.com/{labels['Namespace']}/{labels['MetricName']}"
    assert isinstance(labels["Dimensions"], dict)
    assert first.resource["aws.exporter.arn"].endswith(f":metric-stream/{STREAMS[OTEL1].metric_stream}")
    assert first.resource["service.name"] == SERVICE_NAME
    assert first.resource["environment"] == RESOURCE_ATTRIBUTES["environment"]

    without_arn = {k: v for k, v in points[1].resource.items() if k != "aws.exporter.arn"}
    points[1] = points[1]._replace(resource=without_arn)
    points[2] = points[2]._replace(unit=points[2].unit + "x")
    points[3] = points[3]._replace(name=points[3].name.replace("amazonaws.com/", "aws/"))
    points[4].point.start_time_unix_nano = 0
    dimensions = next(a for a in points[5].point.attributes if a.key == "Dimensions")
    dimensions.value.kvlist_value.values[0].value.string_value += "-renamed"
    check = check_delivery({OTEL1: records}, points, NAMINGS)
    assert check.formats[OTEL1].altered == 4, check.examples
    assert check.formats[OTEL1].unexpected == 1  # a renamed dimension is another datapoint
    assert check.formats[OTEL1].missing == 1
    assert any("resource" in e for e in check.examples)
    assert any("unit" in e for e in check.examples)


def test_a_datapoint_of_the_other_format_is_altered() -> None:
    """A JSON record arriving as the 1.0 format would forward it (and the other way round) is caught."""
    records = stream_records(JSON, 100, 14)
    check = check_delivery({OTEL1: records}, forwarded(records, JSON), NAMINGS)
    assert check.formats[OTEL1].altered == 100
    assert check.formats[OTEL1].missing == 0


def test_the_demo_expects_the_units_the_1_0_format_writes() -> None:
    records = stream_records(OTEL1, 2000, 15)
    request = otel1_request(records)
    written = {
        metric.name.rsplit("/", 1)[-1]: metric.unit
        for resource in request.resource_metrics
        for metric in resource.scope_metrics[0].metrics
    }
    for record in records:
        assert OTEL1_UNITS.get(record["unit"], record["unit"]) == written[record["metric_name"]]
    assert {r["unit"] for r in records} - set(OTEL1_UNITS) <= {"Count/Second"}
