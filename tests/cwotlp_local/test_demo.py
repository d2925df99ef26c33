"""The end-to-end demo: its safety check, its delivery check, and one short run of the whole pipeline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf.json_format import Parse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from cwotlp_local.demo import (
    JSON,
    OTEL1,
    OTEL1_UNITS,
    RESOURCE_ATTRIBUTES,
    SERVICE_NAME,
    STREAMS,
    Received,
    UnsafeEnvironment,
    check_delivery,
    check_environment,
    on_failure_record,
    received_datapoints,
    s3_event,
)
from cwotlp_local.generator import firehose_object, generate_records, otel1_object, otel1_request
from cwotlp_local.otlp import attributes, iter_datapoints

REPO = Path(__file__).resolve().parents[2]


def stream_records(output_format: str, count: int, seed: int) -> list[dict]:
    """Records of the demo's stream of a format (its accounts and metric stream name)."""
    stream = STREAMS[output_format]
    return list(
        generate_records(count, seed=seed, accounts=stream.accounts, stream_name=stream.metric_stream)
    )


def forwarded(records: list[dict], output_format: str = JSON, encoding: str = "json") -> list[Received]:
    """The datapoints the forwarder makes of an object of these records, with the demo's settings and
    parsed strictly."""
    from cwotlp.otlp.convert import Naming
    from cwotlp.otlp.encoding import encoding_named
    from cwotlp.pipeline import Conversion

    body = firehose_object(records) if output_format == JSON else otel1_object(records, per_frame=40)
    naming = Naming(service_name=SERVICE_NAME, resource_attributes=dict(RESOURCE_ATTRIBUTES))
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


@pytest.mark.parametrize(
    "variable", ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SECRETS_MANAGER"]
)
def test_a_remote_endpoint_is_refused(variable: str) -> None:
    with pytest.raises(UnsafeEnvironment, match=variable):
        check_environment({variable: "https://s3.us-east-1.amazonaws.com"})


def test_credentials_and_settings_are_cleared_and_local_endpoints_allowed() -> None:
    environ = {
        "AWS_PROFILE": "production",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SESSION_TOKEN": "token",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
        "CWOTLP_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:x",
        "HOME": "/home/someone",
    }
    cleared = check_environment(environ)
    assert set(cleared) == set(environ) - {"HOME"}


def test_the_demo_refuses_a_remote_endpoint_before_starting_anything() -> None:
    env = {**os.environ, "AWS_ENDPOINT_URL": "https://sqs.us-east-1.amazonaws.com"}
    result = subprocess.run(
        [sys.executable, "-m", "cwotlp_local.demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 2
    assert "refusing to start" in result.stderr
    assert "AWS_ENDPOINT_URL" in result.stderr
    assert "moto server" not in result.stdout


@pytest.mark.parametrize("encoding", ["json", "protobuf"])
def test_delivery_check_passes_a_complete_delivery_of_both_formats(encoding: str) -> None:
    streams = {JSON: stream_records(JSON, 600, 11), OTEL1: stream_records(OTEL1, 600, 12)}
    points = forwarded(streams[JSON], JSON, encoding) + forwarded(streams[OTEL1], OTEL1, encoding)
    check = check_delivery(streams, points)
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
    check = check_delivery({JSON: records}, points)
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
    check = check_delivery({OTEL1: records}, points)
    assert check.formats[OTEL1].altered == 4, check.examples
    assert check.formats[OTEL1].unexpected == 1  # a renamed dimension is another datapoint
    assert check.formats[OTEL1].missing == 1
    assert any("resource" in e for e in check.examples)
    assert any("unit" in e for e in check.examples)


def test_a_datapoint_of_the_other_format_is_altered() -> None:
    """A JSON record arriving as the 1.0 format would forward it (and the other way round) is caught."""
    records = stream_records(JSON, 100, 14)
    check = check_delivery({OTEL1: records}, forwarded(records, JSON))
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


def test_s3_event_and_on_failure_record_have_the_aws_shapes() -> None:
    import datetime as dt

    key = "metrics/2024/05/01/12/stream name-1-2024-05-01-12-00-00-id.gz"
    event = s3_event("bucket", key, 123, "etag", dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC))
    [record] = event["Records"]
    assert record["eventSource"] == "aws:s3"
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["eventTime"] == "2024-05-01T12:00:00.000Z"
    assert record["s3"]["object"]["key"] == "metrics/2024/05/01/12/stream+name-1-2024-05-01-12-00-00-id.gz"
    assert record["s3"]["bucket"]["arn"] == "arn:aws:s3:::bucket"
    try:
        raise RuntimeError("collector: HTTP 503 after 3 attempts")
    except RuntimeError as error:
        failure = on_failure_record(event, "request-1", error)
    assert failure["version"] == "1.0"
    assert failure["requestContext"]["condition"] == "RetriesExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 3
    assert failure["requestContext"]["requestId"] == "request-1"
    assert failure["requestPayload"] == event
    assert failure["responseContext"]["functionError"] == "Unhandled"
    assert failure["responsePayload"]["errorType"] == "RuntimeError"
    json.dumps(failure)


def run_demo(tmp_path: Path, *options: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CWOTLP_"))}
    result = subprocess.run(
        [sys.executable, "-m", "cwotlp_local.demo", *options, "--output-dir", str(tmp_path)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: all" in result.stdout
    return result, json.loads((tmp_path / "summary.json").read_text())


def received_lines(tmp_path: Path) -> list[ExportMetricsServiceRequest]:
    lines = (tmp_path / "received.jsonl").read_text().splitlines()
    return [Parse(line, ExportMetricsServiceRequest()) for line in lines]


def test_a_short_run_of_the_whole_pipeline_with_both_formats(tmp_path: Path) -> None:
    result, summary = run_demo(tmp_path, "--minutes", "2")
    assert "attempt 2" in result.stdout  # the outage made Lambda retry
    assert "json stream" in result.stdout and "opentelemetry1.0 stream" in result.stdout
    assert summary["collector_errors"] == []
    assert summary["statuses"]["503"] == 8
    assert summary["statuses"]["401"] >= 1
    assert summary["lambda_retries"] >= 1
    assert summary["queue_depth"] == 0
    assert summary["objects"] == {"json": 2, "opentelemetry1.0": 2}
    assert summary["content_types"] == {"application/json": summary["requests_accepted"]}
    formats = summary["formats"]
    assert list(formats) == ["json", "opentelemetry1.0"]
    for counts in formats.values():
        assert counts["records"] == counts["delivered"] == counts["received"] > 0
        assert counts["missing"] == counts["duplicates"] == counts["unexpected"] == counts["altered"] == 0
    messages = received_lines(tmp_path)
    assert len(messages) == summary["requests_accepted"]
    total = sum(1 for message in messages for _ in iter_datapoints(message))
    assert total == sum(n["records"] for n in summary["namespaces"].values())
    assert total == sum(f["records"] for f in formats.values())


def test_an_opentelemetry_1_0_run_with_protobuf_requests(tmp_path: Path) -> None:
    options = ("--minutes", "2", "--format", "opentelemetry1.0", "--encoding", "protobuf")
    result, summary = run_demo(tmp_path, *options)
    assert "CWOTLP_OTLP_ENCODING=protobuf" in result.stdout
    assert "resumed after frame" in result.stdout  # the retry after the outage skipped delivered frames
    assert "json stream" not in result.stdout
    assert summary["encoding"] == "protobuf"
    assert summary["objects"] == {"opentelemetry1.0": 2}
    assert summary["content_types"] == {"application/x-protobuf": summary["requests_accepted"]}
    assert summary["statuses"]["503"] == 8
    assert summary["queue_depth"] == 0
    [counts] = summary["formats"].values()
    assert counts["records"] == counts["delivered"] == counts["received"] > 0
    assert counts["missing"] == counts["duplicates"] == counts["unexpected"] == counts["altered"] == 0
    for message in received_lines(tmp_path):
        for resource, name, point in iter_datapoints(message):
            assert resource["cloud.provider"] == "aws"
            assert resource["aws.exporter.arn"].startswith("arn:aws:cloudwatch:us-east-1:")
            assert resource["service.name"] == SERVICE_NAME
            assert name.startswith("amazonaws.com/AWS/")
            assert isinstance(attributes(point.attributes)["Dimensions"], dict)


def test_exhausted_retries_go_to_the_queue_and_are_re_driven(tmp_path: Path) -> None:
    result, summary = run_demo(tmp_path, "--minutes", "2", "--outage-requests", "12")
    assert "retries exhausted" in result.stdout
    assert "cwotlp replay exited with status 0" in result.stdout
    assert summary["on_failure_records"] == 1
    assert summary["queue_depth_before_redrive"] == 1
    assert summary["queue_depth"] == 0
    assert all(n["missing"] == n["duplicates"] == 0 for n in summary["namespaces"].values())
    assert all(f["missing"] == f["duplicates"] == 0 for f in summary["formats"].values())
