"""Measurements the fault suite reports at the end of a run (memory, CPU time, retry waits)."""

from __future__ import annotations

FIGURES: list[str] = []


def report(line: str) -> None:
    FIGURES.append(line)
