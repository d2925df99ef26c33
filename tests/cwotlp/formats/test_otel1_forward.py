"""OpenTelemetry 1.0 frames forwarded as they are (native naming, protobuf): the same datapoints as
the records path, resource attributes added only where missing, large resources cut between metrics,
rules applied, and frames that cannot be walked counted."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from conftest import (
    chunked,
    convert_object,
    flat_points,
    frame,
    make_settings,
    only_percentiles,
    otel1_frames,
    otel1_request,
    resource_metrics_of,
)
from cwotlp.formats.otel1 import EMPTY_FRAME, MALFORMED_FRAME
from cwotlp.formats.otel1_forward import FrameForwarder
from cwotlp.otlp.naming import Naming
from cwotlp.pipeline import Conversion
from cwotlp.rules import DROPPED_BY_RULE, parse_rules, record_filter
from cwotlp_local.generator import generate_records

NO_DIMENSIONS = {
    "metric_stream_name": "other-stream",
    "account_id": "444455556666",
    "region": "eu-west-1",
    "namespace": "Custom/App",
    "metric_name": "Orders",
    "dimensions": {},
    "timestamp": 1_767_225_600_000,
    "value": {"count": 1.0, "sum": 7.0, "min": 7.0, "max": 7.0},
    "unit": "None",
}
RECORDS = [only_percentiles(record) for record in generate_records(300, seed=11)] + [NO_DIMENSIONS]
OBJECT = b"".join(otel1_frames(RECORDS, 50))
NATIVE = Naming(scheme="native", resource_attributes={"environment": "production", "team": "core"})
PASSTHROUGH = make_settings(stream_format="opentelemetry1.0", naming=NATIVE, encoding="protobuf")
RECORDS_PATH = make_settings(stream_format="opentelemetry1.0", naming=NATIVE, encoding="json")
# Records of one resource (account, region and stream): one part per frame.
ONE_PLACE = [
    r
    for r in RECORDS
    if (r["account_id"], r["region"], r["metric_stream_name"])
    == (RECORDS[0]["account_id"], RECORDS[0]["region"], RECORDS[0]["metric_stream_name"])
]
EXTRA = [("service.name", NATIVE.service_name), *NATIVE.resource_attributes.items()]


def parts(
    data: bytes, part_bytes: int = 1 << 20, rules: Any = None
) -> tuple[list[tuple[bytes, int]], Counter[str]]:
    skipped: Counter[str] = Counter()
    forward = record_filter(parse_rules(rules, "rules")) if rules else None
    forwarder = FrameForwarder(EXTRA, part_bytes, forward)
    return list(forwarder.parts(chunked(data, 4096), skipped)), skipped


def resource(part: bytes) -> dict[str, str]:
    return {a.key: a.value.string_value for a in resource_metrics_of(part).resource.attributes}


def test_the_passthrough_gives_the_datapoints_of_the_records_path() -> None:
    forwarded, _, passthrough = convert_object(OBJECT, PASSTHROUGH, chunk=1000)
    converted, _, records_path = convert_object(OBJECT, RECORDS_PATH, chunk=1000)
    assert passthrough.passthrough and not records_path.passthrough
    found = flat_points(forwarded)
    assert len(found) == len(RECORDS)
    assert found == flat_points(converted)
    assert passthrough.records == records_path.records == len(RECORDS)
    assert not passthrough.skipped and not records_path.skipped


def test_the_frames_bytes_are_kept() -> None:
    [(part, points)], _ = parts(frame(otel1_request(ONE_PLACE[:5])))
    original = otel1_request(ONE_PLACE[:5]).resource_metrics[0]
    forwarded = resource_metrics_of(part)
    assert points == 5
    assert forwarded.scope_metrics == original.scope_metrics
    assert not forwarded.scope_metrics[0].HasField("scope")
    assert list(forwarded.resource.attributes)[:4] == list(original.resource.attributes)


def test_resource_attributes_are_added_only_when_missing() -> None:
    request = otel1_request([*ONE_PLACE[:5], NO_DIMENSIONS])
    own = request.resource_metrics[0].resource.attributes
    own.add(key="service.name").value.string_value = "billing"
    own.add(key="environment").value.string_value = "staging"
    [(part, _)] = parts(frame(request))[0]  # the frame's resources, together in one part
    attributes = [
        {kv.key: kv.value.string_value for kv in resource_metrics.resource.attributes}
        for resource_metrics in ExportMetricsServiceRequest.FromString(part).resource_metrics
    ]
    first = ONE_PLACE[0]
    assert attributes[0] == {
        "cloud.provider": "aws",
        "cloud.account.id": first["account_id"],
        "cloud.region": first["region"],
        "aws.exporter.arn": f"arn:aws:cloudwatch:{first['region']}:{first['account_id']}:metric-stream/"
        + first["metric_stream_name"],
        "service.name": "billing",
        "environment": "staging",
        "team": "core",
    }
    assert len(ExportMetricsServiceRequest.FromString(part).resource_metrics[0].resource.attributes) == 7
    assert len(attributes) == 2
    for later in attributes[1:]:
        assert (later["service.name"], later["environment"], later["team"]) == (
            NATIVE.service_name,
            "production",
            "core",
        )


def many_metrics_frame(metrics: int, points: int = 1) -> bytes:
    records = [
        {**NO_DIMENSIONS, "metric_name": f"Metric{m:03d}", "dimensions": {"Seq": str(p)}}
        for m in range(metrics)
        for p in range(points)
    ]
    return frame(otel1_request(records))


def test_a_resource_larger_than_a_part_is_cut_between_metrics() -> None:
    data = many_metrics_frame(80)
    found, skipped = parts(data, part_bytes=2048)
    assert len(found) > 4 and not skipped
    names: list[str] = []
    for part, points in found:
        assert len(part) <= 2048 + 8  # the budget, give or take the part's own tag and length
        forwarded = resource_metrics_of(part)
        assert resource(part)["service.name"] == NATIVE.service_name  # every part keeps its resource
        metrics = forwarded.scope_metrics[0].metrics
        assert points == sum(len(m.summary.data_points) for m in metrics)
        names += [m.name for m in metrics]
    assert names == [f"amazonaws.com/Custom/App/Metric{m:03d}" for m in range(80)]  # all, in order, once


def test_a_metric_larger_than_a_part_travels_whole_and_alone() -> None:
    found, _ = parts(many_metrics_frame(3, points=40), part_bytes=1024)
    assert [points for _, points in found] == [40, 40, 40]
    assert all(len(part) > 1024 for part, _ in found)


def test_requests_stay_within_the_limit_and_lose_nothing() -> None:
    settings = make_settings(
        stream_format="opentelemetry1.0", naming=NATIVE, encoding="protobuf", max_request_bytes=16_384
    )
    conversion = Conversion(chunked(OBJECT, 5000), settings)
    batches = list(conversion.batches())
    assert len(batches) > 4
    assert all(len(batch.body()) <= 16_384 for batch in batches)
    assert sum(batch.datapoints for batch in batches) == len(RECORDS) == conversion.records
    forwarded, _, _ = convert_object(OBJECT, settings)
    assert len(flat_points(forwarded)) == len(RECORDS)


def test_a_retry_resumes_after_the_parts_already_delivered() -> None:
    settings = make_settings(
        stream_format="opentelemetry1.0", naming=NATIVE, encoding="protobuf", max_request_bytes=16_384
    )
    first = list(Conversion([OBJECT], settings).batches())
    resumed = list(Conversion([OBJECT], settings, resume_from=first[1].end_record).batches())
    assert resumed[0].first_record == first[2].first_record
    assert [b.body() for b in resumed] == [b.body() for b in first[2:]]


RULES = [
    [{"action": "drop", "namespace": "AWS/EC2"}],
    [{"action": "keep", "dimensions": {"TableName": "*-ledger"}}],
    [{"action": "keep", "namespace": "AWS/[SR]*"}, {"action": "drop", "metric_name": "*Latency"}],
]


@pytest.mark.parametrize("rules", RULES)
def test_rules_drop_the_datapoints_the_records_path_drops(rules: list[dict[str, Any]]) -> None:
    chosen = parse_rules(rules, "rules")
    forwarded, _, passthrough = convert_object(OBJECT, dataclasses.replace(PASSTHROUGH, rules=chosen))
    converted, _, records_path = convert_object(OBJECT, dataclasses.replace(RECORDS_PATH, rules=chosen))
    assert passthrough.passthrough
    assert flat_points(forwarded) == flat_points(converted)
    dropped = records_path.skipped[DROPPED_BY_RULE]
    assert 0 < dropped < len(RECORDS)
    assert passthrough.skipped[DROPPED_BY_RULE] == dropped
    assert passthrough.records == len(RECORDS) - dropped


def test_a_frame_whose_datapoints_are_all_dropped_counts_them_as_dropped() -> None:
    ec2 = [r for r in RECORDS if r["namespace"] == "AWS/EC2"]
    others = [r for r in RECORDS if r["namespace"] != "AWS/EC2"][:10]
    data = frame(otel1_request(ec2)) + frame(otel1_request(others))
    found, skipped = parts(data, rules=RULES[0])
    assert sum(points for _, points in found) == 10
    assert skipped == {DROPPED_BY_RULE: len(ec2)}


def test_frames_that_cannot_be_walked_are_counted() -> None:
    good = frame(otel1_request(ONE_PLACE[:4]))
    bad = [
        frame(b"\xff" * 30),  # a varint that never ends
        frame(b"\x0b\x00"),  # wire type 3 (groups) is not used by the metrics messages
        frame(b"\x0a\x05ab"),  # a field longer than its message
        frame(b"\x0a\x03\x0a\x05ab"),  # the same one level down
        frame(b"\x0a"),  # a frame that ends after a field's tag
        frame(b"\x0a\x01\x0a"),  # the same one level down
    ]
    empty = frame(b"\x0a\x00")  # a resource with nothing in it
    found, skipped = parts(good + b"".join(bad) + empty + good)
    assert [points for _, points in found] == [4, 4]
    assert skipped == {MALFORMED_FRAME: len(bad), EMPTY_FRAME: 1}


def test_unknown_fields_of_a_request_are_passed_over_as_the_records_path_does() -> None:
    """Valid protobuf that a newer writer might add: a varint field 2 and a length-delimited field 16
    (two-byte tag) at the top of the request. The official parser accepts them; so must the walk."""
    body = otel1_request(ONE_PLACE[:4]).SerializeToString()
    found, skipped = parts(frame(body + b"\x10\x01") + frame(b"\x82\x01\x02ok" + body))
    assert [points for _, points in found] == [4, 4] and not skipped


def test_a_dimension_named_namespace_is_not_counted_as_a_datapoint() -> None:
    """Container Insights has a `Namespace` dimension (the Kubernetes namespace)."""
    records = [
        {**NO_DIMENSIONS, "namespace": "ContainerInsights", "dimensions": {"Namespace": "kube-system"}}
        for _ in range(10)
    ]
    found, _ = parts(frame(otel1_request(records)))
    assert [points for _, points in found] == [10]


def test_a_configured_service_name_does_not_repeat_the_key() -> None:
    naming = Naming(scheme="native", resource_attributes={"service.name": "configured", "team": "core"})
    settings = make_settings(stream_format="opentelemetry1.0", naming=naming, encoding="protobuf")
    forwarded, _, passthrough = convert_object(frame(otel1_request(ONE_PLACE[:3])), settings)
    converted, _, _ = convert_object(
        frame(otel1_request(ONE_PLACE[:3])), dataclasses.replace(settings, encoding="json")
    )
    assert passthrough.passthrough
    for request in (*forwarded, *converted):
        keys = [kv.key for kv in request.resource_metrics[0].resource.attributes]
        assert keys.count("service.name") == 1 and "team" in keys
    assert resource_of_request(forwarded[0]) == resource_of_request(converted[0])


def resource_of_request(request: ExportMetricsServiceRequest) -> dict[str, str]:
    return {kv.key: kv.value.string_value for kv in request.resource_metrics[0].resource.attributes}
