"""Benchmark objects with the cardinality of a real organisation's metric stream, in both output formats.

A fleet of resources over several accounts, regions and namespaces gives thousands of distinct dimension
sets; it grows until its records fill the requested size. Every series appears in the middle minute of a
three-minute span and, half the time each, in the minutes around it (1-3 times per object), in shuffled
order. A fifth of the records carry percentiles. The same seed gives the same bytes. JSON lines come from
generator.record_line, OpenTelemetry 1.0 frames from cwotlp_local.otel1.
"""

from __future__ import annotations

import ast
import functools
import gzip
import hashlib
import itertools
import json
import os
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cwotlp_local import otel1
from cwotlp_local.generator import DEFAULT_START_MS, MINUTE_MS, record_line

JSON = "json"
OTEL1 = "opentelemetry1.0"
STREAM_NAME = "org-monitoring-cloudwatch-metric-stream"
MONITORING_ACCOUNT = "318204657721"  # the account that owns the stream; the others are linked to it
ACCOUNTS = (
    MONITORING_ACCOUNT,
    "590183746625",
    "742915530418",
    "106427389954",
    "853370192846",
    "271846503319",
)
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2")
RECORDS_PER_FRAME = 200  # datapoints per ExportMetricsServiceRequest frame of an OpenTelemetry 1.0 object
# The modules whose code shapes the objects' bytes: this one, generator.py (JSON lines) and otel1.py
# (frames). Python's random and zlib, and the protobuf varint otel1.py borrows, are taken as they are.
SHAPING_MODULES = ("realistic.py", "generator.py", "otel1.py")


def generator_version(sources: Sequence[str]) -> str:
    """A digest of the shaping modules' code: cached objects are named after it, so that editing the
    generator can never leave the bench reading objects of an older one. Their syntax trees are hashed,
    so a change to a comment or to the layout does not make every object again."""
    digest = hashlib.sha256()
    for source in sources:
        digest.update(ast.dump(ast.parse(source)).encode())
    return digest.hexdigest()[:12]


@functools.cache
def current_generator_version() -> str:
    """The generator version of the shaping modules as they are on disk, read once per process."""
    return generator_version([Path(__file__).with_name(name).read_text() for name in SHAPING_MODULES])


_APPS = (
    "checkout", "catalog", "orders", "payments", "search", "identity", "billing", "ingest",
    "inventory", "shipping", "pricing", "notifications", "reporting", "recommendations",
)  # fmt: skip
_ENVIRONMENTS = ("prod", "prod", "staging", "dev")
# The fleet. Per kind of resource: its namespace, how many of every hundred resources are of this kind,
# and its dimension names; then its metrics: name, CloudWatch unit, how the values are drawn (see
# _statistics), the typical value of one sample, and the percentiles the stream adds to it (a metric
# stream's statistics configuration).
_CATALOG = """
AWS/EC2 12 InstanceId
  CPUUtilization Percent percent 30 p50,p90,p99; NetworkIn Bytes bytes 4e6 p50,p90,p99
  NetworkOut Bytes bytes 2.5e6 p50,p90,p99; NetworkPacketsIn Count count 4200
  NetworkPacketsOut Count count 3900; EBSReadBytes Bytes bytes 8e5; EBSWriteBytes Bytes bytes 3.1e6
  EBSReadOps Count count 40; EBSWriteOps Count count 310; StatusCheckFailed Count zero 1
  CPUCreditBalance Count gauge 288; MetadataNoToken None zero 1
AWS/EBS 10 VolumeId
  VolumeReadBytes Bytes bytes 1.6e4; VolumeWriteBytes Bytes bytes 2.4e4; VolumeReadOps Count count 30
  VolumeWriteOps Count count 90; VolumeQueueLength Count latency 0.02; VolumeIdleTime Seconds latency 52
  BurstBalance Percent percent 99
AWS/ApplicationELB 3 LoadBalancer
  RequestCount Count events 1; TargetResponseTime Seconds latency 0.085 p99,p99.9
  HTTPCode_Target_2XX_Count Count events 1; HTTPCode_ELB_5XX_Count Count zero 1
  ActiveConnectionCount Count count 14; NewConnectionCount Count count 6; ProcessedBytes Bytes bytes 2.2e4
  ConsumedLCUs Count latency 0.42
AWS/ApplicationELB 6 AvailabilityZone LoadBalancer TargetGroup
  HealthyHostCount Count gauge 3; UnHealthyHostCount Count zero 1
  TargetResponseTime Seconds latency 0.085 p50,p90,p99; RequestCountPerTarget Count events 1
AWS/Lambda 14 FunctionName
  Invocations Count events 1; Errors Count zero 1; Throttles Count zero 1
  Duration Milliseconds latency 180 p50,p90,p99; ConcurrentExecutions Count gauge 4
  IteratorAge Milliseconds latency 900 p50,p90,p99
AWS/RDS 3 DBInstanceIdentifier
  CPUUtilization Percent percent 22; FreeableMemory Bytes gauge 3.2e9; FreeStorageSpace Bytes gauge 8.7e10
  DatabaseConnections Count gauge 42; ReadIOPS Count/Second latency 120; WriteIOPS Count/Second latency 340
  ReadThroughput Bytes/Second latency 2.1e6; WriteThroughput Bytes/Second latency 4.4e6
  ReadLatency Seconds latency 0.0012 p99,p99.9; WriteLatency Seconds latency 0.0021 p99,p99.9
AWS/DynamoDB 8 Operation TableName
  SuccessfulRequestLatency Milliseconds latency 4.2 p50,p90,p99; ThrottledRequests Count zero 1
  ReturnedItemCount Count count 8
AWS/SQS 9 QueueName
  NumberOfMessagesSent Count events 1; NumberOfMessagesReceived Count events 1
  NumberOfMessagesDeleted Count events 1; NumberOfEmptyReceives Count events 1
  ApproximateNumberOfMessagesVisible Count gauge 12; ApproximateAgeOfOldestMessage Seconds gauge 45
  SentMessageSize Bytes latency 1800 p50,p90,p99
AWS/SNS 5 TopicName
  NumberOfMessagesPublished Count events 1; PublishSize Bytes latency 900
  NumberOfNotificationsDelivered Count events 1; NumberOfNotificationsFailed Count zero 1
AWS/Kinesis 3 StreamName
  IncomingBytes Bytes bytes 5.2e5; IncomingRecords Count count 900
  GetRecords.IteratorAgeMilliseconds Milliseconds latency 350
  GetRecords.Latency Milliseconds latency 9 p50,p90,p99
  PutRecords.Latency Milliseconds latency 21 p50,p90,p99
AWS/ECS 8 ClusterName ServiceName
  CPUUtilization Percent percent 35; MemoryUtilization Percent percent 55
AWS/ElastiCache 3 CacheClusterId CacheNodeId
  CPUUtilization Percent percent 12; CurrConnections Count gauge 80; BytesUsedForCache Bytes gauge 6.4e8
  GetTypeCmdsLatency Microseconds latency 14 p50,p90,p99; NetworkBandwidthOutAllowanceExceeded Count zero 1
AWS/NATGateway 2 NatGatewayId
  BytesOutToDestination Bytes bytes 9e6; ActiveConnectionCount Count gauge 310
AWS/DX 1 ConnectionId
  ConnectionBpsEgress Bits/Second latency 4e8; ConnectionLightLevelTx None gauge -2.1
Checkout/Service 3 Environment Service
  ResponsePayload Kilobytes latency 14 p50,p90,p99; HeapUsed Megabytes gauge 730
  ArchiveSize Gigabytes gauge 52; Uplink Megabits/Second latency 18
"""


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    kind: str  # percent, events (every sample is 1), count, bytes, latency, gauge (one sample), zero
    scale: float  # the typical value of one sample
    percentiles: tuple[str, ...]


@dataclass
class Family:
    """A kind of resource."""

    namespace: str
    weight: int
    dimension_names: tuple[str, ...]
    metrics: list[Metric] = field(default_factory=list)


def _catalog() -> tuple[Family, ...]:
    families: list[Family] = []
    for line in _CATALOG.strip().splitlines():
        if not line.startswith(" "):
            namespace, weight, *dimension_names = line.split()
            families.append(Family(namespace, int(weight), tuple(dimension_names)))
            continue
        for spec in line.split(";"):
            name, unit, kind, scale, *percentiles = spec.split()
            statistics = tuple(percentiles[0].split(",") if percentiles else ())
            families[-1].metrics.append(Metric(name, unit, kind, float(scale), statistics))
    return tuple(families)


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(4 * digits):0{digits}x}"


def _named(kind: str) -> Callable[[random.Random, int, str], str]:
    """Resource names as teams give them: application, environment, kind and a number."""
    return lambda rng, serial, region: f"{rng.choice(_APPS)}-{rng.choice(_ENVIRONMENTS)}-{kind}-{serial:04d}"


def _arn_name(prefix: str, kind: str) -> Callable[[random.Random, int, str], str]:
    """Load balancer and target group dimensions: app/<name>/<16 hex digits>."""
    return lambda rng, serial, region: f"{prefix}/{_named(kind)(rng, serial, region)}/{_hex(rng, 16)}"


_DIMENSION_VALUES: dict[str, Callable[[random.Random, int, str], str]] = {
    "InstanceId": lambda rng, serial, region: f"i-0{_hex(rng, 16)}",
    "VolumeId": lambda rng, serial, region: f"vol-0{_hex(rng, 16)}",
    "NatGatewayId": lambda rng, serial, region: f"nat-0{_hex(rng, 16)}",
    "ConnectionId": lambda rng, serial, region: f"dxcon-{_hex(rng, 8)}",
    "AvailabilityZone": lambda rng, serial, region: f"{region}{rng.choice('abc')}",
    "Operation": lambda rng, serial, region: rng.choice(("GetItem", "PutItem", "Query", "UpdateItem")),
    "CacheNodeId": lambda rng, serial, region: f"{rng.randint(1, 3):04d}",
    "Environment": lambda rng, serial, region: rng.choice(_ENVIRONMENTS),
    "ClusterName": lambda rng, serial, region: f"{rng.choice(_APPS)}-{rng.choice(_ENVIRONMENTS)}-cluster",
    "LoadBalancer": _arn_name("app", "alb"),
    "TargetGroup": _arn_name("targetgroup", "tg"),
    "FunctionName": _named("handler"),
    "DBInstanceIdentifier": _named("db"),
    "TableName": _named("table"),
    "QueueName": _named("queue"),
    "TopicName": _named("topic"),
    "StreamName": _named("stream"),
    "ServiceName": _named("svc"),
    "CacheClusterId": _named("redis"),
    "Service": _named("api"),
}
# Where the fleet runs: every account in the first region and one or two others.
_PLACEMENTS = tuple(
    (account, region)
    for index, account in enumerate(ACCOUNTS)
    for region in REGIONS
    if region == REGIONS[0] or REGIONS.index(region) in (1 + index % 4, 1 + (index + index // 2) % 4)
)


@dataclass(frozen=True)
class Series:  # one metric of one resource
    account_id: str
    region: str
    namespace: str
    metric: Metric
    dimensions: dict[str, str]
    level: float  # the typical value of this series
    samples: int  # the typical sample count per minute


def _fleet(rng: random.Random) -> Iterator[Series]:
    """Series without end: resource after resource, each with every metric of its kind."""
    families = _catalog()
    weights = [family.weight for family in families]
    for serial in itertools.count(1):
        family = rng.choices(families, weights)[0]
        account, region = rng.choice(_PLACEMENTS)
        dimensions = {name: _DIMENSION_VALUES[name](rng, serial, region) for name in family.dimension_names}
        for metric in family.metrics:
            level = metric.scale * rng.lognormvariate(0.0, 0.5)
            samples = rng.choice((1, 1, 5, 12) if metric.kind == "percent" else (1, 2, 5, 12, 60, 300, 1200))
            yield Series(account, region, family.namespace, metric, dimensions, level, samples)


def _statistics(rng: random.Random, series: Series) -> dict[str, float]:
    """max, min, sum and count of one minute of a series."""
    kind, level = series.metric.kind, series.level
    n = 1 if kind == "gauge" else max(1, round(series.samples * rng.uniform(0.7, 1.3)))
    if kind == "events":
        return {"max": 1.0, "min": 1.0, "sum": float(n), "count": float(n)}
    if kind == "zero":
        hit = float(rng.random() < 0.03)
        return {"max": hit, "min": hit if n == 1 else 0.0, "sum": hit, "count": float(n)}
    whole = kind in ("count", "bytes") or (kind == "gauge" and series.metric.unit in ("Count", "Bytes"))
    if kind == "percent":
        typical = min(100.0, level * rng.uniform(0.7, 1.3))
        low, high = typical * rng.uniform(0.3, 0.95), min(100.0, typical * rng.uniform(1.05, 1.8))
        mean = low + (high - low) * rng.uniform(0.3, 0.7)
    else:
        mean = level * rng.lognormvariate(0.0, 0.03 if kind == "gauge" else 0.25)
        low, high = mean * rng.uniform(0.05, 0.6), mean * rng.uniform(1.5, 8.0)
    if n == 1:
        value = float(round(mean)) if whole else mean
        return {"max": value, "min": value, "sum": value, "count": 1.0}
    if whole:
        total = float(round(mean * n))
        low, high = float(min(int(low), int(total // n))), float(max(round(high), -(-total // n)))
        return {"max": high, "min": low, "sum": total, "count": float(n)}
    return {"max": high, "min": low, "sum": mean * n, "count": float(n)}


def _percentiles(rng: random.Random, value: dict[str, float], names: tuple[str, ...]) -> dict[str, float]:
    """Percentiles between min and max, rising with the rank."""
    low, high, mean = value["min"], value["max"], value["sum"] / value["count"]
    rank = {"p50": low + (mean - low) * rng.uniform(0.6, 1.0)}
    rank["p90"] = mean + (high - mean) * rng.uniform(0.2, 0.5)
    rank["p99"] = rank["p90"] + (high - rank["p90"]) * rng.uniform(0.5, 0.95)
    rank["p99.9"] = rank["p99"] + (high - rank["p99"]) * rng.uniform(0.3, 0.9)
    return {name: rank[name] if low < high else high for name in names}


def _lines(rng: random.Random, start_ms: int) -> Iterator[bytes]:
    """JSON lines of the fleet: each series in the middle minute and, half the time each, the other two."""
    for series in _fleet(rng):
        minutes = [minute for minute in (0, 1, 2) if minute == 1 or rng.random() < 0.5]
        for minute in minutes:
            value = _statistics(rng, series)
            value.update(_percentiles(rng, value, series.metric.percentiles))
            record = {
                "metric_stream_name": STREAM_NAME,
                "account_id": series.account_id,
                "region": series.region,
                "namespace": series.namespace,
                "metric_name": series.metric.name,
                "dimensions": series.dimensions,
                "timestamp": start_ms + minute * MINUTE_MS,
                "value": value,
                "unit": series.metric.unit,
            }
            yield record_line(record)


def json_object(target_bytes: int, *, seed: int = 0, compress: bool = False) -> bytes:
    """A Firehose object of JSON lines of at least target_bytes (uncompressed; less than a line more),
    the lines in shuffled order. gzip-compressed when compress, as Firehose writes it."""
    rng = random.Random(seed)
    lines: list[bytes] = []
    size = 0
    source = _lines(rng, DEFAULT_START_MS)
    while size < target_bytes:
        lines.append(next(source))
        size += len(lines[-1])
    rng.shuffle(lines)
    return _compressed(b"".join(lines), compress)


def _compressed(data: bytes, compress: bool) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0) if compress else data


def records_of(json_data: bytes) -> Iterator[dict[str, Any]]:
    """The records of a plain JSON-lines object."""
    return (json.loads(line) for line in json_data.splitlines() if line.strip())


def otel1_object(records: Iterable[dict[str, Any]], *, compress: bool = False) -> bytes:
    """The OpenTelemetry 1.0 object of these records, RECORDS_PER_FRAME per frame, the stream owned by
    the monitoring account."""
    return otel1.otel1_object(
        records, per_frame=RECORDS_PER_FRAME, owner=MONITORING_ACCOUNT, compress=compress
    )


def cached_object(
    directory: Path, target_bytes: int, *, seed: int = 0, output_format: str = JSON, compress: bool = False
) -> Path:
    """The file of a generated object, made once and then kept in `directory` under a name that holds
    the generator version, seed, size, format and compression; making one removes the objects of other
    generator versions. The OpenTelemetry 1.0 object holds the records of the JSON object of the same
    seed and size."""
    suffix = {JSON: "json", OTEL1: "otel1"}[output_format] + (".gz" if compress else "")
    version = current_generator_version()
    path = directory / f"realistic-{version}-seed{seed}-{target_bytes}.{suffix}"
    if path.exists():
        return path
    for stale in directory.glob("realistic-*"):
        if not stale.name.startswith(f"realistic-{version}-"):
            stale.unlink(missing_ok=True)
    if compress:
        plain = cached_object(directory, target_bytes, seed=seed, output_format=output_format)
        data = _compressed(plain.read_bytes(), True)
    elif output_format == OTEL1:
        data = otel1_object(records_of(cached_object(directory, target_bytes, seed=seed).read_bytes()))
    else:
        data = json_object(target_bytes, seed=seed)
    directory.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")  # a reader never sees half a file
    partial.write_bytes(data)
    partial.replace(path)
    return path
