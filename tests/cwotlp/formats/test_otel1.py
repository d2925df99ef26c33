"""Objects in the OpenTelemetry 1.0 stream format: length-prefixed ExportMetricsServiceRequest frames."""

from __future__ import annotations

import gzip
from collections import Counter

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from conftest import attributes, datapoints, parse_request
from cwotlp.formats.otel1 import frames, parses, read_varint
from cwotlp.otlp.convert import Naming
from cwotlp.otlp.encoding import Encoding, JsonEncoding, ProtobufEncoding
from cwotlp.pipeline import Conversion
from cwotlp.rules import parse_rules
from cwotlp_local.generator import generate_records, otel1_object, otel1_request

RECORDS = list(generate_records(240, seed=5))
PER_FRAME = 40  # six frames


def frame_bytes() -> list[bytes]:
    """The object's frames, each with its length prefix."""
    data = otel1_object(RECORDS, per_frame=PER_FRAME, compress=False)
    out, position = [], 0
    while position < len(data):
        length, start = read_varint(data, position)  # type: ignore[misc]
        out.append(data[position : start + length])
        position = start + length
    return out


def convert(data: bytes, encoding: Encoding | None = None, **options: object) -> tuple[list, Conversion]:
    conversion = Conversion(
        [data[i : i + 777] for i in range(0, len(data), 777)], Naming(), 1 << 22, encoding=encoding, **options
    )  # type: ignore[arg-type]
    requests = []
    for batch in conversion.batches():
        body = batch.body()
        if (encoding or JsonEncoding()).name == "protobuf":
            requests.append(ExportMetricsServiceRequest.FromString(body))
        else:
            requests.append(parse_request(body))
    return requests, conversion


def points(requests: list) -> list[tuple[dict[str, str], str, object]]:
    return [point for request in requests for point in datapoints(request)]


def test_several_frames_are_forwarded_with_the_configured_resource_attributes() -> None:
    requests, conversion = convert(gzip.compress(b"".join(frame_bytes())))
    assert conversion.format == "opentelemetry1.0"
    assert conversion.records >= 6  # parts: each frame's metrics of one resource go together
    found = points(requests)
    assert len(found) == len(RECORDS)
    resource = found[0][0]
    assert resource["aws.exporter.arn"].startswith("arn:aws:cloudwatch:")
    assert resource["service.name"] == "aws-cloudwatch-stream"
    assert resource["environment"] == "production"
    assert found[0][1].startswith("amazonaws.com/AWS/")
    assert "Namespace" in attributes(found[0][2])


def test_json_and_protobuf_requests_of_one_object_are_equal() -> None:
    data = b"".join(frame_bytes())
    [from_json], _ = convert(data, JsonEncoding())
    [from_proto], _ = convert(data, ProtobufEncoding())
    assert from_json == from_proto
    assert (
        from_json.resource_metrics[0].scope_metrics[0].metrics[0].summary.data_points[0].start_time_unix_nano
    )


def test_a_truncated_last_frame_keeps_the_complete_ones() -> None:
    whole = frame_bytes()
    data = b"".join(whole)[: -len(whole[-1]) // 2]
    requests, conversion = convert(data)
    assert conversion.skipped == {"truncated_frame": 1}
    assert len(points(requests)) == 5 * PER_FRAME


def test_a_stray_delimiter_is_skipped_and_counted() -> None:
    whole = frame_bytes()
    data = whole[0] + b"\n" + b"".join(whole[1:])
    requests, conversion = convert(data)
    assert conversion.skipped == {"stray_delimiter": 1}
    assert len(points(requests)) == len(RECORDS)


def test_a_delimiter_after_every_frame_is_skipped_every_time() -> None:
    data = b"".join(frame + b"\n" for frame in frame_bytes())
    requests, conversion = convert(data)
    assert conversion.skipped["stray_delimiter"] == 5
    assert len(points(requests)) == len(RECORDS)


def test_an_empty_object_sends_nothing() -> None:
    for data in (b"", gzip.compress(b"")):
        requests, conversion = convert(data)
        assert requests == [] and conversion.records == 0 and not conversion.skipped


def test_a_frame_that_is_not_a_request_is_counted() -> None:
    garbage = b"\xff" * 30
    data = frame_bytes()[0] + bytes([len(garbage)]) + garbage + frame_bytes()[1]
    requests, conversion = convert(data)
    assert conversion.skipped == {"malformed_frame": 1}
    assert len(points(requests)) == 2 * PER_FRAME


def test_batches_hold_whole_frames_and_resume_after_them() -> None:
    data = b"".join(frame_bytes())
    conversion = Conversion([data], Naming(), 30_000)
    batches = list(conversion.batches())
    assert len(batches) > 2
    assert all(len(batch.body()) <= 30_000 or len(batch.entries) == 1 for batch in batches)
    assert sum(batch.datapoints for batch in batches) == len(RECORDS)
    resumed = Conversion([data], Naming(), 30_000, resume_from=batches[0].end_record)
    rest = list(resumed.batches())
    assert sum(batch.datapoints for batch in rest) == len(RECORDS) - batches[0].datapoints
    assert rest[0].first_record == batches[0].end_record


def test_rules_apply_to_the_datapoints_of_frames() -> None:
    rules = parse_rules([{"action": "drop", "namespace": "AWS/EC2"}], "rules")
    requests, conversion = convert(b"".join(frame_bytes()), rules=rules)
    ec2 = sum(1 for record in RECORDS if record["namespace"] == "AWS/EC2")
    assert ec2 > 0
    found = points(requests)
    assert len(found) == len(RECORDS) - ec2
    assert all(not name.startswith("amazonaws.com/AWS/EC2/") for _, name, _ in found)
    assert conversion.skipped["dropped_by_rule"] == ec2


def test_frames_are_read_across_any_chunking() -> None:
    data = b"".join(frame_bytes())
    for size in (1, 3, 64, 5000):
        skipped: Counter[str] = Counter()
        read = list(frames([data[i : i + size] for i in range(0, len(data), size)], skipped, parses))
        assert len(read) == 6 and not skipped
        assert read[0] == otel1_request(RECORDS[:PER_FRAME]).SerializeToString()


@pytest.mark.parametrize(("data", "value"), [(b"\x00", (0, 1)), (b"\x96\x01", (150, 2)), (b"\x96", None)])
def test_varints(data: bytes, value: tuple[int, int] | None) -> None:
    assert read_varint(data, 0) == value


def test_a_frame_larger_than_a_request_is_cut_into_parts_within_the_limit() -> None:
    [frame] = [otel1_object(RECORDS, per_frame=len(RECORDS), compress=False)]
    assert len(frame) > 40_000
    for encoding in (JsonEncoding(), ProtobufEncoding()):
        conversion = Conversion([frame], Naming(), 20_000, encoding=encoding)
        batches = list(conversion.batches())
        assert len(batches) > 3
        assert all(len(batch.body()) <= 20_000 for batch in batches)
        assert sum(batch.datapoints for batch in batches) == len(RECORDS)
        merged = ExportMetricsServiceRequest()
        for batch in batches:
            body = batch.body()
            merged.MergeFrom(
                ExportMetricsServiceRequest.FromString(body)
                if encoding.name == "protobuf"
                else parse_request(body)
            )
        assert len(points([merged])) == len(RECORDS)
