"""The READMEs' Inputs and Outputs tables say exactly what variables.tf and outputs.tf declare, for the root
module and each submodule, and every input and output is typed and described briefly.

After changing either file, regenerate the tables with `python scripts/readme-tables.py --write`.
"""

from __future__ import annotations

import re
from pathlib import Path

import hcl2
import pytest
from module.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]


tables = load_script("readme-tables.py")
MODULES = tables.modules()
IDS = [str(module.relative_to(ROOT)) if module != ROOT else "root" for module in MODULES]
# A sentence ends with . ! or ? followed by a space and an upper-case letter, a quote or a parenthesis.
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"(])")


@pytest.mark.parametrize("module", MODULES, ids=IDS)
@pytest.mark.parametrize("kind", list(tables.MARKERS))
def test_readme_table_matches_terraform(kind: str, module: Path) -> None:
    actual = tables.region((module / "README.md").read_text(encoding="utf-8"), kind)
    assert actual == tables.render(kind, module), (
        "README table is stale: run `python scripts/readme-tables.py --write`"
    )


@pytest.mark.parametrize("module", MODULES, ids=IDS)
def test_every_variable_is_typed_and_described_in_at_most_two_sentences(module: Path) -> None:
    for name, body in tables.blocks(module / "variables.tf", "variable"):
        assert "type" in body, f"variable {name} has no type"
        description = tables.string(body["description"])
        assert description, f"variable {name} has no description"
        sentences = SENTENCE_END.split(description)
        assert len(sentences) <= 2, f"variable {name}: say it in one or two sentences, not {len(sentences)}"


@pytest.mark.parametrize("module", MODULES, ids=IDS)
def test_every_output_is_described(module: Path) -> None:
    for name, body in tables.blocks(module / "outputs.tf", "output"):
        assert tables.string(body["description"]), f"output {name} has no description"


SAMPLE = r"""
variable "required" {
  description = "Has no \"default\" | so it is required."
  type        = string
}

variable "nested" {
  description = "Maps <namespace> to names."
  type = list(object({
    namespace    = string # why
    metric_names = optional(list(string), [])
  }))
  default  = [{ namespace = "AWS/EC2" }]
  nullable = false

  validation {
    condition     = length(var.nested) > 0
    error_message = "x"
  }
}

variable "attributes" {
  description = "Attributes."
  type        = map(string)
  default     = { environment = "production", enabled = "true" }
}

variable "flag" {
  description = "A flag."
  type        = bool
  default     = null
}
"""


def test_inputs_table_renders_types_defaults_and_required(tmp_path: Path) -> None:
    variables_tf = tmp_path / "variables.tf"
    variables_tf.write_text(SAMPLE, encoding="utf-8")
    assert tables.inputs_table(variables_tf).splitlines()[2:] == [
        '| `required` | Has no "default" \\| so it is required. | `string` | n/a | yes |',
        "| `nested` | Maps &lt;namespace&gt; to names. "
        "| `list(object({ namespace = string, metric_names = optional(list(string), []) }))` "
        '| `[{ namespace = "AWS/EC2" }]` | no |',
        "| `attributes` | Attributes. | `map(string)` "
        '| `{ environment = "production", enabled = "true" }` | no |',
        "| `flag` | A flag. | `bool` | `null` | no |",
    ]


def test_write_replaces_only_the_tables(tmp_path: Path) -> None:
    (tmp_path / "variables.tf").write_text(SAMPLE, encoding="utf-8")
    (tmp_path / "outputs.tf").write_text('output "o" {\n  description = "An output."\n  value = 1\n}\n')
    readme = "# Title\n\n<!-- BEGIN_INPUTS -->\nold\n<!-- END_INPUTS -->\n\nProse.\n\n"
    readme += "<!-- BEGIN_OUTPUTS -->\n<!-- END_OUTPUTS -->\ntail\n"
    text = tables.with_tables(readme, tmp_path)
    assert text.startswith("# Title\n\n<!-- BEGIN_INPUTS -->\n| Name | Description | Type | Default |")
    assert "\n<!-- END_INPUTS -->\n\nProse.\n\n<!-- BEGIN_OUTPUTS -->\n| Name | Description |" in text
    assert text.endswith("| `o` | An output. |\n<!-- END_OUTPUTS -->\ntail\n")
    assert "old" not in text
    assert tables.with_tables(text, tmp_path) == text


def test_hcl2_reads_what_the_tables_need() -> None:
    # The script relies on python-hcl2 returning string literals with their quotes and types as ${...}.
    source = 'variable "v" {\n  description = "A \\"q\\""\n  type = map(string)\n}\n'
    (variable,) = hcl2.loads(source)["variable"]
    body = variable['"v"']
    assert tables.string(body["description"]) == 'A "q"'
    assert tables.expression(body["type"]) == "map(string)"
