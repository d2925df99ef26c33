"""The cwotlp command, run as a user runs it: a real process, real files, a real local collector."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from conftest import FIXTURES, datapoints, parse_request
from cwotlp_local.collector import Collector
from cwotlp_local.faults import Fault
from cwotlp_local.token_server import TokenServer

SINGLE = FIXTURES / "otel-contrib-cwmetricstream/single_record"
INVALID = FIXTURES / "otel-contrib-cwmetricstream/some_invalid_records"
DECODED = FIXTURES / "telegraf-cloudwatch-metric-streams/decoded.jsonl"


def cwotlp(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CWOTLP_")}
    return subprocess.run(
        [sys.executable, "-m", "cwotlp.commands.cli", *map(str, args)],
        capture_output=True,
        env={**clean, **(env or {})},
        timeout=120,
        check=False,
    )


def summaries(stderr: bytes) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stderr.splitlines() if line.startswith(b"{")]


def test_convert_writes_one_request_per_line_and_a_summary(tmp_path: Path) -> None:
    zipped = tmp_path / "object.gz"
    zipped.write_bytes(gzip.compress(DECODED.read_bytes()))
    result = cwotlp("convert", SINGLE, zipped, "--max-request-bytes", "100000")
    assert result.returncode == 0, result.stderr
    requests = [parse_request(line) for line in result.stdout.splitlines()]
    assert len(requests) > 3
    assert sum(len(list(datapoints(r))) for r in requests) == 1 + 1160
    first, second = summaries(result.stderr)
    assert (first["key"], first["records"], first["datapoints"], first["requests"]) == (str(SINGLE), 1, 1, 1)
    assert second["records"] == second["datapoints"] == 1160
    assert second["requests"] == len(requests) - 1


def test_convert_options_change_the_naming() -> None:
    result = cwotlp(
        "convert",
        SINGLE,
        "--service-name",
        "ops",
        "--resource-attribute",
        "team=core",
        "--dimension-attributes",
    )
    assert result.returncode == 0, result.stderr
    [(resource, _, point)] = list(datapoints(parse_request(result.stdout)))
    assert resource["service.name"] == "ops"
    assert resource["team"] == "core"
    assert {a.key for a in point.attributes} >= {"InstanceId", "Dimensions"}


def test_skipped_lines_still_exit_zero() -> None:
    result = cwotlp("convert", INVALID)
    assert result.returncode == 0
    [summary] = summaries(result.stderr)
    assert summary["skipped"] == {"not_a_metric": 4}
    assert summary["datapoints"] == 88


def test_an_unreadable_file_exits_2_and_the_others_are_still_converted(tmp_path: Path) -> None:
    result = cwotlp("convert", tmp_path / "missing.gz", SINGLE)
    assert result.returncode == 2
    assert b"cannot read" in result.stderr and b"missing.gz" in result.stderr
    assert len(result.stdout.splitlines()) == 1


def test_bad_options_exit_2() -> None:
    result = cwotlp("convert", SINGLE, "--resource-attribute", "no-equals-sign")
    assert result.returncode == 2
    assert b"--resource-attribute takes NAME=VALUE" in result.stderr


@pytest.fixture
def servers() -> Iterator[tuple[Collector, TokenServer]]:
    with (
        TokenServer(client_id="cli", client_secret="cli-secret", scope="metrics.write") as tokens,
        Collector(token_check=tokens.is_valid) as collector,
    ):
        yield collector, tokens
        assert collector.errors == []


def test_send_delivers_through_oauth2(servers: tuple[Collector, TokenServer]) -> None:
    collector, tokens = servers
    result = cwotlp(
        "send",
        DECODED,
        "--endpoint",
        collector.base_url,
        "--token-url",
        tokens.url,
        "--client-id",
        "cli",
        "--scope",
        "metrics.write",
        env={"CWOTLP_CLIENT_SECRET": "cli-secret"},
    )
    assert result.returncode == 0, result.stderr
    assert collector.datapoint_count() == 1160
    assert tokens.requests[0].form["scope"] == "metrics.write"
    assert b"cli-secret" not in result.stderr + result.stdout


def test_send_with_a_static_header_and_a_failing_collector_exits_1(
    servers: tuple[Collector, TokenServer],
) -> None:
    collector, _ = servers
    collector.token_check = None
    collector.inject(Fault(status=503), times=10)
    result = cwotlp(
        "send", SINGLE, "--endpoint", collector.url, "--header", "x-api-key=k", "--max-retries", "1"
    )
    assert result.returncode == 1
    [summary] = summaries(result.stderr)
    assert summary["status"] == "failed"
    assert "HTTP 503 after 2 attempts" in str(summary["error"])
    assert collector.attempts == 2


def test_send_without_the_client_secret_says_where_to_put_it(servers: tuple[Collector, TokenServer]) -> None:
    collector, tokens = servers
    result = cwotlp(
        "send", SINGLE, "--endpoint", collector.url, "--token-url", tokens.url, "--client-id", "cli"
    )
    assert result.returncode == 2
    assert b"CWOTLP_CLIENT_SECRET" in result.stderr
    assert collector.attempts == 0


def test_convert_reads_opentelemetry_objects_and_always_writes_json(tmp_path: Path) -> None:
    from cwotlp_local.generator import generate_records, otel1_object

    path = tmp_path / "otel.gz"
    path.write_bytes(otel1_object(list(generate_records(120, seed=3)), per_frame=30))
    result = cwotlp("convert", path, env={"CWOTLP_OTLP_ENCODING": "protobuf"})
    assert result.returncode == 0, result.stderr
    [request] = [parse_request(line) for line in result.stdout.splitlines()]
    assert len(list(datapoints(request))) == 120
    [summary] = summaries(result.stderr)
    assert summary["datapoints"] == 120
    assert summary["records"] >= 4  # frames, cut into parts of one resource each
