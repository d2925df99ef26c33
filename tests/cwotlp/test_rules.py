"""Drop and keep rules, applied before conversion and counted."""

from __future__ import annotations

import orjson
import pytest

from conftest import fixture_bytes, make_settings, only_percentiles, otel1_frames
from cwotlp.pipeline import Conversion
from cwotlp.rules import Rule, parse_rules, record_filter

DATA = fixture_bytes("otel-contrib-cwmetricstream/multiple_records")
RECORDS = [orjson.loads(line) for line in DATA.splitlines() if line.strip()]


def forwarded(rules: tuple[Rule, ...]) -> tuple[list[dict[str, object]], Conversion]:
    conversion = Conversion([DATA], make_settings(rules=rules))
    names = [entry[1] for batch in conversion.batches() for entry in batch.entries]
    return [orjson.loads(name + b"]}}") for name in names], conversion


def expected(keep: object) -> int:
    return sum(1 for record in RECORDS if keep(record))  # type: ignore[operator]


def test_no_rules_forward_everything() -> None:
    assert record_filter(()) is None
    points, conversion = forwarded(())
    assert len(points) == len(RECORDS)
    assert not conversion.skipped


def test_drop_by_namespace_glob() -> None:
    points, conversion = forwarded(parse_rules([{"action": "drop", "namespace": "AWS/N*"}], "rules"))
    kept = expected(lambda r: not r["namespace"].startswith("AWS/N"))
    assert 0 < len(points) == kept < len(RECORDS)
    assert all("/AWS/N" not in p["name"] for p in points)
    assert conversion.skipped == {"dropped_by_rule": len(RECORDS) - kept}
    assert conversion.records == kept


def test_keep_rules_forward_only_what_they_match() -> None:
    rules = parse_rules(
        [{"action": "keep", "namespace": "AWS/EC2"}, {"action": "keep", "metric_name": "Bytes*"}], "rules"
    )
    points, _ = forwarded(rules)
    kept = expected(lambda r: r["namespace"] == "AWS/EC2" or r["metric_name"].startswith("Bytes"))
    assert 0 < len(points) == kept


def test_drop_wins_over_keep_and_dimensions_must_be_present() -> None:
    some = next(r for r in RECORDS if r["dimensions"])
    name, value = next(iter(some["dimensions"].items()))
    rules = parse_rules(
        [
            {"action": "keep", "namespace": "*"},
            {"action": "drop", "dimensions": {name: value[:3] + "*"}},
        ],
        "rules",
    )
    points, conversion = forwarded(rules)
    dropped = expected(
        lambda r: str(r["dimensions"].get(name, "")).startswith(value[:3]) and name in r["dimensions"]
    )
    assert dropped > 0
    assert len(points) == len(RECORDS) - dropped
    assert conversion.skipped["dropped_by_rule"] == dropped


def test_records_that_are_not_metrics_are_left_to_the_converter() -> None:
    forward = record_filter((Rule("drop", namespace="AWS/*"),))
    assert forward is not None
    assert forward({"CHANGE": 1.0}) is True
    assert forward([1, 2]) is True


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ("x", "must be a JSON list"),
        (["x"], r"rules\[0\] must be an object"),
        ([{"action": "keep", "namespace": 3}], "namespace must be a string"),
        ([{"action": "keep", "metric_name": ["a"]}], "metric_name must be a string"),
        ([{"namespace": "AWS/*"}], r"rules\[0\]: action must be drop or keep"),
        ([{"action": "drop", "dimensions": ["a"]}], "dimensions must be an object of name -> value glob"),
    ],
)
def test_bad_rules_say_which_and_why(rules: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_rules(rules, "rules")


def test_globs_are_case_sensitive_and_anchored() -> None:
    forward = record_filter(
        parse_rules([{"action": "keep", "namespace": "AWS/EC?", "metric_name": "[CN]*"}], "r")
    )
    assert forward is not None
    base = {"namespace": "AWS/EC2", "metric_name": "CPUUtilization", "dimensions": {}}
    assert forward(base)
    assert not forward({**base, "namespace": "aws/ec2"})
    assert not forward({**base, "namespace": "AWS/EC2x"})
    assert not forward({**base, "metric_name": "DiskReadOps"})


def test_a_dimension_rule_needs_the_dimension() -> None:
    forward = record_filter((Rule("drop", dimensions={"InstanceId": "*"}),))
    assert forward is not None
    assert forward({"namespace": "AWS/EC2", "metric_name": "M", "dimensions": {}})
    assert forward({"namespace": "AWS/EC2", "metric_name": "M"})
    assert not forward({"namespace": "AWS/EC2", "metric_name": "M", "dimensions": {"InstanceId": ""}})


def test_rules_apply_to_opentelemetry_1_0_objects_alike() -> None:
    """The 1.0 format's datapoints go through the rules as the records they stand for."""
    rules = parse_rules(
        [
            {"action": "keep", "namespace": "AWS/*"},
            {"action": "drop", "dimensions": {"AutoScalingGroupName": "*"}},
        ],
        "rules",
    )
    data = b"".join(otel1_frames([only_percentiles(record) for record in RECORDS], 10))
    conversion = Conversion([data], make_settings(rules=rules, stream_format="opentelemetry1.0"))
    names = [
        orjson.loads(entry[1] + b"]}}")["name"] for batch in conversion.batches() for entry in batch.entries
    ]
    points, from_json = forwarded(rules)
    assert sorted(names) == sorted(point["name"] for point in points)
    assert 0 < conversion.records == from_json.records < len(RECORDS)
    assert conversion.skipped == from_json.skipped
