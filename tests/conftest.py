"""Shared test helpers: fixture paths, settings, strict decoding of OTLP payloads with the official
definitions, OpenTelemetry 1.0 objects built from CloudWatch records as CloudWatch writes them, and the
local stack."""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from google.protobuf.json_format import Parse
from google.protobuf.message import Message
from google.protobuf.unknown_fields import UnknownFieldSet
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import ResourceMetrics

if TYPE_CHECKING:
    from cwotlp_local.stack import LocalStack

FIXTURES = Path(__file__).parent / "fixtures"
PERIOD_NS = 60 * 1_000_000_000


def fixture_bytes(relative: str) -> bytes:
    return (FIXTURES / relative).read_bytes()


def parse_request(body: bytes | str) -> ExportMetricsServiceRequest:
    """Parses an OTLP JSON request strictly: unknown fields are an error."""
    return Parse(body, ExportMetricsServiceRequest(), ignore_unknown_fields=False)


def parse_protobuf(body: bytes) -> ExportMetricsServiceRequest:
    """Parses an OTLP protobuf request strictly: a field the definitions do not know is an error."""
    request = ExportMetricsServiceRequest.FromString(body)
    unknown = _unknown_fields(request)
    assert unknown is None, f"unknown protobuf fields at {unknown}"
    return request


def decode(body: bytes, encoding: str) -> ExportMetricsServiceRequest:
    """A request body in the named encoding ("json" or "protobuf"), parsed strictly."""
    return parse_protobuf(body) if encoding == "protobuf" else parse_request(body)


def _unknown_fields(message: Message, path: str = "") -> str | None:
    if len(UnknownFieldSet(message)):
        return path or "<root>"
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        for index, child in enumerate(value if field.is_repeated else [value]):
            found = _unknown_fields(child, f"{path}.{field.name}[{index}]")
            if found:
                return found
    return None


def datapoints(request: ExportMetricsServiceRequest) -> Iterator[tuple[dict[str, str], str, Any]]:
    """(resource attributes, metric name, summary datapoint) for every summary datapoint of a request."""
    for resource_metrics in request.resource_metrics:
        resource = {a.key: a.value.string_value for a in resource_metrics.resource.attributes}
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in metric.summary.data_points:
                    yield resource, metric.name, point


def attributes(point: Any) -> dict[str, str]:
    return {a.key: a.value.string_value for a in point.attributes}


def flat_points(requests: Iterable[ExportMetricsServiceRequest]) -> list[tuple[Any, ...]]:
    """Every datapoint of the requests with everything that names it, in a comparable, sorted form:
    (resource attributes, scope, metric name, unit, kind, the datapoint's serialized bytes)."""
    found = []
    for request in requests:
        for resource_metrics in request.resource_metrics:
            resource = tuple(
                (a.key, a.value.SerializeToString(deterministic=True))
                for a in resource_metrics.resource.attributes
            )
            for scope_metrics in resource_metrics.scope_metrics:
                scope = (
                    (scope_metrics.scope.name, scope_metrics.scope.version)
                    if scope_metrics.HasField("scope")
                    else None
                )
                for metric in scope_metrics.metrics:
                    kind = metric.WhichOneof("data")
                    for point in getattr(metric, kind).data_points:
                        found.append(
                            (resource, scope, metric.name, metric.unit, kind, point.SerializeToString())
                        )
    return sorted(found, key=repr)


@pytest.fixture
def local_stack() -> Iterator[LocalStack]:
    """The local stack with moto in-process and plain-HTTP servers, which start quickly; one per test."""
    from cwotlp_local.stack import LocalStack, StackSettings

    with LocalStack(StackSettings(aws="in_process", tls=False)) as stack:
        yield stack
        assert stack.collector.errors == []


@pytest.fixture
def moto_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The AWS variables moto needs, and none that would send boto3 to a real account or endpoint."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def short_backoff(monkeypatch: pytest.MonkeyPatch, base_delay: float = 0.01) -> None:
    """Makes every RetryPolicy the forwarder creates back off from base_delay. (Setting the class
    attribute would not do: a dataclass's __init__ holds the defaults it was made with.)"""
    from functools import partialmethod

    from cwotlp.delivery.http import RetryPolicy

    monkeypatch.setattr(RetryPolicy, "__init__", partialmethod(RetryPolicy.__init__, base_delay=base_delay))


@pytest.fixture(autouse=True)
def _collector_settings_restored() -> Iterator[None]:
    """The handler's runtime() and cwotlp's main() set the garbage collector for their process
    (cwotlp.process); run in this one, they must not change it for the tests after them."""
    import gc

    thresholds, enabled = gc.get_threshold(), gc.isenabled()
    yield
    gc.set_threshold(*thresholds)
    if enabled:
        gc.enable()


@pytest.fixture(autouse=True)
def _no_cached_tokens() -> Iterator[None]:
    """Tokens are cached per process on purpose; tests must not see each other's."""
    from cwotlp.delivery.auth import forget_tokens

    forget_tokens()
    yield
    forget_tokens()


@dataclasses.dataclass
class Retries:
    """Where the HTTP layer counts its retries (in the forwarder, the object's report)."""

    retries: int = 0


def make_settings(**changes: Any) -> Any:
    """The forwarder's default settings with some fields changed (naming=Naming(...) for the naming)."""
    from cwotlp.config import Settings

    return dataclasses.replace(Settings(), **changes)


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def convert_object(data: bytes, settings: Any = None, *, chunk: int = 1 << 20, resume_from: int = 0):  # type: ignore[no-untyped-def]
    """Runs the conversion on an object's bytes; returns (requests, bodies, the Conversion).

    Every body is parsed strictly here, so no test can produce a payload the official definitions reject.
    """
    from cwotlp.pipeline import Conversion

    settings = settings or make_settings()
    conversion = Conversion(chunked(data, chunk), settings, resume_from=resume_from)
    bodies = [batch.body() for batch in conversion.batches()]
    requests = [decode(body, settings.encoding) for body in bodies]
    return requests, bodies, conversion


# OpenTelemetry 1.0 objects, as CloudWatch writes them ---------------------------------------------------


def _key_value(key: str, value: str | dict[str, str]) -> KeyValue:
    pair = KeyValue(key=key)
    if isinstance(value, str):
        pair.value.string_value = value
    else:
        pair.value.kvlist_value.SetInParent()  # no dimensions: an empty list, not an empty value
        for name, text in value.items():
            pair.value.kvlist_value.values.append(_key_value(name, text))
    return pair


def otel1_request(records: Iterable[dict[str, Any]]) -> ExportMetricsServiceRequest:
    """The ExportMetricsServiceRequest CloudWatch's OpenTelemetry 1.0 output holds for these records.

    One resource per account, region and stream with exactly cloud.provider, cloud.account.id,
    cloud.region and aws.exporter.arn; no instrumentation scope; one summary metric per namespace,
    metric name and unit, named amazonaws.com/<namespace>/<metric> with the UCUM unit; each datapoint
    with the attributes Namespace, MetricName and Dimensions (a key-value list), the record's timestamp
    as the period's start and the start plus 60 s as its end, count and sum, and the quantiles 0 (min),
    the pNN percentiles, and 1 (max). Statistics that are not percentiles are not in this format.
    """
    from cwotlp.otlp.quantiles import quantile_of
    from cwotlp.otlp.units import to_ucum

    grouped: dict[tuple[str, ...], dict[tuple[str, ...], list[dict[str, Any]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for record in records:
        place = (record["account_id"], record["region"], record["metric_stream_name"])
        series = (record["namespace"], record["metric_name"], record["unit"])
        grouped[place][series].append(record)
    request = ExportMetricsServiceRequest()
    for (account, region, stream), metrics in grouped.items():
        resource_metrics = request.resource_metrics.add()
        arn = f"arn:aws:cloudwatch:{region}:{account}:metric-stream/{stream}"
        for key, text in (
            ("cloud.provider", "aws"),
            ("cloud.account.id", account),
            ("cloud.region", region),
            ("aws.exporter.arn", arn),
        ):
            resource_metrics.resource.attributes.append(_key_value(key, text))
        scope_metrics = resource_metrics.scope_metrics.add()
        for (namespace, metric_name, unit), series_records in metrics.items():
            metric = scope_metrics.metrics.add(
                name=f"amazonaws.com/{namespace}/{metric_name}", unit=to_ucum(unit)
            )
            for record in series_records:
                point = metric.summary.data_points.add()
                point.attributes.append(_key_value("Namespace", namespace))
                point.attributes.append(_key_value("MetricName", metric_name))
                point.attributes.append(_key_value("Dimensions", record["dimensions"]))
                point.start_time_unix_nano = record["timestamp"] * 1_000_000
                point.time_unix_nano = point.start_time_unix_nano + PERIOD_NS
                value = record["value"]
                point.count, point.sum = round(value["count"]), value["sum"]
                percentiles = sorted(
                    (quantile, number)
                    for quantile, number in ((quantile_of(name), number) for name, number in value.items())
                    if quantile is not None and 0 < quantile < 1
                )
                for quantile, number in [(0.0, value["min"]), *percentiles, (1.0, value["max"])]:
                    point.quantile_values.add(quantile=quantile, value=number)
    return request


def varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def frame(message: Message | bytes) -> bytes:
    """A message preceded by its length as an unsigned varint, as the 1.0 format frames it."""
    payload = message if isinstance(message, bytes) else message.SerializeToString()
    return varint(len(payload)) + payload


def otel1_frames(records: list[dict[str, Any]], per_frame: int) -> list[bytes]:
    """The framed requests of an OpenTelemetry 1.0 object, `per_frame` records each."""
    return [frame(otel1_request(records[i : i + per_frame])) for i in range(0, len(records), per_frame)]


def only_percentiles(record: dict[str, Any]) -> dict[str, Any]:
    """The record with the statistics the 1.0 format cannot carry (trimmed means and the like) left out,
    and the count whole, as the 1.0 format carries it."""
    from cwotlp.otlp.quantiles import quantile_of

    value = {
        name: number
        for name, number in record["value"].items()
        if name in ("count", "sum", "min", "max") or 0 < (quantile_of(name) or 0) < 1
    }
    value["count"] = float(round(value["count"]))
    return {**record, "value": value}


def resource_metrics_of(part: bytes) -> ResourceMetrics:
    """A part of the passthrough (a ResourceMetrics field of an ExportMetricsServiceRequest), parsed."""
    request = parse_protobuf(part)
    assert len(request.resource_metrics) == 1
    return request.resource_metrics[0]


def namings() -> dict[str, Any]:
    """A naming of each scheme, and the variants that change what a datapoint carries."""
    from cwotlp.otlp.naming import Naming

    return {
        "cloudwatch": Naming(),
        "cloudwatch-dimensions": Naming(dimension_attributes=True, account_region_attributes=True),
        "otel": Naming(scheme="otel"),
        "native": Naming(scheme="native", exporter_account="111122223333"),
        "prometheus": Naming(scheme="prometheus"),
        "prometheus-no-place": Naming(scheme="prometheus", account_region_attributes=False),
    }


EVERY_WAY = [(name, encoding) for name in namings() for encoding in ("protobuf", "json")]


def assert_converted_alike(
    data: bytes, naming: str, encoding: str = "protobuf", stream_format: str = "opentelemetry1.0"
) -> tuple[Any, Any, Any]:
    """converted_both_ways under the naming of that name, asserting that the two ways agree on
    everything; what they made (entries, skipped, counts)."""
    fast, straightforward = converted_both_ways(data, namings()[naming], encoding, stream_format)
    assert fast[1] == straightforward[1]  # skipped
    assert fast[2] == straightforward[2]  # converted, statistics dropped, oldest timestamp
    assert fast[0] == straightforward[0]  # the entries, byte for byte
    return fast


def converted_both_ways(
    data: bytes,
    naming: Any,
    encoding: str = "protobuf",
    stream_format: str = "opentelemetry1.0",
    tags: Any = None,
) -> tuple[Any, Any]:
    """An object converted by the format's fast path (`entries`: the converter on the frames' datapoints,
    or on `json` lines decoded into typed records) and by the straightforward one (the same converter on
    the records they stand for): each as the entries, what was skipped, and the converter's counts. A
    `json` object without a final line end is read as truncated."""
    from cwotlp import formats
    from cwotlp.otlp.convert import Converter
    from cwotlp.otlp.encoding import encoding_named

    stream = formats.stream_format(stream_format)
    truncated = lambda: not data.endswith(b"\n")  # noqa: E731
    found = []
    for fast in (True, False):
        converter, skipped = Converter(naming, encoding_named(encoding), tags), Counter()
        chunks = chunked(data, 4096)
        if fast:
            entries = list(stream.entries(converter, chunks, skipped, truncated))
        else:
            entries = list(converter.entries(stream.records(chunks, skipped, truncated), skipped))
        counts = (converter.converted, converter.statistics_dropped, converter.oldest_timestamp_ms)
        found.append((entries, skipped, counts))
    return found[0], found[1]
