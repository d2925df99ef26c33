"""Events as AWS delivers them to the forwarder: JSON files in this package, and builders that fill them in.

The files are the one set of sample events. The local stack builds the S3 notifications and on-failure
records it sends from them, and tests load them with `load_event`:

  s3-object-created-put               an s3:ObjectCreated:Put notification for a Firehose object
  s3-object-created-put-two-records   a notification naming two objects (S3 itself sends one record per
                                      notification; a hand-made or re-driven event may hold several)
  s3-object-created-put-encoded-keys  keys S3 form-encodes: spaces as '+', '=' as %3D, a '+' as %2B,
                                      UTF-8 bytes as %XX, and a key whose '/' and ':' arrive as %2F, %3A
  s3-test-event                       the s3:TestEvent S3 sends once a notification is configured
  lambda-on-failure-record            what Lambda sends to the on-failure destination once the retries of
                                      an asynchronous invocation are exhausted (the event in requestPayload)

The field lists follow the AWS documentation: "Event message structure" (Amazon S3 User Guide) and
"Capturing records of Lambda asynchronous invocations" (AWS Lambda Developer Guide). The values are
made up.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import secrets
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import quote_plus

S3_PUT = "s3-object-created-put"
S3_PUT_TWO_RECORDS = "s3-object-created-put-two-records"
S3_PUT_ENCODED_KEYS = "s3-object-created-put-encoded-keys"
S3_TEST_EVENT = "s3-test-event"
ON_FAILURE_RECORD = "lambda-on-failure-record"


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of the sample event `name` (its file name without `.json`)."""
    text = resources.files(__name__).joinpath(f"{name}.json").read_text(encoding="utf-8")
    event = json.loads(text)
    if not isinstance(event, dict):
        raise ValueError(f"{name}.json does not hold a JSON object")
    return event


def event_names() -> list[str]:
    """The names of every sample event."""
    files = resources.files(__name__).iterdir()
    return sorted(f.name.removesuffix(".json") for f in files if f.name.endswith(".json"))


def aws_time(when: dt.datetime) -> str:
    """A time as AWS writes it in events: UTC, milliseconds, a Z (2024-05-01T12:01:16.482Z)."""
    utc = when.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class S3Object:
    """An object as an S3 notification names it."""

    bucket: str
    key: str  # as stored; the notification carries it form-encoded
    size: int
    etag: str = ""
    created: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


def s3_put_event(objects: Sequence[S3Object], region: str) -> dict[str, Any]:
    """The s3:ObjectCreated:Put notification for these objects, one record each."""
    template = load_event(S3_PUT)["Records"][0]
    return {"Records": [_put_record(copy.deepcopy(template), item, region) for item in objects]}


def _put_record(record: dict[str, Any], item: S3Object, region: str) -> dict[str, Any]:
    record["awsRegion"] = region
    record["eventTime"] = aws_time(item.created)
    record["responseElements"] = {
        "x-amz-request-id": secrets.token_hex(8).upper(),
        "x-amz-id-2": secrets.token_urlsafe(48),
    }
    bucket = record["s3"]["bucket"]
    bucket["name"], bucket["arn"] = item.bucket, f"arn:aws:s3:::{item.bucket}"
    record["s3"]["object"] = {
        "key": quote_plus(item.key, safe="/"),  # S3 form-encodes keys and leaves '/' as it is
        "size": item.size,
        "eTag": item.etag,
        "sequencer": f"{time.time_ns():X}",
    }
    return record


def on_failure_record(
    event: dict[str, Any],
    *,
    request_id: str,
    function_arn: str,
    error: BaseException,
    invoke_count: int,
) -> dict[str, Any]:
    """The record Lambda sends to the on-failure destination for an event whose attempts all failed."""
    record = load_event(ON_FAILURE_RECORD)
    record["timestamp"] = aws_time(dt.datetime.now(dt.UTC))
    record["requestContext"].update(
        requestId=request_id, functionArn=f"{function_arn}:$LATEST", approximateInvokeCount=invoke_count
    )
    record["requestPayload"] = event
    record["responsePayload"] = {
        "errorMessage": str(error),
        "errorType": type(error).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_tb(error.__traceback__)[-5:],
    }
    return record
