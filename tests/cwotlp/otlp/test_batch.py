"""Batches: within the byte limit, deterministic, contiguous in records, splittable, in both encodings."""

from __future__ import annotations

import itertools
from collections import Counter

import orjson
import pytest

from conftest import datapoints, decode, fixture_bytes, parse_request
from cwotlp.otlp.batch import Batch, PartsLayout, batches, part_batches
from cwotlp.otlp.convert import Converter
from cwotlp.otlp.encoding import Encoding, JsonEncoding, ProtobufEncoding
from cwotlp.otlp.naming import Naming
from cwotlp.otlp.pieces import Entry

DATA = fixture_bytes("telegraf-cloudwatch-metric-streams/decoded.jsonl")
ENCODINGS = [JsonEncoding(), ProtobufEncoding()]


def entries(encoding: Encoding) -> list[Entry]:
    skipped: Counter[str] = Counter()
    found = list(Converter(Naming(), encoding).entries(map(orjson.loads, DATA.splitlines()), skipped))
    assert len(found) == 1160 and not skipped
    return found


@pytest.mark.parametrize("encoding", ENCODINGS, ids=lambda e: e.name)
@pytest.mark.parametrize("limit", [2_000, 30_000, 250_000])
def test_every_body_stays_within_the_limit_and_nothing_is_lost(limit: int, encoding: Encoding) -> None:
    all_entries = entries(encoding)
    result = list(batches(all_entries, limit, encoding))
    assert all(len(batch.body()) <= limit for batch in result)
    assert [entry for batch in result for entry in batch.entries] == all_entries
    counted = sum(len(list(datapoints(decode(batch.body(), encoding.name)))) for batch in result)
    assert counted == len(all_entries) == sum(batch.datapoints for batch in result)


def test_json_and_protobuf_bodies_decode_to_equal_requests() -> None:
    json_encoding, protobuf_encoding = JsonEncoding(), ProtobufEncoding()  # each lays out what it encoded
    [from_json] = batches(entries(json_encoding), 1 << 22, json_encoding)
    [from_proto] = batches(entries(protobuf_encoding), 1 << 22, protobuf_encoding)
    assert parse_request(from_json.body()) == decode(from_proto.body(), "protobuf")
    assert len(from_proto.body()) < len(from_json.body()) * 0.6


def test_batches_cover_consecutive_records() -> None:
    result = list(batches(entries(JsonEncoding()), 20_000, JsonEncoding(), first_record=7))
    assert result[0].first_record == 7
    for before, after in itertools.pairwise(result):
        assert after.first_record == before.end_record


def test_a_datapoint_larger_than_the_limit_travels_alone() -> None:
    result = list(batches(entries(JsonEncoding())[:3], 10, JsonEncoding()))
    assert [len(batch.entries) for batch in result] == [1, 1, 1]


@pytest.mark.parametrize("encoding", ENCODINGS, ids=lambda e: e.name)
def test_split_halves_keep_order_and_record_numbers(encoding: Encoding) -> None:
    batch = Batch(entries(encoding)[:9], 100, encoding)
    first, second = batch.split()
    assert first.entries + second.entries == batch.entries
    assert (first.first_record, first.end_record, second.first_record, second.end_record) == (
        100,
        104,
        104,
        109,
    )
    merged = decode(first.body(), encoding.name)
    merged.MergeFrom(decode(second.body(), encoding.name))
    assert len(list(datapoints(merged))) == 9
    with pytest.raises(ValueError):
        Batch(entries(encoding)[:1], 0, encoding).split()


def test_parts_are_grouped_within_the_limit_and_know_their_datapoints() -> None:
    parts = [(bytes([0x0A, n]) + b"p" * n, n % 7) for n in range(40, 120)]
    result = list(part_batches(parts, 1000, first_record=3))
    assert all(len(batch.body()) <= 1000 for batch in result)
    assert b"".join(batch.body() for batch in result) == b"".join(part for part, _ in parts)
    assert [batch.datapoints for batch in result] == [
        sum(points for _, points in parts[b.first_record - 3 : b.end_record - 3]) for b in result
    ]
    assert result[0].first_record == 3 and result[-1].end_record == 3 + len(parts)
    for before, after in itertools.pairwise(result):
        assert after.first_record == before.end_record
    first, second = result[0].split()
    assert first.datapoints + second.datapoints == result[0].datapoints
    assert first.body() + second.body() == result[0].body()
    assert isinstance(result[0].layout, PartsLayout)
    assert result[0].layout.content_type == "application/x-protobuf"


def test_a_part_larger_than_the_limit_travels_alone() -> None:
    parts = [(b"a" * 10, 1), (b"b" * 5000, 2), (b"c" * 10, 3)]
    assert [batch.datapoints for batch in part_batches(parts, 1000)] == [1, 2, 3]
