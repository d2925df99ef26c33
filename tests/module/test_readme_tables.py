"""The READMEs' inputs and outputs tables say exactly what variables.tf and outputs.tf declare, for the
root module and for each submodule.

After changing either file, regenerate the tables with:

    python tests/test_readme_tables.py --write
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Each module directory whose README holds the tables: the root module and the submodules.
MODULES = [ROOT, *sorted(path.parent for path in (ROOT / "modules").glob("*/variables.tf"))]

_OPENERS = "([{"
_CLOSERS = ")]}"
_BLOCK_HEADER = re.compile(r'^(variable|output)\s+"([^"]+)"\s*\{', re.MULTILINE)
_ATTRIBUTE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(.*)$", re.DOTALL)


@dataclass(frozen=True)
class Block:
    """A top-level variable or output block: its name and its attributes as expression text."""

    kind: str
    name: str
    attributes: dict[str, str]


def _strip_comments(text: str) -> str:
    """Drop #, // and /* */ comments, leaving string literals alone."""
    out: list[str] = []
    i = 0
    in_string = False
    while i < len(text):
        char = text[i]
        if in_string:
            out.append(char)
            if char == "\\":
                out.append(text[i + 1])
                i += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
            out.append(char)
        elif char == "#" or text.startswith("//", i):
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 2
            continue
        elif text.startswith("<<", i) and re.match(r"<<-?[A-Z]+\n", text[i:]):
            raise ValueError("heredocs are not supported here: write descriptions as one quoted string")
        else:
            out.append(char)
        i += 1
    return "".join(out)


def _scan(text: str, start: int = 0) -> list[tuple[int, str, int]]:
    """(index, character, bracket depth after it) for every character outside string literals."""
    result: list[tuple[int, str, int]] = []
    depth = 0
    in_string = False
    i = start
    while i < len(text):
        char = text[i]
        if in_string:
            if char == "\\":
                i += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        else:
            if char in _OPENERS:
                depth += 1
            elif char in _CLOSERS:
                depth -= 1
            result.append((i, char, depth))
        i += 1
    return result


def _body(text: str, open_brace: int) -> str:
    """The text between the brace at open_brace and its matching closing brace."""
    for index, char, depth in _scan(text, open_brace):
        if char == "}" and depth == 0:
            return text[open_brace + 1 : index]
    raise ValueError("unbalanced braces")


def _statements(body: str) -> list[str]:
    """Split a block body into its top-level statements (attributes and nested blocks)."""
    cuts = [index for index, char, depth in _scan(body) if char == "\n" and depth == 0]
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    return [piece.strip() for piece in pieces if piece.strip()]


def _blocks(text: str, kind: str) -> list[Block]:
    text = _strip_comments(text)
    blocks: list[Block] = []
    for header in _BLOCK_HEADER.finditer(text):
        if header.group(1) != kind:
            continue
        attributes = {}
        for statement in _statements(_body(text, header.end() - 1)):
            match = _ATTRIBUTE.match(statement)
            if match:
                attributes[match.group(1)] = match.group(2).strip()
        blocks.append(Block(kind, header.group(2), attributes))
    return blocks


def _file_blocks(path: Path, kind: str) -> list[Block]:
    return _blocks(path.read_text(encoding="utf-8"), kind)


def _one_line(expression: str) -> str:
    """An expression on one line: object attributes and list items separated by commas."""
    # terraform fmt aligns the "=" of neighbouring lines; one space is enough on one line.
    parts = [re.sub(r"\s+=\s+", " = ", line.strip()) for line in expression.splitlines() if line.strip()]
    joined = parts[0]
    for part in parts[1:]:
        if joined[-1] in _OPENERS or joined.endswith(",") or part[0] in _CLOSERS:
            joined += " " + part
        else:
            joined += ", " + part
    return re.sub(r",\s*([)\]}])", r" \1", joined)


def _string_value(literal: str) -> str:
    if not (literal.startswith('"') and literal.endswith('"')):
        raise ValueError(f"expected one quoted string, got {literal!r}")
    return literal[1:-1].replace('\\"', '"').replace("\\\\", "\\")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _code(text: str) -> str:
    return f"`{_cell(text)}`"


def inputs_table(path: Path = ROOT / "variables.tf") -> str:
    rows = ["| Name | Type and description | Default |", "|------|----------------------|---------|"]
    for block in _file_blocks(path, "variable"):
        description = _string_value(block.attributes["description"])
        type_ = _one_line(block.attributes["type"])
        default = (
            _code(_one_line(block.attributes["default"])) if "default" in block.attributes else "required"
        )
        rows.append(f"| {_code(block.name)} | {_code(type_)}<br>{_cell(description)} | {default} |")
    return "\n".join(rows)


def outputs_table(path: Path = ROOT / "outputs.tf") -> str:
    rows = ["| Name | Description |", "|------|-------------|"]
    for block in _file_blocks(path, "output"):
        rows.append(f"| {_code(block.name)} | {_cell(_string_value(block.attributes['description']))} |")
    return "\n".join(rows)


MARKERS = {
    "inputs": ("<!-- BEGIN_INPUTS -->", "<!-- END_INPUTS -->"),
    "outputs": ("<!-- BEGIN_OUTPUTS -->", "<!-- END_OUTPUTS -->"),
}


def render(kind: str, module: Path) -> str:
    if kind == "inputs":
        return inputs_table(module / "variables.tf")
    return outputs_table(module / "outputs.tf")


def _region(text: str, begin: str, end: str) -> str:
    start = text.index(begin) + len(begin)
    return text[start : text.index(end, start)]


def write_tables() -> None:
    """Replace only what lies between each pair of markers, in every module's README."""
    for module in MODULES:
        readme = module / "README.md"
        text = readme.read_text(encoding="utf-8")
        for kind, (begin, end) in MARKERS.items():
            old = f"{begin}{_region(text, begin, end)}{end}"
            text = text.replace(old, f"{begin}\n{render(kind, module)}\n{end}")
        readme.write_text(text, encoding="utf-8")


@pytest.mark.parametrize("module", MODULES, ids=lambda m: str(m.relative_to(ROOT)) or "root")
@pytest.mark.parametrize("kind", list(MARKERS))
def test_readme_table_matches_terraform(kind: str, module: Path) -> None:
    actual = _region((module / "README.md").read_text(encoding="utf-8"), *MARKERS[kind]).strip()
    assert actual == render(kind, module), (
        "README table is stale: run `python tests/test_readme_tables.py --write`"
    )


@pytest.mark.parametrize("module", MODULES, ids=lambda m: str(m.relative_to(ROOT)) or "root")
def test_every_variable_is_typed_and_described(module: Path) -> None:
    for block in _file_blocks(module / "variables.tf", "variable"):
        assert "type" in block.attributes, f"variable {block.name} has no type"
        assert _string_value(block.attributes["description"]), f"variable {block.name} has no description"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: str(m.relative_to(ROOT)) or "root")
def test_every_output_is_described(module: Path) -> None:
    for block in _file_blocks(module / "outputs.tf", "output"):
        assert _string_value(block.attributes["description"]), f"output {block.name} has no description"


def test_parser_reads_nested_types_and_defaults() -> None:
    source = (
        '# comment\nvariable "v" {\n  description = "A \\"quoted\\" | pipe"\n'
        "  type = object({\n    a = optional(number, 5) # why\n    b = optional(list(string), [])\n  })\n"
        '  default = {}\n\n  validation {\n    condition = true\n    error_message = "x"\n  }\n}\n'
    )
    (block,) = _blocks(source, "variable")
    assert block.name == "v"
    assert _string_value(block.attributes["description"]) == 'A "quoted" | pipe'
    assert (
        _one_line(block.attributes["type"])
        == "object({ a = optional(number, 5), b = optional(list(string), []) })"
    )
    assert block.attributes["default"] == "{}"
    assert "condition" not in block.attributes


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_readme_tables.py --write")
    write_tables()
