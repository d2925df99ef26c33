"""Silent loss through the stream format: a BOM or a foreign first line must not hide an object's
records, and an object in which nothing could be read must fail loudly, never succeed quietly."""

from __future__ import annotations

import pytest
from faults.records import gzip, json_lines, json_object, otel1_object, record
from faults.world import Outcome, World

SEQS = range(120)


def test_a_plain_object_is_delivered_once_and_marked(world: World) -> None:
    event = world.put("metrics/plain.gz", json_object(SEQS, compress=True))
    outcome = world.invoke(event)
    assert outcome.error is None
    assert outcome.result == {"objects": 1, "delivered": 1, "already_delivered": 0, "datapoints": 120}
    world.receiver.assert_exactly_once(SEQS)
    line = outcome.line
    assert (line["status"], line["records"], line["datapoints"], line["skipped"]) == (
        "delivered",
        120,
        120,
        {},
    )
    assert line["requests"] == len(world.collector.requests) > 1
    assert world.marker("metrics/plain.gz")["state"] == "delivered"


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_a_byte_order_mark_is_read_as_json(world: World, compress: bool) -> None:
    data = b"\xef\xbb\xbf" + json_object(SEQS)
    outcome = world.invoke(world.put("metrics/bom", gzip(data) if compress else data))
    assert outcome.error is None
    world.receiver.assert_exactly_once(SEQS)
    assert (outcome.line["status"], outcome.line["records"], outcome.line["skipped"]) == (
        "delivered",
        120,
        {},
    )


@pytest.mark.parametrize(
    "first_line",
    [b"CloudWatch metric stream export v1\n", b"\x00\x01\x02binary preamble\n", b'["a", "list"]\n'],
    ids=["text", "binary", "json-but-not-a-record"],
)
def test_one_foreign_first_line_is_skipped_and_the_rest_delivered(world: World, first_line: bytes) -> None:
    outcome = world.invoke(world.put("metrics/foreign", first_line + json_object(SEQS)))
    assert outcome.error is None
    world.receiver.assert_exactly_once(SEQS)
    line = outcome.line
    assert line["status"] == "delivered"
    assert line["records"] == 120
    assert sum(line["skipped"].values()) == 1, line["skipped"]


def test_a_json_object_read_as_opentelemetry_frames_fails_visibly(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CWOTLP_STREAM_FORMAT", "opentelemetry1.0")
    outcome = world.invoke(world.put("metrics/json-as-frames", json_object(SEQS, compress=True)))
    _assert_failed_visibly(world, outcome)


@pytest.mark.parametrize(
    "data",
    [bytes(range(256)) * 64, b"\x1f\x8b\x08\x00garbage after a gzip magic", b"{" * 5000 + b"\n"],
    ids=["binary", "broken-gzip", "unbalanced-json"],
)
def test_garbage_fails_visibly(world: World, data: bytes) -> None:
    _assert_failed_visibly(world, world.invoke(world.put("metrics/garbage", data)))


def test_frames_read_as_json_fail_visibly(world: World) -> None:
    outcome = world.invoke(world.put("metrics/frames-as-json", otel1_object(SEQS)))
    _assert_failed_visibly(world, outcome)


def test_only_blank_lines_is_an_empty_object_not_a_failure(world: World) -> None:
    outcome = world.invoke(world.put("metrics/blank", b"\n \r\n\t\n" * 1000))
    assert outcome.error is None
    assert outcome.line["status"] == "delivered"
    assert outcome.line["datapoints"] == 0
    assert world.collector.requests == []


def test_a_foreign_line_in_the_middle_is_counted(world: World) -> None:
    data = json_lines([*map(record, range(60)), b"not json at all\n", *map(record, range(60, 120))])
    outcome = world.invoke(world.put("metrics/middle", data))
    assert outcome.error is None
    world.receiver.assert_exactly_once(SEQS)
    assert outcome.line["skipped"] == {"malformed_json": 1}


def _damaged(framed: bytes, seq: int) -> bytes:
    """The frame with one datapoint's InstanceId made text that is not UTF-8, at the same length: its
    structure is intact, but it does not parse."""
    value = f"i-{seq:017x}".encode()
    assert framed.count(value) == 1
    return framed.replace(value, b"\xff" + value[1:])


def test_a_frame_damaged_below_its_resources_is_passed_over_by_the_collector_under_native(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Frames forwarded as they are are checked down to their resources only: a strict collector
    refuses the request that carries the damaged one, and narrowing delivers every other frame."""
    monkeypatch.setenv("CWOTLP_STREAM_FORMAT", "opentelemetry1.0")
    monkeypatch.setenv("CWOTLP_NAMING", "native")
    monkeypatch.setenv("CWOTLP_OTLP_ENCODING", "protobuf")
    data = (
        otel1_object(range(120))
        + _damaged(otel1_object(range(120, 160)), 130)
        + otel1_object(range(160, 200))
    )
    outcome = world.invoke(world.put("metrics/damaged-frame", data))
    assert outcome.error is None, outcome.error
    world.receiver.assert_exactly_once([*range(120), *range(160, 200)])
    assert (outcome.line["status"], outcome.line["rejected_by_collector"]) == ("delivered", 40)
    assert len(world.receiver.malformed) >= 2  # the whole request, then the frame alone
    world.receiver.malformed.clear()


def _assert_failed_visibly(world: World, outcome: Outcome) -> None:
    outcome.failed_with(r"1 of 1 objects not delivered: .*nothing in the object could be read")
    line = outcome.line
    assert line["status"] == "failed"
    assert line["records"] == 0
    assert sum(line["skipped"].values()) >= 1, line
    assert "could be read" in line["error"]
    assert world.collector.requests == []
    levels = [r.levelname for r in world.caplog.records if hasattr(r, "object")]
    assert levels == ["ERROR"]
