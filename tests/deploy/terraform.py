"""Terraform in one example directory, as a user runs it: init, apply, plan, show and destroy, each bounded
in time, with its output in a log file that is shown when a command fails."""

from __future__ import annotations

import json
import os
import re
import threading
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .processes import ProcessError, run

COMMAND_TIMEOUT_SECONDS = 300.0
# What the user's environment may not leak into the test: credentials, profiles, other endpoints.
DROPPED_PREFIXES = ("AWS_", "TF_", "CHECKPOINT_")
# The lanes share one plugin cache, which Terraform does not guard against concurrent installs: two inits
# that fill it at once can fail ("mkdir ...: file exists"). One init at a time; each takes seconds.
_INIT_LOCK = threading.Lock()
# A call can fail because the provider's SDK sent it twice: moto carried out the first, its answer was lost
# (a network error under load), and the SDK's second attempt was refused. Seen in CI with DeleteSecret
# ("currently marked deleted") and DeleteDashboards (404) in a destroy, and with CreateRole (409
# EntityAlreadyExists) in an apply. Only moto's log (one line per request, deploy/moto_server.py, which
# marks a later attempt "attempt=N") tells this from a real failure: see sent_twice.
_FAILED_CALL = re.compile(r"operation error [^:\n]+: (\w+), https response error StatusCode: (\d+)")


def logged_calls(server_log: str) -> Iterator[tuple[str, str, str]]:
    """(operation, status, line) of each request in moto's log; the operation without its service's
    prefix (DeleteSecret for secretsmanager.DeleteSecret)."""
    for line in server_log.splitlines():
        fields = line.split()
        if len(fields) >= 5:
            yield fields[3].rsplit(".", 1)[-1], fields[4], line


def sent_twice(output: str, server_log: str, kind: str) -> dict[str, list[str]]:
    """The `kind` calls (Delete, Create) that failed in `output` because the SDK sent them again: by
    operation, its lines of moto's log. Each refusal must be in the log as a later attempt of the SDK's,
    after moto had answered the same operation 200. Empty unless that explains every error of `output`,
    so that any other failure stays one."""
    failed = _FAILED_CALL.findall(output)
    errors = sum(line.startswith("Error: ") for line in output.splitlines())
    if not failed or len(failed) != errors:
        return {}
    calls = list(logged_calls(server_log))
    found: dict[str, list[str]] = {}
    for operation, status in failed:
        lines = [(answer, line) for called, answer, line in calls if called == operation]
        answers = [answer for answer, _ in lines]
        resent = any(
            answer == status and " attempt=" in line and "200" in answers[:index]
            for index, (answer, line) in enumerate(lines)
        )
        if not operation.startswith(kind) or not resent:
            return {}
        found[operation] = [line for _, line in lines]
    return found


class SentTwice(ProcessError):
    """A terraform apply failed only because moto received some of its Create calls twice (`calls`: by
    operation, their lines of moto's log)."""

    def __init__(self, message: str, calls: dict[str, list[str]]) -> None:
        super().__init__(message)
        self.calls = calls


def clean_environment(cli_config: Path, variables: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED_PREFIXES)}
    env |= {"TF_CLI_CONFIG_FILE": str(cli_config), "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}
    env |= {"CHECKPOINT_DISABLE": "1", "AWS_EC2_METADATA_DISABLED": "true"}
    return env | {f"TF_VAR_{name}": value for name, value in variables.items()}


@dataclass
class Terraform:
    directory: Path
    env: dict[str, str]
    log: Path
    server_log: Path | None = None

    def __call__(self, *args: str, ok: Iterable[int] = (0,), stdout: Path | None = None) -> int:
        status = run(
            ["terraform", *args, "-no-color"],
            cwd=self.directory,
            env=self.env,
            log=self.log,
            timeout=COMMAND_TIMEOUT_SECONDS,
            stdout=stdout,
        )
        if status not in tuple(ok):
            raise ProcessError(f"terraform {args[0]} in {self.directory} exited {status}:\n{self.tail()}")
        return status

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def init(self) -> None:
        with _INIT_LOCK:
            self("init", "-input=false")

    def apply(self, plan: str | None = None) -> None:
        """Applies; SentTwice when it failed only because moto received Create calls twice (above)."""
        try:
            self("apply", "-input=false", *([plan] if plan else ["-auto-approve"]))
        except ProcessError as error:
            log = self.server_log.read_text(errors="replace") if self.server_log else ""
            twice = sent_twice(str(error), log, "Create")
            if twice:  # moto has what the state lacks: only a fresh start can apply (deploy.__main__)
                raise SentTwice(str(error), twice) from error
            raise

    def plan(self, out: str) -> bool:
        """Plans into the file `out`; True when it holds changes."""
        return self("plan", "-input=false", "-detailed-exitcode", f"-out={out}", ok=(0, 2)) == 2

    def show(self, path: str | None = None) -> tuple[dict[str, Any], bytes]:
        """`terraform show -json` of a saved plan, or of the state when path is None: parsed, and as is."""
        output = self.directory / f"show-{path or 'state'}.json"
        self("show", "-json", *([path] if path else []), stdout=output)
        text = output.read_bytes()
        document: dict[str, Any] = json.loads(text)
        return document, text

    def destroy(self) -> dict[str, list[str]]:
        """Destroys everything; when a second run was needed because moto received Delete calls twice
        (above: what they deleted is gone), returns those calls with their lines of moto's log."""
        try:
            self("destroy", "-input=false", "-auto-approve")
            return {}
        except ProcessError as error:
            log = self.server_log.read_text(errors="replace") if self.server_log else ""
            twice = sent_twice(str(error), log, "Delete")
            if not twice:
                raise
        self("destroy", "-input=false", "-auto-approve")
        return twice


def resources(state: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every resource of `terraform show -json` of a state, in every module."""
    stack = [state.get("values", {}).get("root_module", {})]
    while stack:
        module = stack.pop()
        yield from module.get("resources", [])
        stack.extend(module.get("child_modules", []))


def resource(state: dict[str, Any], address_suffix: str) -> dict[str, Any]:
    (found,) = [r for r in resources(state) if r["address"].endswith(address_suffix)]
    return found


def plan_file_texts(plan_file: Path) -> Iterator[bytes]:
    """The bytes of a saved plan: the file itself and every member of the zip archive it is."""
    yield plan_file.read_bytes()
    with zipfile.ZipFile(plan_file) as archive:
        for name in archive.namelist():
            yield archive.read(name)


def leaked(values: Iterable[str], texts: Iterable[bytes]) -> list[str]:
    """Which of the values appear in any of the texts (returned by position, never the value itself)."""
    blobs = list(texts)
    return [f"value {index}" for index, value in enumerate(values) if any(value.encode() in b for b in blobs)]
