"""Small helpers for reading OTLP metrics messages."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from google.protobuf.message import Message
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

DataPoint = tuple[dict[str, Any], str, Message]


def any_value(value: AnyValue) -> Any:
    """The Python value of an OTLP AnyValue (None when unset)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    return getattr(value, kind)


def attributes(key_values: Iterable[KeyValue]) -> dict[str, Any]:
    """OTLP attributes as a dict."""
    return {kv.key: any_value(kv.value) for kv in key_values}


def iter_metric_datapoints(
    message: ExportMetricsServiceRequest,
) -> Iterator[tuple[dict[str, Any], Any, Any, Message]]:
    """Every datapoint of a request as (resource attributes, instrumentation scope message, metric
    message, datapoint message); the metric message has the name, the unit and the kind (its `data`)."""
    for resource_metrics in message.resource_metrics:
        resource_attrs = attributes(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                if kind is None:
                    continue
                for point in getattr(metric, kind).data_points:
                    yield resource_attrs, scope_metrics.scope, metric, point


def iter_datapoints(message: ExportMetricsServiceRequest) -> Iterator[DataPoint]:
    """Every datapoint of a request as (resource attributes, metric name, datapoint message)."""
    for resource_attrs, _, metric, point in iter_metric_datapoints(message):
        yield resource_attrs, metric.name, point


def datapoint_identity(resource_attrs: dict[str, Any], metric_name: str, point: Message) -> str:
    """A string that identifies a datapoint: resource attributes, metric name, time and its attributes.

    Two deliveries of the same datapoint have the same identity; two different datapoints never do.
    """
    point_attrs = attributes(getattr(point, "attributes", ()))
    return repr(
        (
            sorted((k, repr(v)) for k, v in resource_attrs.items()),
            metric_name,
            int(getattr(point, "time_unix_nano", 0)),
            sorted((k, repr(v)) for k, v in point_attrs.items()),
        )
    )
