"""Runs the forwarder's conversion over files, in a process of its own, and reports what it cost.

    python memory_probe.py [--trace] SETTINGS_JSON FILE...

For each file: cwotlp.pipeline.Conversion reads it in the forwarder's own chunk size, and every batch is
rendered and gzipped as the exporter does before sending. Reported as one JSON line per file: records,
requests, plain bytes, the peak of traced allocations added (with --trace; tracemalloc slows the
conversion several times over), the resident memory added (without --trace: the peak resident size,
VmHWM, what getrusage's ru_maxrss reports but reset before each file, minus VmRSS before it), and
CPU seconds. A process of its own gives a clean resident-memory baseline, and lets the
measurements of two files run on two cores.
"""

from __future__ import annotations

import contextlib
import gc
import json
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

from cwotlp.config import Settings
from cwotlp.delivery.export import gzipped
from cwotlp.pipeline import Conversion
from cwotlp.source import CHUNK_BYTES


def _status(field: str) -> int:
    """A memory figure from /proc/self/status, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise LookupError(field)


def _chunks(path: Path, limit: int | None = None) -> Iterator[bytes]:
    with path.open("rb") as source:
        read = 0
        while (chunk := source.read(CHUNK_BYTES)) and (limit is None or read < limit):
            read += len(chunk)
            yield chunk


def convert(path: Path, settings: Settings, limit: int | None = None) -> dict[str, int]:
    conversion = Conversion(_chunks(path, limit), settings)
    requests = 0
    for batch in conversion.batches():
        gzipped(batch.body_parts())
        requests += 1
    return {
        "records": conversion.records,
        "requests": requests,
        "plain_bytes": conversion.source.plain_bytes,
        "skipped": sum(conversion.skipped.values()),
    }


def measure(path: Path, settings: Settings, trace: bool) -> dict[str, float]:
    convert(path, settings, limit=CHUNK_BYTES)  # imports and first-use caches, not the object's cost
    gc.collect()
    with contextlib.suppress(OSError):  # without it the peak is the process's: larger, never smaller
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current resident size
    resident = _status("VmRSS")
    if trace:
        tracemalloc.start()
    cpu = time.process_time()
    found: dict[str, float] = dict(convert(path, settings))
    found["cpu_seconds"] = time.process_time() - cpu
    if trace:
        found["traced_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    else:
        found["resident_added"] = _status("VmHWM") - resident
    return found


def main(arguments: list[str]) -> None:
    trace = arguments[0] == "--trace"
    settings_text, *files = arguments[1:] if trace else arguments
    settings = Settings.from_environment(json.loads(settings_text))
    for name in files:
        print(json.dumps({"file": name, **measure(Path(name), settings, trace)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
