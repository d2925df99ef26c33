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
# A destroy can fail although what it deletes is gone. Twice in CI, under load, a Delete call was refused
# as if it had already run: DeleteSecret with "currently marked deleted", DeleteDashboards with 404. The
# provider sends each Delete once, so the request reached moto twice, most likely sent again by the SDK after
# a network error. A destroy is run once more only when the evidence says so: every error of its output is a
# Delete call that moto's log (one line per request, deploy/moto_server.py) shows answered 200 before it
# was refused. The leftover check after the destroy still looks at what remains.
_FAILED_CALL = re.compile(r"operation error [^:\n]+: (\w+), https response error StatusCode: (\d+)")


def logged_calls(server_log: str) -> Iterator[tuple[str, str, str]]:
    """(operation, status, line) of each request in moto's log; the operation without its service's
    prefix (DeleteSecret for secretsmanager.DeleteSecret)."""
    for line in server_log.splitlines():
        fields = line.split()
        if len(fields) >= 5:
            yield fields[3].rsplit(".", 1)[-1], fields[4], line


def deleted_twice(output: str, server_log: str) -> list[str]:
    """The Delete calls that failed in `output` after moto had answered the same call 200 before; empty
    unless that explains every error of `output`."""
    failed = _FAILED_CALL.findall(output)
    errors = sum(line.startswith("Error: ") for line in output.splitlines())
    if not failed or len(failed) != errors:
        return []
    answers: dict[str, list[str]] = {}
    for operation, status, _ in logged_calls(server_log):
        answers.setdefault(operation, []).append(status)
    for operation, status in failed:
        seen = answers.get(operation, [])
        if (
            not operation.startswith("Delete")
            or "200" not in seen
            or status not in seen[seen.index("200") + 1 :]
        ):
            return []
    return [operation for operation, _ in failed]


def created_twice(output: str, server_log: str) -> dict[str, list[str]]:
    """The Create calls that failed in `output` because the SDK sent them again: each refusal is a line of
    moto's log marked as a later attempt (`attempt=2`) of a call moto answered 200 before; by operation,
    with its lines of the log. Empty unless that explains every error of `output`.

    Seen once in CI, under load: CreateRole answered 200, its answer lost, the same call sent again and
    refused with 409 EntityAlreadyExists. The role exists in moto but not in Terraform's state, so no
    later apply can succeed; only a fresh start can (`deploy.__main__`).
    """
    failed = _FAILED_CALL.findall(output)
    errors = sum(line.startswith("Error: ") for line in output.splitlines())
    if not failed or len(failed) != errors:
        return {}
    calls = list(logged_calls(server_log))
    found: dict[str, list[str]] = {}
    for operation, status in failed:
        lines = [(answer, line) for called, answer, line in calls if called == operation]
        answers = [answer for answer, _ in lines]
        resent = [
            index
            for index, (answer, line) in enumerate(lines)
            if answer == status and re.search(r" attempt=([2-9]|\d\d+)$", line)
        ]
        if not operation.startswith("Create") or not resent or "200" not in answers[: resent[-1]]:
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
            twice = created_twice(str(error), log)
            if twice:
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
        (above), returns those calls with their lines of moto's log, else nothing."""
        try:
            self("destroy", "-input=false", "-auto-approve")
            return {}
        except ProcessError as error:
            log = self.server_log.read_text(errors="replace") if self.server_log else ""
            twice = deleted_twice(str(error), log)
            if not twice:
                raise
        self("destroy", "-input=false", "-auto-approve")
        calls = list(logged_calls(log))
        return {operation: [line for called, _, line in calls if called == operation] for operation in twice}


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
