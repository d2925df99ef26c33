"""make test-deploy: PYTHONPATH=tests python -m deploy [--lanes quickstart,complete,upgrade-0.2.0] [--keep]

Runs the lanes side by side (each against its own moto server), prints their progress, and stops every
process it started when it ends, fails or is interrupted (Ctrl-C). Exit status 0 when every lane passed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

from . import processes, workspace
from .expected import QUICKSTART
from .lanes import LANES, Settings
from .terraform import SentTwice

# The whole run is bounded: every terraform command has its own timeout, and this bounds the rest.
RUN_TIMEOUT_SECONDS = 900.0


def settings(work: Path) -> Settings:
    """Builds the package for this machine's architecture, and for the examples' Python version when an
    interpreter of it is here (otherwise for this interpreter's), so that the deployed handler can run."""
    version = QUICKSTART.runtime.removeprefix("python")
    python = workspace.find_python(version)
    if python is None:
        print(f"no python{version} here: the packages are built for this interpreter's version instead")
        python, version = sys.executable, f"{sys.version_info.major}.{sys.version_info.minor}"
    cli_config = workspace.write_cli_config(work / "terraformrc", workspace.REPO / ".tfcli" / "plugin-cache")
    return Settings(work, cli_config, workspace.host_architecture(), f"python{version}", python)


def run_lane(name: str, config: Settings) -> None:
    """Runs a lane; once more from the start, against a fresh moto server, when an apply failed only
    because moto received a Create call twice (deploy.terraform.SentTwice: nothing about the module)."""
    try:
        LANES[name](config)
        return
    except SentTwice as error:
        first = config.work / f"{name}.first-run"
        (config.work / name).rename(first)
        evidence = [line for lines in error.calls.values() for line in lines]
        print(
            f"{name}: the apply's {', '.join(error.calls)} was refused after moto had carried it out: the "
            f"SDK sent it again. The lane runs again from the start; the first run is in {first}. "
            f"moto.log: {' | '.join(evidence[-6:])}",
            flush=True,
        )
    LANES[name](config)


def run_lanes(names: list[str], config: Settings) -> list[str]:
    """Runs the lanes in threads; returns the names of those that failed."""
    failed: list[str] = []
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        futures: dict[Future[None], str] = {pool.submit(run_lane, name, config): name for name in names}
        try:
            done, _ = wait(futures, timeout=RUN_TIMEOUT_SECONDS)
        finally:
            # Also on Ctrl-C: the lanes' commands end, so their threads finish and close their servers.
            processes.stop_all()
        for future, name in futures.items():
            if future not in done:
                failed.append(name)
                print(f"FAILED {name}: still running after {RUN_TIMEOUT_SECONDS:.0f} s", file=sys.stderr)
            elif future.exception() is not None:
                failed.append(name)
                error = future.exception()
                print(
                    f"FAILED {name}: {''.join(traceback.format_exception_only(error)).strip()}",
                    file=sys.stderr,
                )
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy", description=__doc__.splitlines()[0] if __doc__ else ""
    )
    parser.add_argument("--lanes", default=",".join(LANES), help="comma-separated: " + ", ".join(LANES))
    parser.add_argument(
        "--keep", action="store_true", help="keep the working directory (logs, copies, states)"
    )
    args = parser.parse_args(argv)
    names = [name for name in args.lanes.split(",") if name]
    unknown = set(names) - set(LANES)
    if unknown:
        parser.error(f"unknown lanes: {', '.join(sorted(unknown))}")
    work = Path(tempfile.mkdtemp(prefix="cwotlp-deploy-"))
    started = time.monotonic()
    config = settings(work)
    print(
        f"deploy test in {work}: lanes {', '.join(names)}; package for {config.architecture}/{config.runtime}"
    )
    try:
        failed = run_lanes(names, config)
    except KeyboardInterrupt:
        processes.stop_all()
        print(f"interrupted; every process stopped; logs in {work}", file=sys.stderr)
        return 130
    elapsed = time.monotonic() - started
    if failed:
        print(
            f"deploy test FAILED ({', '.join(failed)}) after {elapsed:.0f} s; logs in {work}", file=sys.stderr
        )
        return 1
    print(f"deploy test passed in {elapsed:.0f} s")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
