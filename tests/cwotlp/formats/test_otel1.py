"""The `opentelemetry1.0` stream format: length-prefixed frames, and the CloudWatch records behind their
summary datapoints."""

from __future__ import annotations

import gzip
import math
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from conftest import (
    chunked,
    convert_object,
    frame,
    make_settings,
    only_percentiles,
    otel1_frames,
    otel1_request,
    varint,
)
from cwotlp.formats import JSON, OPENTELEMETRY_1_0, detect, otel1, stream_format
from cwotlp.formats.json_lines import BOM
from cwotlp.formats.otel1 import (
    EMPTY_FRAME,
    MALFORMED_FRAME,
    MAX_FRAME_BYTES,
    NOT_A_SUMMARY,
    STRAY_DELIMITER,
    TRUNCATED_FRAME,
    frames,
    lazy_message_class,
    parses,
    read_varint,
    records,
)
from cwotlp_local.generator import generate_records

RECORDS = [only_percentiles(record) for record in generate_records(240, seed=5)]
PER_FRAME = 40  # six frames
FRAMES = otel1_frames(RECORDS, PER_FRAME)
OBJECT = b"".join(FRAMES)


def repr_key(record: dict[str, object]) -> str:
    return repr(
        [record[k] for k in ("account_id", "region", "namespace", "metric_name", "dimensions", "timestamp")]
    )


def payloads(data: bytes, size: int = 1 << 20) -> tuple[list[bytes], Counter[str]]:
    skipped: Counter[str] = Counter()
    return list(frames(chunked(data, size), skipped)), skipped


def decoded(data: bytes, size: int = 777) -> tuple[list[dict[str, object]], Counter[str]]:
    skipped: Counter[str] = Counter()
    return list(records(chunked(data, size), skipped)), skipped


@pytest.mark.parametrize("size", [1, 2, 3, 64, 5000, 1 << 20])
def test_frames_are_read_across_any_chunking(size: int) -> None:
    found, skipped = payloads(OBJECT, size)
    assert found == [otel1_request(RECORDS[i : i + PER_FRAME]).SerializeToString() for i in range(0, 240, 40)]
    assert not skipped


def test_records_are_what_the_json_format_holds_for_the_same_datapoints() -> None:
    found, skipped = decoded(OBJECT)
    assert not skipped
    assert sorted(found, key=repr_key) == sorted(RECORDS, key=repr_key)


def test_a_record_in_detail() -> None:
    record = {
        "metric_stream_name": "MyMetricStream",
        "account_id": "123456789012",
        "region": "us-east-1",
        "namespace": "AWS/DynamoDB",
        "metric_name": "ConsumedReadCapacityUnits",
        "dimensions": {"TableName": "MyTable", "Operation": "Query"},
        "timestamp": 1_767_225_600_000,
        "value": {"count": 2, "sum": 5.0, "max": 3.0, "min": 2.0, "p95": 2.9, "p99.9": 2.999, "p50": 2.5},
        "unit": "Count/Second",
    }
    request = otel1_request([record])
    point = request.resource_metrics[0].scope_metrics[0].metrics[0].summary.data_points[0]
    assert [(q.quantile, q.value) for q in point.quantile_values] == [
        (0.0, 2.0),
        (0.5, 2.5),
        (0.95, 2.9),
        (0.999, 2.999),
        (1.0, 3.0),
    ]
    [found], _ = decoded(frame(request))
    assert found == record
    assert list(found["value"]) == ["count", "sum", "min", "p50", "p95", "p99.9", "max"]  # type: ignore[call-overload]


def test_none_translated_and_unknown_units() -> None:
    first = RECORDS[0]
    second = {**first, "metric_name": "Other" + first["metric_name"]}
    request = otel1_request([first, second])
    metrics = request.resource_metrics[0].scope_metrics[0].metrics
    metrics[0].unit = "NoneTranslated"  # as AWS's own 1.0 sample writes None
    metrics[1].unit = "furlong/fortnight"
    found, _ = decoded(frame(request))
    assert found[0]["unit"] == "None"
    assert found[-1]["unit"] == "furlong/fortnight"


def test_a_metric_that_is_not_a_summary_is_counted() -> None:
    request = otel1_request(RECORDS[:3])
    gauge = request.resource_metrics[0].scope_metrics[0].metrics.add(name="amazonaws.com/AWS/EC2/Other")
    gauge.gauge.data_points.add(as_double=1.0)
    found, skipped = decoded(frame(request))
    assert len(found) == 3
    assert skipped == {NOT_A_SUMMARY: 1}


def test_a_truncated_last_frame_keeps_the_complete_ones() -> None:
    data = OBJECT[: -len(FRAMES[-1]) // 2]
    found, skipped = decoded(data)
    assert skipped == {TRUNCATED_FRAME: 1}
    assert len(found) == 5 * PER_FRAME
    _, skipped = payloads(OBJECT + b"\x96")  # ends inside a length
    assert skipped == {TRUNCATED_FRAME: 1}


def test_a_stray_delimiter_is_skipped_and_counted() -> None:
    found, skipped = decoded(FRAMES[0] + b"\n" + b"".join(FRAMES[1:]))
    assert skipped == {STRAY_DELIMITER: 1}
    assert len(found) == len(RECORDS)


@pytest.mark.parametrize("size", [3, 7, 1 << 20])
def test_a_delimiter_between_every_two_frames_is_skipped_every_time(size: int) -> None:
    found, skipped = decoded(b"\n".join(FRAMES), size)
    assert skipped == {STRAY_DELIMITER: 5}
    assert len(found) == len(RECORDS)


def test_the_newline_that_ends_an_object_is_a_stray_delimiter_too() -> None:
    """What Firehose writes with its newline delimiter on: a newline after every frame, the last one too."""
    found, skipped = decoded(b"".join(f + b"\n" for f in FRAMES))
    assert len(found) == len(RECORDS)
    assert skipped == {STRAY_DELIMITER: 6}


def test_a_frame_of_ten_bytes_is_not_taken_for_a_delimiter() -> None:
    small = ExportMetricsServiceRequest()
    small.resource_metrics.add().resource.attributes.add(key="kk")
    payload = small.SerializeToString()
    assert len(payload) == 10 and parses(payload)
    found, skipped = payloads(frame(payload) + FRAMES[0])  # the frame's length byte is a newline
    assert found[0] == payload and len(found) == 2 and not skipped


def test_an_impossible_length_stops_the_object() -> None:
    too_long = varint(MAX_FRAME_BYTES + 1) + b"x" * 100
    found, skipped = payloads(FRAMES[0] + too_long + FRAMES[1])
    assert len(found) == 1 and skipped == {MALFORMED_FRAME: 1}
    found, skipped = payloads(FRAMES[0] + b"\xff\xff\xff\xff\xff\x01" + FRAMES[1])  # six-byte length
    assert len(found) == 1 and skipped == {MALFORMED_FRAME: 1}


def test_a_newline_before_an_impossible_length_buffers_nothing_more() -> None:
    """Telling a stray delimiter from a frame of ten bytes looks at what follows the newline; when that is
    a length no frame can have, the reader must not wait for it (which would buffer the whole rest)."""
    import tracemalloc

    rest_mib = 32

    def chunks() -> Iterator[bytes]:
        yield FRAMES[0] + b"\n" + varint(2**31)
        for _ in range(rest_mib):
            yield bytes(1 << 20)  # made one at a time: only the reader can hold them

    skipped: Counter[str] = Counter()
    tracemalloc.start()
    try:
        found = list(records(chunks(), skipped))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(found) == PER_FRAME
    assert peak < 8 << 20, f"peak {peak >> 20} MiB: the reader buffered the object's rest"


def test_large_resources_are_not_kept_after_the_object() -> None:
    """The place memo outlives an object (a warm Lambda): resources far larger than CloudWatch's must not
    stay in it."""
    import tracemalloc

    def frame_with_large_resource(n: int) -> bytes:
        request = otel1_request(RECORDS[:2])
        attribute = request.resource_metrics[0].resource.attributes.add(key="padding")
        attribute.value.string_value = f"{n:04d}" + "x" * (256 << 10)
        return frame(request)

    data = b"".join(frame_with_large_resource(n) for n in range(40))  # 10 MiB of distinct resources
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        found, _ = decoded(data, 1 << 20)
        assert len(found) == 80
        del found
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 2 << 20, f"{kept >> 20} MiB kept after the object"


def test_frames_that_are_no_request_are_counted() -> None:
    garbage = b"\xff" * 30
    empty = frame(ExportMetricsServiceRequest().SerializeToString() + b"\x0a\x00")  # a resource, no data
    found, skipped = decoded(FRAMES[0] + frame(garbage) + empty + FRAMES[1])
    assert skipped == {MALFORMED_FRAME: 1, EMPTY_FRAME: 1}
    assert len(found) == 2 * PER_FRAME


def test_zero_lengths_are_empty_frames_passed_over_by_the_run() -> None:
    """A zero length is an empty frame; a run of them (zeros where frames should be) costs one step."""
    found, skipped = decoded(FRAMES[0] + frame(b"") + FRAMES[1] + b"\x00" * 100_000)
    assert skipped == {EMPTY_FRAME: 100_001}
    assert len(found) == 2 * PER_FRAME


def test_an_empty_object_has_no_frames() -> None:
    for data in (b"", gzip.compress(b"")):
        requests, _, conversion = convert_object(data, make_settings(stream_format=OPENTELEMETRY_1_0))
        assert requests == [] and conversion.records == 0 and not conversion.skipped
        assert not conversion.nothing_read()


@pytest.mark.parametrize(
    ("data", "value"), [(b"\x00", (0, 1)), (b"\x96\x01", (150, 2)), (b"\x96", None), (b"", None)]
)
def test_varints(data: bytes, value: tuple[int, int] | None) -> None:
    assert read_varint(data, 0) == value


def test_a_varint_longer_than_five_bytes_is_an_error() -> None:
    assert read_varint(b"\xff\xff\xff\xff\x0f", 0) == (2**32 - 1, 5)
    with pytest.raises(ValueError):
        read_varint(b"\xff\xff\xff\xff\xff\x01", 0)


def test_nan_in_a_frame_is_refused_by_the_converter() -> None:
    request = otel1_request(RECORDS[:3])
    request.resource_metrics[0].scope_metrics[0].metrics[0].summary.data_points[0].sum = math.nan
    _, _, conversion = convert_object(frame(request), make_settings(stream_format=OPENTELEMETRY_1_0))
    assert conversion.skipped == {"invalid_value": 1}
    assert conversion.records == 2


def _attribute(point: Any, key: str) -> Any:
    return next(attribute for attribute in point.attributes if attribute.key == key)


def _int_dimension(point: Any) -> None:
    dimensions = _attribute(point, "Dimensions").value.kvlist_value.values
    dimensions.add(key="InstanceId").value.int_value = 5


def _string_dimensions(point: Any) -> None:
    _attribute(point, "Dimensions").value.string_value = "InstanceId=i-1"


def _int_namespace(point: Any) -> None:
    _attribute(point, "Namespace").value.int_value = 7


def _empty_dimension_value(point: Any) -> None:
    dimensions = _attribute(point, "Dimensions").value.kvlist_value.values
    dimensions.add(key="Empty").value.string_value = ""


@pytest.mark.parametrize(
    ("change", "skipped"),
    [
        (_int_dimension, {"not_a_metric": 1}),
        (_string_dimensions, {"not_a_metric": 1}),
        (_int_namespace, {"not_a_metric": 1}),
        (_empty_dimension_value, {}),  # an empty string is a string
    ],
    ids=lambda value: getattr(value, "__name__", "")[1:],
)
def test_attribute_values_of_another_kind_than_string_are_refused_not_read_as_empty(
    change: Any, skipped: dict[str, int]
) -> None:
    """As a JSON record with such a value is: read as "", they would merge distinct series."""
    request = otel1_request(RECORDS[:3])
    change(request.resource_metrics[0].scope_metrics[0].metrics[0].summary.data_points[0])
    _, _, conversion = convert_object(frame(request), make_settings(stream_format=OPENTELEMETRY_1_0))
    assert conversion.skipped == skipped
    assert conversion.records == 3 - sum(skipped.values())


def test_the_format_is_detected_only_from_the_first_bytes() -> None:
    assert detect(b'{"metric_stream_name"') == JSON
    assert detect(BOM + b'  \r\n{"a"') == JSON
    assert detect(b"") == JSON
    assert detect(FRAMES[0][:20]) == OPENTELEMETRY_1_0
    assert stream_format(JSON).name == JSON
    assert stream_format(OPENTELEMETRY_1_0).name == OPENTELEMETRY_1_0


NOT_A_KEY_VALUE = b"\x0a\x02\xff\xfe"  # a KeyValue whose key is not UTF-8


def _points(request: Any) -> list[Any]:
    return [
        point
        for resource_metrics in request.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
        for point in metric.summary.data_points
    ]


def _long_fields_request() -> ExportMetricsServiceRequest:
    """A metric of more than LISTED datapoints, one datapoint with more than LISTED attributes (its names
    last, each given twice: the last is read) and one with more than LISTED quantiles."""
    request = otel1_request(RECORDS[:3])
    metric = request.resource_metrics[0].scope_metrics[0].metrics[0]
    first = metric.summary.data_points[0]
    for minute in range(1, otel1.LISTED + 2):
        point = metric.summary.data_points.add()
        point.CopyFrom(first)
        point.start_time_unix_nano += minute * 60_000_000_000
        point.time_unix_nano += minute * 60_000_000_000
    names = list(first.attributes)
    del first.attributes[:]
    for number in range(otel1.LISTED):
        first.attributes.add(key=f"Extra{number}").value.string_value = "x"
    first.attributes.extend(names + names)
    quantiles = metric.summary.data_points[1].quantile_values
    for number in range(1, otel1.LISTED + 2):
        quantiles.add(quantile=number / 1000, value=float(number))
    return request


@pytest.mark.parametrize("listed", [0, 3, 10**9])
def test_repeated_fields_longer_than_listed_are_read_as_shorter_ones(
    monkeypatch: pytest.MonkeyPatch, listed: int
) -> None:
    """Past LISTED items a metric's datapoints, a datapoint's attributes and its quantiles are read item
    by item instead of as a list: the records are the same, whatever the bound."""
    data = frame(_long_fields_request())
    expected, expected_skipped = decoded(data)
    assert len(expected) == 3 + otel1.LISTED + 1 and not expected_skipped
    assert expected[0]["namespace"] == RECORDS[0]["namespace"] and expected[0]["dimensions"]
    assert len(expected[1]["value"]) >= otel1.LISTED + 1
    monkeypatch.setattr(otel1, "LISTED", listed)
    assert decoded(data) == (expected, expected_skipped)


def test_the_lazy_definitions_read_every_frame_as_the_official_ones() -> None:
    """Only the datapoints' attributes differ, kept as their bytes: re-encoded, every frame is the same,
    and each kept attribute is the encoding of the official message's."""
    lazy, official = lazy_message_class().FromString, ExportMetricsServiceRequest.FromString
    frames_read, _ = payloads(OBJECT)
    for payload in frames_read:
        assert lazy(payload).SerializeToString() == official(payload).SerializeToString()
        for kept, parsed in zip(_points(lazy(payload)), _points(official(payload)), strict=True):
            assert list(kept.attributes) == [attribute.SerializeToString() for attribute in parsed.attributes]


def test_an_attribute_that_is_no_key_value_ends_its_frame_there() -> None:
    """The datapoints before it are read; the rest of its frame is one malformed frame; the frames after it
    are read. (Parsed whole with the official definitions, the frame would be malformed from the start.)"""
    request = lazy_message_class().FromString(
        otel1_request(RECORDS[PER_FRAME : 2 * PER_FRAME]).SerializeToString()
    )
    assert frame(request) == FRAMES[1]
    broken = _points(request)[5]
    del broken.attributes[:]
    broken.attributes.append(NOT_A_KEY_VALUE)
    found, skipped = decoded(FRAMES[0] + frame(request) + FRAMES[2])
    expected, _ = decoded(FRAMES[0] + FRAMES[1] + FRAMES[2])
    assert skipped == {MALFORMED_FRAME: 1}
    assert found == expected[: PER_FRAME + 5] + expected[2 * PER_FRAME :]
    with pytest.raises(DecodeError, match="bad UTF-8"):
        ExportMetricsServiceRequest.FromString(request.SerializeToString())


def test_past_their_bound_attributes_are_parsed_each_time_and_the_first_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expected, expected_skipped = decoded(OBJECT)
    monkeypatch.setattr(otel1, "ATTRIBUTE_MEMO_BYTES", 2_000)
    kept: list[dict[bytes, Any]] = []
    original = otel1._Attributes.read

    def read(self: otel1._Attributes, encoded: bytes) -> tuple[str, Any]:
        found = original(self, encoded)
        kept.append(dict(self._read))
        return found

    monkeypatch.setattr(otel1._Attributes, "read", read)
    assert decoded(OBJECT) == (expected, expected_skipped)
    assert len(kept[-1]) <= 2_000 // 200 + 1  # each takes 200 bytes and more
    assert len(kept) > 10 * len(kept[-1])  # the others were read when met
    assert all(memo.items() <= kept[-1].items() for memo in kept)  # nothing kept was dropped
    namespaces = [b for b in kept[-1] if b.startswith(b"\n\tNamespace")]
    assert namespaces  # met on the first datapoint, kept for every other


LONGEST_FRAME_PROBE = """
import resource, sys
from collections import Counter
from cwotlp.formats.otel1 import MAX_FRAME_BYTES, records

def varint(n):
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)

def field(number, payload):
    return bytes([number << 3 | 2]) + varint(len(payload)) + payload

# A summary of empty datapoints (two bytes each), as many as the longest frame holds.
points = (MAX_FRAME_BYTES - 64) // 2
payload = field(1, field(2, field(2, field(1, b"m") + field(11, b"\\x0a\\x00" * points))))
assert len(payload) <= MAX_FRAME_BYTES
data = varint(len(payload)) + payload
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
skipped = Counter()
read = sum(1 for _ in records(iter([data]), skipped))
added = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(read, points, added // 1024)
"""


def test_the_longest_frame_of_empty_datapoints_stays_within_64_mib() -> None:
    """Protobuf's parser keeps every datapoint of a frame, about 80 bytes each, outside Python's allocator
    (so tracemalloc cannot see it): the frame length's bound is what bounds it. Measured as the resident
    peak of a process of its own."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", LONGEST_FRAME_PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    read, points, added_mib = map(int, result.stdout.split())
    assert read == points > 100_000  # every datapoint read (each a record the converter refuses)
    assert added_mib <= 64, f"{added_mib} MiB added reading one frame"
