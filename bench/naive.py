"""The baselines the forwarder is measured against: the straightforward way to convert an object.

  python bench/naive.py json FILE              json.loads every line into dicts, build the whole OTLP
                                               request as nested dicts and json.dumps it at the end,
                                               holding the entire object in memory (cwotlp's shape)
  python bench/naive.py opentelemetry1.0 FILE  parse every frame with the official protobuf definitions
                                               and serialize it again (SerializeToString)

The requests go to stdout (protobuf ones length-delimited), the record count to stderr.
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from objects import JSON, arguments, datapoint_count, frames, plain_bytes, report, varint

_PERCENTILE = re.compile(r"^p(\d+(?:\.\d+)?)$")


def _attribute(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": {"stringValue": value}}


def _datapoint(record: dict[str, Any]) -> dict[str, Any]:
    value = record["value"]
    quantiles = [{"quantile": 0.0, "value": value["min"]}]
    for statistic, number in sorted(value.items()):
        match = _PERCENTILE.match(statistic)
        if match:
            quantiles.append({"quantile": float(match.group(1)) / 100, "value": number})
    quantiles.append({"quantile": 1.0, "value": value["max"]})
    return {
        "attributes": [
            _attribute("Namespace", record["namespace"]),
            _attribute("MetricName", record["metric_name"]),
            _attribute("Dimensions", json.dumps(record.get("dimensions", {}))),
        ],
        "timeUnixNano": str(record["timestamp"] * 1_000_000),
        "count": str(round(value["count"])),
        "sum": value["sum"],
        "quantileValues": quantiles,
    }


def convert(data: bytes) -> bytes:
    records = []
    for line in data.decode().split("\n"):
        line = line.strip()
        if not line:
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue

    by_resource: dict[tuple[str, str], dict[tuple[str, str], list[dict[str, Any]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for record in records:
        unit = "" if record.get("unit") == "None" else record.get("unit", "")
        name = f"amazonaws.com/{record['namespace']}/{record['metric_name']}"
        by_resource[(record["account_id"], record["region"])][(name, unit)].append(_datapoint(record))

    resource_metrics = []
    for (account_id, region), metrics in by_resource.items():
        resource_metrics.append(
            {
                "resource": {
                    "attributes": [
                        _attribute("cloud.provider", "aws"),
                        _attribute("cloud.account.id", account_id),
                        _attribute("cloud.region", region),
                        _attribute("service.name", "aws-cloudwatch-stream"),
                        _attribute("environment", "production"),
                    ]
                },
                "scopeMetrics": [
                    {
                        "scope": {"name": "aws.cloudwatch"},
                        "metrics": [
                            {"name": name, "unit": unit, "summary": {"dataPoints": points}}
                            for (name, unit), points in metrics.items()
                        ],
                    }
                ],
            }
        )
    return json.dumps({"resourceMetrics": resource_metrics}).encode()


def reserialized(data: bytes) -> Iterator[tuple[bytes, int]]:
    """Each frame of an OpenTelemetry 1.0 object parsed and serialized again, with its datapoint count."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    for frame in frames(data):
        request = ExportMetricsServiceRequest.FromString(frame)
        message = request.SerializeToString()
        yield varint(len(message)) + message, datapoint_count(request)


def main(output_format: str, path: Path) -> None:
    out = sys.stdout.buffer
    data = plain_bytes(path)
    if output_format == JSON:
        out.write(convert(data) + b"\n")
        report(sum(1 for line in data.split(b"\n") if line.strip()))
        return
    datapoints = 0
    for message, count in reserialized(data):
        out.write(message)
        datapoints += count
    report(datapoints)


if __name__ == "__main__":
    main(*arguments(sys.argv[1:]))
