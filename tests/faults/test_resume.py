"""Silent loss through resuming under other settings: an object delivered in part under one set of
settings and retried under another must not lose anything. Progress counted in the old settings' units
is not comparable, so the retry starts over (duplicates allowed: at least once), and says so."""

from __future__ import annotations

import pytest
from faults.behaviours import outage_after
from faults.records import json_object, otel1_object
from faults.world import World

SEQS = range(400)
KEY = "metrics/2026/11/30/15/stream-resumed.gz"

CHANGES = [
    ("CWOTLP_RULES", '[{"action": "drop", "namespace": "AWS/NotInThisObject"}]'),
    ("CWOTLP_OTLP_ENCODING", "protobuf"),
    ("CWOTLP_MAX_REQUEST_BYTES", "60000"),
    ("CWOTLP_MAX_REQUEST_BYTES", "8000"),
    ("CWOTLP_NAMING", "otel"),
    ("CWOTLP_NAMING", "prometheus"),
]


def _fail_part_way(world: World, data: bytes) -> tuple[dict[str, object], int]:
    """Delivers part of the object, then the collector fails; returns the event and the position."""
    world.receiver.hostile = outage_after(3)
    event = world.put(KEY, data)
    first = world.invoke(event)
    first.failed_with("HTTP 500")
    marker = world.marker(KEY)
    assert marker is not None and marker["state"] == "sending"
    assert marker["position"] > 0
    assert 0 < len(world.receiver.seqs()) < len(SEQS)
    world.receiver.hostile = None
    return event, marker["position"]


@pytest.mark.parametrize(("variable", "value"), CHANGES, ids=[f"{v}={x[:12]}" for v, x in CHANGES])
def test_a_retry_under_other_settings_starts_over_and_loses_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    event, _ = _fail_part_way(world, json_object(SEQS, compress=True))
    monkeypatch.setenv(variable, value)
    world.reset_runtime()
    retry = world.invoke(event)
    assert retry.error is None
    world.receiver.assert_nothing_missing(SEQS)
    line = retry.line
    assert line["status"] == "delivered"
    assert line.get("restarted") is True
    assert line["resumed_from"] == 0
    assert world.marker(KEY)["state"] == "delivered"


@pytest.mark.parametrize(
    "changes",
    [{"CWOTLP_NAMING": "native"}, {"CWOTLP_OTLP_ENCODING": "json"}, {"CWOTLP_MAX_REQUEST_BYTES": "50000"}],
    ids=["to-frames-as-they-are", "to-json", "larger-requests"],
)
def test_opentelemetry_frames_under_other_settings_lose_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch, changes: dict[str, str]
) -> None:
    monkeypatch.setenv("CWOTLP_STREAM_FORMAT", "opentelemetry1.0")
    monkeypatch.setenv("CWOTLP_OTLP_ENCODING", "protobuf")
    event, _ = _fail_part_way(world, otel1_object(SEQS, per_frame=25, compress=True))
    for variable, value in changes.items():
        monkeypatch.setenv(variable, value)
    world.reset_runtime()
    retry = world.invoke(event)
    assert retry.error is None
    world.receiver.assert_nothing_missing(SEQS)
    assert retry.line.get("restarted") is True


def test_a_retry_under_the_same_settings_resumes_without_duplicates(world: World) -> None:
    event, position = _fail_part_way(world, json_object(SEQS, compress=True))
    world.reset_runtime()  # a cold start, same settings
    retry = world.invoke(event)
    assert retry.error is None
    world.receiver.assert_exactly_once(SEQS)
    assert retry.line["resumed_from"] == position
    assert "restarted" not in retry.line


def test_an_object_written_again_after_delivery_is_delivered_again(world: World) -> None:
    """Firehose writes every object once, but a key can be written again (a re-upload, a copy): its
    new content is another object, and the marker of the old one must not pass it off as delivered."""
    world.invoke(world.put(KEY, json_object(SEQS, compress=True)))
    again = world.invoke(world.put(KEY, json_object(range(1000, 1400), compress=True)))
    assert again.error is None
    assert (again.line["status"], again.line["restarted"]) == ("delivered", True)
    world.receiver.assert_exactly_once([*SEQS, *range(1000, 1400)])


def test_an_object_written_again_between_attempts_is_delivered_from_its_start(world: World) -> None:
    _fail_part_way(world, json_object(SEQS, compress=True))  # the marker holds a position > 0
    retry = world.invoke(world.put(KEY, json_object(range(1000, 1400), compress=True)))
    assert retry.error is None
    assert (retry.line["resumed_from"], retry.line["restarted"]) == (0, True)
    world.receiver.assert_nothing_missing(range(1000, 1400))
