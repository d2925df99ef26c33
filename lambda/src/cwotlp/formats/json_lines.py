"""The `json` stream format: one CloudWatch record per line, streaming.

Blank lines (empty, or of spaces, tabs and CRs), CRLF line ends and whitespace around a record are
fine, and runs of blank lines cost next to nothing. A UTF-8 byte order mark at the start is dropped. A
line that is not valid JSON is counted under MALFORMED_JSON and skipped; a line longer than
MAX_LINE_BYTES is counted under LINE_TOO_LONG and skipped without being held in memory. The converter
judges whether valid JSON is a metric record.

The same lines are read for the converter's typed path by `cwotlp.formats.json_typed`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson

MALFORMED_JSON = "malformed_json"
TRUNCATED_LINE = "truncated_line"
LINE_TOO_LONG = "line_too_long"
MAX_LINE_BYTES = 1 << 20  # a Firehose record, and so a CloudWatch line, is at most 1,000 KiB
BOM = b"\xef\xbb\xbf"
SLICE_BYTES = 256 << 10


class Lines:
    """The non-blank lines of a body's chunks; the last may lack its newline (`unterminated`)."""

    def __init__(self, chunks: Iterable[bytes], skipped: Counter[str]) -> None:
        self._chunks = chunks
        self.skipped = skipped
        self.unterminated = False

    def __iter__(self) -> Iterator[bytes]:
        for run in self.runs():
            yield from run

    def runs(self) -> Iterator[list[bytes]]:
        """The lines in lists, one or more at a time: a reader that loops over each list itself saves a
        generator step per line."""
        tail = b""
        skipping = False  # inside a line already found too long
        for chunk in _sliced(_without_bom(self._chunks)):
            if skipping:
                end = chunk.find(b"\n")
                if end < 0:
                    continue
                chunk, skipping = chunk[end + 1 :], False
            text = tail + chunk if tail else chunk
            lines, tail = _split(text)
            if len(tail) > MAX_LINE_BYTES:
                self.skipped[LINE_TOO_LONG] += 1
                tail, skipping = b"", True
            if len(text) > MAX_LINE_BYTES and max(map(len, lines), default=0) > MAX_LINE_BYTES:
                lines = self._usable(lines)
            if lines:
                yield lines
        if tail:
            self.unterminated = True
            yield [tail]

    def failed(self, line: bytes, truncated: Callable[[], bool]) -> None:
        """Counts a line that does not parse, unless it is blank: as TRUNCATED_LINE when it is the
        unterminated last line of a body that turned out truncated (`truncated()`), else MALFORMED_JSON."""
        if line.strip():
            cut = self.unterminated and truncated()
            self.skipped[TRUNCATED_LINE if cut else MALFORMED_JSON] += 1

    def _usable(self, lines: list[bytes]) -> list[bytes]:
        """The lines that are not too long; those too long are counted."""
        usable = [line for line in lines if len(line) <= MAX_LINE_BYTES]
        self.skipped[LINE_TOO_LONG] += len(lines) - len(usable)
        return usable


def _split(text: bytes) -> tuple[list[bytes], bytes]:
    """The whole lines of text that are not blank, and what follows the last line end.

    Runs of empty lines are made one line end first. Then a record starts with "{", so when no line
    starts with a space or a control character (the smallest line tells) there is no blank line left;
    otherwise the lines of nothing but spaces, tabs and CRs are left out here rather than each failing
    to parse (an exception per line, several times the cost of a record). Blanks are looked for in the
    split, which costs less than searching the text.
    """
    lines = text.split(b"\n")
    tail = lines.pop()
    if b"" in lines or b"\r" in lines:
        lines = _without_blank_runs(text).split(b"\n")
        lines.pop()  # the same tail: what follows the last line end is never changed
    if lines and min(lines) < b"!":
        lines = [line for line in lines if line.strip()]
    return lines, tail


def _sliced(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The chunks, those over SLICE_BYTES in slices: a chunk is split into a list of its lines, which
    for a chunk of blank lines is a pointer per byte."""
    for chunk in chunks:
        if len(chunk) <= SLICE_BYTES:
            yield chunk
        else:
            for start in range(0, len(chunk), SLICE_BYTES):
                yield chunk[start : start + SLICE_BYTES]


def _without_blank_runs(chunk: bytes) -> bytes:
    """The chunk with runs of empty lines made one line end: a few passes of bytes.replace, each
    halving the runs, so that a megabyte of newlines costs a few milliseconds and no more memory than
    the chunk (a regular expression holds state for every newline of a run)."""
    while b"\n\n" in chunk or b"\n\r\n" in chunk:
        chunk = chunk.replace(b"\n\n", b"\n").replace(b"\n\r\n", b"\n")
    return chunk


def _without_bom(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The chunks, with a UTF-8 byte order mark at the very start removed."""
    head = b""
    iterator = iter(chunks)
    for chunk in iterator:
        head += chunk
        if len(head) >= len(BOM):
            break
    yield head.removeprefix(BOM)
    yield from iterator


def records(chunks: Iterable[bytes], skipped: Counter[str], truncated: Callable[[], bool]) -> Iterator[Any]:
    """The parsed value of every line, counting the lines that fail into `skipped` (`Lines.failed`)."""
    loads = orjson.loads
    reader = Lines(chunks, skipped)
    for lines in reader.runs():
        for line in lines:
            try:
                yield loads(line)
            except orjson.JSONDecodeError:
                reader.failed(line, truncated)
