"""Records in the OpenTelemetry 1.0 format, as a CloudWatch metric stream writes them to Firehose.

Each frame is an ExportMetricsServiceRequest preceded by its length as a varint. Its shape follows AWS's
documentation of the format: a resource per account and region with `cloud.provider`,
`cloud.account.id`, `cloud.region` and `aws.exporter.arn` (the stream's ARN, in the account that owns the
stream), no instrumentation scope, a metric `amazonaws.com/<namespace>/<metric>` per name with the unit in
UCUM, and a summary datapoint per record: the period [timestamp, timestamp + 1 minute) as start and time,
count, sum, min and max as quantiles 0 and 1 and each pNN as NN/100, and the attributes `Namespace`,
`MetricName` and `Dimensions` (a key-value list).
"""

from __future__ import annotations

import gzip
import itertools
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from cwotlp.otlp.encoding import varint

MINUTE_MS = 60_000

# CloudWatch unit -> the UCUM unit the format writes, from AWS's table; X/Second is X's unit and "/s".
# Stated here on its own rather than taken from the forwarder, which is what the data checks.
_UCUM = {
    "Seconds": "s", "Microseconds": "us", "Milliseconds": "ms", "Bytes": "By", "Kilobytes": "kBy",
    "Megabytes": "MBy", "Gigabytes": "GBy", "Terabytes": "TBy", "Bits": "bit", "Kilobits": "kbit",
    "Megabits": "MBit", "Gigabits": "GBit", "Terabits": "Tbit", "Percent": "%", "Count": "{Count}",
    "None": "1",
}  # fmt: skip


def ucum(unit: str) -> str:
    """The unit the format writes for a CloudWatch unit."""
    if unit.endswith("/Second"):
        return ucum(unit.removesuffix("/Second")) + "/s"
    return _UCUM.get(unit, unit)


def stream_arn(record: dict[str, Any], owner: str | None = None) -> str:
    """The ARN of a record's metric stream, owned by `owner` (else the record's own account)."""
    account = owner or record["account_id"]
    return f"arn:aws:cloudwatch:{record['region']}:{account}:metric-stream/{record['metric_stream_name']}"


def otel1_request(records: Iterable[dict[str, Any]], *, owner: str | None = None) -> Any:
    """The ExportMetricsServiceRequest of these records; `owner` owns the stream (a cross-account stream
    names the monitoring account in aws.exporter.arn)."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    request = ExportMetricsServiceRequest()
    scopes: dict[tuple[str, str], Any] = {}
    metrics: dict[tuple[str, str, str, str], Any] = {}
    for record in records:
        place = (record["account_id"], record["region"])
        if place not in scopes:
            resource = request.resource_metrics.add()
            for key, value in (
                ("cloud.provider", "aws"),
                ("cloud.account.id", place[0]),
                ("cloud.region", place[1]),
                ("aws.exporter.arn", stream_arn(record, owner)),
            ):
                resource.resource.attributes.add(key=key).value.string_value = value
            scopes[place] = resource.scope_metrics.add()
        name = f"amazonaws.com/{record['namespace']}/{record['metric_name']}"
        unit = ucum(record["unit"])
        metric = metrics.get((*place, name, unit))
        if metric is None:
            metric = metrics[(*place, name, unit)] = scopes[place].metrics.add(name=name, unit=unit)
        _summary_point(metric.summary.data_points.add(), record)
    return request


def _summary_point(point: Any, record: dict[str, Any]) -> None:
    point.start_time_unix_nano = record["timestamp"] * 1_000_000
    point.time_unix_nano = (record["timestamp"] + MINUTE_MS) * 1_000_000
    point.attributes.add(key="Namespace").value.string_value = record["namespace"]
    point.attributes.add(key="MetricName").value.string_value = record["metric_name"]
    dimensions = point.attributes.add(key="Dimensions").value.kvlist_value
    for name, text in record["dimensions"].items():
        dimensions.values.add(key=name).value.string_value = text
    value = record["value"]
    point.count = round(value["count"])
    point.sum = value["sum"]
    percentiles = sorted(
        (float(Decimal(key[1:]) / 100), number) for key, number in value.items() if key[0] == "p"
    )
    for quantile, number in [(0.0, value["min"]), *percentiles, (1.0, value["max"])]:
        point.quantile_values.add(quantile=quantile, value=number)


def otel1_object(
    records: Iterable[dict[str, Any]], *, per_frame: int = 50, owner: str | None = None, compress: bool = True
) -> bytes:
    """The object Firehose writes for these records: frames of up to per_frame records, each after its
    length as a varint; gzipped when compress."""
    frames: list[bytes] = []
    source = iter(records)
    while chunk := list(itertools.islice(source, per_frame)):
        message = otel1_request(chunk, owner=owner).SerializeToString()
        frames += (varint(len(message)), message)
    data = b"".join(frames)
    return gzip.compress(data, compresslevel=6, mtime=0) if compress else data
