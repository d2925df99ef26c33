"""Reading object bytes: gzip by magic bytes, streaming lines, and counting what cannot be read."""

from __future__ import annotations

import gzip
import zlib
from collections import Counter

import orjson

from conftest import convert_object, fixture_bytes
from cwotlp.formats.json_lines import json_lines
from cwotlp.source import Decompressed, objects_in_event

LINE = fixture_bytes("otel-contrib-cwmetricstream/single_record").strip()


def lines_of(data: bytes, chunk: int = 1 << 20) -> tuple[list[object], Counter[str], Decompressed]:
    source = Decompressed([data[i : i + chunk] for i in range(0, len(data), chunk)])
    skipped: Counter[str] = Counter()
    return list(json_lines(source, skipped)), skipped, source


def test_gzip_is_detected_by_magic_bytes_and_lines_survive_any_chunking() -> None:
    data = fixture_bytes("otel-contrib-cwmetricstream/multiple_records")
    plain, _, plain_source = lines_of(data)
    for chunk in (1, 2, 3, 100, 4096):
        zipped, skipped, source = lines_of(gzip.compress(data), chunk)
        assert zipped == plain
        assert source.compressed and not source.truncated
        assert not skipped
    assert not plain_source.compressed
    assert len(plain) == 127


def test_blank_lines_crlf_and_surrounding_whitespace_are_fine() -> None:
    data = b"\n\n  " + LINE + b"  \r\n\r\n\t" + LINE + b"\r\n   \n" + LINE
    values, skipped, _ = lines_of(data)
    assert len(values) == 3
    assert not skipped


def test_malformed_lines_are_counted_and_skipped() -> None:
    data = LINE + b"\n{not json\n" + LINE[:40] + b"\n" + LINE + b"\n"
    values, skipped, _ = lines_of(data)
    assert len(values) == 2
    assert skipped == {"malformed_json": 2}


def test_a_pretty_printed_record_is_malformed_line_by_line() -> None:
    _, skipped, _ = lines_of(fixture_bytes("otel-contrib-encoding-json/valid_metric.json"))
    assert skipped["malformed_json"] > 0


def test_json_that_is_not_a_metric_is_counted_by_reason() -> None:
    _, conversion = convert_object(fixture_bytes("otel-contrib-cwmetricstream/some_invalid_records"))
    assert conversion.skipped == {"not_a_metric": 4}
    assert conversion.records == 88


def test_a_truncated_gzip_keeps_every_complete_line_and_says_so() -> None:
    data = b"\n".join([LINE] * 200) + b"\n"
    zipped = gzip.compress(data)
    cut = zipped[: len(zipped) * 2 // 3]
    values, skipped, source = lines_of(cut, 512)
    assert source.truncated
    assert 0 < len(values) < 200
    # Every kept value is a whole record; at most the line at the cut is lost.
    assert all(value == orjson.loads(LINE) for value in values)
    assert sum(skipped.values()) <= 1
    assert set(skipped) <= {"truncated_line"}


def test_a_truncated_object_is_reported_by_the_conversion() -> None:
    cut = gzip.compress(b"\n".join([LINE] * 50))[:-20]
    recoverable = zlib.decompressobj(wbits=31).decompress(cut)
    _, conversion = convert_object(cut)
    assert conversion.source.truncated
    assert conversion.records == recoverable.count(b"\n") + recoverable.endswith(b"}")
    assert 0 < conversion.records < 50


def test_concatenated_gzip_members_are_all_read() -> None:
    data = gzip.compress(LINE + b"\n") + gzip.compress(LINE + b"\n" + LINE)
    values, skipped, source = lines_of(data, 7)
    assert len(values) == 3
    assert not skipped and not source.truncated


def test_garbage_after_a_gzip_member_is_reported_and_earlier_lines_kept() -> None:
    values, _, source = lines_of(gzip.compress(LINE + b"\n") + b"\x00garbage")
    assert len(values) == 1
    assert source.truncated


def test_an_empty_object_yields_nothing() -> None:
    for data in (b"", gzip.compress(b""), b"\n\n"):
        bodies, conversion = convert_object(data)
        assert bodies == []
        assert conversion.records == 0
        assert not conversion.skipped


def test_event_keys_are_form_decoded_and_other_records_ignored() -> None:
    event = {
        "Records": [
            {
                "s3": {
                    "bucket": {"name": "metrics-bucket"},
                    "object": {"key": "metrics/a+b%2Bc%3D.gz", "size": 9},
                }
            },
            {"eventSource": "aws:sqs", "body": "{}"},
        ]
    }
    refs, ignored = objects_in_event(event)
    assert [(r.bucket, r.key, r.size) for r in refs] == [("metrics-bucket", "metrics/a b+c=.gz", 9)]
    assert ignored == 1
    assert objects_in_event({}) == ([], 0)
