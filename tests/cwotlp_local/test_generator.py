"""The CloudWatch metric stream data generator: deterministic, realistic, and in Firehose's format."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from collections import Counter

import pytest

from cwotlp_local.generator import (
    DEFAULT_ACCOUNTS,
    MINUTE_MS,
    firehose_key,
    firehose_object,
    generate_records,
    java_double,
    record_line,
    series_count,
)

KEYS = [
    "metric_stream_name",
    "account_id",
    "region",
    "namespace",
    "metric_name",
    "dimensions",
    "timestamp",
    "value",
    "unit",
]
UNITS = {"Percent", "Bytes", "Count", "Seconds", "Milliseconds", "Count/Second", "None"}


def identity(record: dict) -> tuple:
    return (
        record["account_id"],
        record["region"],
        record["namespace"],
        record["metric_name"],
        tuple(sorted(record["dimensions"].items())),
        record["timestamp"],
    )


def test_deterministic_for_a_seed() -> None:
    assert list(generate_records(500, seed=7)) == list(generate_records(500, seed=7))
    assert list(generate_records(500, seed=7)) != list(generate_records(500, seed=8))
    assert firehose_object(generate_records(100)) == firehose_object(generate_records(100))


def test_a_shorter_run_is_a_prefix_of_a_longer_one() -> None:
    assert list(generate_records(300, seed=3)) == list(generate_records(1000, seed=3))[:300]


def test_count_is_exact() -> None:
    assert len(list(generate_records(0))) == 0
    assert len(list(generate_records(1))) == 1
    assert len(list(generate_records(1234))) == 1234
    with pytest.raises(ValueError):
        list(generate_records(-1))


def test_records_look_like_cloudwatch() -> None:
    records = list(generate_records(5000, seed=1))
    namespaces = Counter(r["namespace"] for r in records)
    expected = {"AWS/EC2", "AWS/Lambda", "AWS/RDS", "AWS/ApplicationELB", "AWS/SQS", "AWS/DynamoDB"}
    assert expected <= set(namespaces)
    assert min(namespaces.values()) > 100
    assert {r["account_id"] for r in records} == set(DEFAULT_ACCOUNTS)
    assert {r["unit"] for r in records} <= UNITS
    for record in records:
        assert list(record) == KEYS
        assert record["timestamp"] % MINUTE_MS == 0
        value = record["value"]
        assert value["count"] >= 1
        assert value["min"] <= value["max"]
        assert value["min"] - 1e-9 <= value["sum"] / value["count"] <= value["max"] + 1e-9
        if "p50" in value:
            assert value["min"] <= value["p50"] <= value["p90"] <= value["p99"] <= value["max"]
        if value["count"] == 1:
            assert value["min"] == value["max"] == value["sum"]
        if record["unit"] == "Percent":
            assert value["min"] >= 0 and value["max"] <= 100
    names = {(r["namespace"], r["metric_name"]) for r in records}
    assert ("AWS/EC2", "CPUUtilization") in names
    assert ("AWS/Lambda", "Duration") in names
    assert ("AWS/ApplicationELB", "TargetResponseTime") in names


def test_statistics_mix() -> None:
    records = list(generate_records(10000, seed=2))
    with_percentiles = sum(1 for r in records if {"p50", "p90", "p99"} <= set(r["value"]))
    other = sum(1 for r in records if set(r["value"]) - {"max", "min", "sum", "count", "p50", "p90", "p99"})
    assert 0.12 * len(records) < with_percentiles < 0.28 * len(records)
    assert 0 < other < 0.03 * len(records)
    assert any("TM(10%:90%)" in r["value"] for r in records)


def test_every_series_once_per_minute() -> None:
    per_minute = series_count()
    records = list(generate_records(per_minute * 3))
    assert len({identity(r) for r in records}) == len(records)
    minutes = Counter(r["timestamp"] for r in records)
    assert len(minutes) == 3
    assert set(minutes.values()) == {per_minute}


def test_start_is_floored_to_a_minute_and_accounts_regions_are_used() -> None:
    records = list(
        generate_records(
            2000,
            start_ms=1_700_000_012_345,
            accounts=("123456789012",),
            regions=("eu-west-1", "eu-central-1"),
        )
    )
    assert records[0]["timestamp"] == 1_700_000_012_345 - 1_700_000_012_345 % MINUTE_MS
    assert {r["account_id"] for r in records} == {"123456789012"}
    assert {r["region"] for r in records} == {"eu-west-1", "eu-central-1"}


def test_line_size_is_realistic() -> None:
    lines = [record_line(r) for r in generate_records(5000, seed=4)]
    average = sum(len(line) for line in lines) / len(lines)
    assert 330 <= average <= 390


def test_lines_are_compact_json_in_cloudwatch_number_format() -> None:
    for record in generate_records(2000, seed=5):
        line = record_line(record)
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        assert b": " not in line and b", " not in line
        assert json.loads(line) == record
        assert re.search(rb'"count":\d+\.\d+(E\d+)?[,}]', line)


def test_firehose_object_is_gzipped_json_lines() -> None:
    records = list(generate_records(700, seed=6))
    compressed = firehose_object(records)
    plain = firehose_object(records, compress=False)
    assert compressed[:2] == b"\x1f\x8b"
    assert gzip.decompress(compressed) == plain
    assert len(compressed) < len(plain) / 4
    lines = plain.split(b"\n")
    assert lines[-1] == b""
    assert [json.loads(line) for line in lines[:-1]] == records


def test_firehose_key_format() -> None:
    when = dt.datetime(2024, 5, 1, 9, 3, 7, tzinfo=dt.UTC)
    key = firehose_key("my-stream", when, uuid="5f1e0b5e-2c5b-4d8e-9d0a-0f6b1a2c3d4e")
    assert (
        key == "metrics/2024/05/01/09/my-stream-1-2024-05-01-09-03-07-5f1e0b5e-2c5b-4d8e-9d0a-0f6b1a2c3d4e.gz"
    )
    other_zone = dt.datetime(2024, 5, 1, 11, 3, 7, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    generated = firehose_key("my-stream", other_zone)
    pattern = r"metrics/2024/05/01/09/my-stream-1-2024-05-01-09-03-07-[0-9a-f-]{36}\.gz"
    assert re.fullmatch(pattern, generated)
    assert firehose_key("my-stream", other_zone) != generated  # a fresh uuid each time


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (0.0, "0.0"),
        (12.0, "12.0"),
        (3.3, "3.3"),
        (390386688.0, "3.90386688E8"),
        (1e7, "1.0E7"),
        (9999999.0, "9999999.0"),
        (0.001, "0.001"),
        (0.0001, "1.0E-4"),
        (0.00390625, "0.00390625"),
        (1.5e-5, "1.5E-5"),
        (-2.5e10, "-2.5E10"),
        (1.095950451e9, "1.095950451E9"),
    ],
)
def test_java_double(number: float, text: str) -> None:
    assert java_double(number) == text
    assert float(text) == number
