"""Batches: within the byte limit, deterministic, contiguous in records, splittable, in both encodings."""

from __future__ import annotations

import itertools

import orjson
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from conftest import datapoints, fixture_bytes, parse_request
from cwotlp.otlp.batch import Batch, batches
from cwotlp.otlp.convert import Converter, Entry, Naming
from cwotlp.otlp.encoding import Encoding, JsonEncoding, ProtobufEncoding

DATA = fixture_bytes("telegraf-cloudwatch-metric-streams/decoded.jsonl")
ENCODINGS = [JsonEncoding(), ProtobufEncoding()]


def entries(encoding: Encoding) -> list[Entry]:
    converter = Converter(Naming(), encoding)
    converted = [converter.convert(orjson.loads(line)) for line in DATA.splitlines()]
    return [entry for entry in converted if isinstance(entry, tuple)]


def decode(body: bytes, encoding: Encoding) -> ExportMetricsServiceRequest:
    if encoding.name == "protobuf":
        return ExportMetricsServiceRequest.FromString(body)
    return parse_request(body)


@pytest.mark.parametrize("encoding", ENCODINGS, ids=lambda e: e.name)
@pytest.mark.parametrize("limit", [2_000, 30_000, 250_000])
def test_every_body_stays_within_the_limit_and_nothing_is_lost(limit: int, encoding: Encoding) -> None:
    all_entries = entries(encoding)
    result = list(batches(all_entries, limit, encoding))
    assert all(len(batch.body()) <= limit for batch in result)
    assert [entry for batch in result for entry in batch.entries] == all_entries
    counted = sum(len(list(datapoints(decode(batch.body(), encoding)))) for batch in result)
    assert counted == len(all_entries) == sum(batch.datapoints for batch in result)


def test_json_and_protobuf_bodies_decode_to_equal_requests() -> None:
    [from_json] = batches(entries(JsonEncoding()), 1 << 22, JsonEncoding())
    [from_proto] = batches(entries(ProtobufEncoding()), 1 << 22, ProtobufEncoding())
    assert parse_request(from_json.body()) == ExportMetricsServiceRequest.FromString(from_proto.body())
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
    merged = decode(first.body(), encoding)
    merged.MergeFrom(decode(second.body(), encoding))
    assert len(list(datapoints(merged))) == 9
    with pytest.raises(ValueError):
        Batch(entries(encoding)[:1], 0, encoding).split()
