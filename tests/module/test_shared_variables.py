"""The variables the root module passes straight on to modules/regional-stream (`x = var.x` in its
`module "stream"` block) are declared alike in both: same type, default, nullability, description and
validations, and the locals those validations use hold the same values. Otherwise a value the root module
accepts could fail in the submodule, or the two READMEs could document one input in two ways.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2
import pytest
from module.hcl_blocks import blocks, without_comments

ROOT = Path(__file__).resolve().parents[2]
SUBMODULE = ROOT / "modules" / "regional-stream"
# Variables whose description differs on purpose, with the reason.
DESCRIBED_DIFFERENTLY = {
    "name": "the root module prefixes more resources with it than the submodule does",
    "s3_kms_key_arn": "the submodule is given the root module's output, not a key of the user's choice",
    "metric_stream_output_format": "the submodule is given the root module's output, the one format read",
}
# Variables that are required in the submodule, with the reason.
REQUIRED_IN_SUBMODULE = {
    "metric_stream_output_format": "a further region must stream the format of the root module's forwarder",
}
# Root variables the submodule declares too but receives in another form.
NOT_PASSED_ON = {"bucket_arn": "the submodule gets the bucket the root module created or was given"}
COMPARED = ("type", "default", "nullable", "sensitive", "ephemeral", "validation")


def _parse(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return dict(hcl2.load(handle))


def variables(module: Path) -> dict[str, dict[str, Any]]:
    return blocks(sorted(module.glob("*.tf")), "variable")


def locals_of(module: Path) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for path in sorted(module.glob("*.tf")):
        for block in _parse(path).get("locals", []):
            found.update(without_comments(block))
    return found


def passed_on(root: Path = ROOT) -> set[str]:
    """The submodule's inputs that the root module sets to its own variable of the same name."""
    for path in sorted(root.glob("*.tf")):
        for block in _parse(path).get("module", []):
            for label, body in block.items():
                if label == '"stream"':
                    return {name for name, value in body.items() if value == f"${{var.{name}}}"}
    raise AssertionError('the root module has no module "stream" block')


def differences(
    root: dict[str, Any],
    sub: dict[str, Any],
    *,
    compare_description: bool = True,
    compare_default: bool = True,
) -> list[str]:
    """What differs between two declarations of one variable."""
    fields = COMPARED + (("description",) if compare_description else ())
    return [
        field
        for field in fields
        if root.get(field) != sub.get(field) and (compare_default or field != "default")
    ]


def used_locals(declaration: dict[str, Any]) -> set[str]:
    return set(re.findall(r"\blocal\.([A-Za-z_][A-Za-z0-9_-]*)", repr(declaration.get("validation", []))))


ROOT_VARIABLES = variables(ROOT)
SUB_VARIABLES = variables(SUBMODULE)
ROOT_LOCALS = locals_of(ROOT)
SUB_LOCALS = locals_of(SUBMODULE)
SHARED = sorted(passed_on())


def test_the_root_module_passes_on_every_variable_it_shares() -> None:
    common = (set(ROOT_VARIABLES) & set(SUB_VARIABLES)) - set(NOT_PASSED_ON)
    assert common - set(SHARED) == set(), "pass these on to module.stream as `x = var.x`"
    assert {"iam_role_path", "iam_role_permissions_boundary", "metric_stream_namespaces"} <= set(SHARED)


@pytest.mark.parametrize("name", SHARED)
def test_shared_variable_is_declared_alike(name: str) -> None:
    diff = differences(
        ROOT_VARIABLES[name],
        SUB_VARIABLES[name],
        compare_description=name not in DESCRIBED_DIFFERENTLY,
        compare_default=name not in REQUIRED_IN_SUBMODULE,
    )
    assert diff == [], f"variable {name} differs between the root module and modules/regional-stream: {diff}"


@pytest.mark.parametrize("name", sorted(REQUIRED_IN_SUBMODULE))
def test_variable_required_in_the_submodule_has_no_default_there(name: str) -> None:
    assert "default" not in SUB_VARIABLES[name], REQUIRED_IN_SUBMODULE[name]


@pytest.mark.parametrize("name", SHARED)
def test_locals_of_shared_validations_hold_the_same_values(name: str) -> None:
    for local in used_locals(ROOT_VARIABLES[name]) | used_locals(SUB_VARIABLES[name]):
        assert local in ROOT_LOCALS and local in SUB_LOCALS, f"local.{local} is missing in one module"
        assert ROOT_LOCALS[local] == SUB_LOCALS[local], f"local.{local} differs between the modules"


def test_a_drifted_declaration_is_reported() -> None:
    root = without_comments(
        hcl2.loads(
            'variable "v" {\n  description = "d"\n  type = number\n  default = 14\n'
            '  validation {\n    condition = var.v > 0 # why\n    error_message = "e"\n  }\n}\n'
        )["variable"][0]['"v"']
    )
    assert differences(root, dict(root)) == []
    assert differences(root, {**root, "default": 7}) == ["default"]
    assert differences(root, {**root, "description": "other"}) == ["description"]
    assert differences(root, {**root, "description": "other"}, compare_description=False) == []
    assert differences(root, {k: v for k, v in root.items() if k != "default"}, compare_default=False) == []
    other_rule = {**root, "validation": [{**root["validation"][0], "condition": "${var.v > 1}"}]}
    assert differences(root, other_rule) == ["validation"]
    assert used_locals({"validation": [{"condition": "${contains(local.log_retention_days, var.v)}"}]}) == {
        "log_retention_days"
    }
