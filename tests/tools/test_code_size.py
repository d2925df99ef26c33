"""The size limits of the two packages: no function over 60 lines, no module over 400 (docs/development.md).
Long code is where a newcomer gets lost; these limits say when to split."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (ROOT / "lambda" / "src", ROOT / "local" / "src")
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400


def sources() -> list[Path]:
    return sorted(path for package in PACKAGES for path in package.rglob("*.py"))


def too_long(text: str, name: str) -> list[str]:
    """What in a module's text is over the limits, each as `name:line what: N lines`."""
    found = []
    if text.count("\n") > MAX_MODULE_LINES:
        found.append(f"{name}: {text.count(chr(10))} lines")
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            if lines > MAX_FUNCTION_LINES:
                found.append(f"{name}:{node.lineno} {node.name}: {lines} lines")
    return found


def test_both_packages_are_read() -> None:
    names = {path.name for path in sources()}
    assert {"handler.py", "convert.py", "stack.py", "demo.py"} <= names


def test_a_long_function_and_a_long_module_are_found() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    assert too_long(f"def long():\n{body}", "probe.py") == ["probe.py:1 long: 61 lines"]
    assert too_long("x = 1\n" * (MAX_MODULE_LINES + 1), "probe.py") == ["probe.py: 401 lines"]
    assert too_long("def short():\n" + "    x = 1\n" * (MAX_FUNCTION_LINES - 1), "probe.py") == []


def test_no_function_or_module_is_too_long() -> None:
    found = [
        problem
        for path in sources()
        for problem in too_long(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]
    assert not found, "split these:\n" + "\n".join(found)
