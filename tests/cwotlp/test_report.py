"""The report of one object: the one structured log line the dashboard and alarms read."""

from __future__ import annotations

import gzip
import logging
import time

import orjson
import pytest

from conftest import fixture_bytes, make_settings
from cwotlp.pipeline import Conversion
from cwotlp.report import ObjectReport

DATA = fixture_bytes("otel-contrib-cwmetricstream/some_invalid_records")  # 4 non-metrics, 88 metrics
REQUIRED = {
    "bucket",
    "key",
    "status",
    "format",
    "records",
    "datapoints",
    "skipped",
    "statistics_dropped",
    "requests",
    "raw_bytes",
    "gzip_bytes",
    "object_bytes",
    "retries",
    "splits",
    "rejected_datapoints",
    "rejected_by_collector",
    "units",
    "resumed_from",
    "duration_ms",
}


def converted(data: bytes) -> Conversion:
    conversion = Conversion([data], make_settings())
    for _ in conversion.batches():
        pass
    return conversion


def test_a_report_takes_in_what_the_conversion_saw() -> None:
    zipped = gzip.compress(DATA)
    conversion = converted(zipped)
    report = ObjectReport("metrics-bucket", "metrics/a.gz")
    report.absorb(conversion)
    assert (report.format, report.records, report.units) == ("json", 88, 88)
    assert report.skipped == {"not_a_metric": 4}
    assert (report.object_bytes, report.truncated) == (len(zipped), False)
    oldest = min(orjson.loads(line)["timestamp"] for line in DATA.splitlines()[4:] if line.strip())
    assert report.lag_seconds == pytest.approx(time.time() - oldest / 1000, abs=5)


def test_a_truncated_object_is_counted_as_skipped() -> None:
    report = ObjectReport("b", "k")
    report.absorb(converted(gzip.compress(DATA)[:-40]))
    assert report.truncated
    assert report.skipped["truncated_gzip"] == 1


def test_the_log_fields_carry_every_counter_and_only_the_optional_fields_that_say_something() -> None:
    report = ObjectReport("b", "k")
    assert set(report.log_fields()) == REQUIRED
    report.restarted, report.progress_recorded, report.error = True, False, "collector answered HTTP 500"
    report.tag_lookups, report.tag_failures, report.lag_seconds = 3, 1, 75.2
    assert set(report.log_fields()) == REQUIRED | {
        "restarted",
        "progress_recorded",
        "tag_lookups",
        "tag_failures",
        "lag_seconds",
        "error",
    }
    fields = report.log_fields()
    assert (fields["progress_recorded"], fields["restarted"], fields["error"]) == (
        False,
        True,
        "collector answered HTTP 500",
    )
    orjson.dumps(fields)  # one JSON line


@pytest.mark.parametrize(
    ("status", "records", "skipped", "level"),
    [
        ("delivered", 10, {}, logging.INFO),
        ("delivered", 10, {"not_a_metric": 2}, logging.INFO),
        ("already_delivered", 0, {}, logging.INFO),
        ("delivered", 0, {"dropped_by_rule": 3}, logging.INFO),  # what the rules asked for
        ("failed", 10, {}, logging.ERROR),
    ],
)
def test_the_log_line_is_an_error_when_the_object_failed(
    caplog: pytest.LogCaptureFixture, status: str, records: int, skipped: dict[str, int], level: int
) -> None:
    report = ObjectReport("b", "k", status=status, records=records)
    report.skipped.update(skipped)
    with caplog.at_level(logging.INFO, logger="cwotlp"):
        report.log()
    [record] = [r for r in caplog.records if r.name == "cwotlp"]
    assert (record.levelno, record.getMessage()) == (level, f"object {status}")
    assert record.object == report.log_fields()  # type: ignore[attr-defined]
