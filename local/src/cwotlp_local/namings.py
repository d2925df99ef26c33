"""How generated records should arrive at the collector, one class per naming.

A naming says, for the records of one kind of stream, (1) what the forwarder should send for a record:
its resource, metric name, unit, attributes and start time (`expected`), and (2) which record a
received datapoint stands for (`identity`, the record's account, region, namespace, metric, dimensions
and time). The delivery check (check.py) compares the two.

  cloudwatch        JSON records with CWOTLP_NAMING=cloudwatch and CWOTLP_DIMENSION_ATTRIBUTES=false
  opentelemetry1.0  OpenTelemetry 1.0 records, which the forwarder passes on as CloudWatch wrote them

Another naming of JSON records (otel, ...) is another class with these two methods.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from cwotlp_local.otlp import attributes

# The output formats of a metric stream.
JSON = "json"
OTEL1 = "opentelemetry1.0"
STREAM_FORMATS = (JSON, OTEL1)

# Units as a metric stream writes them in the OpenTelemetry 1.0 format (UCUM), for the units of the
# generated data; any other unit is written as CloudWatch names it. Stated here on its own, not taken
# from the generator, so that the check does not take the generator's word for it.
OTEL1_UNITS = {"Count": "1", "None": "1", "Seconds": "s", "Milliseconds": "ms", "Percent": "%", "Bytes": "By"}

# A CloudWatch datapoint: account, region, namespace, metric, dimensions, timestamp (ms).
RecordKey = tuple[str, str, str, str, tuple[tuple[str, str], ...], int]


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
    """A datapoint the collector accepted, with the resource and metric it came in."""

    resource: dict[str, Any]
    name: str
    unit: str
    point: Any


@dataclass(frozen=True)
class Form:
    """How a record should arrive at the collector, apart from its values."""

    resource: dict[str, Any]
    name: str
    unit: str
    attributes: dict[str, Any]
    start_time_unix_nano: int


class Naming(Protocol):
    @property
    def name(self) -> str: ...

    def expected(self, record: Mapping[str, Any]) -> Form: ...

    def identity(self, received: Received) -> RecordKey | None: ...


@dataclass(frozen=True)
class CloudWatchNaming:
    """amazonaws.com/<namespace>/<metric>, one resource per account and region, the dimensions as one
    attribute holding their JSON text."""

    service_name: str
    resource_attributes: Mapping[str, str]
    name: str = "cloudwatch"

    def expected(self, record: Mapping[str, Any]) -> Form:
        unit = record["unit"]
        return Form(
            {**_place(record), "service.name": self.service_name, **self.resource_attributes},
            _metric_name(record),
            "" if unit == "None" else unit,
            {**_labels(record), "Dimensions": json.dumps(record["dimensions"])},
            0,
        )

    def identity(self, received: Received) -> RecordKey | None:
        point_attributes = attributes(received.point.attributes)
        dimensions = point_attributes.get("Dimensions")
        if dimensions is None:  # CWOTLP_DIMENSION_ATTRIBUTES=true: one attribute per dimension
            dimensions = {k: v for k, v in point_attributes.items() if k not in ("Namespace", "MetricName")}
        elif isinstance(dimensions, str):
            try:
                dimensions = json.loads(dimensions)
            except ValueError:
                return None
        return _key(received, point_attributes, dimensions)


@dataclass(frozen=True)
class Otel1AsWritten:
    """The OpenTelemetry 1.0 format as CloudWatch writes it: the stream's ARN on the resource, UCUM units,
    the dimensions as a key-value list, the start of the minute; the forwarder adds service.name and
    CWOTLP_RESOURCE_ATTRIBUTES to each resource."""

    service_name: str
    resource_attributes: Mapping[str, str]
    name: str = "opentelemetry1.0"

    def expected(self, record: Mapping[str, Any]) -> Form:
        place = _place(record)
        arn = f"arn:aws:cloudwatch:{record['region']}:{record['account_id']}"
        stream_arn = f"{arn}:metric-stream/{record['metric_stream_name']}"
        return Form(
            {
                **place,
                "aws.exporter.arn": stream_arn,
                "service.name": self.service_name,
                **self.resource_attributes,
            },
            _metric_name(record),
            OTEL1_UNITS.get(record["unit"], record["unit"]),
            {**_labels(record), "Dimensions": dict(record["dimensions"])},
            (int(record["timestamp"]) - 60_000) * 1_000_000,
        )

    def identity(self, received: Received) -> RecordKey | None:
        point_attributes = attributes(received.point.attributes)
        return _key(received, point_attributes, point_attributes.get("Dimensions"))


def stream_namings(service_name: str, resource_attributes: Mapping[str, str]) -> dict[str, Naming]:
    """The naming of each stream format, for a forwarder with these resource settings."""
    return {
        JSON: CloudWatchNaming(service_name, resource_attributes),
        OTEL1: Otel1AsWritten(service_name, resource_attributes),
    }


def _place(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "cloud.provider": "aws",
        "cloud.account.id": record["account_id"],
        "cloud.region": record["region"],
    }


def _metric_name(record: Mapping[str, Any]) -> str:
    return f"amazonaws.com/{record['namespace']}/{record['metric_name']}"


def _labels(record: Mapping[str, Any]) -> dict[str, Any]:
    return {"Namespace": record["namespace"], "MetricName": record["metric_name"]}


def _key(received: Received, point_attributes: Mapping[str, Any], dimensions: Any) -> RecordKey | None:
    """The record a datapoint stands for; the namespace and metric come from the attributes, or else
    from the metric name."""
    if not isinstance(dimensions, dict):
        return None
    namespace, metric_name = point_attributes.get("Namespace"), point_attributes.get("MetricName")
    if namespace is None or metric_name is None:
        namespace, _, metric_name = received.name.removeprefix("amazonaws.com/").rpartition("/")
    return (
        str(received.resource.get("cloud.account.id", "")),
        str(received.resource.get("cloud.region", "")),
        str(namespace),
        str(metric_name),
        tuple(sorted((str(k), str(v)) for k, v in dimensions.items())),
        int(received.point.time_unix_nano) // 1_000_000,
    )
