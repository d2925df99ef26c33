"""The `json` stream format: one record per line, streamed, with what cannot be read counted."""

from __future__ import annotations

import gzip
import tracemalloc
from collections import Counter
from collections.abc import Iterator

import orjson
import pytest

from conftest import chunked, convert_object, fixture_bytes
from cwotlp.formats.json_lines import (
    BOM,
    LINE_TOO_LONG,
    MALFORMED_JSON,
    MAX_LINE_BYTES,
    SLICE_BYTES,
    TRUNCATED_LINE,
    Lines,
    records,
)

LINE = fixture_bytes("otel-contrib-cwmetricstream/single_record").strip()
RECORD = orjson.loads(LINE)


def read(data: bytes, size: int = 1 << 20, truncated: bool = False) -> tuple[list[object], Counter[str]]:
    skipped: Counter[str] = Counter()
    return list(records(chunked(data, size), skipped, lambda: truncated)), skipped


@pytest.mark.parametrize("size", [1, 2, 3, 17, 4096])
def test_lines_survive_any_chunking(size: int) -> None:
    data = fixture_bytes("otel-contrib-cwmetricstream/multiple_records")
    values, skipped = read(data, size)
    assert values == [orjson.loads(line) for line in data.splitlines() if line.strip()]
    assert len(values) == 127 and not skipped


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r\n\n"], ids=["lf", "crlf", "with-blank-lines"])
def test_a_chunk_larger_than_a_slice_loses_no_line_at_the_slice_edges(end: bytes) -> None:
    """A plain body arrives in 1 MiB chunks, which are split in slices; lines cross their edges, with
    and without the blank lines that take the slower split."""
    lines = [LINE.replace(b"{", b'{"n":%d,' % n, 1) for n in range(3 * SLICE_BYTES // len(LINE))]
    data = end.join(lines)
    values, skipped = read(data, size=len(data))
    assert values == [orjson.loads(line) for line in lines] and not skipped


@pytest.mark.parametrize("size", [1, 2, 3, 4, 1 << 20])
def test_a_byte_order_mark_at_the_start_is_dropped(size: int) -> None:
    values, skipped = read(BOM + LINE + b"\n" + LINE, size)
    assert values == [RECORD, RECORD] and not skipped


def test_a_byte_order_mark_elsewhere_is_malformed() -> None:
    values, skipped = read(LINE + b"\n" + BOM + LINE)
    assert values == [RECORD] and skipped == {MALFORMED_JSON: 1}


def test_blank_lines_crlf_and_surrounding_whitespace_are_fine() -> None:
    data = b"\n\n  " + LINE + b"  \r\n\r\n\t" + LINE + b"\r\n   \n" + b"\n" * 10_000 + b" \r\n" * 100 + LINE
    for size in (1, 5, 1 << 20):
        values, skipped = read(data, size)
        assert values == [RECORD] * 3 and not skipped


def test_blank_runs_cost_no_lines() -> None:
    reader = Lines(chunked(b"\n" * 100_000 + LINE + b"\n" * 100_000, 4096), Counter())
    assert list(reader) == [LINE]
    assert not reader.unterminated
    for blank in (b"\r\n", b"  \n", b"\t\r\n", b" \t \r\n\n"):
        data = blank * 20_000 + LINE + b"\n" + blank * 20_000
        assert list(Lines(chunked(data, 4096), Counter())) == [LINE]  # none left to fail parsing
        values, skipped = read(data, 4096)
        assert values == [RECORD] and not skipped


def test_malformed_lines_are_counted_and_skipped() -> None:
    values, skipped = read(LINE + b"\n{not json\n" + LINE[:40] + b"\n" + LINE + b"\n\xff\xfe\n")
    assert values == [RECORD, RECORD]
    assert skipped == {MALFORMED_JSON: 3}


def test_a_pretty_printed_record_is_malformed_line_by_line() -> None:
    _, skipped = read(fixture_bytes("otel-contrib-encoding-json/valid_metric.json"))
    assert skipped[MALFORMED_JSON] > 3


def test_an_unterminated_last_line_is_a_record_when_whole() -> None:
    reader = Lines([LINE + b"\n" + LINE], Counter())
    assert list(reader) == [LINE, LINE] and reader.unterminated
    assert read(LINE + b"\n" + LINE, truncated=True) == ([RECORD, RECORD], Counter())


def test_a_cut_last_line_counts_as_truncated_only_when_the_body_was() -> None:
    data = LINE + b"\n" + LINE[:50]
    assert read(data, truncated=True) == ([RECORD], Counter({TRUNCATED_LINE: 1}))
    assert read(data, truncated=False) == ([RECORD], Counter({MALFORMED_JSON: 1}))
    # A broken line that is not the last is malformed whatever happened to the body.
    assert read(LINE[:50] + b"\n" + LINE + b"\n", truncated=True) == ([RECORD], Counter({MALFORMED_JSON: 1}))


def padded_line(total: int) -> bytes:
    """A valid JSON line of exactly `total` bytes."""
    head = b'{"pad":"'
    return head + b"x" * (total - len(head) - 2) + b'"}'


def test_a_line_of_the_maximum_length_is_read_and_a_longer_one_skipped() -> None:
    exact = padded_line(MAX_LINE_BYTES)
    values, skipped = read(
        LINE + b"\n" + exact + b"\n" + padded_line(MAX_LINE_BYTES + 1) + b"\n" + LINE, 65536
    )
    assert [len(orjson.dumps(v)) for v in values] == [
        len(orjson.dumps(RECORD)),
        MAX_LINE_BYTES,
        len(orjson.dumps(RECORD)),
    ]
    assert skipped == {LINE_TOO_LONG: 1}


def long_line_object(line_bytes: int) -> Iterator[bytes]:
    """Good lines around one enormous line, made chunk by chunk so the test holds none of it."""
    yield LINE + b"\n"
    piece = b"y" * 65536
    for _ in range(line_bytes // len(piece)):
        yield piece
    yield b"\n" + LINE + b"\n"


@pytest.mark.parametrize("terminated", [True, False])
def test_a_long_line_is_skipped_without_being_held(terminated: bool) -> None:
    chunks = long_line_object(32 << 20)
    if not terminated:
        chunks = (chunk for chunk in chunks if not chunk.startswith(b"\n"))
    skipped: Counter[str] = Counter()
    tracemalloc.start()
    try:
        values = list(records(chunks, skipped, lambda: False))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert values == ([RECORD, RECORD] if terminated else [RECORD])
    assert skipped == {LINE_TOO_LONG: 1}
    assert peak < 4 * MAX_LINE_BYTES  # the line is 32 MiB


def test_gzipped_objects_convert_and_not_a_metric_is_counted_by_the_converter() -> None:
    data = gzip.compress(fixture_bytes("otel-contrib-cwmetricstream/some_invalid_records"))
    _, _, conversion = convert_object(data, chunk=100)
    assert conversion.skipped == {"not_a_metric": 4}
    assert conversion.records == 88
    assert conversion.source.compressed
