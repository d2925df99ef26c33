"""The forwarder's side of the backend settings in docs/backends.md, on realistic data (thousands of
series over accounts, regions and namespaces): every naming gives the same series from both stream
formats, and the prometheus naming gives what Prometheus-family backends keep as it is."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import convert_object, flat_points, make_settings
from cwotlp.otlp.naming import Naming
from cwotlp_local.realistic import JSON, OTEL1, cached_object

PROMETHEUS_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")  # the classic rules, which every backend takes
PROMETHEUS_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
SIZE = 1 << 20


@pytest.fixture(scope="module")
def objects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    directory: Path = tmp_path_factory.mktemp("realistic")
    return {
        output_format: cached_object(directory, SIZE, seed=5, output_format=output_format).read_bytes()
        for output_format in (JSON, OTEL1)
    }


def forwarded(data: bytes, output_format: str, scheme: str, encoding: str = "protobuf") -> list:
    naming = Naming(scheme=scheme, exporter_account="318204657721")  # the generator's monitoring account
    settings = make_settings(stream_format=output_format, naming=naming, encoding=encoding)
    requests, _, conversion = convert_object(data, settings)
    assert not conversion.skipped
    return requests


@pytest.mark.parametrize("scheme", ["cloudwatch", "otel", "native", "prometheus"])
def test_a_stream_can_change_format_without_renaming_a_series(objects: dict[str, bytes], scheme: str) -> None:
    from_json = flat_points(forwarded(objects[JSON], JSON, scheme))
    from_otel1 = flat_points(forwarded(objects[OTEL1], OTEL1, scheme))
    assert len(from_json) > 2000
    assert from_json == from_otel1


def test_prometheus_names_and_labels_need_no_translation(objects: dict[str, bytes]) -> None:
    """Valid names and labels, no unit (which Prometheus would append to the name), gauges (which get no
    _total), and account and region labels that keep accounts' series apart."""
    requests = forwarded(objects[JSON], JSON, "prometheus", "json")
    series: set[tuple[str, tuple[tuple[str, str], ...], int]] = set()
    accounts = set()
    for request in requests:
        for resource_metrics in request.resource_metrics:
            for metric in resource_metrics.scope_metrics[0].metrics:
                assert PROMETHEUS_NAME.fullmatch(metric.name), metric.name
                assert metric.unit == ""
                assert metric.WhichOneof("data") == "gauge"
                for point in metric.gauge.data_points:
                    labels = tuple(sorted((a.key, a.value.string_value) for a in point.attributes))
                    assert all(PROMETHEUS_LABEL.fullmatch(key) for key, _ in labels), labels
                    assert {"account_id", "region"} <= {key for key, _ in labels}
                    accounts.add(dict(labels)["account_id"])
                    series.add((metric.name, labels, point.time_unix_nano))
    total = sum(
        len(metric.gauge.data_points)
        for request in requests
        for resource_metrics in request.resource_metrics
        for metric in resource_metrics.scope_metrics[0].metrics
    )
    assert len(accounts) > 1
    assert len(series) == total  # no two datapoints are one series at one time, with no resource to tell


@pytest.mark.parametrize("scheme", ["cloudwatch", "otel", "native", "prometheus"])
def test_a_period_without_observations_reads_the_same_from_both_formats(scheme: str) -> None:
    """A count of 0 has no quantiles in the 1.0 format (nothing to be the minimum of), while a JSON
    record still carries min and max of 0."""
    import orjson

    from conftest import frame
    from cwotlp_local.generator import generate_records
    from cwotlp_local.otel1 import otel1_request

    record = next(iter(generate_records(1, seed=2)))
    record["value"] = {"count": 0.0, "sum": 0.0, "min": 0.0, "max": 0.0}
    request = otel1_request([record], owner="318204657721")  # the stream's account, as forwarded() has it
    point = request.resource_metrics[0].scope_metrics[0].metrics[0].summary.data_points[0]
    del point.quantile_values[:]
    from_json = flat_points(forwarded(orjson.dumps(record), JSON, scheme))
    from_otel1 = flat_points(forwarded(frame(request), OTEL1, scheme))
    assert len(from_json) >= 1
    assert from_json == from_otel1
