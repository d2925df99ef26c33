"""Time and memory: decompression bombs, huge lines, runs of blank lines and 128 MiB objects of realistic
cardinality add at most 64 MiB at their peak, and finish. Wall-clock time is never asserted: CPU time
is reported per MiB of plain data, and bounded only where it would show a blow-up.

The hostile inputs go through the real handler (moto holds each object, small when compressed) with
tracemalloc on. The 128 MiB objects go through cwotlp.pipeline.Conversion from a file read in the
forwarder's chunk size, in probe processes of their own (faults/probes.py, faults/memory_probe.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from faults.figures import report
from faults.probes import PROBE, Probes, hostile_inputs, start_probes, started_probes
from faults.records import MIB, json_object
from faults.world import World

pytestmark = pytest.mark.memory

LIMIT = 64 * MIB
CPU_SECONDS_PER_MIB = 0.25  # about four times the realistic conversion's cost: only a blow-up fails it


@pytest.fixture(scope="module")
def probes(tmp_path_factory: pytest.TempPathFactory) -> Probes:
    """The probes started when the session's cases were collected (or now, if they were not)."""
    return started_probes() or start_probes(tmp_path_factory.mktemp("memory"))


@pytest.mark.parametrize("name", list(hostile_inputs()))
def test_hostile_decompression_and_lines_stay_within_64_mib(world: World, name: str) -> None:
    found = hostile_inputs()[name]
    event = world.put(f"metrics/{name}", found.data)
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        cpu = time.process_time()
        outcome = world.invoke(event, seconds=600)
        cpu = time.process_time() - cpu
        added = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    per_mib = cpu / (found.plain_bytes / MIB) * 1000
    report(f"handler, {name}: {added / MIB:.1f} MiB added at peak, {per_mib:.2f} ms CPU/MiB (traced)")
    assert outcome.error is None, outcome.error
    world.receiver.assert_exactly_once(found.delivered)
    assert outcome.line["skipped"] == found.skipped
    assert added <= LIMIT, f"{added / MIB:.1f} MiB added"


@pytest.mark.parametrize("variant", ["plain", "gzip"])
def test_realistic_128_mib_objects_convert_within_64_mib(probes: Probes, variant: str) -> None:
    [result] = probes.results(f"traced-{variant}")
    report(
        f"realistic 128 MiB {variant}: {result['records']:.0f} records in {result['requests']:.0f} requests, "
        f"{result['traced_peak'] / MIB:.1f} MiB traced at peak"
    )
    assert result["records"] == probes.records
    assert result["skipped"] == 0
    assert result["plain_bytes"] > 127 * MIB
    assert result["traced_peak"] <= LIMIT, f"{result['traced_peak'] / MIB:.1f} MiB"


def test_a_longer_run_of_hostile_and_large_inputs_stays_bounded(probes: Probes) -> None:
    """One process converts every input in turn; each must add at most 64 MiB of resident memory
    (VmHWM over VmRSS before it) and stay within the CPU bound per MiB of plain data."""
    results = probes.results("longer-run")
    assert len(results) == len(hostile_inputs()) + 2
    over = []
    for result in results:
        name = Path(str(result["file"])).name
        per_mib = result["cpu_seconds"] / (result["plain_bytes"] / MIB)
        added = result["resident_added"] / MIB
        report(f"longer run, {name}: {added:.1f} MiB resident added, {per_mib * 1000:.2f} ms CPU/MiB")
        if added > LIMIT / MIB or per_mib > CPU_SECONDS_PER_MIB:
            over.append(f"{name}: {added:.1f} MiB, {per_mib:.3f} s/MiB")
    assert over == [], over


def test_the_probe_sees_memory_that_is_held(tmp_path: Path) -> None:
    """The probe can fail: a conversion that holds its records (one request as large as the object)
    shows it in the figures."""
    data = tmp_path / "one-big-request.jsonl"
    data.write_bytes(json_object(range(20_000)))
    settings = json.dumps({"CWOTLP_MAX_REQUEST_BYTES": str(64 << 20)})
    command = [sys.executable, str(PROBE), "--trace", settings, str(data)]
    result = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    assert result["requests"] == 1
    assert result["traced_peak"] > data.stat().st_size / 2
