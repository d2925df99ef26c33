"""Every relative link in the project's Markdown points at a file that exists, and every #anchor at one
of its headings (GitHub's anchor rules: lower case, punctuation dropped, spaces to hyphens)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIPPED_DIRS = {".venv", ".git", ".terraform", "node_modules", "build", "dist", "demo-output"}
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def markdown_files() -> list[Path]:
    return sorted(
        path
        for path in ROOT.rglob("*.md")
        if not SKIPPED_DIRS.intersection(part for part in path.relative_to(ROOT).parts)
        and not any(part.startswith(".venv") for part in path.relative_to(ROOT).parts)
    )


def anchor(heading: str) -> str:
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {anchor(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


def links(path: Path) -> list[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return [target for target in LINK.findall(text) if not re.match(r"[a-z]+:", target)]


def test_anchor_follows_github_rules() -> None:
    assert anchor("What `make test-deploy` proves, and what it cannot") == (
        "what-make-test-deploy-proves-and-what-it-cannot"
    )


def test_the_readme_and_docs_are_found() -> None:
    found = {path.relative_to(ROOT).as_posix() for path in markdown_files()}
    assert {"README.md", "docs/usage.md", "docs/forwarder.md", "local/README.md"} <= found


@pytest.mark.parametrize("path", markdown_files(), ids=lambda path: path.relative_to(ROOT).as_posix())
def test_relative_links_resolve(path: Path) -> None:
    broken = [target for target in links(path) if not resolves(path, target)]
    assert not broken, f"{path.relative_to(ROOT)}: broken links {broken}"


def resolves(path: Path, target: str) -> bool:
    """Whether a link in `path` names a file that exists and, with an #anchor, a heading of it."""
    file_part, _, fragment = target.partition("#")
    destination = (path.parent / file_part).resolve() if file_part else path
    if not destination.exists():
        return False
    return not fragment or destination.suffix != ".md" or fragment in anchors(destination)
