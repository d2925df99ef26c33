"""Every process the deploy test starts, stopped again whatever happens: on success, on failure and on
Ctrl-C. Each runs in a session of its own, so that stopping it also stops what it started (the provider
plugins of Terraform, pip under the package build)."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

_lock = threading.Lock()
_running: set[subprocess.Popen[bytes]] = set()
STOP_GRACE_SECONDS = 10.0


class ProcessError(Exception):
    """A command failed or took too long; the message says which, and where its output is."""


def start(
    args: Sequence[str], *, cwd: Path, env: dict[str, str], output: IO[bytes], errors: IO[bytes] | None = None
) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        list(args),
        cwd=cwd,
        env=env,
        stdout=output,
        stderr=errors or subprocess.STDOUT,
        start_new_session=True,
    )
    with _lock:
        _running.add(process)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group, SIGKILL after a grace period."""
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait(timeout=STOP_GRACE_SECONDS)
    with _lock:
        _running.discard(process)


def stop_all() -> None:
    with _lock:
        running = list(_running)
    for process in running:
        stop(process)


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def run(
    args: Sequence[str],
    *,
    cwd: Path,
    env: dict[str, str],
    log: Path,
    timeout: float,
    stdout: Path | None = None,
) -> int:
    """Runs a command to its end, bounded by timeout, and returns its exit status. Its output is appended to
    log, or only its standard error when stdout names a file for the standard output."""
    with log.open("ab") as errors, (stdout or Path(os.devnull)).open("wb") as output:
        errors.write(f"\n$ {' '.join(args)}\n".encode())
        errors.flush()
        process = start(args, cwd=cwd, env=env, output=output if stdout else errors, errors=errors)
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ProcessError(f"{' '.join(args[:2])} took over {timeout:.0f} s; see {log}") from None
        finally:
            stop(process)


def start_server(
    args: Sequence[str], *, env: dict[str, str], cwd: Path, log: Path, ready: str, timeout: float
) -> tuple[subprocess.Popen[bytes], str]:
    """Starts a server that prints a line starting with `ready` when it listens; returns it and that line.
    Its standard error goes to log."""
    with log.open("ab") as errors:
        process = subprocess.Popen(
            list(args), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=errors, start_new_session=True
        )
    with _lock:
        _running.add(process)
    assert process.stdout is not None
    line = _first_line(process.stdout, timeout)
    if not line.startswith(ready):
        stop(process)
        raise ProcessError(f"{args[0]} did not start within {timeout:.0f} s (said {line!r}); see {log}")
    return process, line


def _first_line(stream: IO[bytes], timeout: float) -> str:
    lines: queue.Queue[bytes] = queue.Queue(maxsize=1)
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    deadline = time.monotonic() + timeout
    try:
        return lines.get(timeout=max(0.0, deadline - time.monotonic())).decode().strip()
    except queue.Empty:
        return ""
