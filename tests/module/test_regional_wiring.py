"""Every modules/regional-stream an example adds streams what the one forwarder reads, the root module's
output format, and gives its roles what the root module gives its own: tags, path and boundary."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from module.hcl_blocks import blocks

ROOT = Path(__file__).resolve().parents[2]
SUBMODULE = "modules/regional-stream"
# What the root module passes from its variables to its own module.stream: a further region gets it too.
LIKE_THE_ROOT_MODULE = ("tags", "iam_role_path", "iam_role_permissions_boundary")
FORMAT = "metric_stream_output_format"


def module_blocks(example: Path) -> dict[str, dict[str, Any]]:
    return blocks(sorted(example.glob("*.tf")), "module")


def regional_examples() -> list[Path]:
    return [
        example
        for example in sorted((ROOT / "examples").iterdir())
        if any(body["source"].strip('"').endswith(SUBMODULE) for body in module_blocks(example).values())
    ]


def split(example: Path) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    blocks = module_blocks(example)
    ((root_name, root),) = [(n, b) for n, b in blocks.items() if b["source"].strip('"') == "../.."]
    regional = [b for b in blocks.values() if b["source"].strip('"').endswith(SUBMODULE)]
    return root_name, root, regional


EXAMPLES = regional_examples()


def test_an_example_adds_a_region() -> None:
    assert [example.name for example in EXAMPLES] == ["multi-region"]


def test_the_root_module_gives_its_output_format() -> None:
    outputs = blocks(ROOT / "outputs.tf", "output")
    assert outputs[FORMAT]["value"] == f"${{var.{FORMAT}}}"


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_further_regions_stream_the_format_the_forwarder_reads(example: Path) -> None:
    root_name, _, regional = split(example)
    for block in regional:
        assert block.get(FORMAT) == f"${{module.{root_name}.{FORMAT}}}"


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_further_regions_roles_get_what_the_root_modules_get(example: Path) -> None:
    _, root, regional = split(example)
    for name in LIKE_THE_ROOT_MODULE:
        assert name in root, f"the example sets {name} on the root module"
        for block in regional:
            assert block.get(name) == root[name], f"{name} of a further region must be the root module's"


@pytest.mark.parametrize("doc", ["docs/usage.md", f"{SUBMODULE}/README.md"])
def test_the_docs_pass_the_format_output(doc: str) -> None:
    text = (ROOT / doc).read_text(encoding="utf-8")
    assert re.search(rf"^\s*{FORMAT}\s*=\s*module\.cloudwatch_otlp\.{FORMAT}$", text, re.M)
