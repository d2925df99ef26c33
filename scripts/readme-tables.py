#!/usr/bin/env python3
"""The Inputs and Outputs tables of the READMEs, generated from variables.tf and outputs.tf.

The root module's README and each submodule's (modules/*/README.md) hold the tables between the markers
<!-- BEGIN_INPUTS --> / <!-- END_INPUTS --> and <!-- BEGIN_OUTPUTS --> / <!-- END_OUTPUTS -->; nothing
else in a README is touched. The .tf files are read with python-hcl2.

    python scripts/readme-tables.py           # exit 1 and name every README whose tables are stale
    python scripts/readme-tables.py --write   # rewrite the tables
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[1]
MARKERS = {
    "inputs": ("<!-- BEGIN_INPUTS -->", "<!-- END_INPUTS -->"),
    "outputs": ("<!-- BEGIN_OUTPUTS -->", "<!-- END_OUTPUTS -->"),
}


def modules(root: Path = ROOT) -> list[Path]:
    """The root module and every submodule with a README."""
    return [root, *sorted(path.parent for path in (root / "modules").glob("*/README.md"))]


def blocks(path: Path, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, body) of every top-level `kind` block ("variable" or "output"), in file order."""
    with path.open(encoding="utf-8") as handle:
        document = hcl2.load(handle)
    for block in document.get(kind, []):
        for label, body in block.items():
            yield string(label), body


def string(literal: str) -> str:
    """The value of an HCL string literal as python-hcl2 returns it (quotes and escapes included)."""
    if not (literal.startswith('"') and literal.endswith('"')):
        raise ValueError(f"expected a quoted string, got {literal!r}")
    return str(json.loads(literal))


def expression(value: Any) -> str:
    """An expression as python-hcl2 returns it, on one line without its ${ } wrapper."""
    text = str(value)
    return text[2:-1] if text.startswith("${") and text.endswith("}") else text


def spaced_braces(text: str) -> str:
    """object({a = x, b = y}) as terraform fmt spaces it on one line: object({ a = x, b = y })."""
    out: list[str] = []
    in_string = False
    for index, char in enumerate(text):
        if char == '"' and (index == 0 or text[index - 1] != "\\"):
            in_string = not in_string
        if not in_string and char == "}" and out and out[-1] not in "{ ":
            out.append(" ")
        out.append(char)
        if not in_string and char == "{" and text[index + 1 : index + 2] not in ("}", " "):
            out.append(" ")
    return "".join(out)


def hcl_value(value: Any) -> str:
    """A default value in HCL syntax, on one line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(hcl_value(item) for item in value) + "]"
    if isinstance(value, dict):
        items = [f"{key} = {hcl_value(item)}" for key, item in value.items() if not key.startswith("__")]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    return spaced_braces(expression(value))


def cell(text: str) -> str:
    """Text for a table cell: pipes escaped, and angle brackets kept from being read as HTML."""
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def code(text: str) -> str:
    return "`" + text.replace("|", "\\|") + "`"


def inputs_table(variables_tf: Path) -> str:
    rows = [
        "| Name | Description | Type | Default | Required |",
        "|------|-------------|------|---------|:--------:|",
    ]
    for name, body in blocks(variables_tf, "variable"):
        type_ = code(spaced_braces(expression(body["type"])))
        required = "default" not in body
        default = "n/a" if required else code(hcl_value(body["default"]))
        description = cell(string(body["description"]))
        rows.append(f"| {code(name)} | {description} | {type_} | {default} | {'yes' if required else 'no'} |")
    return "\n".join(rows)


def outputs_table(outputs_tf: Path) -> str:
    rows = ["| Name | Description |", "|------|-------------|"]
    for name, body in blocks(outputs_tf, "output"):
        rows.append(f"| {code(name)} | {cell(string(body['description']))} |")
    return "\n".join(rows)


def render(kind: str, module: Path) -> str:
    if kind == "inputs":
        return inputs_table(module / "variables.tf")
    return outputs_table(module / "outputs.tf")


def region(text: str, kind: str) -> str:
    """What a README holds between the markers of `kind`, without the surrounding blank lines."""
    begin, end = MARKERS[kind]
    start = text.index(begin) + len(begin)
    return text[start : text.index(end, start)].strip()


def with_tables(text: str, module: Path) -> str:
    """The README text with both tables regenerated."""
    for kind, (begin, end) in MARKERS.items():
        start = text.index(begin) + len(begin)
        text = text[:start] + f"\n{render(kind, module)}\n" + text[text.index(end, start) :]
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--write", action="store_true", help="rewrite the tables instead of checking them")
    args = parser.parse_args(argv)
    stale = []
    for module in modules():
        readme = module / "README.md"
        text = readme.read_text(encoding="utf-8")
        expected = with_tables(text, module)
        if expected != text:
            stale.append(readme.relative_to(ROOT))
            if args.write:
                readme.write_text(expected, encoding="utf-8")
    for readme in stale:
        print(f"{readme}: {'tables rewritten' if args.write else 'tables are stale'}")
    return 1 if stale and not args.write else 0


if __name__ == "__main__":
    sys.exit(main())
