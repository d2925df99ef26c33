"""`plan` and the forwarder accept and refuse the same secrets: the module's validations of
`secret_value` and the forwarder's secret parser are two writings of one set of rules.

tests/module/secret_values.json lists secret values with the verdict both must give. Here the
forwarder's parser is held to it; tests/secret_values.tftest.hcl, generated from the same file by
scripts/secret-values-test.py, holds `plan` to it under `terraform test`.
"""

from __future__ import annotations

from typing import Any

import pytest
from module.scripts import load_script

from cwotlp.errors import ConfigError
from cwotlp.secret import Destination

script = load_script("secret-values-test.py")
CASES = script.cases()


def test_the_terraform_runs_are_generated_from_the_cases() -> None:
    assert script.OUTPUT.read_text(encoding="utf-8") == script.render(CASES), (
        "run python scripts/secret-values-test.py --write"
    )


def test_the_cases_cover_both_verdicts_and_have_distinct_names() -> None:
    names = [case["name"] for case in CASES]
    assert len(set(names)) == len(names)
    assert {case["accepted"] for case in CASES} == {True, False}


@pytest.mark.parametrize("case", CASES, ids=[str(case["name"]) for case in CASES])
def test_the_forwarder_gives_the_verdict_plan_gives(case: dict[str, Any]) -> None:
    try:
        Destination.from_secret(case["value"], "secret test")
    except ConfigError:
        accepted = False
    else:
        accepted = True
    assert accepted is case["accepted"]


def test_a_template_sequence_in_a_value_is_written_literally() -> None:
    text = script.render(
        [{"name": "template", "accepted": True, "value": {"endpoint": "https://x/${a}%{b}"}}]
    )
    assert "$${a}" in text and "%%{b}" in text
