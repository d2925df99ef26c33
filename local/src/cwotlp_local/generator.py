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
from decimal import Decimal
from typing import Any

from cwotlp_local.series import build_series, draw_value

MINUTE_MS = 60_000
DEFAULT_START_MS = 1_714_564_800_000  # 2024-05-01T12:00:00Z
DEFAULT_ACCOUNTS = ("111122223333", "444455556666")
DEFAULT_REGIONS = ("us-east-1",)
DEFAULT_STREAM_NAME = "prod-observability-cloudwatch-metric-stream"


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
    series = build_series(rng, accounts, regions)
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
                "value": draw_value(rng, s),
                "unit": s.metric.unit,
            }
            produced += 1
        minute += MINUTE_MS


def series_count(
    *, seed: int = 0, accounts: Sequence[str] = DEFAULT_ACCOUNTS, regions: Sequence[str] = DEFAULT_REGIONS
) -> int:
    """How many records one minute holds (the number of distinct series)."""
    return len(build_series(random.Random(seed), accounts, regions))


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


def firehose_object(records: Iterable[dict[str, Any]], *, compress: bool = True) -> bytes:
    """The S3 object Firehose writes for these records: JSON lines, gzip-compressed when compress."""
    data = b"".join(record_line(r) for r in records)
    return gzip.compress(data, compresslevel=6, mtime=0) if compress else data


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
