"""What the README and docs/ say about the module holds: how long a replay is possible, who replays, what
an upgrade from 0.1.0 moves, what the pre-commit hooks need, and what a refused secret_value shows."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from module.hcl_blocks import blocks

ROOT = Path(__file__).resolve().parents[2]


def text(relative: str) -> str:
    return (ROOT / relative).read_text(encoding="utf-8")


def paragraphs(relative: str, containing: str) -> list[str]:
    return [p for p in re.split(r"\n\s*\n", text(relative)) if containing in p]


def variable(name: str) -> dict[str, Any]:
    return blocks(ROOT / "variables.tf", "variable")[name]  # type: ignore[no-any-return]


@pytest.mark.parametrize(("doc", "about"), [("README.md", "replay"), ("docs/operations.md", "sqs_queue_url")])
def test_the_replay_promise_names_how_long_objects_are_kept(doc: str, about: str) -> None:
    (promise, *_) = paragraphs(doc, about)
    assert "metrics_expiration_days" in promise
    assert "until the collector has taken" not in text(doc)


def mermaid_edges() -> list[tuple[str, str, str]]:
    (diagram,) = re.findall(r"```mermaid\n(.*?)```", text("README.md"), re.S)
    # A node's id is the first word of its line; its label has no "|", the edge label is between two.
    edge = re.compile(r'^\s*(\w+)[^|\n]*?-->\|"?([^|"]*)"?\|\s*(\w+)', re.M)
    return [(source, label, target) for source, label, target in edge.findall(diagram)]


def test_the_diagram_shows_replay_as_an_operators_command() -> None:
    edges = mermaid_edges()
    invokers = {source for source, label, target in edges if target == "L" and "ObjectCreated" in label}
    assert invokers == {"S3"}, "S3 events are what invoke the Lambda"
    assert not [e for e in edges if e[0] == "Q" and e[2] == "L"], "the queue does not invoke the Lambda"
    (replay,) = {target for source, _, target in edges if source == "Q"}
    assert re.search(rf'\b{replay}\["cwotlp replay', text("README.md"))
    assert (replay, "COL") in {(source, target) for source, _, target in edges}


def test_an_upgrade_from_0_1_0_moves_nothing() -> None:
    assert "an upgrade from 0.1.0 moves nothing" in " ".join(text("docs/usage.md").split())
    first_release = subprocess.run(
        ["git", "-C", str(ROOT), "show", "f598cc9:metric_stream.tf"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert first_release.returncode == 0, "the 0.1.0 commit f598cc9 (the deploy test upgrades from it too)"
    assert 'module "stream"' in first_release.stdout, "0.1.0 already created the stream in module.stream"


def test_the_pre_commit_docs_say_what_needs_the_network() -> None:
    installs_checkov = re.search(r'pip" install .*checkov==', text("scripts/terraform-check.sh"))
    assert installs_checkov, "the check script installs its pinned checkov"
    (hooks,) = paragraphs("docs/development.md", "pre-commit install")
    assert "PyPI" in hooks and ".venv-checkov" in hooks
    assert "PyPI" in text(".pre-commit-config.yaml")


def test_secret_value_errors_say_how_to_fix_and_quote_no_value() -> None:
    for rule in variable("secret_value")["validation"]:
        message = rule["error_message"]
        assert "${" not in message, "an error must not interpolate the secret"
        assert re.search(r"\b(needs|must|Remove|set)\b", message), message
