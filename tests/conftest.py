"""Shared test helpers: fixture paths, strict decoding of OTLP payloads with the official definitions, and
the local stack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from google.protobuf.json_format import Parse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

if TYPE_CHECKING:
    from cwotlp_local.stack import LocalStack

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_bytes(relative: str) -> bytes:
    return (FIXTURES / relative).read_bytes()


def parse_request(body: bytes | str) -> ExportMetricsServiceRequest:
    """Parses an OTLP JSON request strictly: unknown fields are an error."""
    return Parse(body, ExportMetricsServiceRequest(), ignore_unknown_fields=False)


def datapoints(request: ExportMetricsServiceRequest) -> Iterator[tuple[dict[str, str], str, object]]:
    """(resource attributes, metric name, summary datapoint) for every datapoint of a request."""
    for resource_metrics in request.resource_metrics:
        resource = {a.key: a.value.string_value for a in resource_metrics.resource.attributes}
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in metric.summary.data_points:
                    yield resource, metric.name, point


def attributes(point: object) -> dict[str, str]:
    return {a.key: a.value.string_value for a in point.attributes}  # type: ignore[attr-defined]


@pytest.fixture
def local_stack() -> Iterator[LocalStack]:
    """The local stack with moto in-process and plain-HTTP servers, which start quickly; one per test."""
    from cwotlp_local.stack import LocalStack, StackSettings

    with LocalStack(StackSettings(aws="in_process", tls=False)) as stack:
        yield stack
        assert stack.collector.errors == []


@pytest.fixture(autouse=True)
def _no_cached_tokens() -> Iterator[None]:
    """Tokens are cached per process on purpose; tests must not see each other's."""
    from cwotlp.delivery.auth import forget_tokens

    forget_tokens()
    yield
    forget_tokens()


def convert_object(
    data: bytes, naming: object = None, max_request_bytes: int = 1 << 22, chunk: int = 1 << 20
):
    """Runs the conversion stages on an object's bytes; returns (request bodies, the Conversion).

    Every body is parsed strictly here, so no test can produce a payload the official definitions reject.
    """
    from cwotlp.otlp.convert import Naming
    from cwotlp.pipeline import Conversion

    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    conversion = Conversion(chunks, naming or Naming(), max_request_bytes)  # type: ignore[arg-type]
    bodies = [batch.body() for batch in conversion.batches()]
    for body in bodies:
        parse_request(body)
    return bodies, conversion
