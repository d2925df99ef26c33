"""Poison records: values no collector should get (absurd timestamps, non-finite or out-of-range numbers,
wrong types, missing fields, invalid JSON) are skipped and counted by reason; every other record of the
object is delivered exactly once, in JSON and protobuf requests, from JSON lines and from OpenTelemetry
1.0 frames."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
import pytest
from faults.records import START_MS, frame, json_lines, record, summary_point
from faults.world import World

GOOD = range(200)
YEAR_3000_MS = 32_503_680_000_000
YEAR_2300_MS = 10_413_792_000_000  # as far as a uint64 of nanoseconds reaches past 2100
NS = 1_000_000
ENCODINGS = ["json", "protobuf"]


def _value(seq: int, **changes: Any) -> dict[str, Any]:
    return {**record(seq)["value"], **changes}


def _without(seq: int, field: str) -> dict[str, Any]:
    found = record(seq)
    del found[field]
    return found


def _text(seq: int, old: str, new: str) -> bytes:
    """A record's line with a piece of its JSON text replaced (for what orjson will not write)."""
    line = orjson.dumps(record(seq)).decode()
    assert old in line
    return (line.replace(old, new, 1) + "\n").encode()


SUM = '"sum":'


def json_poison() -> list[tuple[str, dict[str, Any] | bytes, str]]:
    """(case, record or line, the reason it is skipped under); seqs from 1000 up."""
    return [
        ("negative-timestamp", record(1000, timestamp=-60_000), "invalid_timestamp"),
        ("year-3000", record(1001, timestamp=YEAR_3000_MS), "invalid_timestamp"),
        ("timestamp-string", record(1002, timestamp="1764514200000"), "invalid_timestamp"),
        ("timestamp-float", record(1003, timestamp=1.7645142e12), "invalid_timestamp"),
        ("count-1e30", record(1004, value=_value(1004, count=1e30)), "invalid_value"),
        ("count-negative", record(1005, value=_value(1005, count=-1)), "invalid_value"),
        ("count-string", record(1006, value=_value(1006, count="60")), "invalid_value"),
        ("count-bool", record(1007, value=_value(1007, count=True)), "invalid_value"),
        ("count-2**64", _text(1008, '"count":60.0', '"count":18446744073709551616'), "invalid_value"),
        ("sum-null", record(1009, value=_value(1009, sum=None)), "invalid_value"),
        ("missing-value", _without(1010, "value"), "not_a_metric"),
        ("missing-timestamp", _without(1011, "timestamp"), "not_a_metric"),
        ("missing-namespace", _without(1012, "namespace"), "not_a_metric"),
        ("missing-count", record(1013, value={"sum": 1.0, "min": 0.0, "max": 1.0}), "not_a_metric"),
        ("dimensions-list", record(1014, dimensions=[["Seq", "1014"]]), "not_a_metric"),
        ("dimension-number", record(1015, dimensions={"Seq": 1015}), "not_a_metric"),
        ("namespace-number", record(1016, namespace=5), "not_a_metric"),
        ("value-list", record(1017, value=[1, 2, 3]), "not_a_metric"),
        ("unit-number", record(1018, unit=7), "not_a_metric"),
        ("array", b"[1018, 1019]\n", "not_a_metric"),
        ("string", b'"a string"\n', "not_a_metric"),
        ("null", b"null\n", "not_a_metric"),
        ("NaN", _text(1020, SUM, f'{SUM}NaN,"x":'), "malformed_json"),
        ("Infinity", _text(1021, '"max":9.5', '"max":Infinity'), "malformed_json"),
        ("-Infinity", _text(1022, '"min":0.5', '"min":-Infinity'), "malformed_json"),
        ("1e400", _text(1023, '"max":9.5', '"max":1e400'), "malformed_json"),
    ]


ODD_BUT_VALID = [
    record(2000, value=_value(2000, sum=1.7976931348623157e308, max=1e300)),
    record(2001, value=_value(2001, min=-1e300, sum=-2e300, max=-1.0)),
    record(2002, value=_value(2002, count=0, sum=0.0, min=0.0, max=0.0)),
    record(2003, value=_value(2003, p99="fast", p150=3.0, p50=1.0)),  # two statistics dropped
]
ODD_SEQS = [2000, 2001, 2002, 2003]


def _interleaved(poison: list[Any]) -> list[Any]:
    records: list[Any] = [record(seq) for seq in GOOD]
    for index, item in enumerate(poison):
        records.insert(index * 7 + 3, item)
    return records


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_poison_json_records_are_skipped_by_reason_and_the_rest_delivered(
    world: World, monkeypatch: pytest.MonkeyPatch, encoding: str
) -> None:
    monkeypatch.setenv("CWOTLP_OTLP_ENCODING", encoding)
    poison = json_poison()
    data = json_lines(_interleaved([item for _, item, _ in poison] + ODD_BUT_VALID))
    outcome = world.invoke(world.put("metrics/poison.json", data))
    assert outcome.error is None, outcome.error
    delivered = [*GOOD, *ODD_SEQS]
    world.receiver.assert_exactly_once(delivered)
    line = outcome.line
    assert line["skipped"] == dict(Counter(reason for _, _, reason in poison))
    assert line["records"] == line["datapoints"] == len(delivered)
    assert line["statistics_dropped"] == 2
    assert outcome.result == {"objects": 1, "delivered": 1, "already_delivered": 0, "datapoints": 204}


def frame_poison() -> list[tuple[str, Any, str]]:
    """(case, datapoint, reason) for what a frame can carry; seqs from 1000 up."""
    nan, inf = float("nan"), float("inf")
    return [
        ("sum-NaN", summary_point(1000, total=nan), "invalid_value"),
        ("sum-inf", summary_point(1001, total=inf), "invalid_value"),
        ("max-inf", summary_point(1002, high=inf), "invalid_value"),
        ("min-minus-inf", summary_point(1003, low=-inf), "invalid_value"),
        ("min-NaN", summary_point(1004, low=nan), "invalid_value"),
        ("times-zero", summary_point(1005, start_ns=0, time_ns=0), "invalid_timestamp"),
        ("year-2300", summary_point(1006, start_ns=YEAR_2300_MS * NS), "invalid_timestamp"),
        ("count-2**64-1", summary_point(1007, count=2**64 - 1), "invalid_value"),
        ("count-2**63", summary_point(1008, count=2**63), "invalid_value"),
    ]


def _frames(poison: list[Any]) -> bytes:
    points = [summary_point(seq) for seq in GOOD]
    for index, point in enumerate(poison):
        points.insert(index * 11 + 5, point)
    end_only = summary_point(2000, start_ns=0, time_ns=(START_MS + 60_000) * NS)
    points.append(end_only)  # without a start time, the end time tells when: still a valid datapoint
    return b"".join(frame(points[i : i + 30]) for i in range(0, len(points), 30))


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_poison_datapoints_in_frames_are_skipped_by_reason_and_the_rest_delivered(
    world: World, monkeypatch: pytest.MonkeyPatch, encoding: str
) -> None:
    monkeypatch.setenv("CWOTLP_STREAM_FORMAT", "opentelemetry1.0")
    monkeypatch.setenv("CWOTLP_OTLP_ENCODING", encoding)
    poison = frame_poison()
    outcome = world.invoke(world.put("metrics/poison.frames", _frames([p for _, p, _ in poison])))
    assert outcome.error is None, outcome.error
    world.receiver.assert_exactly_once([*GOOD, 2000])
    line = outcome.line
    assert line["skipped"] == dict(Counter(reason for _, _, reason in poison))
    assert line["records"] == line["datapoints"] == len(GOOD) + 1


def test_frames_forwarded_as_they_are_are_not_checked_and_a_refusal_is_narrowed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The documented trade-off of the `native` naming with protobuf requests: frames are forwarded as
    CloudWatch wrote them, without decoding a datapoint, so odd datapoints pass unchecked; a collector
    that refuses them costs the part they are in (a frame), narrowed down by splitting, and no more."""
    monkeypatch.setenv("CWOTLP_STREAM_FORMAT", "opentelemetry1.0")
    monkeypatch.setenv("CWOTLP_OTLP_ENCODING", "protobuf")
    monkeypatch.setenv("CWOTLP_NAMING", "native")
    poison = frame_poison()
    outcome = world.invoke(world.put("metrics/poison.passthrough", _frames([p for _, p, _ in poison])))
    assert outcome.error is None, outcome.error
    assert outcome.line["skipped"] == {}
    assert set(GOOD) <= set(world.receiver.seqs())  # the good frames arrive whatever the others hold


def test_frames_that_are_not_summaries_or_not_messages_are_counted(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from faults.records import varint
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    monkeypatch.setenv("CWOTLP_STREAM_FORMAT", "opentelemetry1.0")
    gauge = ExportMetricsServiceRequest()
    gauge.resource_metrics.add().scope_metrics.add().metrics.add(name="g").gauge.data_points.add(as_double=1)
    payloads = [gauge.SerializeToString(), b"\xff\xff\xff\xff\x0f garbage", b""]
    odd = b"".join(varint(len(p)) + p for p in payloads)
    data = (
        frame(summary_point(seq) for seq in range(100))
        + odd
        + frame(summary_point(seq) for seq in GOOD[100:])
    )
    outcome = world.invoke(world.put("metrics/odd.frames", data))
    assert outcome.error is None, outcome.error
    world.receiver.assert_exactly_once(GOOD)
    skipped = outcome.line["skipped"]
    assert skipped.get("not_a_summary") == 1, skipped
    assert sum(skipped.values()) >= 3, skipped
