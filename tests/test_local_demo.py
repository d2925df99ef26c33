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
    UnsafeEnvironment,
    check_delivery,
    check_environment,
    on_failure_record,
    s3_event,
)
from cwotlp_local.generator import firehose_object, generate_records
from cwotlp_local.otlp import iter_datapoints

REPO = Path(__file__).resolve().parent.parent


def forwarded(records: list[dict]) -> list:
    """The datapoints the forwarder's conversion makes of these records, parsed strictly."""
    from cwotlp.convert import Naming
    from cwotlp.pipeline import Conversion

    conversion = Conversion([firehose_object(records)], Naming(), 64 * 1024)
    points = []
    for batch in conversion.batches():
        message = Parse(batch.body(), ExportMetricsServiceRequest(), ignore_unknown_fields=False)
        points.extend(iter_datapoints(message))
    return points


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


def test_delivery_check_passes_a_complete_delivery() -> None:
    records = list(generate_records(600, seed=11))
    checks, examples = check_delivery(records, forwarded(records))
    assert examples == []
    assert sum(c.records for c in checks.values()) == 600
    assert all(c.delivered == c.records and c.received == c.records for c in checks.values())
    assert not any(c.missing or c.duplicates or c.unexpected or c.values_off for c in checks.values())


def test_delivery_check_finds_missing_duplicated_altered_and_foreign_datapoints() -> None:
    records = list(generate_records(600, seed=12))
    points = forwarded(records)
    del points[10]
    points.append(points[20])  # delivered twice
    points[30][2].sum += 1.0
    stranger = forwarded(list(generate_records(1, seed=99, start_ms=1_600_000_000_000)))
    points.extend(stranger)
    checks, examples = check_delivery(records, points)
    assert sum(c.missing for c in checks.values()) == 1
    assert sum(c.duplicates for c in checks.values()) == 1
    assert sum(c.values_off for c in checks.values()) == 1
    assert sum(c.unexpected for c in checks.values()) == 1
    assert any(e.startswith("missing") for e in examples)
    assert any("sum" in e for e in examples)


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


def test_a_short_run_of_the_whole_pipeline(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CWOTLP_"))}
    result = subprocess.run(
        [sys.executable, "-m", "cwotlp_local.demo", "--minutes", "2", "--output-dir", str(tmp_path)],
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
    assert "attempt 2" in result.stdout  # the outage made Lambda retry
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["collector_errors"] == []
    assert summary["statuses"]["503"] == 8
    assert summary["statuses"]["401"] >= 1
    assert summary["lambda_retries"] >= 1
    assert summary["queue_depth"] == 0
    lines = (tmp_path / "received.jsonl").read_text().splitlines()
    assert len(lines) == summary["requests_accepted"]
    total = 0
    for line in lines:
        total += sum(1 for _ in iter_datapoints(Parse(line, ExportMetricsServiceRequest())))
    assert total == sum(n["records"] for n in summary["namespaces"].values())


def test_exhausted_retries_go_to_the_queue_and_are_re_driven(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CWOTLP_"))}
    command = [sys.executable, "-m", "cwotlp_local.demo", "--minutes", "2", "--outage-requests", "12"]
    result = subprocess.run(
        [*command, "--output-dir", str(tmp_path)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "retries exhausted" in result.stdout
    assert "cwotlp replay exited with status 0" in result.stdout
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["on_failure_records"] == 1
    assert summary["queue_depth_before_redrive"] == 1
    assert summary["queue_depth"] == 0
    assert all(n["missing"] == n["duplicates"] == 0 for n in summary["namespaces"].values())
