"""Large metric stream objects of very high cardinality, written to a file without holding them whole.

Series come from five namespaces with the dimensions CloudWatch gives them (instances, load balancers
and target groups per zone, functions and aliases, tables and operations, queues), in two accounts and
two regions. Every series appears one to three times in the object, once per minute it appears in, so
that an object of 128 MiB holds about two hundred thousand distinct dimension sets, as a large
account's stream does. The same seed gives the same bytes.

This is not the bench's generator (cwotlp_local.realistic), on purpose: that one draws the mix of a
typical stream for speed figures (7,658 dimension sets in 32 MiB); this one gives every
record a series of its own as often as a real stream can, which is what fills the converter's memos
and so what the memory bound has to withstand.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from faults.records import MINUTE_MS, START_MS

ACCOUNTS = ("111122223333", "444455556666")
REGIONS = ("us-east-1", "eu-west-1")
ZONES = ("a", "b", "c")
PERCENTILE_METRICS = frozenset(("TargetResponseTime", "Duration"))


def _series(index: int) -> tuple[str, str, str, dict[str, str]]:
    """(namespace, metric name, unit, dimensions) of series number `index`."""
    kind, n = index % 5, index // 5
    if kind == 0:
        metric = ("CPUUtilization", "NetworkIn", "NetworkOut", "DiskReadOps")[n % 4]
        unit = "Percent" if metric == "CPUUtilization" else "Bytes" if metric.startswith("Net") else "Count"
        return "AWS/EC2", metric, unit, {"InstanceId": f"i-{n // 4:017x}"}
    if kind == 1:
        metric = ("RequestCount", "TargetResponseTime", "HTTPCode_Target_5XX_Count")[n % 3]
        lb = n // 9
        dimensions = {
            "LoadBalancer": f"app/web-{lb % 400}/{lb:016x}",
            "TargetGroup": f"targetgroup/tg-{lb}/{lb * 7:016x}",
            "AvailabilityZone": f"us-east-1{ZONES[(n // 3) % 3]}",
        }
        return "AWS/ApplicationELB", metric, "Seconds" if "Time" in metric else "Count", dimensions
    if kind == 2:
        metric = ("Invocations", "Duration", "Errors", "Throttles")[n % 4]
        name = f"orders-{n // 8}-handler"
        dimensions = {"FunctionName": name, "Resource": f"{name}:{('live', 'canary')[(n // 4) % 2]}"}
        return "AWS/Lambda", metric, "Milliseconds" if metric == "Duration" else "Count", dimensions
    if kind == 3:
        metric = ("ConsumedReadCapacityUnits", "SuccessfulRequestLatency")[n % 2]
        operation = ("GetItem", "Query", "PutItem", "BatchWriteItem")[(n // 2) % 4]
        return "AWS/DynamoDB", metric, "Count", {"TableName": f"table-{n // 8}", "Operation": operation}
    return "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Count", {"QueueName": f"queue-{n}"}


def _value(rng: random.Random, metric: str) -> dict[str, Any]:
    count = float(rng.randint(1, 600))
    low, high = rng.random() * 10, 10 + rng.random() * 990
    value: dict[str, Any] = {"max": high, "min": low, "sum": count * (low + high) / 2, "count": count}
    if metric in PERCENTILE_METRICS:
        value |= {"p50": (low + high) / 3, "p90": high * 0.8, "p99": high * 0.95}
    return value


def _lines(series: int, seed: int) -> Iterator[bytes]:
    """Minute after minute: every series in minute 0, about two thirds in minute 1, a third in 2."""
    rng = random.Random(seed)
    for minute in range(3):
        for index in range(series):
            if minute and (index * 2654435761) % 3 < minute:
                continue
            namespace, metric, unit, dimensions = _series(index)
            account = ACCOUNTS[index % 2]
            yield (
                orjson.dumps(
                    {
                        "metric_stream_name": "prod-observability",
                        "account_id": account,
                        "region": REGIONS[(index // 2) % 2],
                        "namespace": namespace,
                        "metric_name": metric,
                        "dimensions": dimensions,
                        "timestamp": START_MS - (3 - minute) * MINUTE_MS,
                        "value": _value(rng, metric),
                        "unit": unit,
                    }
                )
                + b"\n"
            )


def write_object(path: Path, target_bytes: int, *, seed: int = 1, series: int = 200_000) -> int:
    """Writes about `target_bytes` (never more) of JSON lines to `path`; returns the record count."""
    written = records = 0
    pending: list[bytes] = []
    with path.open("wb") as out:
        for line in _lines(series, seed):
            if written + len(line) > target_bytes:
                break
            pending.append(line)
            written += len(line)
            records += 1
            if len(pending) >= 4096:
                out.write(b"".join(pending))
                pending.clear()
        out.write(b"".join(pending))
    return records


def gzip_file(source: Path, target: Path) -> None:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    with source.open("rb") as plain, target.open("wb") as out:
        while chunk := plain.read(1 << 20):
            out.write(compressor.compress(chunk))
        out.write(compressor.flush())
