"""Metric stream objects for the fault suite: JSON lines, OpenTelemetry 1.0 frames, gzip made by hand.

Every record carries a `Seq` dimension, unique in its object, by which the receiver tells datapoints
apart. Timestamps are a few minutes old, as a metric stream's are.
"""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Iterable
from typing import Any

import orjson
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import SummaryDataPoint

STREAM = "fault-suite-stream"
ACCOUNT = "123456789012"
REGION = "us-east-1"
MINUTE_MS = 60_000
START_MS = (int(time.time() * 1000) // MINUTE_MS - 5) * MINUTE_MS
MIB = 1 << 20


def record(seq: int, **changes: Any) -> dict[str, Any]:
    """A CPUUtilization record of one instance, as the JSON format writes it; `changes` replace fields."""
    base: dict[str, Any] = {
        "metric_stream_name": STREAM,
        "account_id": ACCOUNT,
        "region": REGION,
        "namespace": "AWS/EC2",
        "metric_name": "CPUUtilization",
        "dimensions": {"InstanceId": f"i-{seq:017x}", "Seq": str(seq)},
        "timestamp": START_MS,
        "value": {"max": 9.5, "min": 0.5, "sum": 120.0 + seq, "count": 60.0},
        "unit": "Percent",
    }
    base.update(changes)
    return base


def json_lines(items: Iterable[dict[str, Any] | bytes]) -> bytes:
    """Records (or ready lines) as JSON lines."""
    return b"".join(item if isinstance(item, bytes) else orjson.dumps(item) + b"\n" for item in items)


def json_object(seqs: Iterable[int], *, compress: bool = False) -> bytes:
    data = json_lines(record(seq) for seq in seqs)
    return gzip(data) if compress else data


def gzip(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    return compressor.compress(data) + compressor.flush()


def _string(key: str, value: str) -> KeyValue:
    attribute = KeyValue(key=key)
    attribute.value.string_value = value
    return attribute


def summary_point(
    seq: int,
    *,
    start_ns: int | None = None,
    time_ns: int | None = None,
    count: int = 60,
    total: float | None = None,
    low: float = 0.5,
    high: float = 9.5,
) -> SummaryDataPoint:
    """A datapoint as CloudWatch's OpenTelemetry 1.0 output writes one (min and max as quantiles 0, 1)."""
    start = START_MS * 1_000_000 if start_ns is None else start_ns
    point = SummaryDataPoint(
        start_time_unix_nano=start,
        time_unix_nano=start + MINUTE_MS * 1_000_000 if time_ns is None else time_ns,
        count=count,
        sum=120.0 + seq if total is None else total,
    )
    point.attributes.extend([_string("Namespace", "AWS/EC2"), _string("MetricName", "CPUUtilization")])
    dimensions = point.attributes.add(key="Dimensions")
    dimensions.value.kvlist_value.values.extend(
        [_string("InstanceId", f"i-{seq:017x}"), _string("Seq", str(seq))]
    )
    point.quantile_values.add(quantile=0.0, value=low)
    point.quantile_values.add(quantile=1.0, value=high)
    return point


def frame(points: Iterable[SummaryDataPoint]) -> bytes:
    """One length-prefixed ExportMetricsServiceRequest holding the datapoints under one metric."""
    request = ExportMetricsServiceRequest()
    resource_metrics = request.resource_metrics.add()
    arn = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:metric-stream/{STREAM}"
    resource_metrics.resource.attributes.extend(
        [
            _string("cloud.provider", "aws"),
            _string("cloud.account.id", ACCOUNT),
            _string("cloud.region", REGION),
            _string("aws.exporter.arn", arn),
        ]
    )
    metric = resource_metrics.scope_metrics.add().metrics.add(name="amazonaws.com/AWS/EC2/CPUUtilization")
    metric.unit = "%"
    metric.summary.data_points.extend(points)
    payload = request.SerializeToString()
    return varint(len(payload)) + payload


def varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def otel1_object(seqs: Iterable[int], *, per_frame: int = 40, compress: bool = False) -> bytes:
    points = [summary_point(seq) for seq in seqs]
    data = b"".join(frame(points[i : i + per_frame]) for i in range(0, len(points), per_frame))
    return gzip(data) if compress else data


def repeating_gzip(prefix: bytes, block: bytes, times: int, suffix: bytes) -> bytes:
    """One gzip member holding prefix + block * times + suffix, made without compressing every block.

    A full flush empties the compressor's history, so every block after one compresses to the same
    bytes: they are compressed twice and repeated, and the trailer's CRC and size computed for the whole.
    A gigabyte of zeros comes out at about a megabyte in well under a second.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = compressor.compress(prefix) + compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeated = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.compress(suffix) + compressor.flush(zlib.Z_FINISH)
    crc = zlib.crc32(prefix)
    for _ in range(times):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(suffix, crc)
    size = len(prefix) + len(block) * times + len(suffix)
    body = head + repeated * (times - 1) + tail[:-8]
    return body + struct.pack("<II", crc, size & 0xFFFFFFFF)
