"""What the measured scripts (naive.py, floor.py) share: reading an object and cutting it into frames."""

from __future__ import annotations

import gzip
import json
import sys
from collections.abc import Iterator
from io import BufferedIOBase
from pathlib import Path
from typing import Any

JSON = "json"
OTEL1 = "opentelemetry1.0"
FORMATS = (JSON, OTEL1)
GZIP_MAGIC = b"\x1f\x8b"


def is_gzip(path: Path) -> bool:
    with path.open("rb") as stream:
        return stream.read(2) == GZIP_MAGIC


def plain_bytes(path: Path) -> bytes:
    """The whole object, gunzipped when it is gzip."""
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == GZIP_MAGIC else data


def plain_stream(path: Path) -> BufferedIOBase:
    """The object as a stream of plain bytes, gunzipped as it is read when it is gzip."""
    return gzip.open(path, "rb") if is_gzip(path) else path.open("rb")


def uvarint(data: bytes, position: int) -> tuple[int, int]:
    """The unsigned varint at `position` and the position after it."""
    value = shift = 0
    while True:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
        shift += 7


def varint(value: int) -> bytes:
    """An unsigned varint, as protobuf writes lengths."""
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def frames(data: bytes) -> Iterator[bytes]:
    """The messages of length-delimited data (a varint length before each), as the OpenTelemetry 1.0
    format and the forwarder's protobuf output write them."""
    position = 0
    while position < len(data):
        size, position = uvarint(data, position)
        yield data[position : position + size]
        position += size


def datapoint_count(request: Any) -> int:
    """The summary datapoints of an ExportMetricsServiceRequest."""
    return sum(
        len(metric.summary.data_points)
        for resource_metrics in request.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
    )


def report(datapoints: int) -> None:
    """The summary line the bench reads from stderr, with the field names `cwotlp convert` uses."""
    print(json.dumps({"records": datapoints, "datapoints": datapoints}), file=sys.stderr)


def arguments(argv: list[str]) -> tuple[str, Path]:
    """FORMAT FILE, the command line of naive.py and floor.py."""
    if len(argv) != 2 or argv[0] not in FORMATS:
        raise SystemExit(f"usage: {Path(sys.argv[0]).name} {{{'|'.join(FORMATS)}}} FILE")
    return argv[0], Path(argv[1])
