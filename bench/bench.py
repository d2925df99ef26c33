"""`make bench`: the forwarder's throughput, memory, bytes on the wire and start-up, on realistic objects.

The objects (cwotlp_local.realistic) have the cardinality of a real metric stream: thousands of
dimension sets over several accounts, regions and namespaces, each series one to three times, a fifth
of the records with percentiles; JSON lines and the same records as OpenTelemetry 1.0 frames, gzip (as
Firehose writes them) and plain. They are generated once and kept in .bench-data/.

Every process is measured whole, interpreter start to exit, with stdout to a file: `cwotlp convert`,
the naive converter (bench/naive.py) and the parse-only floor (bench/floor.py), in interleaved
repetitions (A B C A B C ...), so that the machine's load falls on all of them alike. Ratios are taken
pair by pair within a repetition. Each figure is min / median / max, printed beside its target and
never asserted. A forwarder option that the installed cwotlp does not have (exit status 2) gives the
row "not supported by this cwotlp". The Lambda cost (bench/cost.py) is the forwarder's CPU time per
million datapoints on the largest JSON object, and what it makes in GB-seconds at the default memory.

  python bench/bench.py [--sizes 5,32,128] [--repetitions N] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from measure import BENCH_DIR, Run, compiled, imported_modules, rss_after_imports, run, spread
from objects import FORMATS, JSON, OTEL1
from rows import CWOTLP, FORWARDER, ROWS, Row
from wire import Wire, wire_bytes

DATA_DIR = BENCH_DIR.parent / ".bench-data"
SIZES_MIB = (5, 32, 128)
# Fewer repetitions, and gzip objects only, at 128 MiB: the whole bench stays near ten minutes.
REPETITIONS = {5: 5, 32: 5, 128: 3}
COMPRESSIONS = {5: ("gzip", "plain"), 32: ("gzip", "plain"), 128: ("gzip",)}
IMPORT_RUNS = 7
COST_RUNS = 3
COLD_STARTS = 3
COLD_START_MIB = 5  # the module's default Firehose buffer
MEMORY_TARGET_MIB = 64.0
PROBE_BYTES = 64 << 10  # the object a row runs on to list its imports (see baseline_mib)
IMPORT_TARGET_MS = 150.0
FORMAT_NAMES = {JSON: "JSON lines", OTEL1: "OpenTelemetry 1.0"}
HOW = """\
Each process is measured whole (interpreter start to exit, stdout to a file), in interleaved repetitions
(A B C A B C ...); records/s and ratios are min / median / max, ratios taken pair by pair within a
repetition. max RSS is the process's peak resident set (the largest of its repetitions); added is that
less a fresh interpreter that has imported the modules the process imports, lazily loaded ones included
(protobuf's for OpenTelemetry 1.0), so that every row leaves out its code alike. The cwotlp rows of
OpenTelemetry 1.0 objects run `cwotlp convert FILE --format opentelemetry1.0 ...`; their records are
datapoints, the JSON object's records. cwotlp's modules and the bench's are compiled to bytecode before
the runs, as pip compiles an installed package, and that bytecode is removed before the cold start,
which compiles cwotlp's modules from source (the slower case). The handler import is measured from the
deployment package for this machine, with and without its bytecode: a package has bytecode when it was
built with a CPython of the Lambda's version at hand (lambda/build.py)."""


@dataclass
class ObjectResult:
    """The runs of every row on one object, and the forwarder's bytes on the wire."""

    runs: dict[str, list[Run]]
    unsupported: set[str] = field(default_factory=set)
    wire: dict[str, Wire] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """What main() was asked for, and the memory baselines found so far (see baseline_mib)."""

    cwotlp: str
    seed: int
    scratch: Path
    baselines: dict[tuple[str, str, bool], float] = field(default_factory=dict)

    def baseline_mib(self, row: Row, output_format: str, compress: bool) -> float:
        """What `added` is measured from: the resident set of a fresh interpreter that has imported what
        a process of the row imports, at the top level and lazily alike; the modules are those a run on
        a small object of the same format and compression imports. The same for every row, this leaves
        out the code each loads, so that added is the memory its work on the object takes."""
        from cwotlp_local.realistic import cached_object

        key = (row.label, output_format, compress)
        if key not in self.baselines:
            probe = cached_object(
                DATA_DIR, PROBE_BYTES, seed=self.seed, output_format=output_format, compress=compress
            )
            modules = imported_modules(row.argv(output_format, probe, self.cwotlp))
            self.baselines[key] = rss_after_imports(modules)
        return self.baselines[key]


def measure_object(
    output_format: str, path: Path, repetitions: int, records: int, plan: Plan, *, wire: bool
) -> ObjectResult:
    """Every row of the format on one object, A B C A B C ...; the forwarder's bytes on the wire from
    its first run when `wire`."""
    result = ObjectResult({row.label: [] for row in ROWS[output_format]})
    stdout = plan.scratch / "stdout"
    for repetition in range(repetitions):
        for row in ROWS[output_format]:
            if row.label in result.unsupported:
                continue
            argv = row.argv(output_format, path, plan.cwotlp)
            measured = run(argv, stdout, plan.scratch, may_reject=bool(row.options))
            if measured is None:
                result.unsupported.add(row.label)
                continue
            if measured.datapoints != records:
                raise SystemExit(f"{row.label} counted {measured.datapoints} records of {records} in {path}")
            result.runs[row.label].append(measured)
            if wire and repetition == 0 and row.role == FORWARDER:
                result.wire[row.label] = wire_bytes(stdout, row.encoding)
    return result


def print_object(output_format: str, result: ObjectResult, records: int, baselines: dict[str, float]) -> None:
    """The rows' rates and memory; `baselines` by row label (Plan.baseline_mib)."""
    print(f"  {'process':<58} {'records/s: min / median / max':>34} {'max RSS':>9} {'added':>8}")
    for row in ROWS[output_format]:
        runs = result.runs[row.label]
        if row.label in result.unsupported:
            print(f"  {row.label:<58} not supported by this cwotlp")
            continue
        rates = spread([records / r.seconds for r in runs], ",.0f")
        peak = max(r.max_rss_mib for r in runs)
        added = peak - baselines[row.label]
        target = f"   target: added <= {MEMORY_TARGET_MIB:g} MiB" if row.role == FORWARDER else ""
        print(f"  {row.label:<58} {rates:>34} {peak:>5.0f} MiB {added:>+4.0f} MiB{target}")
    print_ratios(output_format, result)


def print_ratios(output_format: str, result: ObjectResult) -> None:
    references = {row.role: result.runs[row.label] for row in ROWS[output_format] if row.role != FORWARDER}
    for row in ROWS[output_format]:
        runs = result.runs[row.label]
        for target in row.targets if runs else ():
            pairs = zip(runs, references[target.reference], strict=True)
            ratios = [
                (b.seconds / a.seconds) if target.speedup else (a.seconds / b.seconds) for a, b in pairs
            ]
            what = f"{target.reference} / cwotlp" if target.speedup else f"cwotlp / {target.reference}"
            line = f"{row.label}: time {what}"
            verdict = target.verdict(statistics.median(ratios))
            print(f"    {line:<78} {spread(ratios, '.2f') + 'x':>22}   {verdict}")


def measure_size(mib: int, output_format: str, repetitions: int, plan: Plan) -> ObjectResult:
    """Every compression of one object size and format: generated (or read from the cache), measured and
    printed. The result of the first, whose bytes on the wire were taken."""
    from cwotlp_local.realistic import cached_object

    seed = plan.seed
    records = cached_object(DATA_DIR, mib << 20, seed=seed).read_bytes().count(b"\n")
    results: list[ObjectResult] = []
    for compression in COMPRESSIONS.get(mib, ("gzip",)):
        gzip = compression == "gzip"
        path = cached_object(DATA_DIR, mib << 20, seed=seed, output_format=output_format, compress=gzip)
        megabytes = path.stat().st_size / 2**20
        print(f"\n{mib} MiB {FORMAT_NAMES[output_format]}, {compression}: {records:,} records, ", end="")
        print(f"{megabytes:.2f} MiB object, {repetitions} repetitions")
        results.append(measure_object(output_format, path, repetitions, records, plan, wire=not results))
        supported = [row for row in ROWS[output_format] if row.label not in results[-1].unsupported]
        baselines = {row.label: plan.baseline_mib(row, output_format, gzip) for row in supported}
        print_object(output_format, results[-1], records, baselines)
    return results[0]


def print_wire(results: dict[tuple[int, str], ObjectResult], seed: int) -> None:
    from cwotlp.delivery.export import GZIP_LEVEL
    from cwotlp_local.realistic import cached_object

    print(
        "\nbytes on the wire: the forwarder's requests (at most 3 MiB each), each gzipped as it sends them"
        f" (zlib-ng, level {GZIP_LEVEL})"
    )
    print(f"  {'object':<25} {'process':<58} {'requests':>8} {'raw MiB':>9} {'gzip MiB':>9} {'gzip/S3':>8}")
    for (mib, output_format), result in results.items():
        in_s3 = cached_object(DATA_DIR, mib << 20, seed=seed, output_format=output_format, compress=True)
        name = f"{mib} MiB {FORMAT_NAMES[output_format]}"
        for row in ROWS[output_format]:
            sent = result.wire.get(row.label)
            if row.role != FORWARDER:
                continue
            if sent is None:
                print(f"  {name:<25} {row.label:<58} not supported by this cwotlp")
                continue
            raw, compressed = sent.raw_bytes / 2**20, sent.gzip_bytes / 2**20
            ratio = sent.gzip_bytes / in_s3.stat().st_size
            sizes = f"{sent.requests:>8} {raw:>9.2f} {compressed:>9.2f} {ratio:>7.2f}x"
            print(f"  {name:<25} {row.label:<58} {sizes}")
    print("  gzip/S3: the gzipped requests against the gzip object Firehose wrote (no target)")


IMPORT_CODE = """
import sys, time
started = time.perf_counter()
import cwotlp.handler
imported = time.perf_counter()
import cwotlp.pipeline, cwotlp.secret, cwotlp.delivery.export, cwotlp.delivery.progress
if sys.argv[2] == "json":
    import cwotlp.formats.json_typed, msgspec as loaded_module
    cwotlp.formats.json_typed._decoder()
else:
    import cwotlp.formats.otel1, google.protobuf.message as loaded_module
    cwotlp.formats.otel1.lazy_message_class()
loaded = time.perf_counter()
for module in (cwotlp, loaded_module):
    assert module.__file__.startswith(sys.argv[1]), module.__file__
print(imported - started, loaded - started)
"""
LOADS = {"json": "a JSON object", "1.0": "a 1.0 object"}  # what each object's format loads


def print_import_time() -> None:
    """Imports from this machine's deployment package (lambda/build.py, for its Python and architecture),
    unpacked as Lambda unpacks it, with its bytecode and without it: a package has bytecode when it was
    built with a CPython of its runtime at hand. boto3 comes from this environment, as from Lambda's."""
    print(f"\nhandler import (in {IMPORT_RUNS} fresh interpreters a format, from the deployment package)")
    with tempfile.TemporaryDirectory(prefix="cwotlp-import-") as scratch:
        with_bytecode, without = unpacked_packages(Path(scratch))
        environment = {k: v for k, v in os.environ.items() if k != "PYTHONPYCACHEPREFIX"}
        for label, directory in (("with bytecode", with_bytecode), ("without bytecode", without)):
            times = {
                kind: [import_times(directory, kind, environment) for _ in range(IMPORT_RUNS)]
                for kind in LOADS
            }
            handler_ms = [1000 * handler for runs in times.values() for handler, _ in runs]
            verdict = "met" if statistics.median(handler_ms) <= IMPORT_TARGET_MS else "NOT met"
            target = f"target <= {IMPORT_TARGET_MS:g} ms: median {verdict}"
            print(f"  {label + ': import cwotlp.handler':<54} {spread(handler_ms, '.0f')} ms   {target}")
            for kind, runs in times.items():
                loaded_ms = [1000 * loaded for _, loaded in runs]
                what = f"{label}: and what {LOADS[kind]} loads"
                print(f"  {what:<54} {spread(loaded_ms, '.0f')} ms   (no target)")


def import_times(directory: Path, kind: str, environment: dict[str, str]) -> tuple[float, float]:
    """Seconds to import the handler, and to load what an object of that kind needs, in a fresh
    interpreter importing from `directory`."""
    command = [sys.executable, "-B", "-c", IMPORT_CODE, str(directory), kind]  # -B: nothing writes any
    finished = subprocess.run(
        command, env=environment | {"PYTHONPATH": str(directory)}, capture_output=True, check=True, timeout=60
    )
    handler, loaded = map(float, finished.stdout.split())
    return handler, loaded


def unpacked_packages(scratch: Path) -> tuple[Path, Path]:
    """The deployment package for this machine built and unpacked twice: as built, and without its
    bytecode."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    arch = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
    package = scratch / "cwotlp.zip"
    build = [sys.executable, str(BENCH_DIR.parent / "lambda" / "build.py"), "--output", str(package)]
    build += ["--arch", arch, "--python-version", version]
    subprocess.run(build, capture_output=True, check=True, timeout=600)
    with_bytecode, without = scratch / "with", scratch / "without"
    with zipfile.ZipFile(package) as archive:
        archive.extractall(with_bytecode)
        archive.extractall(without)
    compiled = list(without.rglob("__pycache__"))
    if not compiled:
        raise RuntimeError(f"{package} has no bytecode: lambda/build.py found no CPython {version}")
    for directory in compiled:
        shutil.rmtree(directory)
    return with_bytecode, without


def print_cost(mib: int, seed: int) -> None:
    from cost import MB_PER_VCPU

    from cwotlp_local.lambda_context import LAMBDA_MEMORY_MB
    from cwotlp_local.realistic import cached_object

    path = cached_object(DATA_DIR, mib << 20, seed=seed, compress=True)
    command = [sys.executable, str(BENCH_DIR / "cost.py"), str(path), str(COST_RUNS)]
    finished = subprocess.run(command, capture_output=True, check=True, timeout=1800, cwd=BENCH_DIR)
    measured = json.loads(finished.stdout)
    cpu = measured["cpu_seconds_per_million"]
    gb_seconds = [seconds * MB_PER_VCPU / 1024 for seconds in cpu]
    wall = [seconds * MB_PER_VCPU / LAMBDA_MEMORY_MB for seconds in cpu]
    print(f"\nLambda cost: the forwarder's work on the {mib} MiB gzip JSON object, {COST_RUNS} runs")
    print("  (in process: gunzip, parse, convert, encode, gzip every request; no network; module defaults)")
    # Only the CPU-seconds are measured; the other rows are derived from them (one vCPU per 1,769 MB).
    rows = (
        ("CPU-seconds per million datapoints (measured)", cpu, ".2f"),
        (
            f"estimated seconds per million datapoints at {LAMBDA_MEMORY_MB} MB"
            f" (CPU-s x {MB_PER_VCPU} / {LAMBDA_MEMORY_MB})",
            wall,
            ".1f",
        ),
        (
            f"GB-seconds per million datapoints (CPU-s x {MB_PER_VCPU} / 1024,"
            f" any memory to {MB_PER_VCPU} MB)",
            gb_seconds,
            ".1f",
        ),
    )
    width = max(len(label) for label, _, _ in rows)
    for label, values, form in rows:
        print(f"  {label:<{width}} {spread(values, form)}   (no target)")


def print_cold_start(seed: int) -> None:
    from coldstart import cold_starts

    from cwotlp_local.realistic import cached_object

    path = cached_object(DATA_DIR, COLD_START_MIB << 20, seed=seed, compress=True)
    starts = cold_starts(path, COLD_STARTS)
    runs = f"{COLD_STARTS} fresh interpreters, each handed the {COLD_START_MIB} MiB gzip JSON object twice"
    print(f"\ncold start: {runs}")
    print("  (moto S3 and Secrets Manager, an OAuth2 token endpoint and a TLS collector, all on 127.0.0.1)")
    for label, values in (
        ("fresh interpreter to cwotlp.handler imported", [s.imported for s in starts]),
        ("fresh interpreter to the first object delivered", [s.cold for s in starts]),
        ("the first invocation alone", [s.cold_handler for s in starts]),
        ("a warm object (the second, same process)", [s.warm for s in starts]),
        ("cold minus warm, run by run", [s.cold - s.warm for s in starts]),
    ):
        print(f"  {label:<50} {spread(values, '.2f')} s   (no target)")
    print("  both deliveries include the local collector's strict decoding of the OTLP JSON, in Python")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES_MIB)), help="object sizes in MiB")
    parser.add_argument("--repetitions", type=int, help="repetitions of every object (default: by size)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated objects")
    parser.add_argument("--cwotlp", default=CWOTLP, help="the forwarder's command (default: %(default)s)")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    started = time.monotonic()
    machine = f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    print(f"cwotlp benchmark ({machine}); objects in {DATA_DIR.name}/, seed {args.seed}")
    print(HOW)
    repetitions = {mib: args.repetitions or REPETITIONS.get(mib, 3) for mib in sizes}
    compressions = {mib: " and ".join(COMPRESSIONS.get(mib, ("gzip",))) for mib in sizes}
    print(
        "repetitions: " + ", ".join(f"{mib} MiB: {repetitions[mib]} ({compressions[mib]})" for mib in sizes)
    )
    results: dict[tuple[int, str], ObjectResult] = {}
    import cwotlp

    with compiled([Path(cwotlp.__file__).parent, BENCH_DIR]):
        with tempfile.TemporaryDirectory(prefix="cwotlp-bench-") as scratch:
            plan = Plan(args.cwotlp, args.seed, Path(scratch))
            for mib in sizes:
                for output_format in FORMATS:
                    measured = measure_size(mib, output_format, repetitions[mib], plan)
                    results[(mib, output_format)] = measured
        print_wire(results, args.seed)
        print_cost(max(sizes), args.seed)
    print_import_time()
    print_cold_start(args.seed)
    print(f"\n(the bench took {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
