"""Batches: within the byte limit, deterministic, contiguous in records, splittable."""

from __future__ import annotations

import itertools

import pytest

from conftest import datapoints, fixture_bytes, parse_request
from cwotlp.batch import Batch, batches
from cwotlp.convert import Converter, Entry, Naming

DATA = fixture_bytes("telegraf-cloudwatch-metric-streams/decoded.jsonl")


def entries() -> list[Entry]:
    import orjson

    converter = Converter(Naming())
    converted = [converter.convert(orjson.loads(line)) for line in DATA.splitlines()]
    return [entry for entry in converted if isinstance(entry, tuple)]


@pytest.mark.parametrize("limit", [2_000, 30_000, 250_000])
def test_every_body_stays_within_the_limit_and_nothing_is_lost(limit: int) -> None:
    all_entries = entries()
    result = list(batches(all_entries, limit))
    assert all(len(batch.body()) <= limit for batch in result)
    assert sum(len(batch.entries) for batch in result) == len(all_entries)
    assert [entry for batch in result for entry in batch.entries] == all_entries
    counted = sum(len(list(datapoints(parse_request(batch.body())))) for batch in result)
    assert counted == len(all_entries)


def test_batches_cover_consecutive_records() -> None:
    result = list(batches(entries(), 20_000, first_record=7))
    assert result[0].first_record == 7
    for before, after in itertools.pairwise(result):
        assert after.first_record == before.end_record


def test_a_datapoint_larger_than_the_limit_travels_alone() -> None:
    all_entries = entries()[:3]
    result = list(batches(all_entries, 10))
    assert [len(batch.entries) for batch in result] == [1, 1, 1]


def test_split_halves_keep_order_and_record_numbers() -> None:
    batch = Batch(entries()[:9], first_record=100)
    first, second = batch.split()
    assert first.entries + second.entries == batch.entries
    assert (first.first_record, first.end_record, second.first_record, second.end_record) == (
        100,
        104,
        104,
        109,
    )
    with pytest.raises(ValueError):
        Batch(entries()[:1], 0).split()
