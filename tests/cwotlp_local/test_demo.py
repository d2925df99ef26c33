"""The end-to-end demo: its refusal of a remote AWS endpoint, and short runs of the whole pipeline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from google.protobuf.json_format import Parse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from cwotlp_local.environment import ForwarderSettings
from cwotlp_local.otlp import attributes, iter_datapoints

SERVICE_NAME = ForwarderSettings().service_name  # the demo's


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


def test_an_opentelemetry_1_0_run_forwarding_frames_as_they_are(tmp_path: Path) -> None:
    options = (
        "--minutes",
        "2",
        "--format",
        "opentelemetry1.0",
        "--encoding",
        "protobuf",
        "--naming",
        "native",
    )
    result, summary = run_demo(tmp_path, *options)
    assert "CWOTLP_OTLP_ENCODING=protobuf" in result.stdout
    assert "naming native" in result.stdout
    assert "resumed after" in result.stdout  # the retry after the outage skipped delivered parts
    assert "json stream" not in result.stdout
    assert summary["encoding"] == "protobuf"
    assert summary["naming"] == "native"
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
