"""The sample events: each is read by the forwarder as AWS's would be, and the builders keep their shape."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from cwotlp.commands.replay import parse_failure_record
from cwotlp.source import ObjectRef, objects_in_event
from cwotlp_local.events import (
    ON_FAILURE_RECORD,
    S3_PUT,
    S3_PUT_ENCODED_KEYS,
    S3_PUT_TWO_RECORDS,
    S3_TEST_EVENT,
    S3Object,
    aws_time,
    event_names,
    load_event,
    on_failure_record,
    s3_put_event,
)

BUCKET = "cwotlp-demo-20240501115859742100000001"
FIREHOSE_KEY = (
    "metrics/2024/05/01/12/cwotlp-demo-metrics-1-2024-05-01-12-01-15-3f2b8c1e-7d4a-4e9b-a0c6-5b1d9e8f2a47.gz"
)


def shape(value: Any) -> Any:
    """The field names of a JSON value, recursively; lists by the shape of their first item."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def test_every_sample_event_is_a_json_object_and_loads_fresh() -> None:
    assert event_names() == sorted(
        [S3_PUT, S3_PUT_TWO_RECORDS, S3_PUT_ENCODED_KEYS, S3_TEST_EVENT, ON_FAILURE_RECORD]
    )
    first = load_event(S3_PUT)
    first["Records"].clear()
    assert len(load_event(S3_PUT)["Records"]) == 1  # a caller's change does not reach the next one


def test_the_forwarder_reads_the_put_notifications() -> None:
    [ref] = objects_in_event(load_event(S3_PUT)).refs
    assert ref == ObjectRef(BUCKET, FIREHOSE_KEY, 15874)
    found = objects_in_event(load_event(S3_PUT_TWO_RECORDS))
    refs = found.refs
    assert found.ignored == found.unusable == 0
    assert [r.key.split("/")[-1].split("-1-")[0] for r in refs] == [
        "cwotlp-demo-metrics",
        "cwotlp-demo-otel-metrics",
    ]


def test_encoded_keys_are_form_decoded() -> None:
    refs = objects_in_event(load_event(S3_PUT_ENCODED_KEYS)).refs
    assert [r.key for r in refs] == [
        "metrics/year=2024/month=05/replayed by ops/"
        "cwotlp-demo-metrics-1-2024-05-01-12-01-15 copy+(1)-München.gz",
        "metrics/backfill/2024-05-01T12:00:00Z/cwotlp-demo-metrics.gz",
    ]


def test_the_test_event_names_no_object() -> None:
    event = load_event(S3_TEST_EVENT)
    assert event["Event"] == "s3:TestEvent"
    found = objects_in_event(event)
    assert found.refs == [] and found.unusable == 0


def test_replay_reads_the_on_failure_record() -> None:
    record = load_event(ON_FAILURE_RECORD)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert parse_failure_record(json.dumps(record)) == [ObjectRef(BUCKET, FIREHOSE_KEY, 15874)]


def test_a_built_notification_has_the_sample_shape_and_encodes_keys() -> None:
    created = dt.datetime(2024, 5, 1, 12, 1, 16, 482_913, tzinfo=dt.UTC)
    items = [
        S3Object("bucket", "metrics/a b+c=d.gz", 12, "e1", created),
        S3Object("bucket", "metrics/plain.gz", 34, "e2", created),
    ]
    event = s3_put_event(items, "eu-west-1")
    assert shape(event) == shape(load_event(S3_PUT))
    first, second = event["Records"]
    assert first["eventTime"] == "2024-05-01T12:01:16.482Z"
    assert first["awsRegion"] == "eu-west-1"
    bucket = first["s3"]["bucket"]
    assert (bucket["name"], bucket["arn"]) == ("bucket", "arn:aws:s3:::bucket")
    assert first["s3"]["object"]["key"] == "metrics/a+b%2Bc%3Dd.gz"
    assert first["responseElements"] != second["responseElements"]  # every notification has its own ids
    assert [r.key for r in objects_in_event(event).refs] == [item.key for item in items]


def test_a_built_on_failure_record_has_the_sample_shape() -> None:
    event = s3_put_event([S3Object("bucket", "metrics/x.gz", 1)], "us-east-1")
    try:
        raise RuntimeError("collector: HTTP 503 after 3 attempts")
    except RuntimeError as error:
        record = on_failure_record(
            event,
            request_id="r-1",
            function_arn="arn:aws:lambda:us-east-1:1:function:f",
            error=error,
            invoke_count=3,
        )
    assert shape(record) == shape(load_event(ON_FAILURE_RECORD))
    assert record["requestContext"]["functionArn"] == "arn:aws:lambda:us-east-1:1:function:f:$LATEST"
    assert record["requestPayload"] is event
    assert record["responsePayload"]["errorMessage"] == "collector: HTTP 503 after 3 attempts"
    assert "raise RuntimeError" in record["responsePayload"]["stackTrace"][-1]


@pytest.mark.parametrize(
    ("when", "text"),
    [
        (dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC), "2024-05-01T12:00:00.000Z"),
        (
            dt.datetime(2024, 5, 1, 14, 0, 0, 999_999, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "2024-05-01T12:00:00.999Z",
        ),
    ],
)
def test_times_are_written_as_aws_writes_them(when: dt.datetime, text: str) -> None:
    assert aws_time(when) == text
