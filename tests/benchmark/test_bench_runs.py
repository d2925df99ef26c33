"""`make bench` runs from start to end on a small object: every row measured (none "not supported"), the
bytes on the wire, the import time and the cold start, whose deliveries must succeed. Its figures are
printed for people; nothing here judges a speed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_bench_runs_every_part_on_a_small_object() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench.py"), "--sizes", "1", "--repetitions", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = result.stdout
    assert result.returncode == 0, result.stderr[-3000:]
    assert "not supported" not in output
    for heading in (
        "1 MiB JSON lines, gzip",
        "1 MiB OpenTelemetry 1.0, gzip",
        "bytes on the wire",
        "handler import",
        "Lambda cost",
        "cold start",
    ):
        assert heading in output, heading
    measured = re.findall(r"^  (cwotlp convert[^\n]*?|naive[^\n]*?|floor[^\n]*?)\s+([\d,]+) / ", output, re.M)
    labels = {label.strip() for label, _ in measured}
    assert sum(label.startswith("cwotlp convert") for label in labels) == 7, labels
    assert all(int(rate.replace(",", "")) > 0 for _, rate in measured)
    assert re.search(r"fresh interpreter to the first object delivered\s+[\d.]+ / ", output)
    for variant in ("with bytecode", "without bytecode"):  # the deployment package for this machine
        assert re.search(rf"{variant}: import cwotlp.handler\s+\d+ / \d+ / \d+ ms", output)
        for kind in ("a JSON object", "a 1.0 object"):
            assert re.search(rf"{variant}: and what {kind} loads\s+\d+ / \d+ / \d+ ms", output)
    assert re.search(r"GB-seconds per million datapoints .*\s+[\d.]+ / [\d.]+ / [\d.]+", output)
