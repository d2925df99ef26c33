"""The cwotlp command: convert and send, with real files, a real local collector and token endpoint, and
every request parsed back with the official definitions."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from conftest import (
    FIXTURES,
    datapoints,
    decode,
    flat_points,
    frame,
    only_percentiles,
    otel1_request,
    parse_request,
)
from cwotlp.commands.cli import IOV_MAX, main, write_parts
from cwotlp.formats.json_lines import BOM
from cwotlp.formats.otel1 import read_varint
from cwotlp_local.collector import Collector
from cwotlp_local.faults import Fault
from cwotlp_local.generator import generate_records
from cwotlp_local.otel1 import otel1_object
from cwotlp_local.token_server import TokenServer

SINGLE = FIXTURES / "otel-contrib-cwmetricstream/single_record"
INVALID = FIXTURES / "otel-contrib-cwmetricstream/some_invalid_records"
DECODED = FIXTURES / "telegraf-cloudwatch-metric-streams/decoded.jsonl"  # 1160 records
RECORDS = [only_percentiles(r) for r in generate_records(120, seed=3)]
COMMAND = [sys.executable, "-m", "cwotlp.commands.cli"]  # a process of its own, in the environment below


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CWOTLP_"):
            monkeypatch.delenv(name)


@dataclass
class Result:
    status: int
    out: bytes
    err: bytes

    @property
    def summaries(self) -> list[dict[str, Any]]:
        """The JSON summary of each file, from stderr."""
        return [orjson.loads(line) for line in self.err.splitlines() if line.startswith(b"{")]


def run(capsysbinary: pytest.CaptureFixture[bytes], *args: str | Path) -> Result:
    """Runs the command in this process, as the console script does."""
    status = main([str(arg) for arg in args])
    out, err = capsysbinary.readouterr()
    return Result(status, out, err)


def delimited(data: bytes) -> list[bytes]:
    """The requests of a stream of varint-length-delimited messages."""
    found, position = [], 0
    while position < len(data):
        header = read_varint(data, position)
        assert header is not None
        length, start = header
        found.append(data[start : start + length])
        position = start + length
    assert position == len(data)
    return found


def otel1_file(tmp_path: Path, compress: bool = True) -> Path:
    data = b"".join(frame(otel1_request(RECORDS[i : i + 30])) for i in range(0, 120, 30))
    path = tmp_path / "otel1.gz"
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def test_convert_writes_one_json_request_per_line_and_a_summary_per_file(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    zipped = tmp_path / "object.gz"
    zipped.write_bytes(gzip.compress(DECODED.read_bytes()))
    result = run(capsysbinary, "convert", SINGLE, zipped, "--max-request-bytes", "100000")
    assert result.status == 0
    lines = result.out.splitlines()
    requests = [parse_request(line) for line in lines]
    assert len(requests) > 3 and all(len(line) <= 100_000 for line in lines)
    assert sum(len(list(datapoints(r))) for r in requests) == 1 + 1160
    first, second = result.summaries
    assert (first["key"], first["status"], first["records"], first["requests"]) == (
        str(SINGLE),
        "converted",
        1,
        1,
    )
    assert (second["records"], second["datapoints"], second["requests"]) == (1160, 1160, len(requests) - 1)
    assert second["object_bytes"] == zipped.stat().st_size


def test_convert_writes_protobuf_requests_each_after_its_length(
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    result = run(capsysbinary, "convert", DECODED, "--encoding", "protobuf", "--max-request-bytes", "50000")
    assert result.status == 0
    requests = [decode(body, "protobuf") for body in delimited(result.out)]
    assert len(requests) == result.summaries[0]["requests"] > 3
    assert sum(len(list(datapoints(r))) for r in requests) == 1160
    as_json = run(capsysbinary, "convert", DECODED, "--max-request-bytes", "50000")
    assert flat_points(requests) == flat_points(parse_request(line) for line in as_json.out.splitlines())


@pytest.mark.parametrize(("encoding", "suffix"), [("json", "json"), ("protobuf", "pb")])
def test_convert_writes_files_to_an_output_directory(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes], encoding: str, suffix: str
) -> None:
    out_dir = tmp_path / "requests" / "here"
    args = ["--encoding", encoding, "--max-request-bytes", "60000", "--output-dir", out_dir]
    result = run(capsysbinary, "convert", DECODED, *args)
    assert result.status == 0 and result.out == b""
    files = sorted(out_dir.iterdir())
    count = result.summaries[0]["requests"]
    assert [f.name for f in files] == [f"decoded.jsonl.{n:04d}.{suffix}" for n in range(1, count + 1)]
    assert sum(len(list(datapoints(decode(f.read_bytes(), encoding)))) for f in files) == 1160


def test_convert_options_change_the_naming(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    args = ["--service-name", "ops", "--resource-attribute", "team=core", "--dimension-attributes"]
    result = run(capsysbinary, "convert", SINGLE, *args)
    assert result.status == 0
    [(resource, _, point)] = list(datapoints(parse_request(result.out)))
    assert (resource["service.name"], resource["team"]) == ("ops", "core")
    assert {a.key for a in point.attributes} >= {"InstanceId", "Dimensions"}
    result = run(capsysbinary, "convert", SINGLE, "--naming", "prometheus")
    metrics = parse_request(result.out).resource_metrics[0].scope_metrics[0].metrics
    assert "aws_ec2_disk_write_ops_average" in {m.name for m in metrics}


def test_the_format_is_detected_when_not_given(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    bom = tmp_path / "bom.json"
    bom.write_bytes(BOM + SINGLE.read_bytes())
    result = run(capsysbinary, "convert", bom, otel1_file(tmp_path), otel1_file(tmp_path, compress=False))
    assert result.status == 0
    assert [s["format"] for s in result.summaries] == ["json", "opentelemetry1.0", "opentelemetry1.0"]
    assert [s["datapoints"] for s in result.summaries] == [1, 120, 120]
    assert sum(len(list(datapoints(parse_request(line)))) for line in result.out.splitlines()) == 241


def test_a_given_format_is_not_second_guessed(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run(capsysbinary, "convert", SINGLE, "--format", "opentelemetry1.0")
    assert result.status == 1 and result.out == b""
    [summary] = result.summaries
    assert summary["status"] == "failed"
    assert summary["error"] == "nothing in the file could be read (see skipped); is --format right?"
    monkeypatch.setenv("CWOTLP_STREAM_FORMAT", "json")
    result = run(capsysbinary, "convert", otel1_file(tmp_path))
    [summary] = result.summaries
    assert (result.status, summary["format"], summary["status"]) == (1, "json", "failed")


def test_frames_pass_through_with_the_native_naming_and_protobuf(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    result = run(
        capsysbinary, "convert", otel1_file(tmp_path), "--naming", "native", "--encoding", "protobuf"
    )
    assert result.status == 0
    requests = [decode(body, "protobuf") for body in delimited(result.out)]
    [summary] = result.summaries
    assert sum(len(list(datapoints(r))) for r in requests) == summary["datapoints"] == 120
    assert summary["units"] == 4  # one part per frame: its resources together fit in a part


def test_skipped_lines_still_exit_zero(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    result = run(capsysbinary, "convert", INVALID)
    assert result.status == 0
    [summary] = result.summaries
    assert (summary["skipped"], summary["datapoints"]) == ({"not_a_metric": 4}, 88)


def test_an_unreadable_file_exits_2_and_the_others_are_still_converted(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    result = run(capsysbinary, "convert", tmp_path / "missing.gz", SINGLE)
    assert result.status == 2
    assert b"cannot read" in result.err and b"missing.gz" in result.err
    assert len(result.out.splitlines()) == 1 and len(result.summaries) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--resource-attribute", "no-equals-sign"], b"--resource-attribute takes NAME=VALUE"),
        (["--max-request-bytes", "10"], b"CWOTLP_MAX_REQUEST_BYTES must be from 1024"),
    ],
)
def test_bad_options_exit_2(
    capsysbinary: pytest.CaptureFixture[bytes], args: list[str], message: bytes
) -> None:
    result = run(capsysbinary, "convert", SINGLE, *args)
    assert result.status == 2 and result.out == b""
    assert message in result.err


def test_unknown_choices_are_refused_by_the_parser(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["convert", str(SINGLE), "--format", "opentelemetry0.7"])
    assert caught.value.code == 2
    assert b"invalid choice" in capsysbinary.readouterr().err


@pytest.fixture
def servers() -> Iterator[tuple[Collector, TokenServer]]:
    with (
        TokenServer(client_id="cli", client_secret="Cli-secret-value", scope="metrics.write") as tokens,
        Collector(token_check=tokens.is_valid) as collector,
    ):
        yield collector, tokens
        assert collector.errors == []


def test_send_delivers_through_oauth2(
    servers: tuple[Collector, TokenServer],
    capsysbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    collector, tokens = servers
    monkeypatch.setenv("CWOTLP_CLIENT_SECRET", "Cli-secret-value")
    args = [
        "--endpoint",
        collector.base_url,
        "--token-url",
        tokens.url,
        "--client-id",
        "cli",
        "--scope",
        "metrics.write",
    ]
    result = run(capsysbinary, "send", DECODED, *args, "--allow-http")
    assert result.status == 0
    [summary] = result.summaries
    assert (summary["status"], summary["datapoints"]) == ("delivered", 1160)
    assert collector.datapoint_count() == 1160
    assert tokens.requests[0].form["scope"] == "metrics.write"
    assert b"Cli-secret-value" not in result.out + result.err


def test_send_refuses_plain_http_unless_allowed(
    servers: tuple[Collector, TokenServer], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    collector, _ = servers
    collector.token_check = None
    endpoint = collector.url + "?api_key=Qs1-query-secret"
    result = run(capsysbinary, "send", SINGLE, "--endpoint", endpoint, "--header", "x-api-key=k")
    assert result.status == 2 and result.summaries == []
    assert b"plain http" in result.err and b"Qs1-query-secret" not in result.err
    assert collector.attempts == 0
    result = run(
        capsysbinary, "send", SINGLE, "--endpoint", endpoint, "--header", "x-api-key=k", "--allow-http"
    )
    assert (result.status, result.summaries[0]["datapoints"]) == (0, 1)
    assert collector.requests[0].headers["x-api-key"] == "k"


def test_send_with_a_failing_collector_exits_1(
    servers: tuple[Collector, TokenServer], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    collector, _ = servers
    collector.token_check = None
    collector.inject(Fault(status=503), times=10)
    args = ["--endpoint", collector.url, "--header", "x-api-key=k", "--max-retries", "1", "--allow-http"]
    result = run(capsysbinary, "send", SINGLE, *args)
    assert result.status == 1
    [summary] = result.summaries
    assert summary["status"] == "failed"
    assert "HTTP 503 after 2 attempts" in summary["error"]
    assert collector.attempts == 2


def test_send_without_the_client_secret_says_where_to_put_it(
    servers: tuple[Collector, TokenServer], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    collector, tokens = servers
    args = ["--endpoint", collector.url, "--token-url", tokens.url, "--client-id", "cli", "--allow-http"]
    result = run(capsysbinary, "send", SINGLE, *args)
    assert result.status == 2
    assert b"CWOTLP_CLIENT_SECRET" in result.err
    assert collector.attempts == 0


def test_the_command_runs_as_a_module() -> None:
    result = subprocess.run(
        [*COMMAND, "convert", str(SINGLE), "--encoding", "protobuf"],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    [body] = delimited(result.stdout)
    assert len(list(datapoints(decode(body, "protobuf")))) == 1


@pytest.mark.parametrize("encoding", ["json", "protobuf"])
def test_convert_writes_the_same_bytes_to_a_pipe_a_file_and_a_capture(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes], encoding: str
) -> None:
    """Megabytes of requests, each of thousands of parts, through a pipe (which holds 64 KiB: writev
    waits for the reader), a file, and a capture (no file descriptor: writelines). Writes cut short
    are the next test's."""
    data = b"\n".join(orjson.dumps(record) for record in generate_records(6000, seed=9))
    source = tmp_path / "object.json"
    source.write_bytes(data)
    args = ["convert", str(source), "--encoding", encoding, "--max-request-bytes", "400000"]
    captured = run(capsysbinary, *args).out
    command = [*COMMAND, *args]
    piped = subprocess.run(command, capture_output=True, timeout=120, check=True).stdout
    with (tmp_path / "out").open("wb") as out:
        subprocess.run(command, stdout=out, stderr=subprocess.DEVNULL, timeout=120, check=True)
    assert len(captured) > 1_000_000
    assert piped == captured == (tmp_path / "out").read_bytes()


def test_a_reader_that_closes_stdout_stops_the_conversion_with_what_happened(tmp_path: Path) -> None:
    """`cwotlp convert A B | head -c 100`: the write error is stdout's, not a file's that cannot be read;
    the second file is not converted into the closed pipe; nothing else on stderr (the requests go out
    with writev, so no buffered bytes are left for the interpreter to fail on at exit)."""
    source = tmp_path / "object.json"
    source.write_bytes(b"\n".join(orjson.dumps(record) for record in generate_records(6000, seed=9)))
    command = [*COMMAND, "convert", str(source), str(source)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.read(100).startswith(b'{"resourceMetrics":')
        process.stdout.close()
        err = process.stderr.read()
        assert process.wait(timeout=120) == 2
    assert err.decode().splitlines() == [f"cwotlp: cannot write stdout: Broken pipe; stopped at {source}"]


@pytest.mark.parametrize("where", ["file", "full device"])
def test_requests_that_cannot_be_written_stop_the_run_with_status_2(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes], where: str
) -> None:
    if where == "file":  # a directory where the first request's file would go
        (tmp_path / "out" / "decoded.jsonl.0001.json").mkdir(parents=True)
        result = run(capsysbinary, "convert", DECODED, SINGLE, "--output-dir", tmp_path / "out")
        status, err = result.status, result.err.decode()
        assert result.summaries == []
    else:
        if not Path("/dev/full").exists():
            pytest.fail("this test needs /dev/full (Linux)")
        with open("/dev/full", "wb") as full:
            command = [*COMMAND, "convert", str(DECODED), str(SINGLE)]
            done = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, timeout=120)
        status, err = done.returncode, done.stderr.decode()
    target = tmp_path / "out" / "decoded.jsonl.0001.json" if where == "file" else "stdout"
    reason = "Is a directory" if where == "file" else "No space left on device"
    assert status == 2
    assert err.splitlines() == [f"cwotlp: cannot write {target}: {reason}; stopped at {DECODED}"]


def test_an_output_directory_that_cannot_be_made_exits_2_before_converting(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    (tmp_path / "taken").write_bytes(b"a file, not a directory")
    result = run(capsysbinary, "convert", DECODED, "--output-dir", tmp_path / "taken")
    assert result.status == 2 and result.summaries == []
    assert result.err.decode().splitlines() == [f"cwotlp: cannot write {tmp_path / 'taken'}: File exists"]


@pytest.mark.parametrize("most", [None, 13, 4096])
def test_parts_are_written_whole_and_in_order_through_partial_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, most: int | None
) -> None:
    """More parts than one writev takes, one larger than a pipe's buffer; and writes that take at most
    `most` bytes, as the kernel may when a signal arrives or stdout is a socket."""
    assert IOV_MAX is not None and IOV_MAX >= 16
    parts = [bytes([n % 251]) * (n % 97) for n in range(IOV_MAX * 3 + 5)] + [b"x" * 300_000, b"y" * 7]
    if most is not None:
        writev = os.writev

        def partly(descriptor: int, buffers: list[bytes]) -> int:
            taken: list[bytes] = []
            for buffer in buffers:
                taken.append(bytes(buffer[: most - sum(map(len, taken))]))
                if sum(map(len, taken)) == most:
                    break
            return writev(descriptor, taken)

        monkeypatch.setattr(os, "writev", partly)
    with (tmp_path / "out").open("wb") as out:
        out.write(b"head:")  # buffered, so written before the parts
        write_parts(out, parts)
    assert (tmp_path / "out").read_bytes() == b"head:" + b"".join(parts)


def test_an_output_that_takes_no_bytes_is_an_error_not_an_endless_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def nothing(descriptor: int, buffers: list[bytes]) -> int:
        calls.append(len(buffers))
        assert len(calls) < 100, "write_parts keeps calling writev that takes nothing"
        return 0

    monkeypatch.setattr(os, "writev", nothing)
    with (tmp_path / "out").open("wb") as out, pytest.raises(OSError, match="took none of the bytes"):
        write_parts(out, [b"", b"request"])
    assert calls == [2]


def convert_in_a_fresh_interpreter(*arguments: str) -> tuple[set[str], bytes]:
    """The modules a cold `cwotlp convert ARGUMENTS` has imported when it ends, and what it wrote."""
    script = (
        "import sys\nfrom cwotlp.commands.cli import main\n"
        f"main({['convert', *arguments]!r})\n"
        "sys.stderr.write('\\n' + ' '.join(sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True, timeout=60)
    return set(done.stderr.decode().rsplit("\n", 1)[1].split()), done.stdout


def test_convert_of_json_loads_no_network_secret_protobuf_or_logging_code() -> None:
    """What a cold `cwotlp convert` of a JSON object imports: none of the HTTP, TLS, AWS, secret or
    protobuf modules that send, replay and OpenTelemetry 1.0 objects need, nor logging (convert prints
    its reports itself)."""
    loaded, output = convert_in_a_fresh_interpreter(str(SINGLE))
    assert "cwotlp.pipeline" in loaded and b"resourceMetrics" in output
    unneeded = {"ssl", "http.client", "socket", "botocore", "google.protobuf", "cwotlp.secret", "logging"}
    assert loaded & unneeded == set()


def test_forwarding_1_0_frames_as_they_are_loads_neither_msgspec_nor_decimal(tmp_path: Path) -> None:
    """What a cold `cwotlp convert` of an OpenTelemetry 1.0 object under the native naming, with protobuf
    requests, imports: not the JSON path's decoder, nor decimal (for the names of statistics)."""
    path = tmp_path / "object.gz"
    path.write_bytes(otel1_object(RECORDS))
    loaded, output = convert_in_a_fresh_interpreter(
        str(path), "--format", "opentelemetry1.0", "--naming", "native", "--encoding", "protobuf"
    )
    assert "cwotlp.formats.otel1_forward" in loaded and len(output) > 1000
    assert loaded & {"msgspec", "decimal", "cwotlp.formats.json_typed"} == set()
