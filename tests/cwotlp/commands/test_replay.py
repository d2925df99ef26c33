"""`cwotlp replay` against moto (S3, Secrets Manager, SQS) and the local collector and token endpoint."""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import boto3
import orjson
import pytest
from moto import mock_aws

from conftest import fixture_bytes, short_backoff
from cwotlp.commands.cli import main
from cwotlp.commands.replay import parse_failure_record
from cwotlp.delivery.progress import DELIVERED, Marker
from cwotlp_local.collector import Collector
from cwotlp_local.faults import Fault
from cwotlp_local.otlp import datapoint_identity
from cwotlp_local.token_server import TokenServer

BUCKET = "metrics-bucket"
DATA = fixture_bytes("otel-contrib-cwmetricstream/multiple_records")  # 127 records
RECORDS = 127


@dataclass
class Aws:
    s3: Any
    sqs: Any
    queue_url: str
    collector: Collector
    tokens: TokenServer

    def put(self, key: str, data: bytes = DATA) -> None:
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=data)

    def progress(self, key: str) -> str | None:
        """ "all" for a delivered object, else the units it had delivered; None without a marker."""
        try:
            body = self.s3.get_object(Bucket=BUCKET, Key=f"progress/{key}")["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        marker = json.loads(body)
        return "all" if marker["state"] == DELIVERED else str(marker["position"])

    def mark_delivered(self, key: str) -> None:
        marker = Marker(DELIVERED, RECORDS, "another-fingerprint", "an-earlier-invocation", 0.0)
        self.s3.put_object(Bucket=BUCKET, Key=f"progress/{key}", Body=marker.body())

    def identities(self) -> list[str]:
        return [datapoint_identity(*point) for point in self.collector.datapoints()]

    def failure_record(self, *keys: str) -> str:
        """What Lambda's on-failure destination writes for an S3 event naming these keys."""
        event = {
            "Records": [{"s3": {"bucket": {"name": BUCKET}, "object": {"key": k, "size": 1}}} for k in keys]
        }
        return json.dumps(
            {
                "version": "1.0",
                "timestamp": "2026-11-24T21:30:00.000Z",
                "requestContext": {
                    "requestId": "c0ffee00-0000-0000-0000-000000000000",
                    "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:cwotlp:$LATEST",
                    "condition": "RetriesExhausted",
                    "approximateInvokeCount": 3,
                },
                "requestPayload": event,
                "responseContext": {
                    "statusCode": 200,
                    "executedVersion": "$LATEST",
                    "functionError": "Unhandled",
                },
                "responsePayload": {
                    "errorMessage": "1 of 1 objects not delivered",
                    "errorType": "DeliveryError",
                },
            }
        )


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, moto_environment: None) -> Iterator[Aws]:
    monkeypatch.setenv("CWOTLP_MAX_RETRIES", "1")
    short_backoff(monkeypatch)
    with (
        mock_aws(),
        TokenServer(client_id="replay", client_secret="replay-secret") as tokens,
        Collector(token_check=tokens.is_valid) as collector,
    ):
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        secret = {
            "endpoint": collector.url,
            "token_url": tokens.url,
            "client_id": "replay",
            "client_secret": "replay-secret",
            "allow_http": True,  # the local servers speak plain http
        }
        arn = boto3.client("secretsmanager").create_secret(Name="cwotlp", SecretString=json.dumps(secret))[
            "ARN"
        ]
        monkeypatch.setenv("CWOTLP_SECRET_ARN", arn)
        sqs = boto3.client("sqs")
        queue_url = sqs.create_queue(QueueName="cwotlp-failures")["QueueUrl"]
        yield Aws(s3, sqs, queue_url, collector, tokens)
        assert collector.errors == []


def replay(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    status = main(["replay", *args])
    out, err = capsys.readouterr()
    summary = orjson.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    return status, summary, err


def test_a_prefix_is_replayed_and_delivered_objects_are_skipped(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    for hour in ("20", "21", "22"):
        aws.put(f"metrics/2026/11/24/{hour}/stream-1.gz")
    aws.put("errors/2026/11/24/21/failed.gz")
    aws.mark_delivered("metrics/2026/11/24/20/stream-1.gz")
    status, summary, progress = replay(capsys, "--bucket", BUCKET, "--prefix", "metrics/2026/11/24/")
    assert status == 0
    assert summary == {
        "objects": 3,
        "already_delivered": 1,
        "delivered": 2,
        "datapoints": 2 * RECORDS,
        "messages_deleted": 0,
        "messages_kept": 0,
        "messages_unreadable": 0,
    }
    assert aws.collector.datapoint_count() == 2 * RECORDS
    assert "[3 " in progress and "metrics/2026/11/24/22/stream-1.gz" in progress
    assert aws.progress("metrics/2026/11/24/22/stream-1.gz") == "all"
    assert aws.progress("errors/2026/11/24/21/failed.gz") is None


def test_a_time_window_selects_by_last_modified(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    aws.put("metrics/early.gz")
    time.sleep(1.1)  # S3 times have one-second resolution
    aws.put("metrics/late.gz")
    late = aws.s3.head_object(Bucket=BUCKET, Key="metrics/late.gz")["LastModified"]
    early = aws.s3.head_object(Bucket=BUCKET, Key="metrics/early.gz")["LastModified"]
    assert early < late
    status, summary, _ = replay(capsys, "--bucket", BUCKET, "--since", late.isoformat())
    assert (status, summary["delivered"]) == (0, 1)
    assert aws.progress("metrics/late.gz") == "all" and aws.progress("metrics/early.gz") is None
    status, summary, _ = replay(
        capsys, "--bucket", BUCKET, "--until", (early + timedelta(seconds=1)).isoformat()
    )
    assert (status, summary["delivered"]) == (0, 1)
    assert aws.progress("metrics/early.gz") == "all"
    assert len(set(aws.identities())) == RECORDS


def test_the_queue_is_drained_and_malformed_messages_are_kept(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    aws.put("metrics/a b.gz")  # S3 events carry keys form-encoded
    aws.put("metrics/b.gz")
    aws.put("metrics/c.gz")
    aws.sqs.send_message(
        QueueUrl=aws.queue_url, MessageBody=aws.failure_record("metrics/a+b.gz", "metrics/b.gz")
    )
    aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody=aws.failure_record("metrics/c.gz"))
    aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody="{not json")
    aws.sqs.send_message(
        QueueUrl=aws.queue_url, MessageBody=json.dumps({"version": "1.0", "requestPayload": {}})
    )
    status, summary, progress = replay(capsys, "--queue-url", aws.queue_url, "--visibility-timeout", "0")
    assert status == 0
    assert summary["delivered"] == 3
    assert summary["messages_deleted"] == 2
    assert summary["messages_unreadable"] == 2
    assert "unreadable message" in progress and "not JSON" in progress
    assert aws.collector.datapoint_count() == 3 * RECORDS
    left = aws.sqs.receive_message(QueueUrl=aws.queue_url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"][:8] for m in left) == ['{"versio', "{not jso"]


def test_a_failed_delivery_keeps_the_message_and_exits_1(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    aws.put("metrics/a.gz")
    aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody=aws.failure_record("metrics/a.gz"))
    aws.collector.inject(Fault(status=503), times=10)
    status, summary, _ = replay(capsys, "--queue-url", aws.queue_url, "--visibility-timeout", "0")
    assert status == 1
    assert (summary["failed"], summary["messages_kept"], summary["messages_deleted"]) == (1, 1, 0)
    aws.collector.clear_faults()
    status, summary, _ = replay(capsys, "--queue-url", aws.queue_url, "--visibility-timeout", "0")
    assert (status, summary["messages_deleted"]) == (0, 1)
    assert len(set(aws.identities())) == aws.collector.datapoint_count() == RECORDS


def test_a_dry_run_sends_and_changes_nothing(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    aws.put("metrics/new.gz")
    aws.put("metrics/old.gz")
    aws.mark_delivered("metrics/old.gz")
    aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody=aws.failure_record("metrics/new.gz"))
    status, summary, _ = replay(capsys, "--bucket", BUCKET, "--dry-run")
    assert status == 0
    assert (summary["would_deliver"], summary["already_delivered"]) == (1, 1)
    status, summary, _ = replay(
        capsys, "--queue-url", aws.queue_url, "--dry-run", "--visibility-timeout", "0"
    )
    assert (summary["would_deliver"], summary["messages_deleted"]) == (1, 0)
    assert aws.collector.attempts == 0 and aws.tokens.issued == 0
    assert aws.progress("metrics/new.gz") is None
    assert len(aws.sqs.receive_message(QueueUrl=aws.queue_url)["Messages"]) == 1


def test_aws_errors_and_bad_options_exit_2(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = replay(capsys, "--bucket", "no-such-bucket")
    assert status == 2 and "NoSuchBucket" in err
    with pytest.raises(SystemExit) as caught:
        main(["replay", "--bucket", BUCKET, "--since", "yesterday"])
    assert caught.value.code == 2
    assert "not an ISO 8601 time" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("", "not JSON"),
        ("[]", "no requestPayload"),
        ('{"requestPayload": "not an event"}', "no requestPayload"),
        ('{"requestPayload": {"Records": [{"eventSource": "aws:sqs"}]}}', "names no S3 object"),
    ],
)
def test_unusable_failure_records_say_why(body: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_failure_record(body)


def test_the_deployed_functions_settings_are_used(
    aws: Aws, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`replay --function`, as docs/operations.md runs it: the function's naming and secret win."""
    role = boto3.client("iam").create_role(RoleName="forwarder", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("handler.py", "")
    variables = {
        "CWOTLP_SECRET_ARN": os.environ["CWOTLP_SECRET_ARN"],
        "CWOTLP_NAMING": "prometheus",
        "CWOTLP_STREAM_FORMAT": "json",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",  # not a forwarder setting: left out
    }
    boto3.client("lambda").create_function(
        FunctionName="cwotlp-forwarder",
        Runtime="python3.13",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": package.getvalue()},
        Environment={"Variables": variables},
    )
    monkeypatch.setenv("CWOTLP_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:stale")
    aws.put("metrics/2026/11/24/21/stream-1.gz")
    status, summary, _ = replay(capsys, "--function", "cwotlp-forwarder", "--bucket", BUCKET)
    assert (status, summary["delivered"]) == (0, 1)
    names = {name for _, name, _ in aws.collector.datapoints()}
    assert names and all(name.startswith("aws_") for name in names)  # prometheus names, as deployed


def test_an_unknown_function_exits_2(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = replay(capsys, "--function", "no-such-function", "--bucket", BUCKET)
    assert status == 2
    assert "cannot read the configuration of function no-such-function" in err


def _refuse(operation: str, code: str, when: Any) -> Any:
    from botocore.exceptions import ClientError

    def refuse(params: dict[str, Any], **_: Any) -> None:
        if when(params):
            raise ClientError({"Error": {"Code": code, "Message": "refused"}}, operation)

    return refuse


def test_a_dry_run_reports_a_marker_it_cannot_read_and_goes_on(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    aws.put("metrics/a.gz")
    aws.put("metrics/b.gz")
    deny = _refuse("GetObject", "AccessDenied", lambda params: params.get("Key") == "progress/metrics/a.gz")
    events = boto3.DEFAULT_SESSION.events
    events.register("before-parameter-build.s3.GetObject", deny, unique_id="test-deny")
    try:
        status, summary, progress = replay(capsys, "--bucket", BUCKET, "--dry-run")
    finally:
        events.unregister("before-parameter-build.s3.GetObject", unique_id="test-deny")
    assert status == 1
    assert (summary["failed"], summary["would_deliver"]) == (1, 1)
    assert "GetObject on s3://" in progress and "denied" in progress


def test_a_message_that_cannot_be_deleted_is_kept_and_the_run_goes_on(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    aws.put("metrics/a.gz")
    aws.put("metrics/b.gz")
    for key in ("metrics/a.gz", "metrics/b.gz"):
        aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody=aws.failure_record(key))
    calls: list[int] = []
    refuse_first = _refuse(
        "DeleteMessage", "ReceiptHandleIsInvalid", lambda _: not calls.append(1) and len(calls) == 1
    )
    events = boto3.DEFAULT_SESSION.events
    events.register("before-parameter-build.sqs.DeleteMessage", refuse_first, unique_id="test-refuse")
    try:
        status, summary, progress = replay(capsys, "--queue-url", aws.queue_url, "--visibility-timeout", "0")
    finally:
        events.unregister("before-parameter-build.sqs.DeleteMessage", unique_id="test-refuse")
    assert status == 0
    assert (summary["delivered"], summary["messages_deleted"], summary["messages_kept"]) == (2, 1, 1)
    assert "not deleted (ReceiptHandleIsInvalid)" in progress
    assert aws.collector.datapoint_count() == 2 * RECORDS


@pytest.mark.parametrize("seconds", ["0", "901", "nan", "soon"])
def test_an_object_timeout_beyond_the_functions_longest_run_is_refused(
    capsys: pytest.CaptureFixture[str], seconds: str
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["replay", "--bucket", BUCKET, "--object-timeout", seconds])
    assert caught.value.code == 2
    assert "not a number of seconds from 1 to 900" in capsys.readouterr().err


def test_a_dry_run_tells_an_object_written_again_and_one_that_is_gone(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    """As a delivery would: a marker counts one content, and an object must exist to be delivered."""
    aws.put("metrics/again.gz")
    aws.put("metrics/same.gz")
    status, summary, _ = replay(capsys, "--bucket", BUCKET)
    assert (status, summary["delivered"]) == (0, 2)
    aws.put("metrics/again.gz", DATA + b"\n")  # another content under the key
    status, summary, _ = replay(capsys, "--bucket", BUCKET, "--dry-run")
    assert (summary["would_deliver"], summary["already_delivered"]) == (1, 1)
    aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody=aws.failure_record("metrics/gone.gz"))
    status, summary, progress = replay(
        capsys, "--queue-url", aws.queue_url, "--dry-run", "--visibility-timeout", "0"
    )
    assert (status, summary["failed"]) == (1, 1)
    assert "S3 HeadObject: NoSuchKey" in progress


def test_a_summary_that_cannot_be_written_goes_to_stderr_and_exits_2(
    aws: Aws, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cwotlp replay ... | head -c 0`: the objects are replayed; the summary, which stdout no longer takes,
    is on stderr, in the one line that says why, and no traceback follows."""
    aws.put("metrics/a.gz")
    read_end, write_end = os.pipe()
    os.close(read_end)
    with open(write_end, "w", closefd=True) as closed_pipe, monkeypatch.context() as patch:
        patch.setattr("sys.stdout", closed_pipe)
        status = main(["replay", "--bucket", BUCKET])
    err = capsys.readouterr().err
    assert status == 2
    (line,) = [line for line in err.splitlines() if line.startswith("cwotlp:")]
    assert line.startswith("cwotlp: cannot write stdout: Broken pipe; the summary: {")
    assert orjson.loads(line.split("the summary: ", 1)[1])["delivered"] == 1
    assert aws.progress("metrics/a.gz") == "all"
    assert aws.collector.datapoint_count() == RECORDS


def test_the_summary_goes_to_a_stdout_redirected_in_memory(aws: Aws) -> None:
    """As `contextlib.redirect_stdout` sets it: a text stream with no bytes underneath."""
    aws.put("metrics/a.gz")
    with contextlib.redirect_stdout(io.StringIO()) as out:
        status = main(["replay", "--bucket", BUCKET])
    assert status == 0
    assert orjson.loads(out.getvalue())["delivered"] == 1
