"""`make bench`: throughput, memory and import time of the forwarder, beside a naive converter.

For generated Firehose objects of realistic records (5 MiB and 32 MiB), each measurement runs in a
fresh process so one does not inherit another's heap:
  - records/s for decode + convert + serialize, cwotlp (JSON and protobuf requests, with and without
    the gzip they are sent with) and the naive baseline, and the JSON-to-baseline ratio;
  - the peak memory each adds while processing (resident set, above the process after imports; cwotlp
    streams the object from disk in 1 MiB chunks as it streams from S3, the baseline reads it whole);
  - bytes on the wire: the OTLP JSON and protobuf requests, raw and gzipped (level 1, as sent);
  - the import time of the Lambda handler module (best of several cold interpreters).
Targets: at least 6x the baseline, memory that does not grow with the object (32 MiB adds <= 64 MiB),
handler import <= 150 ms. The figures are printed, not asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

SIZES_MIB = (5, 32)
RUNS = 3
IMPORT_RUNS = 7
MAX_REQUEST_BYTES = 3 * 1024 * 1024  # the forwarder's default


def _status_mib(field: str) -> float:
    """A memory figure of this process from /proc (getrusage's peak would include the parent's, which a
    child inherits across fork and exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(kind: str, path: str) -> None:
    """Runs one measurement and prints it as JSON."""
    from cwotlp.delivery.export import gzipped
    from cwotlp.otlp.convert import Naming
    from cwotlp.otlp.encoding import encoding_named
    from cwotlp.pipeline import Conversion

    sys.path.insert(0, str(Path(__file__).parent))
    import naive

    def chunks(stream: BinaryIO) -> Iterator[bytes]:
        return iter(lambda: stream.read(1 << 20), b"")

    baseline = _status_mib("VmRSS")
    started = time.perf_counter()
    raw = wire = requests = records = 0
    if kind == "naive":
        raw, requests = len(naive.convert(Path(path).read_bytes())), 1
    else:
        with open(path, "rb") as stream:
            encoding = encoding_named(kind.removesuffix("+gzip"))
            conversion = Conversion(chunks(stream), Naming(), MAX_REQUEST_BYTES, encoding=encoding)
            for batch in conversion.batches():
                parts = batch.body_parts()
                if kind.endswith("+gzip"):
                    size, body = gzipped(parts)
                    raw, wire = raw + size, wire + len(body)
                else:
                    raw += sum(map(len, parts))
                requests += 1
        records = conversion.records
    elapsed = time.perf_counter() - started
    peak = _status_mib("VmHWM") - baseline
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "records": records,
                "peak_mib": peak,
                "raw": raw,
                "gzip": wire,
                "requests": requests,
            }
        )
    )


def _row(*cells: object) -> str:
    return " ".join(f"{cell!s:>12}" for cell in cells)


def measure(kind: str, path: Path) -> dict[str, float]:
    runs = []
    for _ in range(RUNS):
        output = subprocess.run(
            [sys.executable, __file__, "--child", kind, str(path)],
            capture_output=True,
            check=True,
            timeout=600,
        ).stdout
        runs.append(json.loads(output))
    best = min(runs, key=lambda r: r["seconds"])
    best["peak_mib"] = max(r["peak_mib"] for r in runs)
    return best


def import_time_ms() -> float:
    code = "import time; t = time.perf_counter(); import cwotlp.handler; print(time.perf_counter() - t)"
    times = [
        float(
            subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, timeout=60).stdout
        )
        for _ in range(IMPORT_RUNS)
    ]
    return min(times) * 1000


def main() -> None:
    from cwotlp_local.generator import object_of_size

    print(
        f"cwotlp benchmark (Python {sys.version.split()[0]}, best of {RUNS} runs, each in a fresh process)\n"
    )
    kinds = ("json", "json+gzip", "protobuf", "protobuf+gzip", "naive")
    results: dict[int, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as directory:
        for mib in SIZES_MIB:
            data, records = object_of_size(mib << 20, seed=mib)
            path = Path(directory) / f"object-{mib}.json"
            path.write_bytes(data)
            del data
            results[mib] = {kind: measure(kind, path) for kind in kinds}
            if any(results[mib][kind]["records"] != records for kind in kinds if kind != "naive"):
                raise SystemExit("the benchmark lost records")
            results[mib]["records"] = {"count": records}

    print("records per second (decode + convert + serialize; +gzip: and gzip level 1, as sent)")
    print(_row("object", "records", "json", "naive", "json/naive", "json+gzip", "protobuf", "protobuf+gzip"))
    for mib, by_kind in results.items():
        count = by_kind["records"]["count"]
        rate = {kind: count / by_kind[kind]["seconds"] for kind in kinds}
        print(
            _row(
                f"{mib} MiB",
                int(count),
                *(f"{rate[kind]:,.0f}" for kind in ("json", "naive")),
                f"{rate['json'] / rate['naive']:.1f}x",
                *(f"{rate[kind]:,.0f}" for kind in ("json+gzip", "protobuf", "protobuf+gzip")),
            )
        )
    print("\npeak memory added (MiB) and bytes on the wire (MiB, requests of at most 3 MiB before gzip)")
    print(
        _row(
            "object",
            "json +MiB",
            "naive +MiB",
            "requests",
            "json raw",
            "json gzip",
            "proto raw",
            "proto gzip",
        )
    )
    for mib, by_kind in results.items():
        json_sent, proto_sent = by_kind["json+gzip"], by_kind["protobuf+gzip"]
        print(
            _row(
                f"{mib} MiB",
                f"{json_sent['peak_mib']:.1f}",
                f"{by_kind['naive']['peak_mib']:.1f}",
                int(json_sent["requests"]),
                *(
                    f"{sent[size] / 2**20:.2f}"
                    for sent in (json_sent, proto_sent)
                    for size in ("raw", "gzip")
                ),
            )
        )
    print("\nnaive: json.loads per line, dicts, json.dumps of the whole payload (bench/naive.py).")
    print(f"\nhandler import: {import_time_ms():.0f} ms (best of {IMPORT_RUNS} cold interpreters)")
    print("targets: ratio >= 6x, 32 MiB adds <= 64 MiB, handler import <= 150 ms")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main()
