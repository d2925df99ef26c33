"""How generated records should arrive at the collector, one class per naming scheme.

A naming says (1) what the forwarder should send for a record: for each datapoint of it (one per record,
or one per statistic for `prometheus`), the resource, instrumentation scope, metric name, unit and kind
(summary or gauge), attributes, start time, time and values (`expected`), and (2) which record, and which
datapoint of it, a received datapoint stands for (`identity`). The delivery check (check.py) compares the
two. Every scheme applies to both stream formats alike: a record gives the same datapoints from a JSON
object and from an OpenTelemetry 1.0 one.

The expectations are written here on their own, from the forwarder's documentation, rather than taken
from its code, so that the check does not take the forwarder's word for them (YACE's names excepted: their
rules are tested against YACE's own examples in the forwarder's tests).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from importlib.metadata import version
from typing import Any, NamedTuple, Protocol

from cwotlp.otlp.yace import metric_name as yace_metric_name
from cwotlp_local.otel1 import MINUTE_MS, stream_arn, ucum
from cwotlp_local.otlp import attributes

# The output formats of a metric stream.
JSON = "json"
OTEL1 = "opentelemetry1.0"
STREAM_FORMATS = (JSON, OTEL1)
NAMINGS = ("cloudwatch", "otel", "native", "prometheus")
# The kinds of metric (the `data` of an OTLP Metric) the namings send.
SUMMARY, GAUGE = "summary", "gauge"
# An instrumentation scope's name and version; a request without one reads as two empty strings.
Scope = tuple[str, str]
NO_SCOPE: Scope = ("", "")
# The scope of every naming but `native`: `aws.cloudwatch` and the installed forwarder package's version.
SCOPE: Scope = ("aws.cloudwatch", version("cwotlp"))

# A CloudWatch datapoint: account, region, namespace, metric, dimensions, timestamp (ms).
RecordKey = tuple[str, str, str, str, tuple[tuple[str, str], ...], int]
# A datapoint of a record: its key and which of the record's datapoints ("" for the only one).
PointKey = tuple[RecordKey, str]
# YACE's statistic names for the statistics of a record.
_YACE_STATISTICS = {"count": "SampleCount", "sum": "Sum", "min": "Minimum", "max": "Maximum"}


def record_key(record: Mapping[str, Any]) -> RecordKey:
    return (
        record["account_id"],
        record["region"],
        record["namespace"],
        record["metric_name"],
        tuple(sorted(record["dimensions"].items())),
        int(record["timestamp"]),
    )


class Received(NamedTuple):
    """A datapoint the collector accepted, with the resource, scope and metric it came in."""

    resource: dict[str, Any]
    scope: Scope
    name: str
    unit: str
    kind: str  # SUMMARY, GAUGE, or another kind of metric ("sum", "histogram", ...)
    point: Any


@dataclass(frozen=True)
class Form:
    """How a datapoint should arrive: everything but its time and values."""

    resource: dict[str, Any]
    scope: Scope
    name: str
    unit: str
    kind: str
    attributes: dict[str, Any]
    start_time_unix_nano: int


@dataclass(frozen=True)
class Expected:
    form: Form
    # The time, and a summary's count, sum and quantiles (in order), or a gauge's value.
    values: dict[str, Any]


@dataclass(frozen=True)
class ForwarderTraits:
    """What the forwarder adds of its own: its resource settings and the account it runs in."""

    service_name: str
    resource_attributes: Mapping[str, str]
    account: str  # the function's account, which owns the metric streams


class Naming(Protocol):
    name: str

    def expected(self, record: Mapping[str, Any]) -> dict[str, Expected]: ...

    def identity(self, received: Received) -> PointKey | None: ...


@dataclass
class CloudWatchNaming:
    """amazonaws.com/<namespace>/<metric>, one resource per account and region, the dimensions as one
    attribute holding their JSON text."""

    forwarder: ForwarderTraits
    name: str = "cloudwatch"

    def expected(self, record: Mapping[str, Any]) -> dict[str, Expected]:
        unit = record["unit"]
        form = Form(
            {
                **_place(record),
                "service.name": self.forwarder.service_name,
                **self.forwarder.resource_attributes,
            },
            SCOPE,
            _amazon_name(record),
            "" if unit == "None" else unit,
            SUMMARY,
            {**_labels(record), "Dimensions": json.dumps(record["dimensions"])},
            0,
        )
        return {"": Expected(form, _summary_values(record))}

    def identity(self, received: Received) -> PointKey | None:
        point_attributes = attributes(received.point.attributes)
        try:
            dimensions = json.loads(point_attributes.get("Dimensions", ""))
        except ValueError:
            return None
        return _key(received, point_attributes, dimensions, received.point.time_unix_nano)


@dataclass
class OtelNaming:
    """The OpenTelemetry Collector's names: the metric as CloudWatch names it, a resource per stream,
    namespace, account and region, every dimension an attribute (InstanceId as service.instance.id)."""

    forwarder: ForwarderTraits
    name: str = "otel"

    def expected(self, record: Mapping[str, Any]) -> dict[str, Expected]:
        owner, _, service = record["namespace"].partition("/")
        service_attributes = {"service.namespace": owner, "service.name": service}
        if owner.lower() != "aws" or not service:
            service_attributes = {"service.name": record["namespace"]}
        resource = {
            **_place(record),
            **service_attributes,
            "aws.cloudwatch.metric_stream_name": record["metric_stream_name"],
            **self.forwarder.resource_attributes,
        }
        point_attributes = {
            ("service.instance.id" if k == "InstanceId" else k): v for k, v in record["dimensions"].items()
        }
        form = Form(resource, SCOPE, record["metric_name"], record["unit"], SUMMARY, point_attributes, 0)
        return {"": Expected(form, _summary_values(record))}

    def identity(self, received: Received) -> PointKey | None:
        point_attributes = attributes(received.point.attributes)
        dimensions = {
            ("InstanceId" if k == "service.instance.id" else k): v for k, v in point_attributes.items()
        }
        namespace = "/".join(
            filter(None, (received.resource.get("service.namespace"), received.resource.get("service.name")))
        )
        labels = {"Namespace": namespace, "MetricName": received.name}
        return _key(received, labels, dimensions, received.point.time_unix_nano)


@dataclass
class NativeNaming:
    """The shape of CloudWatch's OpenTelemetry 1.0 output: the stream's ARN on the resource, UCUM units,
    the dimensions as a key-value list, the minute's start and end; plus service.name and the resource
    attributes the forwarder adds."""

    forwarder: ForwarderTraits
    name: str = "native"

    def expected(self, record: Mapping[str, Any]) -> dict[str, Expected]:
        resource = {
            **_place(record),
            "aws.exporter.arn": stream_arn(dict(record), self.forwarder.account),
            "service.name": self.forwarder.service_name,
            **self.forwarder.resource_attributes,
        }
        point_attributes = {**_labels(record), "Dimensions": dict(record["dimensions"])}
        start = int(record["timestamp"]) * 1_000_000
        form = Form(
            resource, NO_SCOPE, _amazon_name(record), ucum(record["unit"]), SUMMARY, point_attributes, start
        )
        return {"": Expected(form, _summary_values(record, end=int(record["timestamp"]) + MINUTE_MS))}

    def identity(self, received: Received) -> PointKey | None:
        point_attributes = attributes(received.point.attributes)
        return _key(
            received,
            point_attributes,
            point_attributes.get("Dimensions"),
            received.point.start_time_unix_nano,
        )


@dataclass
class PrometheusNaming:
    """A gauge per statistic named as yet-another-cloudwatch-exporter names it, dimension_<Name>,
    account_id and region labels, no unit, and an _average gauge (sum over count)."""

    forwarder: ForwarderTraits
    name: str = "prometheus"
    gauges: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # name -> namespace, metric, part

    def expected(self, record: Mapping[str, Any]) -> dict[str, Expected]:
        resource = {
            **_place(record),
            "service.name": self.forwarder.service_name,
            **self.forwarder.resource_attributes,
        }
        point_attributes = {f"dimension_{k}": v for k, v in record["dimensions"].items()}
        point_attributes |= {"account_id": record["account_id"], "region": record["region"]}
        value = record["value"]
        statistics = {_YACE_STATISTICS.get(k, k): v for k, v in value.items()}
        if value["count"]:
            statistics["Average"] = value["sum"] / value["count"]
        found = {}
        time = int(record["timestamp"]) * 1_000_000
        for statistic, number in statistics.items():
            name = yace_metric_name(record["namespace"], record["metric_name"], statistic)
            self.gauges[name] = (record["namespace"], record["metric_name"], statistic)
            form = Form(resource, SCOPE, name, "", GAUGE, point_attributes, 0)
            found[statistic] = Expected(form, {"value": number, "time": time})
        return found

    def identity(self, received: Received) -> PointKey | None:
        if received.name not in self.gauges:
            return None
        namespace, metric, statistic = self.gauges[received.name]
        point_attributes = attributes(received.point.attributes)
        dimensions = {
            k.removeprefix("dimension_"): v for k, v in point_attributes.items() if k.startswith("dimension_")
        }
        labels = {"Namespace": namespace, "MetricName": metric}
        key = _key(received, labels, dimensions, received.point.time_unix_nano)
        return None if key is None else (key[0], statistic)


def naming_of(name: str, forwarder: ForwarderTraits) -> Naming:
    kinds: dict[str, type[CloudWatchNaming | OtelNaming | NativeNaming | PrometheusNaming]] = {
        "cloudwatch": CloudWatchNaming,
        "otel": OtelNaming,
        "native": NativeNaming,
        "prometheus": PrometheusNaming,
    }
    return kinds[name](forwarder)


def _summary_values(record: Mapping[str, Any], end: int | None = None) -> dict[str, Any]:
    """Count, sum, time and the quantiles as (quantile, value) pairs in increasing order: minimum,
    percentiles, maximum (none when the count is 0)."""
    value = record["value"]
    quantiles = []
    if round(value["count"]):
        percentiles = sorted((float(Decimal(k[1:]) / 100), v) for k, v in value.items() if k.startswith("p"))
        quantiles = [(0.0, value["min"]), *percentiles, (1.0, value["max"])]
    time = (end if end is not None else int(record["timestamp"])) * 1_000_000
    return {"count": round(value["count"]), "sum": value["sum"], "quantiles": quantiles, "time": time}


def _place(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "cloud.provider": "aws",
        "cloud.account.id": record["account_id"],
        "cloud.region": record["region"],
    }


def _amazon_name(record: Mapping[str, Any]) -> str:
    return f"amazonaws.com/{record['namespace']}/{record['metric_name']}"


def _labels(record: Mapping[str, Any]) -> dict[str, Any]:
    return {"Namespace": record["namespace"], "MetricName": record["metric_name"]}


def _key(
    received: Received, labels: Mapping[str, Any], dimensions: Any, time_unix_nano: int
) -> PointKey | None:
    """The record a datapoint stands for, from its resource, Namespace and MetricName, dimensions and
    time (its start for the native naming)."""
    namespace, metric_name = labels.get("Namespace"), labels.get("MetricName")
    if not isinstance(dimensions, dict) or namespace is None or metric_name is None:
        return None
    key: RecordKey = (
        str(received.resource.get("cloud.account.id", "")),
        str(received.resource.get("cloud.region", "")),
        str(namespace),
        str(metric_name),
        tuple(sorted((str(k), str(v)) for k, v in dimensions.items())),
        int(time_unix_nano) // 1_000_000,
    )
    return key, ""
