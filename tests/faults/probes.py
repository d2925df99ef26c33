"""The large inputs of the memory cases, and the probe processes that measure their conversion.

The probes (memory_probe.py, one process each) need minutes of CPU between them, most of it under
tracemalloc. They are started as soon as the session has collected a memory case, so that they run
while the other cases mostly wait on sockets and timers; the memory cases read their results last.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from faults.high_cardinality import gzip_file, write_object
from faults.records import MIB, json_lines, json_object, record, repeating_gzip

PROBE = Path(__file__).with_name("memory_probe.py")


@dataclass(frozen=True)
class HostileInput:
    data: bytes
    plain_bytes: int
    delivered: range
    skipped: dict[str, int]


def _blank_runs() -> bytes:
    """Records separated by runs of blank lines: newlines, CRLFs, and lines of spaces and tabs."""
    runs = [b"\n" * MIB, b"\r\n" * (MIB // 2), b" \t\n" * (MIB // 3), b"\n\n\r\n" * (MIB // 4)]
    records = [json_lines(record(seq) for seq in range(i * 25, i * 25 + 25)) for i in range(len(runs))]
    return b"".join(part + run for part, run in zip(records, runs, strict=True))


@functools.cache
def hostile_inputs() -> dict[str, HostileInput]:
    head, tail = json_object(range(50)), json_object(range(50, 100))
    blank_runs = _blank_runs()
    bomb = repeating_gzip(head, bytes(MIB), 1024, b"\n" + tail)
    newlines = repeating_gzip(head, b"\n" * MIB, 128, tail)
    long_line = repeating_gzip(head + tail, b"x" * MIB, 200, b"")
    too_long = {"line_too_long": 1}
    return {
        "gzip-bomb-1GiB-of-zeros": HostileInput(bomb, 1024 * MIB, range(100), too_long),
        "128MiB-of-newlines": HostileInput(newlines, 128 * MIB, range(100), {}),
        "200MiB-line-without-newline": HostileInput(long_line, 200 * MIB, range(100), too_long),
        "plain-runs-of-blank-lines": HostileInput(blank_runs, len(blank_runs), range(100), {}),
    }


class Probes:
    """Three probe processes: the realistic 128 MiB object, plain and gzip, each under tracemalloc;
    and the longer run, every hostile input then both realistic objects, measured by resident memory
    and CPU time."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        plain, compressed = directory / "realistic-128MiB.jsonl", directory / "realistic-128MiB.jsonl.gz"
        self.records = write_object(plain, 128 * MIB)
        gzip_file(plain, compressed)
        hostile = [directory / name for name in hostile_inputs()]
        for path, found in zip(hostile, hostile_inputs().values(), strict=True):
            path.write_bytes(found.data)
        self._running = {
            "traced-plain": _start(["--trace", "{}", plain]),
            "traced-gzip": _start(["--trace", "{}", compressed]),
            "longer-run": _start(["{}", *hostile, plain, compressed]),
        }
        self._results: dict[str, list[dict[str, float]]] = {}

    def results(self, name: str) -> list[dict[str, float]]:
        if name not in self._results:
            out, err = self._running[name].communicate(timeout=900)
            assert self._running[name].returncode == 0, err[-2000:]
            self._results[name] = [json.loads(line) for line in out.splitlines()]
        return self._results[name]

    def stop(self) -> None:
        for process in self._running.values():
            if process.poll() is None:
                process.kill()
            process.communicate()


def _start(arguments: list[object]) -> subprocess.Popen[str]:
    command = [sys.executable, str(PROBE), *map(str, arguments)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


_started: list[Probes] = []


def start_probes(directory: Path | None = None) -> Probes:
    """Starts the probes once per session, in `directory` or a temporary one removed by stop_probes."""
    if not _started:
        _started.append(Probes(directory or Path(tempfile.mkdtemp(prefix="cwotlp-memory-"))))
    return _started[0]


def started_probes() -> Probes | None:
    return _started[0] if _started else None


def stop_probes() -> None:
    for probes in _started:
        probes.stop()
        shutil.rmtree(probes.directory, ignore_errors=True)
    _started.clear()
