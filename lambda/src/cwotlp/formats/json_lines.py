"""Plain object bytes -> parsed JSON lines, streaming, one line at a time.

Blank lines, CRLF line ends and whitespace around a record are fine. A line that is not valid JSON is
counted under MALFORMED_JSON and skipped; the converter judges whether valid JSON is a metric record.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson

from cwotlp.source import Decompressed

MALFORMED_JSON = "malformed_json"
TRUNCATED_LINE = "truncated_line"


def json_lines(source: Decompressed, skipped: Counter[str]) -> Iterator[Any]:
    """Yields the parsed value of every non-blank line, counting the lines that fail into `skipped`.

    When the source turns out truncated, its last line is kept if it is still whole JSON and counted
    as TRUNCATED_LINE if not.
    """
    loads = orjson.loads
    tail = b""
    for chunk in source:
        lines = (tail + chunk).split(b"\n") if tail else chunk.split(b"\n")
        tail = lines.pop()
        for line in lines:
            try:
                yield loads(line)
            except orjson.JSONDecodeError:
                if line.strip():
                    skipped[MALFORMED_JSON] += 1
    if tail.strip():
        try:
            yield loads(tail)
        except orjson.JSONDecodeError:
            skipped[TRUNCATED_LINE if source.truncated else MALFORMED_JSON] += 1
