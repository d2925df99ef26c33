"""The parse-only floor: the least any converter must do, reading every record and producing nothing.

  python bench/floor.py json FILE              orjson.loads on every line
  python bench/floor.py opentelemetry1.0 FILE  every frame parsed with the official protobuf definitions

Gzip objects are gunzipped as they are read. The record count goes to stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path

from objects import JSON, arguments, datapoint_count, frames, plain_bytes, plain_stream, report


def json_records(path: Path) -> int:
    import orjson

    loads = orjson.loads
    records = 0
    with plain_stream(path) as stream:
        for line in stream:
            if line.strip():
                loads(line)
                records += 1
    return records


def otel1_datapoints(path: Path) -> int:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    parse = ExportMetricsServiceRequest.FromString
    return sum(datapoint_count(parse(frame)) for frame in frames(plain_bytes(path)))


if __name__ == "__main__":
    output_format, path = arguments(sys.argv[1:])
    report(json_records(path) if output_format == JSON else otel1_datapoints(path))
