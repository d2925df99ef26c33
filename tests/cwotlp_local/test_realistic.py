"""The realistic benchmark objects: cardinality, repetition, percentiles, size, determinism, and the
OpenTelemetry 1.0 objects holding the same datapoints as the JSON ones."""

from __future__ import annotations

import gzip
import itertools
import json
import re
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from conftest import fixture_bytes
from cwotlp_local.generator import MINUTE_MS
from cwotlp_local.otel1 import ucum as otel_unit
from cwotlp_local.realistic import (
    JSON,
    MONITORING_ACCOUNT,
    OTEL1,
    RECORDS_PER_FRAME,
    SHAPING_MODULES,
    cached_object,
    current_generator_version,
    generator_version,
    json_object,
    otel1_object,
    records_of,
)

SIZE = 5 << 20
SEED = 3


@pytest.fixture(scope="module")
def data() -> bytes:
    return json_object(SIZE, seed=SEED)


@pytest.fixture(scope="module")
def records(data: bytes) -> list[dict[str, Any]]:
    return list(records_of(data))


def series_of(record: dict[str, Any]) -> tuple[Any, ...]:
    dimensions = tuple(sorted(record["dimensions"].items()))
    return record["account_id"], record["region"], record["namespace"], record["metric_name"], dimensions


def test_thousands_of_series_and_dimension_sets_across_accounts_regions_and_namespaces(
    records: list[dict[str, Any]],
) -> None:
    series = {series_of(r) for r in records}
    dimension_sets = {(r["account_id"], r["region"], json.dumps(r["dimensions"])) for r in records}
    assert len(series) >= 5000
    assert len(dimension_sets) >= 1000
    assert len({r["account_id"] for r in records}) >= 5
    assert all(re.fullmatch(r"\d{12}", r["account_id"]) for r in records)
    assert len({r["region"] for r in records}) >= 4
    namespaces = {r["namespace"] for r in records}
    assert {"AWS/EC2", "AWS/EBS", "AWS/ApplicationELB", "AWS/Lambda", "AWS/RDS", "AWS/DynamoDB"} <= namespaces
    assert {"AWS/SQS", "AWS/SNS", "AWS/Kinesis", "AWS/ECS"} <= namespaces


def test_each_series_once_a_minute_one_to_three_times_per_object(records: list[dict[str, Any]]) -> None:
    occurrences = Counter(series_of(r) for r in records)
    assert set(occurrences.values()) == {1, 2, 3}
    assert len({(*series_of(r), r["timestamp"]) for r in records}) == len(records)  # never twice a minute
    minutes = {r["timestamp"] for r in records}
    assert len(minutes) == 3
    assert all(t % MINUTE_MS == 0 for t in minutes)
    assert max(minutes) - min(minutes) == 2 * MINUTE_MS


def test_in_shuffled_order_not_series_by_series(records: list[dict[str, Any]]) -> None:
    first = [r["timestamp"] for r in records[:200]]
    assert len(set(first)) == 3
    neighbours = sum(series_of(a)[:3] == series_of(b)[:3] for a, b in itertools.pairwise(records))
    assert neighbours < len(records) / 3


def test_a_fifth_of_the_records_carry_percentiles(records: list[dict[str, Any]]) -> None:
    with_percentiles = [r for r in records if any(key.startswith("p") for key in r["value"])]
    assert 0.17 <= len(with_percentiles) / len(records) <= 0.23
    for record in with_percentiles:
        value = record["value"]
        ranks = [
            value["min"],
            *(value[p] for p in ("p50", "p90", "p99", "p99.9") if p in value),
            value["max"],
        ]
        assert ranks == sorted(ranks), record


def test_statistics_are_consistent_and_units_plausible(records: list[dict[str, Any]]) -> None:
    for record in records:
        value = record["value"]
        assert value["count"] >= 1 and value["count"] == int(value["count"])
        assert value["min"] <= value["sum"] / value["count"] <= value["max"] or value["count"] == 1, record
        if record["unit"] == "Percent":
            assert value["min"] >= 0 and value["max"] <= 100, record
    units = {r["unit"] for r in records}
    assert {"Percent", "Count", "Bytes", "Seconds", "Milliseconds", "Microseconds", "Count/Second"} <= units


def test_lines_look_like_a_real_stream(data: bytes, records: list[dict[str, Any]]) -> None:
    real = fixture_bytes("telegraf-cloudwatch-metric-streams/decoded.jsonl").splitlines()
    lines = data.splitlines()
    assert list(json.loads(lines[0])) == list(json.loads(real[0]))  # CloudWatch's keys, in its order
    assert 300 <= len(data) / len(lines) <= 400
    assert all(line.startswith(b'{"metric_stream_name":') and b": " not in line for line in lines)
    dimension_values = {(k, v) for r in records for k, v in r["dimensions"].items()}
    patterns = {
        "InstanceId": r"i-0[0-9a-f]{16}",
        "VolumeId": r"vol-0[0-9a-f]{16}",
        "LoadBalancer": r"app/[a-z]+-[a-z]+-alb-\d{4}/[0-9a-f]{16}",
        "TargetGroup": r"targetgroup/[a-z]+-[a-z]+-tg-\d{4}/[0-9a-f]{16}",
    }
    for name, pattern in patterns.items():
        values = [v for k, v in dimension_values if k == name]
        assert values and all(re.fullmatch(pattern, v) for v in values), name


@pytest.mark.parametrize("size", [64 << 10, 1 << 20, SIZE])
def test_size_within_a_line_of_the_target(size: int) -> None:
    data = json_object(size, seed=SEED)
    assert size <= len(data) < size + max(map(len, data.splitlines(keepends=True)))  # stops at the target
    assert json_object(size, seed=SEED, compress=True) == gzip.compress(data, compresslevel=6, mtime=0)


def test_deterministic_by_seed(data: bytes) -> None:
    assert json_object(SIZE, seed=SEED) == data
    assert json_object(SIZE, seed=SEED + 1) != data


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ("Seconds", "s"),
        ("Microseconds", "us"),
        ("Milliseconds", "ms"),
        ("Bytes", "By"),
        ("Kilobytes", "kBy"),
        ("Megabytes", "MBy"),
        ("Gigabytes", "GBy"),
        ("Terabytes", "TBy"),
        ("Bits", "bit"),
        ("Kilobits", "kbit"),
        ("Megabits", "MBit"),
        ("Gigabits", "GBit"),
        ("Terabits", "Tbit"),
        ("Percent", "%"),
        ("Count", "{Count}"),
        ("None", "1"),
        ("Count/Second", "{Count}/s"),
        ("Bytes/Second", "By/s"),
        ("Megabits/Second", "MBit/s"),
    ],
)
def test_units_in_ucum(unit: str, expected: str) -> None:
    assert otel_unit(unit) == expected


def frames(data: bytes) -> list[ExportMetricsServiceRequest]:
    """The length-delimited frames of a 1.0 object, each parsed with the official definitions."""
    requests, position = [], 0
    while position < len(data):
        size = shift = 0
        while True:
            byte = data[position]
            position += 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        request = ExportMetricsServiceRequest()
        request.ParseFromString(data[position : position + size])
        requests.append(request)
        position += size
    assert position == len(data)
    return requests


def datapoint_of_record(record: dict[str, Any]) -> tuple[Any, ...]:
    value = record["value"]
    percentiles = sorted((float(Decimal(k[1:]) / 100), v) for k, v in value.items() if k.startswith("p"))
    quantiles = ((0.0, value["min"]), *percentiles, (1.0, value["max"]))
    unit = otel_unit(record["unit"])
    return (*series_of(record), unit, record["timestamp"], round(value["count"]), value["sum"], quantiles)


def datapoints_of_request(request: ExportMetricsServiceRequest) -> list[tuple[Any, ...]]:
    points = []
    for resource_metrics in request.resource_metrics:
        resource = {a.key: a.value.string_value for a in resource_metrics.resource.attributes}
        account, region = resource["cloud.account.id"], resource["cloud.region"]
        assert resource == {
            "cloud.provider": "aws",
            "cloud.account.id": account,
            "cloud.region": region,
            "aws.exporter.arn": f"arn:aws:cloudwatch:{region}:{MONITORING_ACCOUNT}:metric-stream/"
            "org-monitoring-cloudwatch-metric-stream",
        }
        for scope_metrics in resource_metrics.scope_metrics:
            assert not scope_metrics.HasField("scope")
            for metric in scope_metrics.metrics:
                assert metric.WhichOneof("data") == "summary"
                for point in metric.summary.data_points:
                    points.append(datapoint_of_point(account, region, metric, point))
    return points


def datapoint_of_point(account: str, region: str, metric: Any, point: Any) -> tuple[Any, ...]:
    attributes = {a.key: a.value for a in point.attributes}
    assert list(attributes) == ["Namespace", "MetricName", "Dimensions"]
    namespace, metric_name = attributes["Namespace"].string_value, attributes["MetricName"].string_value
    assert metric.name == f"amazonaws.com/{namespace}/{metric_name}"
    dimensions = tuple(
        sorted((kv.key, kv.value.string_value) for kv in attributes["Dimensions"].kvlist_value.values)
    )
    start_ms = point.start_time_unix_nano // 1_000_000
    assert point.time_unix_nano == point.start_time_unix_nano + 60 * 10**9
    quantiles = tuple((q.quantile, q.value) for q in point.quantile_values)
    series = (account, region, namespace, metric_name, dimensions)
    return (*series, metric.unit, start_ms, point.count, point.sum, quantiles)


def test_otel1_object_holds_the_datapoints_of_the_json_object(records: list[dict[str, Any]]) -> None:
    requests = frames(otel1_object(records))
    assert len(requests) == -(-len(records) // RECORDS_PER_FRAME)
    received = [point for request in requests for point in datapoints_of_request(request)]
    assert Counter(received) == Counter(datapoint_of_record(r) for r in records)
    assert any(len(point[-1]) == 4 and point[-1][2][0] == 0.999 for point in received)  # p99.9 -> 0.999


def test_otel1_object_is_gzip_when_asked(records: list[dict[str, Any]]) -> None:
    plain = otel1_object(records[:500])
    assert gzip.decompress(otel1_object(records[:500], compress=True)) == plain


def test_cached_objects_are_made_once_and_keyed_by_seed_size_format_and_compression(tmp_path: Path) -> None:
    size = 256 << 10
    paths = {
        (output_format, compress): cached_object(
            tmp_path, size, seed=SEED, output_format=output_format, compress=compress
        )
        for output_format in (JSON, OTEL1)
        for compress in (False, True)
    }
    assert len(set(paths.values())) == 4
    assert all(str(SEED) in p.name and str(size) in p.name for p in paths.values())
    plain = paths[(JSON, False)].read_bytes()
    assert plain == json_object(size, seed=SEED)
    assert gzip.decompress(paths[(JSON, True)].read_bytes()) == plain
    assert paths[(OTEL1, False)].read_bytes() == otel1_object(records_of(plain))
    assert gzip.decompress(paths[(OTEL1, True)].read_bytes()) == paths[(OTEL1, False)].read_bytes()
    paths[(JSON, False)].write_bytes(b"kept")  # a second call reads the cache, it does not generate again
    assert cached_object(tmp_path, size, seed=SEED).read_bytes() == b"kept"
    assert cached_object(tmp_path, size, seed=SEED + 1) != paths[(JSON, False)]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")) == []


def shaping_sources() -> dict[str, str]:
    package = Path(cached_object.__code__.co_filename).parent
    return {name: (package / name).read_text() for name in SHAPING_MODULES}


@pytest.mark.parametrize(
    ("module", "old", "new"),
    [
        ("realistic.py", "RECORDS_PER_FRAME = 200", "RECORDS_PER_FRAME = 100"),
        ("realistic.py", "AWS/SNS 5 TopicName", "AWS/SNS 6 TopicName"),
        ("generator.py", "if 1e-3 <= magnitude < 1e7:", "if 1e-4 <= magnitude < 1e7:"),
        ("otel1.py", '"Percent": "%"', '"Percent": "percent"'),
    ],
)
def test_a_change_to_the_generators_code_names_new_objects(module: str, old: str, new: str) -> None:
    sources = shaping_sources()
    current = current_generator_version()
    assert generator_version(list(sources.values())) == current
    assert old in sources[module]
    changed = {**sources, module: sources[module].replace(old, new)}
    assert generator_version(list(changed.values())) != current
    commented = {**sources, module: f"# a comment\n\n{sources[module]}\n# another\n"}
    assert generator_version(list(commented.values())) == current


def test_objects_of_another_generator_version_are_removed_when_one_is_made(tmp_path: Path) -> None:
    version = current_generator_version()
    stale = tmp_path / "realistic-v1-seed3-262144.json"
    current = tmp_path / f"realistic-{version}-seed9-1024.json"
    other = tmp_path / "notes.txt"
    for path in (stale, current, other):
        path.write_bytes(b"x")
    made = cached_object(tmp_path, 64 << 10, seed=SEED)
    assert version in made.name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([made.name, current.name, other.name])
