"""The converter's typed path for `json` objects (`Converter.line_entries`, on lines decoded into
typed records by cwotlp.formats.json_typed) makes exactly what the straightforward one makes
(`Converter.entries` on the records orjson parses the lines into): the same entries byte for byte,
the same skipped counts and the same converted, dropped and oldest figures, on hostile and damaged
objects and on the fixtures (on generated and realistic ones under every naming and encoding:
test_fast_paths.py)."""

from __future__ import annotations

import math
import random
import struct
from collections import Counter
from collections.abc import Mapping
from typing import Any

import orjson
import pytest

from conftest import assert_converted_alike, chunked, converted_both_ways, fixture_bytes, make_settings
from cwotlp import pipeline
from cwotlp.formats import json_typed
from cwotlp.formats.json_lines import MALFORMED_JSON, TRUNCATED_LINE
from cwotlp.otlp.convert import INVALID_TIMESTAMP, INVALID_VALUE, NOT_A_METRIC
from cwotlp.otlp.naming import Naming
from cwotlp.rules import Rule
from cwotlp_local.generator import generate_records

RECORDS = list(generate_records(400, seed=11))
OBJECT = b"".join(orjson.dumps(record) + b"\n" for record in RECORDS)


def assert_same(data: bytes, naming: str = "cloudwatch", encoding: str = "protobuf") -> tuple[Any, ...]:
    return assert_converted_alike(data, naming, encoding, "json")


@pytest.mark.parametrize(
    "path",
    [
        "otel-contrib-cwmetricstream/single_record",
        "otel-contrib-cwmetricstream/multiple_records",
        "otel-contrib-cwmetricstream/some_invalid_records",
        "otel-contrib-encoding-json/stream/valid_metric.json",
        "otel-contrib-encoding-json/valid_metric_with_unsupported_stats.json",
        "telegraf-cloudwatch-metric-streams/decoded.jsonl",
    ],
)
@pytest.mark.parametrize("naming", ["cloudwatch", "prometheus"])
def test_the_fixtures_convert_alike(path: str, naming: str) -> None:
    entries, skipped, _ = assert_same(fixture_bytes(path), naming)
    assert entries or skipped


# Hostile lines: each replaces one line of a valid object. A line the typed decoder reads differently
# from orjson, or accepts where orjson fails, would show here as a difference.

VALID = orjson.dumps(RECORDS[0]).decode()
HEAD = '{"namespace":"AWS/EC2","metric_name":"CPUUtilization","timestamp":1714564800000,'
STATS = '"value":{"count":1,"sum":2,"min":1,"max":1}'
HOSTILE: dict[str, bytes] = {
    name: (text if isinstance(text, bytes) else text.encode())
    for name, text in {
        "duplicate field, the last a string": f'{HEAD}{STATS},"namespace":"AWS/RDS"}}',
        "duplicate field, the last null": f'{HEAD}{STATS},"namespace":null}}',
        "duplicate field, the last a number": f'{HEAD}{STATS},"namespace":5}}',
        "duplicate statistic": HEAD + '"value":{"count":1,"sum":2,"min":1,"max":1,"count":3}}',
        "duplicate dimension": f'{HEAD}{STATS},"dimensions":{{"a":"1","b":"2","a":"3"}}}}',
        "an unknown field": f'{HEAD}{STATS},"extra":[1,{{"x":null}}]}}',
        "an unknown field nested deep": f'{HEAD}{STATS},"x":{"[" * 1000}{"]" * 1000}}}',
        "a dimension nested deep": f'{HEAD}{STATS},"dimensions":{{"a":{"[" * 5000}{"]" * 5000}}}}}',
        "a statistic nested deep": HEAD
        + '"value":{"count":1,"sum":1,"min":1,"max":1,"p9":'
        + "[" * 900
        + "]" * 900
        + "}}",
        "invalid UTF-8 in an unknown field": HEAD.encode() + STATS.encode() + b',"x":"\xff\xfe"}',
        "invalid UTF-8 in a dimension": HEAD.encode() + STATS.encode() + b',"dimensions":{"a":"\xc0\xaf"}}',
        "UTF-8 of a surrogate": HEAD.encode() + STATS.encode() + b',"unit":"\xed\xa0\x80"}',
        "an escaped lone surrogate": f'{HEAD}{STATS},"unit":"\\udc00"}}',
        "an escaped pair": f'{HEAD}{STATS},"unit":"\\u00e9\\ud83d\\ude00"}}',
        "an overflowing number in an unknown field": f'{HEAD}{STATS},"x":1e999}}',
        "an overflowing sum": HEAD + '"value":{"count":1,"sum":1e999,"min":1,"max":1}}',
        "a sum past 64 bits": HEAD + '"value":{"count":1,"sum":18446744073709551616,"min":1,"max":1}}',
        "a sum at 2**64 - 1": HEAD + '"value":{"count":1,"sum":18446744073709551615,"min":1,"max":1}}',
        "a sum at 2**63": HEAD + '"value":{"count":1,"sum":9223372036854775808,"min":1,"max":1}}',
        "the least 64-bit min": HEAD + '"value":{"count":1,"sum":1,"min":-9223372036854775808,"max":1}}',
        "a min past 64 bits": HEAD + '"value":{"count":1,"sum":1,"min":-9223372036854775809,"max":1}}',
        "a percentile past 64 bits": HEAD
        + '"value":{"count":1,"sum":1,"min":1,"max":1,"p99":1'
        + "0" * 30
        + "}}",
        "a string percentile": HEAD + '"value":{"count":1,"sum":1,"min":1,"max":1,"p99":"9"}}',
        "a boolean count": HEAD + '"value":{"count":true,"sum":1,"min":1,"max":1}}',
        "a null max": HEAD + '"value":{"count":1,"sum":1,"min":1,"max":null}}',
        "no count": HEAD + '"value":{"sum":1,"min":1,"max":1}}',
        "a negative count": HEAD + '"value":{"count":-1,"sum":1,"min":1,"max":1}}',
        "a count at 2**63": HEAD + '"value":{"count":9223372036854775807,"sum":1,"min":1,"max":1}}',
        "an exponent count": HEAD + '"value":{"count":1E2,"sum":-0.0,"min":-0,"max":1.5e-400}}',
        "a long mantissa": HEAD
        + '"value":{"count":1,"sum":0.1000000000000000055511151231257827021181583404541015625,'
        + '"min":123456789012345678901234567890e-20,"max":4.9e-324}}',
        "NaN": HEAD + '"value":{"count":1,"sum":NaN,"min":1,"max":1}}',
        "a float timestamp": '{"namespace":"N","metric_name":"M","timestamp":1714564800000.0,' + STATS + "}",
        "an exponent timestamp": '{"namespace":"N","metric_name":"M","timestamp":1.7145648e12,' + STATS + "}",
        "a timestamp past 64 bits": '{"namespace":"N","metric_name":"M","timestamp":1'
        + "0" * 25
        + ","
        + STATS
        + "}",
        "a timestamp before 2000": '{"namespace":"N","metric_name":"M","timestamp":1000,' + STATS + "}",
        "a string timestamp": '{"namespace":"N","metric_name":"M","timestamp":"1714564800000",' + STATS + "}",
        "an empty namespace": '{"namespace":"","metric_name":"M","timestamp":1714564800000,' + STATS + "}",
        "a numeric metric name": '{"namespace":"N","metric_name":7,"timestamp":1714564800000,' + STATS + "}",
        "a list of dimensions": f'{HEAD}{STATS},"dimensions":[]}}',
        "a false of dimensions": f'{HEAD}{STATS},"dimensions":false}}',
        "null dimensions": f'{HEAD}{STATS},"dimensions":null}}',
        "a numeric dimension": f'{HEAD}{STATS},"dimensions":{{"a":1}}}}',
        "an empty dimension name": f'{HEAD}{STATS},"dimensions":{{"":"x"}}}}',
        "a null unit": f'{HEAD}{STATS},"unit":null}}',
        "a numeric region": f'{HEAD}{STATS},"region":5}}',
        "no value": '{"namespace":"N","metric_name":"M","timestamp":1714564800000}',
        "a list": "[1, 2, 3]",
        "a number": "42",
        "a string": '"{}"',
        "two records on one line": VALID + " " + VALID,
        "a trailing comma": f"{HEAD}{STATS},}}",
        "a NUL after the record": VALID + "\x00",
        "a vertical tab": VALID[:1] + "\x0b" + VALID[1:],
        "a control character in a string": f'{HEAD}{STATS},"unit":"a\x01b"}}',
        "a byte order mark inside": "\ufeff" + VALID,
        "spaces and a CR around": " \t" + VALID + " \r",
        "cut short": VALID[: len(VALID) // 2],
    }.items()
}


@pytest.mark.parametrize("name", HOSTILE)
@pytest.mark.parametrize(("naming", "encoding"), [("cloudwatch", "json"), ("prometheus", "protobuf")])
def test_hostile_lines_convert_alike(name: str, naming: str, encoding: str) -> None:
    lines = OBJECT.splitlines(keepends=True)
    data = b"".join([*lines[:5], HOSTILE[name] + b"\n", *lines[5:10]])
    _, skipped, (converted, _, _) = assert_same(data, naming, encoding)
    assert converted + sum(skipped.values()) >= 10


def test_the_hostile_lines_are_judged_as_records_are() -> None:
    """The table reaches every way a line is skipped, so that the comparison covers each."""
    skipped: Counter[str] = Counter()
    for line in HOSTILE.values():
        skipped += assert_same(line + b"\n")[1]
    assert {MALFORMED_JSON, NOT_A_METRIC, INVALID_TIMESTAMP, INVALID_VALUE} <= set(skipped)


# The same dimensions written the ways a writer might, and dimensions that are no metric's: the typed
# path looks attributes up by the dimensions' bytes, so each spelling, met first or again, must convert
# as the record it parses to.
DIMENSIONS_SPELLED = [
    "",
    ',"dimensions":null',
    ',"dimensions":{}',
    ',"dimensions":{ }',
    ',"dimensions":{"InstanceId":"i-1","Role":"db"}',
    ',"dimensions" : { "InstanceId" : "i-1" , "Role" : "db" }',
    ',"dimensions":{"Role":"db","InstanceId":"i-1"}',
    ',"dimensions":{"InstanceId":"i-\\u0031","Role":"\\u0064b"}',
    ',"dimensions":{"InstanceId":"i-1","Role":"db","InstanceId":"i-2"}',
    ',"dimensions":{"InstanceId":"i-1","Role":7}',
    ',"dimensions":{"InstanceId":"i-1","Role":["db"]}',
    ',"dimensions":{"":"db"}',
    ',"dimensions":"InstanceId=i-1"',
]


@pytest.mark.parametrize(("naming", "encoding"), [("cloudwatch", "json"), ("prometheus", "protobuf")])
def test_dimensions_convert_alike_however_they_are_written(naming: str, encoding: str) -> None:
    lines = [f"{HEAD}{STATS}{dimensions}}}".encode() for dimensions in DIMENSIONS_SPELLED]
    data = b"\n".join(lines + lines[::-1] + lines) + b"\n"
    entries, skipped, (converted, _, _) = assert_same(data, naming, encoding)
    assert converted == 3 * 9 and skipped == Counter({NOT_A_METRIC: 3 * 4})
    # The attributes: none (four spellings); i-1 and db (three: spaces and escapes read alike); the
    # duplicate's last, i-2; db and i-1 (the cloudwatch naming keeps the order of the dimensions).
    attribute_sets = {entry[2].partition(b'"timeUnixNano"')[0] for entry in entries}
    assert encoding != "json" or len(attribute_sets) == 4


def _mutated(line: bytes, rng: random.Random) -> bytes:
    """The line with a few bytes changed, removed or put in, or a number swapped for a hostile one."""
    data = bytearray(line)
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(data))
        choice = rng.random()
        if choice < 0.3:
            data[at] = rng.choice(b'{}[]":,.-+eE0129 \\\x00\xff\xc3nul')
        elif choice < 0.5:
            del data[at]
        elif choice < 0.7:
            data[at:at] = rng.choice(
                [b"\xed\xa0\x80", b"\\ud800", b"1e400", b"NaN", b",", b'"x":1,', b"9" * 21]
            )
        else:
            digits = [i for i, byte in enumerate(data) if byte in b"0123456789"]
            if digits:
                at = rng.choice(digits)
                data[at : at + 1] = rng.choice(
                    [b"18446744073709551616", b"9223372036854775808", b".5", b"e9"]
                )
    return bytes(data)


@pytest.mark.parametrize("seed", range(4))
def test_randomly_damaged_lines_convert_alike(seed: int) -> None:
    rng = random.Random(seed)
    lines = [_mutated(line, rng) for line in OBJECT.splitlines() for _ in range(3)]
    _, skipped, (converted, _, _) = assert_same(b"\n".join(lines) + b"\n", "cloudwatch", "json")
    assert converted and skipped[MALFORMED_JSON] and converted + sum(skipped.values()) == len(lines)


@pytest.mark.parametrize("ending", [b"", b"\n"])
def test_a_last_line_cut_short_counts_alike(ending: bytes) -> None:
    data = OBJECT + OBJECT.splitlines()[0][:-9] + ending
    _, skipped, _ = assert_same(data)
    assert skipped == Counter({TRUNCATED_LINE if not ending else MALFORMED_JSON: 1})


class Tags:
    """Resource tags for every instance whose id ends in 0."""

    def tags(
        self, account_id: str, region: str, namespace: str, dimensions: Mapping[str, str]
    ) -> tuple[tuple[str, str], ...]:
        return (("team", "core"),) if dimensions.get("InstanceId", "").endswith("0") else ()


def test_with_tags_the_lines_are_read_as_records() -> None:
    fast, straightforward = converted_both_ways(OBJECT, Naming(), "json", "json", Tags())
    assert fast == straightforward and fast[2][0] == len(RECORDS)
    assert any(b"aws.tag.team" in entry[2] for entry in fast[0])


@pytest.mark.parametrize(("rules", "typed"), [((), True), ((Rule("drop", namespace="AWS/Nothing"),), False)])
def test_a_json_object_takes_the_typed_path_unless_rules_need_records(rules: Any, typed: bool) -> None:
    before = json_typed._decoder.cache_info()
    conversion = pipeline.Conversion(chunked(OBJECT, 4096), make_settings(rules=rules))
    batches = list(conversion.batches())
    after = json_typed._decoder.cache_info()
    assert (after.hits + after.misses > before.hits + before.misses) is typed
    assert sum(len(batch.entries) for batch in batches) == len(RECORDS)
    assert conversion.records == len(RECORDS) and not conversion.skipped


@pytest.mark.parametrize("seed", range(2))
def test_the_typed_decoder_reads_every_number_as_orjson_does(seed: int) -> None:
    """Random doubles written the ways a writer might (shortest, 17 digits, 25 digits, fixed, as an
    integer): where the typed decoder reads a line, its number is orjson's, of the same type; where it
    refuses one that orjson reads, the line goes the straightforward way (integers past 64 bits)."""
    rng = random.Random(seed)
    decode, refused = json_typed.TypedLines([], Counter(), bool).decode, 0
    for _ in range(3000):
        number = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        if not math.isfinite(number):
            continue
        for text in (repr(number), f"{number:.17e}", f"{number:.25g}", f"{number:.30f}", f"{int(number)}"):
            line = (HEAD + f'"value":{{"count":1,"sum":{text},"min":1,"max":1}}}}').encode()
            expected = orjson.loads(line)["value"]["sum"]
            try:
                found = decode(line).value["sum"]
            except json_typed.TypedLines.error:
                refused += 1
                assert abs(expected) >= 2**63 and text.lstrip("-").isdigit(), text
                continue
            assert type(found) is type(expected) and repr(found) == repr(expected), text
    assert refused  # integers past 64 bits were met, and refused
