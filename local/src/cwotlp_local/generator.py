"""Deterministic, realistic CloudWatch metric stream data (JSON output format) as Firehose writes it to S3.

The records look like what a CloudWatch metric stream with the JSON output format delivers: one JSON
object per line, keys in CloudWatch's order, numbers formatted the way CloudWatch formats them (Java
doubles: `12.0`, `3.90386688E8`), several namespaces, two accounts (a monitoring account and a linked
source account), summary statistics on every record, percentiles on about a fifth of them and, rarely,
other extended statistics such as `TM(10%:90%)`.

Each series (account, region, namespace, metric, dimensions) appears once per minute, so every record
identifies a distinct datapoint.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import math
import random
import uuid as uuid_module
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cwotlp.otlp.encoding import varint

MINUTE_MS = 60_000
DEFAULT_START_MS = 1_714_564_800_000  # 2024-05-01T12:00:00Z
DEFAULT_ACCOUNTS = ("111122223333", "444455556666")
DEFAULT_REGIONS = ("us-east-1",)
DEFAULT_STREAM_NAME = "prod-observability-cloudwatch-metric-stream"
PERCENTILES = ("p50", "p90", "p99")

# Every kind of value: how its statistics are drawn.
#   percent   0..100 utilisation-like values
#   bytes     integral byte counts per sample
#   count     integral counts per sample
#   gauge     an integral level sampled once (count 1)
#   latency   positive, skewed durations
#   zero      almost always zero (error counters)
_KINDS = ("percent", "bytes", "count", "gauge", "latency", "zero")


@dataclass(frozen=True)
class _Metric:
    name: str
    unit: str
    kind: str
    scale: float  # typical magnitude of one sample
    percentiles: bool = False  # this metric is streamed with p50/p90/p99


@dataclass(frozen=True)
class _Series:
    account_id: str
    region: str
    namespace: str
    metric: _Metric
    dimensions: tuple[tuple[str, str], ...]
    samples: int  # the typical sample count per minute
    level: float  # the typical value of this series
    extended: bool  # carries rare extended statistics (TM, IQM, ...)


def _m(name: str, unit: str, kind: str, scale: float, percentiles: bool = False) -> _Metric:
    assert kind in _KINDS
    return _Metric(name, unit, kind, scale, percentiles)


_EC2 = [
    _m("CPUUtilization", "Percent", "percent", 35.0, percentiles=True),
    _m("NetworkIn", "Bytes", "bytes", 4.0e6, percentiles=True),
    _m("NetworkOut", "Bytes", "bytes", 2.5e6),
    _m("NetworkPacketsIn", "Count", "count", 4200.0),
    _m("NetworkPacketsOut", "Count", "count", 3900.0),
    _m("EBSReadBytes", "Bytes", "bytes", 8.0e5),
    _m("EBSWriteBytes", "Bytes", "bytes", 3.1e6),
    _m("EBSReadOps", "Count", "count", 40.0),
    _m("EBSWriteOps", "Count", "count", 310.0),
    _m("StatusCheckFailed", "Count", "zero", 1.0),
    _m("CPUCreditBalance", "Count", "gauge", 288.0),
    _m("MetadataNoToken", "None", "zero", 1.0),
]
_LAMBDA = [
    _m("Invocations", "Count", "count", 1.0),
    _m("Errors", "Count", "zero", 1.0),
    _m("Throttles", "Count", "zero", 1.0),
    _m("Duration", "Milliseconds", "latency", 180.0, percentiles=True),
    _m("ConcurrentExecutions", "Count", "gauge", 4.0),
]
_RDS = [
    _m("CPUUtilization", "Percent", "percent", 22.0, percentiles=True),
    _m("FreeableMemory", "Bytes", "gauge", 3.2e9),
    _m("FreeStorageSpace", "Bytes", "gauge", 8.7e10),
    _m("DatabaseConnections", "Count", "gauge", 42.0),
    _m("ReadIOPS", "Count/Second", "latency", 120.0),
    _m("WriteIOPS", "Count/Second", "latency", 340.0),
    _m("ReadLatency", "Seconds", "latency", 0.0012, percentiles=True),
    _m("WriteLatency", "Seconds", "latency", 0.0021, percentiles=True),
]
_ALB = [
    _m("RequestCount", "Count", "count", 1.0),
    _m("TargetResponseTime", "Seconds", "latency", 0.085, percentiles=True),
    _m("HTTPCode_Target_2XX_Count", "Count", "count", 1.0),
    _m("HTTPCode_Target_5XX_Count", "Count", "zero", 1.0),
    _m("HTTPCode_ELB_5XX_Count", "Count", "zero", 1.0),
    _m("ActiveConnectionCount", "Count", "count", 14.0),
    _m("NewConnectionCount", "Count", "count", 6.0),
    _m("ProcessedBytes", "Bytes", "bytes", 2.2e4),
    _m("ConsumedLCUs", "Count", "latency", 0.42),
]
_ALB_TARGET = [
    _m("HealthyHostCount", "Count", "gauge", 3.0),
    _m("UnHealthyHostCount", "Count", "zero", 1.0),
    _m("TargetResponseTime", "Seconds", "latency", 0.085, percentiles=True),
    _m("RequestCountPerTarget", "Count", "count", 1.0),
]
_SQS = [
    _m("NumberOfMessagesSent", "Count", "count", 1.0),
    _m("NumberOfMessagesReceived", "Count", "count", 1.0),
    _m("NumberOfMessagesDeleted", "Count", "count", 1.0),
    _m("NumberOfEmptyReceives", "Count", "count", 1.0),
    _m("ApproximateNumberOfMessagesVisible", "Count", "gauge", 12.0),
    _m("ApproximateNumberOfMessagesNotVisible", "Count", "gauge", 3.0),
    _m("ApproximateAgeOfOldestMessage", "Seconds", "gauge", 45.0),
    _m("SentMessageSize", "Bytes", "latency", 1800.0, percentiles=True),
]
_DYNAMODB_TABLE = [
    _m("ConsumedReadCapacityUnits", "Count", "count", 2.0),
    _m("ConsumedWriteCapacityUnits", "Count", "count", 1.0),
    _m("ProvisionedReadCapacityUnits", "Count", "gauge", 25.0),
    _m("ReturnedItemCount", "Count", "count", 8.0),
]
_DYNAMODB_OPERATION = [
    _m("SuccessfulRequestLatency", "Milliseconds", "latency", 4.2, percentiles=True),
    _m("ThrottledRequests", "Count", "zero", 1.0),
]
_EBS = [
    _m("VolumeReadBytes", "Bytes", "bytes", 1.6e4),
    _m("VolumeWriteBytes", "Bytes", "bytes", 2.4e4),
    _m("VolumeReadOps", "Count", "count", 30.0),
    _m("VolumeWriteOps", "Count", "count", 90.0),
    _m("VolumeQueueLength", "Count", "latency", 0.02),
    _m("VolumeIdleTime", "Seconds", "latency", 52.0),
    _m("BurstBalance", "Percent", "percent", 100.0),
]

_EXTENDED_STATS = ("TM(10%:90%)", "IQM", "tm99", "WM(10%:90%)")


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _word(rng: random.Random, words: Sequence[str]) -> str:
    return rng.choice(words)


def _build_series(rng: random.Random, accounts: Sequence[str], regions: Sequence[str]) -> list[_Series]:
    series: list[_Series] = []

    def add(
        account: str, region: str, namespace: str, metrics: Iterable[_Metric], dims: dict[str, str]
    ) -> None:
        for metric in metrics:
            if metric.kind in ("count", "bytes"):
                samples = rng.choice((1, 2, 3, 5, 12, 30, 60, 240, 1500))
            elif metric.kind == "latency":
                samples = rng.choice((3, 12, 60, 180, 900, 4000))
            elif metric.kind == "percent":
                samples = rng.choice((1, 1, 5, 12))
            else:
                samples = 1
            level = metric.scale * rng.uniform(0.3, 1.7)
            if metric.kind == "percent":
                level = min(level, 97.0)
            series.append(
                _Series(
                    account_id=account,
                    region=region,
                    namespace=namespace,
                    metric=metric,
                    dimensions=tuple(dims.items()),
                    samples=samples,
                    level=level,
                    extended=metric.percentiles and rng.random() < 0.06,
                )
            )

    apps = ("checkout", "catalog", "orders", "payments", "search", "identity", "billing", "ingest")
    for account_index, account in enumerate(accounts):
        for region in regions:
            azs = [f"{region}{zone}" for zone in "abc"]
            app_names = rng.sample(apps, 4)
            for _ in range(4):
                instance = f"i-0{_hex(rng, 16)}"
                add(account, region, "AWS/EC2", _EC2, {"InstanceId": instance})
            asg = f"{app_names[0]}-asg-{_hex(rng, 8)}"
            add(account, region, "AWS/EC2", _EC2[:3], {"AutoScalingGroupName": asg})
            for _ in range(3):
                add(account, region, "AWS/EBS", _EBS, {"VolumeId": f"vol-0{_hex(rng, 16)}"})
            for app in app_names:
                env = "prod" if account_index == 0 else "staging"
                function = f"{app}-{env}-{rng.choice(('api-handler', 'worker', 'stream-processor'))}"
                add(account, region, "AWS/Lambda", _LAMBDA, {"FunctionName": function})
                if rng.random() < 0.5:
                    add(
                        account,
                        region,
                        "AWS/Lambda",
                        _LAMBDA[:4],
                        {"FunctionName": function, "Resource": f"{function}:live"},
                    )
            for app in app_names[:2]:
                db = f"{app}-db-{rng.randint(1, 3)}"
                add(account, region, "AWS/RDS", _RDS, {"DBInstanceIdentifier": db})
            for app in app_names[:2]:
                lb = f"app/{app}-alb/{_hex(rng, 16)}"
                add(account, region, "AWS/ApplicationELB", _ALB, {"LoadBalancer": lb})
                for az in azs[:2]:
                    add(
                        account,
                        region,
                        "AWS/ApplicationELB",
                        _ALB[:3],
                        {"AvailabilityZone": az, "LoadBalancer": lb},
                    )
                target_group = f"targetgroup/{app}-tg/{_hex(rng, 16)}"
                add(
                    account,
                    region,
                    "AWS/ApplicationELB",
                    _ALB_TARGET,
                    {"LoadBalancer": lb, "TargetGroup": target_group},
                )
            for app in app_names:
                for suffix in ("events", "events-dlq"):
                    metrics = _SQS if suffix == "events" else _SQS[4:7]
                    add(account, region, "AWS/SQS", metrics, {"QueueName": f"{app}-{suffix}"})
            for app in app_names[:3]:
                table = f"{app}-{rng.choice(('items', 'sessions', 'ledger'))}"
                add(account, region, "AWS/DynamoDB", _DYNAMODB_TABLE, {"TableName": table})
                for operation in ("GetItem", "PutItem", "Query"):
                    add(
                        account,
                        region,
                        "AWS/DynamoDB",
                        _DYNAMODB_OPERATION,
                        {"Operation": operation, "TableName": table},
                    )
    return series


def _integral(x: float) -> float:
    return float(max(0, round(x)))


def _value(rng: random.Random, s: _Series) -> dict[str, float]:
    value = _statistics(rng, s)
    if s.metric.percentiles:
        lo, hi, n = value["min"], value["max"], value["count"]
        if n == 1 or lo == hi:
            value.update({p: hi for p in PERCENTILES})
        else:
            value.update(_percentiles(rng, lo, value["sum"] / n, hi))
        if s.extended:
            mean = value["sum"] / n
            value["TM(10%:90%)"] = lo + (mean - lo) * rng.uniform(0.7, 0.99)
            if rng.random() < 0.5:
                value["IQM"] = value["p50"] * rng.uniform(0.95, 1.05)
    return value


def _single(v: float) -> dict[str, float]:
    return {"max": v, "min": v, "sum": v, "count": 1.0}


def _statistics(rng: random.Random, s: _Series) -> dict[str, float]:
    metric = s.metric
    kind = metric.kind
    n = max(1, round(s.samples * rng.uniform(0.6, 1.4))) if s.samples > 1 else 1
    if kind == "zero":
        hits = 1.0 if rng.random() < 0.03 else 0.0
        n = rng.choice((1, 1, 2, 5))
        if n == 1:
            return _single(hits)
        return {"max": hits, "min": 0.0, "sum": hits, "count": float(n)}
    if kind == "gauge":
        v = s.level * rng.uniform(0.9, 1.1)
        return _single(_integral(v) if s.level >= 10 or metric.unit in ("Count", "Bytes") else v)
    if kind == "percent":
        mean = min(100.0, max(0.0, s.level * rng.uniform(0.7, 1.3)))
        if n == 1:
            return _single(mean)
        lo = max(0.0, mean * rng.uniform(0.4, 0.95))
        hi = min(100.0, mean * rng.uniform(1.05, 1.9))
        return {"max": hi, "min": lo, "sum": mean * n, "count": float(n)}
    if kind in ("count", "bytes"):
        per_sample = s.level * rng.uniform(0.5, 1.5)
        if metric.scale == 1.0:
            # event counters: each sample is one event, so the statistics are all 1 and sum == count
            events = float(n)
            return {"max": 1.0, "min": 1.0, "sum": events, "count": events}
        if n == 1:
            return _single(_integral(per_sample))
        total = _integral(per_sample * n)
        mean = total / n
        lo = min(_integral(per_sample * rng.uniform(0.0, 0.6)), math.floor(mean))
        hi = max(_integral(per_sample * rng.uniform(1.2, 3.0)), math.ceil(mean))
        return {"max": float(hi), "min": float(lo), "sum": total, "count": float(n)}
    # latency: positive, right-skewed
    mean = s.level * rng.lognormvariate(0.0, 0.25)
    if n == 1:
        return _single(mean)
    lo = mean * rng.uniform(0.05, 0.6)
    hi = mean * rng.uniform(1.5, 12.0)
    return {"max": hi, "min": lo, "sum": mean * n, "count": float(n)}


def _percentiles(rng: random.Random, lo: float, mean: float, hi: float) -> dict[str, float]:
    p50 = lo + (mean - lo) * rng.uniform(0.6, 1.0)
    p90 = mean + (hi - mean) * rng.uniform(0.2, 0.5)
    p99 = p90 + (hi - p90) * rng.uniform(0.5, 0.95)
    return {"p50": p50, "p90": p90, "p99": p99}


def _floor_minute(ms: int) -> int:
    return ms - ms % MINUTE_MS


def generate_records(
    count: int,
    *,
    seed: int = 0,
    start_ms: int = DEFAULT_START_MS,
    accounts: Sequence[str] = DEFAULT_ACCOUNTS,
    regions: Sequence[str] = DEFAULT_REGIONS,
    stream_name: str = DEFAULT_STREAM_NAME,
) -> Iterator[dict[str, Any]]:
    """Yields `count` metric stream records, minute after minute from start_ms (floored to a minute).

    Every series appears once per minute, in a shuffled order. The same arguments give the same records,
    and a shorter run is a prefix of a longer one.
    """
    if count < 0:
        raise ValueError("count must be >= 0")
    if not accounts or not regions:
        raise ValueError("at least one account and one region are needed")
    rng = random.Random(seed)
    series = _build_series(rng, accounts, regions)
    minute = _floor_minute(start_ms)
    produced = 0
    while produced < count:
        order = list(range(len(series)))
        rng.shuffle(order)
        for index in order:
            if produced >= count:
                return
            s = series[index]
            yield {
                "metric_stream_name": stream_name,
                "account_id": s.account_id,
                "region": s.region,
                "namespace": s.namespace,
                "metric_name": s.metric.name,
                "dimensions": dict(s.dimensions),
                "timestamp": minute,
                "value": _value(rng, s),
                "unit": s.metric.unit,
            }
            produced += 1
        minute += MINUTE_MS


def series_count(
    *, seed: int = 0, accounts: Sequence[str] = DEFAULT_ACCOUNTS, regions: Sequence[str] = DEFAULT_REGIONS
) -> int:
    """How many records one minute holds (the number of distinct series)."""
    return len(_build_series(random.Random(seed), accounts, regions))


def java_double(x: float) -> str:
    """Formats a float as Java's Double.toString does, like CloudWatch's JSON: 12.0, 3.9E8, 1.0E-4."""
    if math.isnan(x) or math.isinf(x):
        raise ValueError(f"not a finite number: {x}")
    if x == 0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    magnitude = abs(x)
    if 1e-3 <= magnitude < 1e7:
        text = repr(x)
        if "e" in text or "E" in text:  # cannot happen in this range, kept for safety
            text = format(Decimal(text), "f")
        return text if "." in text else text + ".0"
    sign, digits, exponent = Decimal(repr(x)).as_tuple()
    assert isinstance(exponent, int)
    digit_list = list(digits)
    while len(digit_list) > 1 and digit_list[-1] == 0:
        digit_list.pop()
        exponent += 1
    power = exponent + len(digit_list) - 1
    mantissa = str(digit_list[0]) + "." + ("".join(map(str, digit_list[1:])) or "0")
    return f"{'-' if sign else ''}{mantissa}E{power}"


def record_line(record: dict[str, Any]) -> bytes:
    """One record as CloudWatch writes it: compact JSON, CloudWatch's key order and number format, newline."""
    value = ",".join(f"{json.dumps(k)}:{java_double(float(v))}" for k, v in record["value"].items())
    parts = [
        f'{{"metric_stream_name":{json.dumps(record["metric_stream_name"])}',
        f'"account_id":{json.dumps(record["account_id"])}',
        f'"region":{json.dumps(record["region"])}',
        f'"namespace":{json.dumps(record["namespace"])}',
        f'"metric_name":{json.dumps(record["metric_name"])}',
        f'"dimensions":{json.dumps(record["dimensions"], separators=(",", ":"))}',
        f'"timestamp":{int(record["timestamp"])}',
        f'"value":{{{value}}}',
        f'"unit":{json.dumps(record["unit"])}}}',
    ]
    return (",".join(parts) + "\n").encode()


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def firehose_object(records: Iterable[dict[str, Any]], *, compress: bool = True) -> bytes:
    """The S3 object Firehose writes for these records: JSON lines, gzip-compressed when compress."""
    data = b"".join(record_line(r) for r in records)
    return _gzip(data) if compress else data


_TIMESTAMP_MARK = 9_999_999_999_999


def object_of_size(target_bytes: int, *, seed: int = 0, compress: bool = False) -> tuple[bytes, int]:
    """An object of about target_bytes uncompressed bytes (never less), and its record count.

    Fast for large sizes: a pool of a few minutes of records is generated once and repeated with later
    timestamps, so every line is still a distinct datapoint.
    """
    if target_bytes <= 0:
        return (_gzip(b"") if compress else b""), 0
    rng_minutes = 4
    per_minute = series_count(seed=seed)
    pool = list(generate_records(per_minute * rng_minutes, seed=seed))
    templates: list[tuple[bytes, bytes, int]] = []
    for record in pool:
        offset = record["timestamp"] - DEFAULT_START_MS
        line = record_line({**record, "timestamp": _TIMESTAMP_MARK})
        head, tail = line.split(str(_TIMESTAMP_MARK).encode(), 1)
        templates.append((head, tail, offset))
    pieces: list[bytes] = []
    size = 0
    count = 0
    round_index = 0
    while size < target_bytes:
        base = DEFAULT_START_MS + round_index * rng_minutes * MINUTE_MS
        for head, tail, offset in templates:
            ts = str(base + offset).encode()
            pieces += (head, ts, tail)
            size += len(head) + len(ts) + len(tail)
            count += 1
            if size >= target_bytes:
                break
        round_index += 1
    data = b"".join(pieces)
    return (_gzip(data) if compress else data), count


def firehose_key(
    stream_name: str,
    when: dt.datetime,
    *,
    uuid: str | None = None,
    prefix: str = "metrics/",
    gzip: bool = True,
) -> str:
    """The S3 key Firehose gives an object: metrics/YYYY/MM/DD/HH/<stream>-1-YYYY-MM-DD-HH-MM-SS-<uuid>.gz.

    `when` is taken as UTC when it has no time zone.
    """
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    when = when.astimezone(dt.UTC)
    object_id = uuid if uuid is not None else str(uuid_module.uuid4())
    name = f"{stream_name}-1-{when:%Y-%m-%d-%H-%M-%S}-{object_id}"
    return f"{prefix}{when:%Y/%m/%d/%H}/{name}{'.gz' if gzip else ''}"


# Units as the OpenTelemetry 1.0 stream format writes them (UCUM), for the units the generator uses.
_OTEL_UNITS = {"Count": "1", "Seconds": "s", "Milliseconds": "ms", "Percent": "%", "Bytes": "By", "None": "1"}


def otel1_request(records: Iterable[dict[str, Any]]) -> Any:
    """The ExportMetricsServiceRequest a metric stream in the OpenTelemetry 1.0 format writes for these
    records: one resource per account and region, names amazonaws.com/<namespace>/<metric>, and the
    Namespace, MetricName and Dimensions (a key-value list) datapoint attributes."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    request = ExportMetricsServiceRequest()
    resources: dict[tuple[str, str], Any] = {}
    for record in records:
        place = (record["account_id"], record["region"])
        if place not in resources:
            resource_metrics = request.resource_metrics.add()
            arn = f"arn:aws:cloudwatch:{place[1]}:{place[0]}:metric-stream/{record['metric_stream_name']}"
            for key, value in (
                ("cloud.provider", "aws"),
                ("cloud.account.id", place[0]),
                ("cloud.region", place[1]),
                ("aws.exporter.arn", arn),
            ):
                attribute = resource_metrics.resource.attributes.add()
                attribute.key, attribute.value.string_value = key, value
            resources[place] = resource_metrics.scope_metrics.add()
        metric = resources[place].metrics.add()
        metric.name = f"amazonaws.com/{record['namespace']}/{record['metric_name']}"
        metric.unit = _OTEL_UNITS.get(record["unit"], record["unit"])
        point = metric.summary.data_points.add()
        for key in ("Namespace", "MetricName"):
            attribute = point.attributes.add()
            attribute.key = key
            attribute.value.string_value = record["namespace" if key == "Namespace" else "metric_name"]
        dimensions = point.attributes.add()
        dimensions.key = "Dimensions"
        for name, value in record["dimensions"].items():
            item = dimensions.value.kvlist_value.values.add()
            item.key, item.value.string_value = name, value
        point.time_unix_nano = record["timestamp"] * 1_000_000
        point.start_time_unix_nano = (record["timestamp"] - MINUTE_MS) * 1_000_000
        value = record["value"]
        point.count = round(value["count"])
        point.sum = value["sum"]
        quantiles = [(0.0, value["min"])]
        quantiles += sorted((float(k[1:]) / 100, v) for k, v in value.items() if k.startswith("p"))
        quantiles.append((1.0, value["max"]))
        for quantile, number in quantiles:
            entry = point.quantile_values.add()
            entry.quantile, entry.value = quantile, number
    return request


def otel1_object(records: Iterable[dict[str, Any]], *, per_frame: int = 50, compress: bool = True) -> bytes:
    """The S3 object Firehose writes for a metric stream in the OpenTelemetry 1.0 format: each frame an
    ExportMetricsServiceRequest of up to per_frame records, preceded by its length as a varint."""
    pending = list(records)
    frames = []
    for start in range(0, len(pending), per_frame):
        message = otel1_request(pending[start : start + per_frame]).SerializeToString()
        frames.append(varint(len(message)) + message)
    data = b"".join(frames)
    return _gzip(data) if compress else data
