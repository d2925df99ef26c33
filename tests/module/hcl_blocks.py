"""The module's Terraform blocks as python-hcl2 reads them, for the tests that check the module's facts."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import hcl2


def blocks(paths: Path | Iterable[Path], kind: str) -> dict[str, Any]:
    """Name -> body of every top-level `kind` block ("variable", "output", "module") in the files,
    comments left out."""
    found: dict[str, Any] = {}
    for path in [paths] if isinstance(paths, Path) else paths:
        with path.open(encoding="utf-8") as handle:
            for block in hcl2.load(handle).get(kind, []):
                found.update({label.strip('"'): without_comments(body) for label, body in block.items()})
    return found


def without_comments(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: without_comments(item) for key, item in value.items() if key != "__comments__"}
    if isinstance(value, list):
        return [without_comments(item) for item in value]
    return value
