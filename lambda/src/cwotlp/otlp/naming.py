"""Naming schemes: what a CloudWatch series is called in OTLP, whichever stream format it came in.

A series is what CloudWatch identifies a metric by (stream, account, region, namespace, metric name,
dimensions) plus its unit. A scheme gives it a resource, a metric name and unit, and datapoint
attributes; `cwotlp.otlp.convert` adds the values. The same series gets the same names from a JSON line
and from an OpenTelemetry 1.0 datapoint, so switching a stream's format renames nothing.

- `cloudwatch` (the default, the reference guide's): `amazonaws.com/<namespace>/<metric>`, the unit as
  CloudWatch names it (`None` as empty), one resource per account and region, attributes `Namespace`,
  `MetricName` and `Dimensions` (the dimensions as the JSON text Python's json.dumps writes).
- `otel`: the OpenTelemetry Collector's CloudWatch metric streams encoding for JSON: the metric name as
  CloudWatch gives it, one resource per stream, namespace, account and region, every dimension an
  attribute (`InstanceId` as `service.instance.id`).
- `native`: the shape of CloudWatch's OpenTelemetry 1.0 output: the `amazonaws.com/...` name, UCUM units,
  `aws.exporter.arn` on the resource, no instrumentation scope, `Dimensions` as a key-value list, and
  the period's start and end as start and time.
- `prometheus`: for Prometheus-family backends, one gauge per statistic named as yet-another-
  cloudwatch-exporter names it (`aws_ec2_cpuutilization_average`), with `dimension_<Name>` labels, no
  unit (which Prometheus would append to the name) and, by default, `account_id` and `region` labels.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from cwotlp import __version__
from cwotlp.otlp import yace
from cwotlp.otlp.encoding import GAUGE, SUMMARY, Attribute, Scope
from cwotlp.otlp.units import to_ucum

SCHEMES = ("cloudwatch", "otel", "native", "prometheus")
SCOPE: Scope = ("aws.cloudwatch", __version__)
PERIOD_MS = 60_000  # metric streams send one-minute aggregates

_PLAIN = re.compile(rb"[\x20-\x5b\x5d-\x7e]*")
# The OpenTelemetry Collector renames this dimension to the semantic convention's attribute.
OTEL_DIMENSION_NAMES = {"InstanceId": "service.instance.id"}


@dataclass(frozen=True)
class Naming:
    """How series are named and labelled in OTLP."""

    scheme: str = "cloudwatch"
    service_name: str = "aws-cloudwatch-stream"
    resource_attributes: dict[str, str] = field(default_factory=lambda: {"environment": "production"})
    dimension_attributes: bool = False  # cloudwatch: one attribute per dimension besides Dimensions
    account_region_attributes: bool | None = None  # None: the scheme's default (prometheus only)
    exporter_account: str | None = None  # the streams' own account, for aws.exporter.arn (native)
    partition: str = "aws"

    @property
    def account_region(self) -> bool:
        if self.account_region_attributes is None:
            return self.scheme == "prometheus"
        return self.account_region_attributes


class Scheme:
    """The `cloudwatch` scheme; the others change what differs.

    A series' datapoint attributes come in pieces that repeat at different rates, so that each is
    worked out once: those of its metric, of its dimensions (shared by every metric of a resource), and
    of its account and region.
    """

    kind = SUMMARY
    scope: Scope = SCOPE
    start_time = False
    unit_required = False
    resource_by_namespace = False  # whether the namespace is part of the resource

    def __init__(self, naming: Naming) -> None:
        self.naming = naming
        # The keys a datapoint has besides its dimensions', which no dimension may repeat.
        fixed = self.metric_attributes("", "") + self.place_attributes("", "")
        self._taken = frozenset(key for key, _ in fixed)

    def resource(self, stream: str, namespace: str, account_id: str, region: str) -> list[Attribute]:
        return self._with_configured(
            [
                ("cloud.provider", "aws"),
                ("cloud.account.id", account_id),
                ("cloud.region", region),
                ("service.name", self.naming.service_name),
            ]
        )

    def metric(self, namespace: str, metric_name: str, unit: str) -> tuple[str, str]:
        return f"amazonaws.com/{namespace}/{metric_name}", "" if unit == "None" else unit

    def gauge(self, namespace: str, metric_name: str, statistic: str) -> str:
        raise NotImplementedError

    def metric_attributes(self, namespace: str, metric_name: str) -> list[Attribute]:
        return [("Namespace", namespace), ("MetricName", metric_name)]

    def dimension_attributes(self, dimensions: dict[str, str]) -> list[Attribute]:
        found: list[Attribute] = [("Dimensions", python_json(dimensions))]
        if not self.naming.dimension_attributes:
            return found
        return self.distinct([*found, *dimensions.items()])  # one named like another is in Dimensions

    def distinct(self, attributes: Iterable[Attribute]) -> list[Attribute]:
        """The attributes whose keys the datapoint does not have yet, the first of each key: an OTLP
        key is once in its list, and a Prometheus label once in its series."""
        taken = set(self._taken)
        found: list[Attribute] = []
        for key, value in attributes:
            if key not in taken:
                taken.add(key)
                found.append((key, value))
        return found

    def place_attributes(self, account_id: str, region: str) -> list[Attribute]:
        if not self.naming.account_region:
            return []
        return [("cloud.account.id", account_id), ("cloud.region", region)]

    def tag_attribute(self, key: str) -> str | None:
        return f"aws.tag.{key}"

    def _with_configured(self, attributes: list[Attribute]) -> list[Attribute]:
        present = {key for key, _ in attributes}
        return attributes + [(k, v) for k, v in self.naming.resource_attributes.items() if k not in present]


class OtelScheme(Scheme):
    unit_required = True
    resource_by_namespace = True

    def resource(self, stream: str, namespace: str, account_id: str, region: str) -> list[Attribute]:
        service_namespace, _, service_name = namespace.partition("/")
        if service_namespace.lower() != "aws" or not service_name:
            service_namespace, service_name = "", namespace
        found: list[Attribute] = [
            ("cloud.provider", "aws"),
            ("cloud.account.id", account_id),
            ("cloud.region", region),
        ]
        if service_namespace:
            found.append(("service.namespace", service_namespace))
        found += [("service.name", service_name), ("aws.cloudwatch.metric_stream_name", stream)]
        return self._with_configured(found)

    def metric(self, namespace: str, metric_name: str, unit: str) -> tuple[str, str]:
        return metric_name, unit

    def metric_attributes(self, namespace: str, metric_name: str) -> list[Attribute]:
        return []

    def dimension_attributes(self, dimensions: dict[str, str]) -> list[Attribute]:
        return self.distinct((OTEL_DIMENSION_NAMES.get(k, k), v) for k, v in dimensions.items())


class NativeScheme(Scheme):
    scope = None
    start_time = True

    def resource(self, stream: str, namespace: str, account_id: str, region: str) -> list[Attribute]:
        account = self.naming.exporter_account or account_id
        arn = f"arn:{self.naming.partition}:cloudwatch:{region}:{account}:metric-stream/{stream}"
        return self._with_configured(
            [
                ("cloud.provider", "aws"),
                ("cloud.account.id", account_id),
                ("cloud.region", region),
                ("aws.exporter.arn", arn),
                ("service.name", self.naming.service_name),
            ]
        )

    def metric(self, namespace: str, metric_name: str, unit: str) -> tuple[str, str]:
        return f"amazonaws.com/{namespace}/{metric_name}", to_ucum(unit)

    def dimension_attributes(self, dimensions: dict[str, str]) -> list[Attribute]:
        return [("Dimensions", tuple(dimensions.items()))]


class PrometheusScheme(Scheme):
    kind = GAUGE

    def metric(self, namespace: str, metric_name: str, unit: str) -> tuple[str, str]:
        raise NotImplementedError  # one metric per statistic: gauge()

    def gauge(self, namespace: str, metric_name: str, statistic: str) -> str:
        return yace.metric_name(namespace, metric_name, statistic)

    def metric_attributes(self, namespace: str, metric_name: str) -> list[Attribute]:
        return []

    def dimension_attributes(self, dimensions: dict[str, str]) -> list[Attribute]:
        labels = ((yace.label_name("dimension_", name), value) for name, value in dimensions.items())
        return self.distinct((label, value) for label, value in labels if label is not None)

    def place_attributes(self, account_id: str, region: str) -> list[Attribute]:
        return [("account_id", account_id), ("region", region)] if self.naming.account_region else []

    def tag_attribute(self, key: str) -> str | None:
        return yace.label_name("tag_", key)


def scheme_for(naming: Naming) -> Scheme:
    kinds: dict[str, type[Scheme]] = {
        "cloudwatch": Scheme,
        "otel": OtelScheme,
        "native": NativeScheme,
        "prometheus": PrometheusScheme,
    }
    return kinds[naming.scheme](naming)


def python_json(dimensions: dict[str, str]) -> str:
    """The dimensions as Python's json.dumps writes them (", " and ": " separators, ASCII escapes), the
    text dashboards built on the reference guide match on; without its cost when nothing needs escaping."""
    if _PLAIN.fullmatch(orjson.dumps(dimensions)):  # printable ASCII without a backslash: no escapes
        return "{" + ", ".join([f'"{k}": "{v}"' for k, v in dimensions.items()]) + "}"
    import json

    return json.dumps(dimensions)
