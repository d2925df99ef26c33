"""The series a generated metric stream carries, and how each draws its statistics every minute.

A series is one account, region, namespace, metric and set of dimensions, like a CloudWatch metric. The
catalogue below is the AWS services a typical account streams (EC2, EBS, Lambda, RDS, Application Load
Balancers, SQS, DynamoDB) with their usual metrics, units and magnitudes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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
class Metric:
    name: str
    unit: str
    kind: str
    scale: float  # typical magnitude of one sample
    percentiles: bool = False  # this metric is streamed with p50/p90/p99


@dataclass(frozen=True)
class Series:
    account_id: str
    region: str
    namespace: str
    metric: Metric
    dimensions: tuple[tuple[str, str], ...]
    samples: int  # the typical sample count per minute
    level: float  # the typical value of this series
    extended: bool  # carries rare extended statistics (TM, IQM, ...)


def _m(name: str, unit: str, kind: str, scale: float, percentiles: bool = False) -> Metric:
    assert kind in _KINDS
    return Metric(name, unit, kind, scale, percentiles)


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


_APPS = ("checkout", "catalog", "orders", "payments", "search", "identity", "billing", "ingest")
# Sample counts per minute a series of each kind is given (one of these, at random); other kinds: 1.
_SAMPLES = {
    "count": (1, 2, 3, 5, 12, 30, 60, 240, 1500),
    "bytes": (1, 2, 3, 5, 12, 30, 60, 240, 1500),
    "latency": (3, 12, 60, 180, 900, 4000),
    "percent": (1, 1, 5, 12),
}


@dataclass(frozen=True)
class _Place:
    account: str
    region: str
    environment: str  # "prod" for the first account, "staging" for the others


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _series(
    rng: random.Random, place: _Place, namespace: str, metrics: Sequence[Metric], dims: dict[str, str]
) -> list[Series]:
    """The series of these metrics of one resource, each with its own sample count and level."""
    series = []
    for metric in metrics:
        samples = rng.choice(_SAMPLES[metric.kind]) if metric.kind in _SAMPLES else 1
        level = metric.scale * rng.uniform(0.3, 1.7)
        if metric.kind == "percent":
            level = min(level, 97.0)
        series.append(
            Series(
                account_id=place.account,
                region=place.region,
                namespace=namespace,
                metric=metric,
                dimensions=tuple(dims.items()),
                samples=samples,
                level=level,
                extended=metric.percentiles and rng.random() < 0.06,
            )
        )
    return series


def _ec2(rng: random.Random, place: _Place, apps: Sequence[str]) -> list[Series]:
    series = []
    for _ in range(4):
        series += _series(rng, place, "AWS/EC2", _EC2, {"InstanceId": f"i-0{_hex(rng, 16)}"})
    asg = f"{apps[0]}-asg-{_hex(rng, 8)}"
    return series + _series(rng, place, "AWS/EC2", _EC2[:3], {"AutoScalingGroupName": asg})


def _ebs(rng: random.Random, place: _Place, apps: Sequence[str]) -> list[Series]:
    series = []
    for _ in range(3):
        series += _series(rng, place, "AWS/EBS", _EBS, {"VolumeId": f"vol-0{_hex(rng, 16)}"})
    return series


def _lambda(rng: random.Random, place: _Place, apps: Sequence[str]) -> list[Series]:
    series = []
    for app in apps:
        function = f"{app}-{place.environment}-{rng.choice(('api-handler', 'worker', 'stream-processor'))}"
        series += _series(rng, place, "AWS/Lambda", _LAMBDA, {"FunctionName": function})
        if rng.random() < 0.5:
            alias = {"FunctionName": function, "Resource": f"{function}:live"}
            series += _series(rng, place, "AWS/Lambda", _LAMBDA[:4], alias)
    return series


def _rds(rng: random.Random, place: _Place, apps: Sequence[str]) -> list[Series]:
    series = []
    for app in apps[:2]:
        db = f"{app}-db-{rng.randint(1, 3)}"
        series += _series(rng, place, "AWS/RDS", _RDS, {"DBInstanceIdentifier": db})
    return series


def _alb(rng: random.Random, place: _Place, apps: Sequence[str]) -> list[Series]:
    series = []
    zones = [f"{place.region}{zone}" for zone in "ab"]
    for app in apps[:2]:
        lb = f"app/{app}-alb/{_hex(rng, 16)}"
        series += _series(rng, place, "AWS/ApplicationELB", _ALB, {"LoadBalancer": lb})
        for zone in zones:
            by_zone = {"AvailabilityZone": zone, "LoadBalancer": lb}
            series += _series(rng, place, "AWS/ApplicationELB", _ALB[:3], by_zone)
        target_group = {"LoadBalancer": lb, "TargetGroup": f"targetgroup/{app}-tg/{_hex(rng, 16)}"}
        series += _series(rng, place, "AWS/ApplicationELB", _ALB_TARGET, target_group)
    return series


def _sqs(rng: random.Random, place: _Place, apps: Sequence[str]) -> list[Series]:
    series = []
    for app in apps:
        series += _series(rng, place, "AWS/SQS", _SQS, {"QueueName": f"{app}-events"})
        series += _series(rng, place, "AWS/SQS", _SQS[4:7], {"QueueName": f"{app}-events-dlq"})
    return series


def _dynamodb(rng: random.Random, place: _Place, apps: Sequence[str]) -> list[Series]:
    series = []
    for app in apps[:3]:
        table = f"{app}-{rng.choice(('items', 'sessions', 'ledger'))}"
        series += _series(rng, place, "AWS/DynamoDB", _DYNAMODB_TABLE, {"TableName": table})
        for operation in ("GetItem", "PutItem", "Query"):
            by_operation = {"Operation": operation, "TableName": table}
            series += _series(rng, place, "AWS/DynamoDB", _DYNAMODB_OPERATION, by_operation)
    return series


# The services of one account and region, in the order their series are drawn.
_SERVICES: tuple[Callable[[random.Random, _Place, Sequence[str]], list[Series]], ...] = (
    _ec2,
    _ebs,
    _lambda,
    _rds,
    _alb,
    _sqs,
    _dynamodb,
)


def build_series(rng: random.Random, accounts: Sequence[str], regions: Sequence[str]) -> list[Series]:
    """Every series of these accounts and regions; the same random state gives the same series."""
    series: list[Series] = []
    for account_index, account in enumerate(accounts):
        for region in regions:
            place = _Place(account, region, "prod" if account_index == 0 else "staging")
            apps = rng.sample(_APPS, 4)
            for service in _SERVICES:
                series += service(rng, place, apps)
    return series


def _integral(x: float) -> float:
    return float(max(0, round(x)))


def draw_value(rng: random.Random, s: Series) -> dict[str, float]:
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


def _statistics(rng: random.Random, s: Series) -> dict[str, float]:
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
