"""The delivery check: did every generated record arrive at the collector exactly once, as it should?

generated records -> the datapoint each should become (its naming's `expected`), keyed by record;
received OTLP     -> the record each datapoint stands for (the namings' `identity`);
then compare: per namespace and per stream format, what was generated, received, delivered, missing,
duplicated, not generated at all, or altered (a resource, instrumentation scope, metric name, unit or
kind, attributes, start time, time, flags or values other than the record's naming gives it, a summary's
quantiles in their order), with a few examples of what went wrong.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cwotlp_local.namings import JSON, OTEL1, Expected, Form, Naming, PointKey, Received, record_key
from cwotlp_local.otlp import attributes, datapoint_identity, iter_metric_datapoints

MAX_EXAMPLES = 5


def received_datapoints(messages: Iterable[Any]) -> list[Received]:
    """The datapoints of ExportMetricsServiceRequest messages, in order."""
    return [
        Received(
            resource, (scope.name, scope.version), metric.name, metric.unit, metric.WhichOneof("data"), point
        )
        for message in messages
        for resource, scope, metric, point in iter_metric_datapoints(message)
    ]


def form_problems(form: Form, received: Received) -> list[str]:
    """How a received datapoint's resource, scope, metric, attributes and start time differ from the
    expected ones."""
    problems = [
        f"{what} {got!r} != {wanted!r}"
        for what, got, wanted in (
            ("resource", received.resource, form.resource),
            ("scope", received.scope, form.scope),
            ("name", received.name, form.name),
            ("unit", received.unit, form.unit),
            ("kind", received.kind, form.kind),
        )
        if got != wanted
    ]
    point_attributes = attributes(received.point.attributes)
    if point_attributes != form.attributes:
        problems.append(f"attributes {point_attributes} != {form.attributes}")
    if int(received.point.start_time_unix_nano) != form.start_time_unix_nano:
        problems.append(f"start time {received.point.start_time_unix_nano} != {form.start_time_unix_nano}")
    return problems


def value_problems(expected: Mapping[str, Any], point: Any) -> list[str]:
    """How a received datapoint's time, flags and values differ from the expected ones (empty when they
    do not)."""
    problems = []
    if int(point.time_unix_nano) != expected["time"]:
        problems.append(f"time {point.time_unix_nano} != {expected['time']}")
    if point.flags:  # the forwarder sets none: every datapoint holds a value, a count of 0 too
        problems.append(f"flags {point.flags} != 0")
    if "value" in expected:
        return problems + _gauge_problems(expected, point)
    return problems + _summary_problems(expected, point)


def _gauge_problems(expected: Mapping[str, Any], point: Any) -> list[str]:
    if not hasattr(point, "as_double"):
        return [f"not a number datapoint ({type(point).__name__})"]
    kind = point.WhichOneof("value")  # as_double, as_int or None
    value = getattr(point, kind) if kind else None
    return (
        []
        if (kind, value) == ("as_double", expected["value"])
        else [f"value {kind}={value} != {expected['value']}"]
    )


def _summary_problems(expected: Mapping[str, Any], point: Any) -> list[str]:
    if not hasattr(point, "quantile_values"):
        return [f"not a summary datapoint ({type(point).__name__})"]
    problems = []
    if int(point.count) != expected["count"]:
        problems.append(f"count {point.count} != {expected['count']}")
    if point.sum != expected["sum"]:
        problems.append(f"sum {point.sum} != {expected['sum']}")
    quantiles = [(q.quantile, q.value) for q in point.quantile_values]
    if quantiles != expected["quantiles"]:
        problems.append(f"quantiles {quantiles} != {expected['quantiles']}")
    return problems


@dataclass
class Counts:
    """Datapoints of one namespace or stream format: generated, received, and what went wrong."""

    records: int = 0
    received: int = 0
    delivered: int = 0
    missing: int = 0
    duplicates: int = 0
    unexpected: int = 0
    altered: int = 0  # anything other than its record's naming gives it (see form_ and value_problems)

    def add(self, other: Counts) -> None:
        for name, value in vars(other).items():
            setattr(self, name, getattr(self, name) + value)

    def row(self, label: str) -> list[Any]:
        return [label, *vars(self).values()]


@dataclass
class DeliveryCheck:
    namespaces: dict[str, Counts]
    formats: dict[str, Counts]
    examples: list[str]

    @property
    def total(self) -> Counts:
        total = Counts()
        for counts in self.formats.values():
            total.add(counts)
        return total


@dataclass
class _Expected:
    output_format: str
    record: Mapping[str, Any]
    datapoint: Expected


@dataclass
class _Comparison:
    expected: dict[PointKey, _Expected]
    naming: Naming
    namespaces: dict[str, Counts] = field(default_factory=lambda: defaultdict(Counts))
    formats: dict[str, Counts] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    seen_identities: set[str] = field(default_factory=set)
    seen_keys: set[PointKey] = field(default_factory=set)

    def example(self, text: str) -> None:
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(text)

    def receive(self, received: Received) -> None:
        key = self.naming.identity(received)
        matched = self.expected.get(key) if key is not None else None
        output_format = matched.output_format if matched else _format_of(received.resource)
        counted = (
            self.namespaces[key[0][2] if key else "(unreadable)"],
            self.formats.setdefault(output_format, Counts()),
        )
        for counts in counted:
            counts.received += 1
        identity = datapoint_identity(received.resource, received.name, received.point)
        if identity in self.seen_identities:
            self._count(
                counted, "duplicates", f"duplicate: {received.name} at {received.point.time_unix_nano}"
            )
            return
        self.seen_identities.add(identity)
        if key is None or matched is None or key in self.seen_keys:
            self._count(counted, "unexpected", f"unexpected: {received.name} {key}")
            return
        self.seen_keys.add(key)
        expected = matched.datapoint
        problems = form_problems(expected.form, received) + value_problems(expected.values, received.point)
        for counts in counted:
            counts.delivered += 1
            counts.altered += bool(problems)
        if problems:
            when = received.point.time_unix_nano
            self.example(f"{output_format} {received.name} at {when}: {'; '.join(problems)}")

    def _count(self, counted: Iterable[Counts], outcome: str, example: str) -> None:
        for counts in counted:
            setattr(counts, outcome, getattr(counts, outcome) + 1)
        self.example(example)

    def count_missing(self) -> None:
        for key, expected in self.expected.items():
            if key not in self.seen_keys:
                self.namespaces[expected.record["namespace"]].missing += 1
                self.formats[expected.output_format].missing += 1
                record = expected.record
                self.example(
                    f"missing: {expected.output_format} {record['namespace']} {record['metric_name']} "
                    f"{key[1]} {key[0][4]} {key[0][5]}"
                )


def _format_of(resource: Mapping[str, Any]) -> str:
    """The stream format a datapoint that matches no record most likely came from (for the tables)."""
    return OTEL1 if "aws.exporter.arn" in resource else JSON


def check_delivery(
    streams: Mapping[str, Sequence[Mapping[str, Any]]],
    datapoints: Iterable[Received],
    naming: Naming,
) -> DeliveryCheck:
    """Compares the records of each stream format with the datapoints received, under one naming."""
    comparison = _Comparison({}, naming)
    for output_format, records in streams.items():
        comparison.formats[output_format] = Counts()
        for record in records:
            for part, expected in naming.expected(record).items():
                key = (record_key(record), part)
                if key in comparison.expected:
                    raise ValueError(f"two generated records are the same datapoint: {key}")
                comparison.expected[key] = _Expected(output_format, record, expected)
                comparison.namespaces[record["namespace"]].records += 1
                comparison.formats[output_format].records += 1
    for received in datapoints:
        comparison.receive(received)
    comparison.count_missing()
    return DeliveryCheck(dict(sorted(comparison.namespaces.items())), comparison.formats, comparison.examples)
