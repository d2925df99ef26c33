"""Where bytes come from: the objects an S3 event names, and bodies read in chunks and gunzipped with
bounded memory, whatever their chunking, members, truncation or garbage."""

from __future__ import annotations

import gzip
import random
import tracemalloc
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import chunked
from cwotlp import source as source_module
from cwotlp.source import INFLATE_STEP, Decompressed, ObjectRef, objects_in_event

LINES = b"".join(b'{"line": %d, "padding": "%s"}\n' % (n, b"p" * (n % 50)) for n in range(2000))


def s3_record(key: object = "metrics/a.gz", **changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "metrics-bucket"}, "object": {"key": key, "size": 9}},
    }
    record.update(changes)
    return record


def test_event_keys_are_form_decoded() -> None:
    found = objects_in_event({"Records": [s3_record("metrics/a+b%2Bc%3D%C3%A9.gz")]})
    assert found.refs == [ObjectRef("metrics-bucket", "metrics/a b+c=é.gz", 9)]
    assert (found.ignored, found.unusable) == (0, 0)


def test_records_of_other_kinds_are_ignored_and_unusable_ones_counted() -> None:
    event = {
        "Records": [
            s3_record("metrics/ok.gz"),
            s3_record("metrics/copied.gz", eventName="ObjectCreated:CompleteMultipartUpload"),
            s3_record("metrics/gone.gz", eventName="ObjectRemoved:Delete"),
            {"eventSource": "aws:sqs", "body": "{}"},
            "not a record",
            None,
            s3_record("metrics/no-name.gz", eventName=7),
            {"s3": {"bucket": {"name": "metrics-bucket"}, "object": {"key": "metrics/no-event-name.gz"}}},
            s3_record(""),
            s3_record(None),
            s3_record(["metrics/a.gz"]),
            {"s3": {"bucket": {}, "object": {"key": "k"}}},
            {"s3": {"bucket": "metrics-bucket", "object": {"key": "k"}}},
            {"s3": {"bucket": {"name": "metrics-bucket"}, "object": "k"}},
        ]
    }
    found = objects_in_event(event)
    assert [ref.key for ref in found.refs] == [
        "metrics/ok.gz",
        "metrics/copied.gz",
        "metrics/no-event-name.gz",
    ]
    assert found.refs[2].size is None
    assert found.ignored == 5  # removal, SQS, a string, None, an event name that is not text
    assert found.unusable == 6


@pytest.mark.parametrize("size", ["9", 9.0, True, None, -1])
def test_only_an_integer_size_is_kept(size: object) -> None:
    record = s3_record()
    record["s3"]["object"]["size"] = size
    [ref] = objects_in_event({"Records": [record]}).refs
    assert ref.size == (size if type(size) is int else None)


@pytest.mark.parametrize("event", [None, [], "Records", 7, {}, {"Records": None}, {"Records": {"s3": {}}}])
def test_events_that_are_not_s3_notifications_name_nothing(event: object) -> None:
    found = objects_in_event(event)
    assert (found.refs, found.ignored, found.unusable) == ([], 0, 0)


def read(chunks: list[bytes]) -> tuple[bytes, Decompressed]:
    source = Decompressed(chunks)
    return b"".join(source), source


def test_a_plain_body_passes_through_any_chunking() -> None:
    for size in (1, 2, 7, 4096, 1 << 20):
        data, source = read(chunked(LINES, size))
        assert data == LINES
        assert not source.compressed and not source.truncated
        assert source.bytes_read == source.plain_bytes == len(LINES)


def test_gzip_is_told_by_its_magic_bytes_whatever_the_chunking() -> None:
    zipped = gzip.compress(LINES)
    for size in (1, 2, 3, 100, 4096):
        data, source = read(chunked(zipped, size))
        assert data == LINES
        assert source.compressed and not source.truncated
        assert (source.bytes_read, source.plain_bytes) == (len(zipped), len(LINES))


def test_empty_and_tiny_bodies() -> None:
    assert read([])[0] == b""
    assert read([b""])[0] == b""
    assert read([b"\x1f"])[0] == b"\x1f"  # one byte of the magic is no gzip
    data, source = read([gzip.compress(b"")])
    assert data == b"" and source.compressed and not source.truncated


def test_concatenated_members_are_all_read() -> None:
    members = gzip.compress(LINES[:1000]) + gzip.compress(b"") + gzip.compress(LINES[1000:])
    for size in (1, 5, 333, 1 << 20):
        data, source = read(chunked(members, size))
        assert data == LINES
        assert not source.truncated


def test_a_truncated_body_keeps_everything_before_the_cut() -> None:
    zipped = gzip.compress(LINES)
    cut = zipped[: len(zipped) * 2 // 3]
    recoverable = zlib.decompressobj(wbits=31).decompress(cut)
    data, source = read(chunked(cut, 512))
    assert source.truncated
    assert len(recoverable) > 0 and data.startswith(recoverable)
    assert LINES.startswith(data)


@pytest.mark.parametrize("garbage", [b"\x00garbage", b"\x00" * 64, b"\x1f\x8b\x08\x00broken"])
def test_garbage_after_a_member_is_truncation(garbage: bytes) -> None:
    data, source = read(chunked(gzip.compress(LINES) + garbage, 1000))
    assert data == LINES
    assert source.truncated


def test_a_member_whose_checksum_does_not_match_is_truncation() -> None:
    zipped = bytearray(gzip.compress(LINES))
    zipped[-6] ^= 0xFF  # in the CRC-32 of the trailer
    data, source = read(chunked(bytes(zipped), 4096))
    assert source.truncated
    # zlib drops the output of the call that meets the bad checksum; what came before is kept.
    assert len(data) > 0 and LINES.startswith(data)


def damaged_bodies(seed: int) -> Iterator[tuple[str, bytes]]:
    """Two gzip members of varied lines, whole, cut, with a bit flipped, or cut and followed by junk."""
    rng = random.Random(seed)
    lines = b"".join(b'{"n":%d,"v":"%s"}\n' % (n, str(rng.random()).encode()) for n in range(3000))
    body = gzip.compress(lines[:40_000]) + gzip.compress(lines[40_000:])
    yield "whole", body
    for _ in range(120):
        at = rng.randrange(len(body))
        flipped = bytearray(body)
        flipped[at] ^= 1 << rng.randrange(8)
        yield f"bit flipped at {at}", bytes(flipped)
        yield f"cut at {at}", body[:at]
        yield f"cut at {at}, then junk", body[:at] + rng.randbytes(rng.randrange(1, 64))


def test_zlib_ng_inflates_exactly_as_the_zlib_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """Objects are inflated with zlib-ng for its speed: whatever the damage, what a body yields, and
    whether it counts as truncated, must be what the zlib module gives, through the same reading."""
    bodies = list(damaged_bodies(11))
    with_zlib_ng = [(read(chunked(body, 1000))) for _, body in bodies]
    monkeypatch.setattr(source_module, "zlib_ng", zlib)
    monkeypatch.setattr(source_module, "GZIP_ERROR", zlib.error)
    for (name, body), (data, source) in zip(bodies, with_zlib_ng, strict=True):
        expected_data, expected = read(chunked(body, 1000))
        assert (data, source.truncated) == (expected_data, expected.truncated), name
    assert sum(source.truncated for _, source in with_zlib_ng) > 200  # the damage is mostly found


def zeros_member(total: int) -> bytes:
    """A gzip member of `total` zero bytes, built without holding them."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    return b"".join([compressor.compress(block) for _ in range(total >> 20)] + [compressor.flush()])


def test_a_gzip_bomb_is_inflated_a_step_at_a_time() -> None:
    bomb = zeros_member(64 << 20)  # 64 MiB of zeros in about 64 KiB
    assert len(bomb) < 1 << 17
    tracemalloc.start()
    try:
        source = Decompressed(iter(chunked(bomb, 16 << 10)))
        largest = total = 0
        for piece in source:
            largest = max(largest, len(piece))
            total += len(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 64 << 20 and not source.truncated
    assert largest <= INFLATE_STEP
    assert peak < 8 << 20  # a few steps and chunks, never the whole


def test_chunks_are_pulled_as_they_are_needed() -> None:
    pulled = []

    def chunks() -> Iterator[bytes]:
        for piece in chunked(gzip.compress(LINES), 1000):
            pulled.append(len(piece))
            yield piece

    source = iter(Decompressed(chunks()))
    next(source)
    assert len(pulled) < 5
