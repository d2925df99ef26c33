"""The two request encodings, piece by piece: what each writes parses strictly with the official
definitions, and both say the same."""

from __future__ import annotations

import orjson
import pytest
from google.protobuf.json_format import MessageToDict

from conftest import decode, parse_protobuf
from cwotlp.otlp.encoding import (
    GAUGE,
    SUMMARY,
    Attribute,
    Encoding,
    JsonEncoding,
    ProtobufEncoding,
    Scope,
    encoding_named,
    field,
    varint,
)
from cwotlp_local.otlp import attributes as otlp_attributes

ODD = 'quote " backslash \\ tab \t newline \n nul \x00 del \x7f é € 😀'
START_MS, TIME_MS = 1_767_225_600_000, 1_767_225_660_000


def request_of(
    encoding: Encoding,
    *,
    scope: Scope = ("aws.cloudwatch", "1.2.3"),
    attributes: list[Attribute] | None = None,
    kind: str = SUMMARY,
    count: int = 3,
    quantiles: list[tuple[float, float]] = (),  # type: ignore[assignment]
    start_ms: int | None = START_MS,
) -> bytes:
    resource = encoding.resource([("cloud.provider", "aws"), ("k " + ODD, "v " + ODD)], scope)
    metric = encoding.metric("amazonaws.com/AWS/EC2/" + ODD, "{Count}/s", kind)
    points = encoding.attributes(attributes if attributes is not None else [("Namespace", "AWS/EC2")])
    times = encoding.times(start_ms, TIME_MS)
    if kind == GAUGE:
        datapoint = encoding.gauge(encoding.gauge_head(points, times), 2.5)
    else:
        middle = b"".join(encoding.quantile_entry(q) % encoding.quantile_number(v) for q, v in quantiles)
        datapoint = encoding.summary(points, times, count, 7.25, 0.5, middle, 4.0)
    return b"".join(encoding.render({resource: {metric: [datapoint]}}))


@pytest.mark.parametrize("encoding", [JsonEncoding(), ProtobufEncoding()], ids=lambda e: e.name)
def test_a_summary_request(encoding: Encoding) -> None:
    request = decode(request_of(encoding, quantiles=[(0.5, 1.5), (0.999, 3.999)]), encoding.name)
    [resource_metrics] = request.resource_metrics
    assert otlp_attributes(resource_metrics.resource.attributes) == {
        "cloud.provider": "aws",
        "k " + ODD: "v " + ODD,
    }
    [scope_metrics] = resource_metrics.scope_metrics
    assert (scope_metrics.scope.name, scope_metrics.scope.version) == ("aws.cloudwatch", "1.2.3")
    [metric] = scope_metrics.metrics
    assert (metric.name, metric.unit) == ("amazonaws.com/AWS/EC2/" + ODD, "{Count}/s")
    [point] = metric.summary.data_points
    assert (point.start_time_unix_nano, point.time_unix_nano) == (START_MS * 10**6, TIME_MS * 10**6)
    assert (point.count, point.sum) == (3, 7.25)
    assert [(q.quantile, q.value) for q in point.quantile_values] == [
        (0.0, 0.5),
        (0.5, 1.5),
        (0.999, 3.999),
        (1.0, 4.0),
    ]
    assert otlp_attributes(point.attributes) == {"Namespace": "AWS/EC2"}


def test_both_encodings_say_the_same() -> None:
    options = [
        {},
        {"scope": None, "start_ms": None},
        {"kind": GAUGE},
        {"count": 0, "quantiles": [(0.5, 1.0)]},
        {"attributes": [("Dimensions", (("TableName", "t"), ("é", ODD))), ("Namespace", "AWS/DynamoDB")]},
        {"attributes": [("Dimensions", ())]},
        {"attributes": []},
        {"count": 2**63 - 1},
    ]
    for option in options:
        from_json = decode(request_of(JsonEncoding(), **option), "json")  # type: ignore[arg-type]
        from_protobuf = decode(request_of(ProtobufEncoding(), **option), "protobuf")  # type: ignore[arg-type]
        assert from_json == from_protobuf, option


def test_no_scope_means_no_scope_field() -> None:
    for encoding in (JsonEncoding(), ProtobufEncoding()):
        request = decode(request_of(encoding, scope=None), encoding.name)
        assert not request.resource_metrics[0].scope_metrics[0].HasField("scope")


def test_a_summary_of_no_observations_has_no_quantiles() -> None:
    for encoding in (JsonEncoding(), ProtobufEncoding()):
        request = decode(request_of(encoding, count=0, quantiles=[(0.5, 1.0)]), encoding.name)
        point = request.resource_metrics[0].scope_metrics[0].metrics[0].summary.data_points[0]
        assert (point.count, point.sum, list(point.quantile_values)) == (0, 7.25, [])


def test_dimensions_as_a_key_value_list() -> None:
    attributes: list[Attribute] = [("Dimensions", (("TableName", "MyTable"), ("Operation", "Query")))]
    for encoding in (JsonEncoding(), ProtobufEncoding()):
        request = decode(request_of(encoding, attributes=attributes), encoding.name)
        [point] = request.resource_metrics[0].scope_metrics[0].metrics[0].summary.data_points
        assert otlp_attributes(point.attributes) == {
            "Dimensions": {"TableName": "MyTable", "Operation": "Query"}
        }


def test_json_writes_64_bit_integers_as_strings_and_camel_case() -> None:
    body = orjson.loads(request_of(JsonEncoding(), count=2**63 - 1))
    point = body["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["summary"]["dataPoints"][0]
    assert point["count"] == str(2**63 - 1)
    assert point["timeUnixNano"] == str(TIME_MS * 10**6)
    assert point["startTimeUnixNano"] == str(START_MS * 10**6)
    assert set(point) == {"attributes", "startTimeUnixNano", "timeUnixNano", "count", "sum", "quantileValues"}


def test_a_gauge() -> None:
    for encoding in (JsonEncoding(), ProtobufEncoding()):
        request = decode(request_of(encoding, kind=GAUGE, start_ms=None), encoding.name)
        metric = request.resource_metrics[0].scope_metrics[0].metrics[0]
        assert MessageToDict(metric)["gauge"] == {
            "dataPoints": [
                {
                    "attributes": [{"key": "Namespace", "value": {"stringValue": "AWS/EC2"}}],
                    "timeUnixNano": str(TIME_MS * 10**6),
                    "asDouble": 2.5,
                }
            ]
        }


def test_several_resources_and_metrics_in_one_request() -> None:
    for encoding in (JsonEncoding(), ProtobufEncoding()):
        first = encoding.resource([("cloud.region", "us-east-1")], None)
        second = encoding.resource([("cloud.region", "eu-west-1")], None)
        metric_a = encoding.metric("a", "")
        metric_b = encoding.metric("b", "s")
        point = encoding.summary(
            encoding.attributes([]), encoding.times(None, TIME_MS), 1, 1.0, 1.0, b"", 1.0
        )
        groups = {first: {metric_a: [point, point], metric_b: [point]}, second: {metric_a: [point]}}
        request = decode(b"".join(encoding.render(groups)), encoding.name)
        shape = [
            [(m.name, len(m.summary.data_points)) for m in rm.scope_metrics[0].metrics]
            for rm in request.resource_metrics
        ]
        assert shape == [[("a", 2), ("b", 1)], [("a", 1)]]


def test_datapoints_of_every_length_class_in_one_metric() -> None:
    """Datapoint lengths of one and two varint bytes, both sides of 127, and one past the lengths whose
    tag and length are remembered; each twice, so that a remembered prefix is used too."""
    encoding = ProtobufEncoding()
    names = ["n" * size for size in (1, 60, 100, 5000, 20000)]
    points = [
        encoding.summary(
            encoding.attributes([("Name", name)]), encoding.times(None, TIME_MS), 1, 1.0, 1.0, b"", 1.0
        )
        for name in names
    ]
    assert {len(point) > 127 for point in points} == {True, False}
    assert max(map(len, points)) > 1 << 14
    request = decode(
        b"".join(encoding.render({encoding.resource([], None): {encoding.metric("m", ""): points * 2}})),
        "protobuf",
    )
    [metric] = request.resource_metrics[0].scope_metrics[0].metrics
    assert [point.attributes[0].value.string_value for point in metric.summary.data_points] == names * 2


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, b"\x00"),
        (1, b"\x01"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (300, b"\xac\x02"),
        (2**32, b"\x80\x80\x80\x80\x10"),
    ],
)
def test_varints(value: int, expected: bytes) -> None:
    assert varint(value) == expected


def test_a_length_delimited_field() -> None:
    assert field(1, b"abc") == b"\x0a\x03abc"
    assert field(2, b"x" * 200) == b"\x12\xc8\x01" + b"x" * 200
    assert parse_protobuf(field(1, b"")).resource_metrics[0].ByteSize() == 0


def test_encodings_by_name() -> None:
    assert isinstance(encoding_named("protobuf"), ProtobufEncoding)
    assert isinstance(encoding_named("json"), JsonEncoding)
    assert (JsonEncoding.content_type, ProtobufEncoding.content_type) == (
        "application/json",
        "application/x-protobuf",
    )
