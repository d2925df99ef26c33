"""Running one measured process: wall time from spawn to exit, its peak memory, its summary line."""

from __future__ import annotations

import compileall
import contextlib
import importlib.util
import json
import os
import signal
import statistics
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROCESS_TIMEOUT_SECONDS = 600.0
EXIT_USAGE = 2  # what `cwotlp` (argparse) exits with for an option it does not know


@contextlib.contextmanager
def compiled(directories: Sequence[Path]) -> Iterator[None]:
    """The Python sources under `directories` compiled to bytecode while the block runs, as pip does
    when it installs a package, so that no measured process spends its time compiling them (with
    PYTHONDONTWRITEBYTECODE set, or an editable install, nothing else writes it). The bytecode files
    made here are removed afterwards; those that were there before stay."""
    sources = [source for directory in directories for source in sorted(directory.rglob("*.py"))]
    made = [Path(importlib.util.cache_from_source(str(source))) for source in sources]
    made = [path for path in made if not path.exists()]
    try:
        for directory in directories:
            compileall.compile_dir(directory, quiet=1)
        yield
    finally:
        for path in made:
            path.unlink(missing_ok=True)


class MeasurementError(Exception):
    """A measured process failed for another reason than an unknown option."""


@dataclass(frozen=True)
class Run:
    seconds: float
    max_rss_mib: float
    datapoints: int
    summary: dict[str, object]


def run(argv: Sequence[str], stdout: Path, scratch: Path, *, may_reject: bool = False) -> Run | None:
    """Runs argv with stdout to a file; None when it exits with status 2 and `may_reject` (the options
    of a forwarder that does not have them).

    The time is the whole process, interpreter start to exit; the memory is its peak resident set.
    Both are taken by spawn.py, which starts the process (see there why).
    """
    stderr_path, report_path = scratch / "stderr.txt", scratch / "spawn.json"
    launcher = [sys.executable, "-S", str(BENCH_DIR / "spawn.py"), str(report_path), *argv]
    with stdout.open("wb") as out, stderr_path.open("wb") as err:
        process = subprocess.Popen(
            launcher, stdout=out, stderr=err, env=_child_environment(), start_new_session=True
        )
        try:
            status = process.wait(timeout=PROCESS_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the launcher and what it started
            process.wait()
            raise MeasurementError(f"{' '.join(argv)} took more than {PROCESS_TIMEOUT_SECONDS:g} s") from None
    errors = stderr_path.read_text(errors="replace")
    if status == EXIT_USAGE and may_reject:
        return None
    if status != 0:
        raise MeasurementError(f"{' '.join(argv)} exited with {status}: {errors[-2000:]}")
    report = json.loads(report_path.read_text())
    summary = _last_summary(errors)
    # cwotlp counts records read (a gauge naming sends several datapoints per record); the others
    # count the datapoints they made, one per record.
    datapoints = int(str(summary.get("records", summary.get("datapoints", -1))))
    return Run(report["seconds"], report["max_rss_kib"] / 1024, datapoints, summary)


def _last_summary(stderr: str) -> dict[str, object]:
    for line in reversed(stderr.splitlines()):
        if line.startswith("{"):
            value = json.loads(line)
            if isinstance(value, dict):
                return value
    raise MeasurementError(f"no JSON summary on stderr: {stderr[-2000:]}")


def _child_environment() -> dict[str, str]:
    """This environment, with bench/ importable for the measured scripts."""
    path = os.pathsep.join(filter(None, [str(BENCH_DIR), os.environ.get("PYTHONPATH", "")]))
    return {**os.environ, "PYTHONPATH": path}


def imported_modules(argv: Sequence[str]) -> list[str]:
    """The modules a run of argv imports at the top level (by itself or from its functions, lazily), in
    the order it imports them, as PYTHONPROFILEIMPORTTIME lists them; importing these imports the rest."""
    finished = subprocess.run(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=True,
        timeout=PROCESS_TIMEOUT_SECONDS,
        env={**_child_environment(), "PYTHONPROFILEIMPORTTIME": "1"},
        text=True,
    )
    lines = (line.split("|")[2] for line in finished.stderr.splitlines() if line.startswith("import time:"))
    # The name comes after one space, and two more per level of nesting.
    return [name.strip() for name in lines if name[1:2] != " " and name.strip() != "imported package"]


def rss_after_imports(modules: Sequence[str], runs: int = 3) -> float:
    """The resident set (MiB) of a fresh interpreter once it has imported `modules`: the median of `runs`."""
    code = (
        f"import importlib\nfor name in {list(modules)!r}: importlib.import_module(name)\n"
        "print(next(l for l in open('/proc/self/status') if l.startswith('VmRSS:')).split()[1])"
    )
    values = [
        int(
            subprocess.run(
                [sys.executable, "-c", code],
                capture_output=True,
                check=True,
                timeout=60,
                env=_child_environment(),
            ).stdout
        )
        / 1024
        for _ in range(runs)
    ]
    return statistics.median(values)


def spread(values: Sequence[float], form: str) -> str:
    """min / median / max of values, each formatted with `form`."""
    return " / ".join(format(v, form) for v in (min(values), statistics.median(values), max(values)))
