"""The Lambda handler on real S3 events, with moto for AWS and real local servers for the rest.

Each fault scenario checks what arrived at the collector, what the handler returned or raised, and that
after Lambda's retry every datapoint arrived exactly once.
"""

from __future__ import annotations

import gzip
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

import boto3
import orjson
import pytest
from moto import mock_aws

import cwotlp.handler
from conftest import fixture_bytes, short_backoff
from cwotlp.errors import ConfigError, DeliveryError
from cwotlp_local.collector import Collector
from cwotlp_local.faults import Fault
from cwotlp_local.otlp import datapoint_identity
from cwotlp_local.token_server import TokenServer

BUCKET = "metrics-bucket"
CLIENT_SECRET = "the-client-secret-value"
DATA = fixture_bytes("telegraf-cloudwatch-metric-streams/decoded.jsonl")  # 1160 records
RECORDS = DATA.count(b"\n")


class LambdaContext:
    """The part of Lambda's context object the handler uses."""

    function_name = "cwotlp-forwarder"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    def __init__(self, seconds: float = 120) -> None:
        self.seconds = seconds

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds * 1000)


class OutageAfter:
    """A token check that opens an outage (queued faults) once `requests` requests were let through."""

    def __init__(self, tokens: TokenServer) -> None:
        self.tokens = tokens
        self.collector: Collector | None = None
        self.plan: tuple[int, Fault, int] | None = None
        self.seen = 0

    def __call__(self, token: str) -> bool:
        self.seen += 1
        if self.plan and self.collector and self.seen == self.plan[0]:
            self.collector.inject(self.plan[1], times=self.plan[2])
        return self.tokens.is_valid(token)


@dataclass
class Pipeline:
    s3: Any
    secrets: Any
    collector: Collector
    tokens: TokenServer
    outage: OutageAfter
    secret_arn: str
    invocations: list[str] = field(default_factory=list)

    def put(self, key: str, data: bytes) -> dict[str, Any]:
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        return s3_event(key, len(data))

    def invoke(self, event: dict[str, Any], seconds: float = 120) -> dict[str, Any]:
        try:
            result = cwotlp.handler.handler(event, LambdaContext(seconds))
        except Exception as error:
            self.invocations.append(type(error).__name__)
            raise
        self.invocations.append("ok")
        return result

    def progress(self, key: str) -> str | None:
        """ "all" for a delivered object, else the units it had delivered; None without a marker."""
        try:
            body = self.s3.get_object(Bucket=BUCKET, Key=f"progress/{key}")["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        marker = json.loads(body)
        return "all" if marker["state"] == "delivered" else str(marker["position"])

    def identities(self) -> list[str]:
        return [datapoint_identity(*point) for point in self.collector.datapoints()]


def s3_event(key: str, size: int) -> dict[str, Any]:
    """An s3:ObjectCreated:Put notification as S3 sends it: the key is form-encoded."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": BUCKET, "arn": f"arn:aws:s3:::{BUCKET}"},
                    "object": {"key": quote_plus(key, safe="/"), "size": size},
                },
            }
        ]
    }


@pytest.fixture
def pipeline(monkeypatch: pytest.MonkeyPatch, moto_environment: None) -> Iterator[Pipeline]:
    monkeypatch.setenv("AWS_LAMBDA_LOG_FORMAT", "JSON")  # Lambda's own JSON logging: records reach caplog
    monkeypatch.setenv("CWOTLP_MAX_REQUEST_BYTES", "60000")  # several requests per object
    monkeypatch.setenv("CWOTLP_MAX_RETRIES", "2")
    monkeypatch.setattr(cwotlp.handler, "_runtime", None)
    forwarder_log = logging.getLogger("cwotlp")  # as in Lambda, whatever ran in this process before
    monkeypatch.setattr(forwarder_log, "handlers", [])
    monkeypatch.setattr(forwarder_log, "propagate", True)
    short_backoff(monkeypatch)
    with (
        mock_aws(),
        TokenServer(client_id="forwarder", client_secret=CLIENT_SECRET, audience="otlp") as tokens,
    ):
        outage = OutageAfter(tokens)
        with Collector(token_check=outage) as collector:
            outage.collector = collector
            s3 = boto3.client("s3")
            s3.create_bucket(Bucket=BUCKET)
            secrets = boto3.client("secretsmanager")
            secret = {
                "endpoint": collector.base_url,
                "token_url": tokens.url,
                "client_id": "forwarder",
                "client_secret": CLIENT_SECRET,
                "audience": "otlp",
                "allow_http": True,  # these local servers speak plain HTTP; TLS is tested on its own
            }
            arn = secrets.create_secret(Name="cwotlp", SecretString=json.dumps(secret))["ARN"]
            monkeypatch.setenv("CWOTLP_SECRET_ARN", arn)
            yield Pipeline(s3, secrets, collector, tokens, outage, arn)
            assert collector.errors == []


def object_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.object for r in caplog.records if hasattr(r, "object")]  # type: ignore[attr-defined]


KEY = "metrics/2026/11/24/21/stream-1-2026-11-24-21-30-00-a b=c.gz"


def test_an_object_is_delivered_once_and_marked(pipeline: Pipeline, caplog: pytest.LogCaptureFixture) -> None:
    event = pipeline.put(KEY, gzip.compress(DATA))
    with caplog.at_level(logging.INFO, logger="cwotlp"):
        result = pipeline.invoke(event)
    assert result == {"objects": 1, "delivered": 1, "already_delivered": 0, "datapoints": RECORDS}
    assert pipeline.collector.datapoint_count() == RECORDS
    assert len(set(pipeline.identities())) == RECORDS
    assert pipeline.progress(KEY) == "all"
    [line] = object_lines(caplog)
    assert line["key"] == KEY
    assert line["status"] == "delivered"
    assert line["records"] == line["datapoints"] == RECORDS
    assert line["requests"] == len(pipeline.collector.requests) > 1
    assert line["gzip_bytes"] < line["raw_bytes"]
    assert line["skipped"] == {}
    assert line["retries"] == 0
    assert isinstance(line["duration_ms"], int)
    oldest = min(orjson.loads(record)["timestamp"] for record in DATA.splitlines())
    assert abs(line["lag_seconds"] - (time.time() - oldest / 1000)) < 60


def test_a_secret_in_another_region_is_read_in_its_region(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    value = pipeline.secrets.get_secret_value(SecretId=pipeline.secret_arn)["SecretString"]
    elsewhere = boto3.client("secretsmanager", region_name="eu-west-1")
    arn = elsewhere.create_secret(Name="cwotlp-eu", SecretString=value)["ARN"]
    assert ":eu-west-1:" in arn
    pipeline.secrets.delete_secret(SecretId=pipeline.secret_arn, ForceDeleteWithoutRecovery=True)
    monkeypatch.setenv("CWOTLP_SECRET_ARN", arn)
    monkeypatch.setattr(cwotlp.handler, "_runtime", None)
    result = pipeline.invoke(pipeline.put(KEY, gzip.compress(DATA)))
    assert result["delivered"] == 1
    assert pipeline.collector.datapoint_count() == RECORDS


@pytest.mark.parametrize(
    ("arn", "region"),
    [
        ("arn:aws:secretsmanager:eu-west-1:111122223333:secret:otlp-AbCdEf", "eu-west-1"),
        ("arn:aws-us-gov:secretsmanager:us-gov-west-1:111122223333:secret:a:b-AbCdEf", "us-gov-west-1"),
        ("otlp", None),
        ("arn:aws:secretsmanager::111122223333:secret:otlp", None),
        ("", None),
    ],
)
def test_the_region_of_an_arn(arn: str, region: str | None) -> None:
    assert cwotlp.handler.region_of(arn) == region


def test_a_repeated_event_sends_nothing(pipeline: Pipeline, caplog: pytest.LogCaptureFixture) -> None:
    event = pipeline.put(KEY, gzip.compress(DATA))
    pipeline.invoke(event)
    requests_before = pipeline.collector.attempts
    with caplog.at_level(logging.INFO, logger="cwotlp"):
        result = pipeline.invoke(event)
    assert result["already_delivered"] == 1
    assert pipeline.collector.attempts == requests_before
    assert object_lines(caplog)[-1]["status"] == "already_delivered"


def test_an_outage_mid_object_fails_the_invocation_and_the_retry_resumes(
    pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    pipeline.outage.plan = (3, Fault(status=503), 3)  # after 3 accepted requests: more 503s than retries
    event = pipeline.put(KEY, gzip.compress(DATA))
    with caplog.at_level(logging.INFO, logger="cwotlp"), pytest.raises(DeliveryError, match="HTTP 503"):
        pipeline.invoke(event)
    accepted = pipeline.collector.datapoint_count()
    assert 0 < accepted < RECORDS
    assert pipeline.progress(KEY) == str(accepted)
    failed = object_lines(caplog)[0]
    assert failed["status"] == "failed"
    assert failed["retries"] == 2
    assert "HTTP 503" in failed["error"]

    with caplog.at_level(logging.INFO, logger="cwotlp"):
        pipeline.invoke(event)  # Lambda's retry
    assert pipeline.progress(KEY) == "all"
    identities = pipeline.identities()
    assert len(identities) == RECORDS == len(set(identities))
    assert object_lines(caplog)[-1]["resumed_from"] == accepted


def test_a_short_outage_is_ridden_out_by_retries(pipeline: Pipeline) -> None:
    pipeline.outage.plan = (2, Fault(status=429, headers={"Retry-After": "0"}), 2)
    pipeline.invoke(pipeline.put(KEY, DATA))
    assert len(set(pipeline.identities())) == pipeline.collector.datapoint_count() == RECORDS
    assert pipeline.invocations == ["ok"]


def test_connection_resets_and_413_on_the_way(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CWOTLP_MAX_REQUEST_BYTES", "400000")
    pipeline.collector.max_body_bytes = 100_000
    pipeline.outage.plan = (1, Fault(reset=True), 1)
    pipeline.invoke(pipeline.put(KEY, gzip.compress(DATA)))
    assert 413 in pipeline.collector.statuses
    assert 0 in pipeline.collector.statuses  # the reset
    assert len(set(pipeline.identities())) == pipeline.collector.datapoint_count() == RECORDS


def test_a_collector_that_refuses_everything_fails_within_seven_requests(pipeline: Pipeline) -> None:
    pipeline.collector.inject(Fault(status=400, body=b"unknown tenant"), times=100)
    with pytest.raises(DeliveryError, match=r"refuses everything.*unknown tenant"):
        pipeline.invoke(pipeline.put(KEY, DATA))
    assert pipeline.collector.attempts == 7  # the request, its halves, its quarters
    assert pipeline.progress(KEY) == "0"


def test_a_token_endpoint_failure_fails_the_invocation_and_loses_nothing(pipeline: Pipeline) -> None:
    pipeline.tokens.inject(Fault(status=401, body=b'{"error":"invalid_client"}'))
    event = pipeline.put(KEY, DATA)
    with pytest.raises(DeliveryError, match=r"token endpoint .* answered HTTP 401: invalid_client") as caught:
        pipeline.invoke(event)
    assert CLIENT_SECRET not in str(caught.value)
    assert pipeline.collector.datapoint_count() == 0
    pipeline.invoke(event)
    assert len(set(pipeline.identities())) == RECORDS


def test_the_token_is_refreshed_once_on_401(pipeline: Pipeline) -> None:
    pipeline.invoke(pipeline.put(KEY, DATA))
    pipeline.tokens.expire_all()
    second = KEY.replace("a b=c", "second")
    pipeline.invoke(pipeline.put(second, DATA))
    assert pipeline.tokens.issued == 2
    assert pipeline.collector.status_counts()[401] == 1
    assert len(set(pipeline.identities())) == RECORDS  # the same records twice: same identities


def test_malformed_and_foreign_lines_are_counted_not_fatal(
    pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    data = fixture_bytes("otel-contrib-cwmetricstream/some_invalid_records") + b"{broken\n\n"
    with caplog.at_level(logging.INFO, logger="cwotlp"):
        pipeline.invoke(pipeline.put(KEY, data))
    assert pipeline.collector.datapoint_count() == 88
    assert object_lines(caplog)[0]["skipped"] == {"not_a_metric": 4, "malformed_json": 1}


def test_a_truncated_gzip_object_delivers_its_complete_lines(
    pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    zipped = gzip.compress(DATA)
    with caplog.at_level(logging.INFO, logger="cwotlp"):
        pipeline.invoke(pipeline.put(KEY, zipped[: len(zipped) // 2]))
    line = object_lines(caplog)[0]
    assert line["skipped"]["truncated_gzip"] == 1
    assert 0 < pipeline.collector.datapoint_count() == line["records"] < RECORDS
    assert pipeline.progress(KEY) == "all"


def test_an_empty_object_sends_nothing(pipeline: Pipeline) -> None:
    result = pipeline.invoke(pipeline.put(KEY, b""))
    assert result["datapoints"] == 0
    assert pipeline.collector.attempts == 0
    assert pipeline.tokens.issued == 0
    assert pipeline.progress(KEY) == "all"


def test_an_object_with_ten_tags_is_delivered_and_its_tags_left_alone(pipeline: Pipeline) -> None:
    event = pipeline.put(KEY, DATA)
    tags = [{"Key": f"tag{i}", "Value": str(i)} for i in range(10)]  # S3's limit: no room for one more
    pipeline.s3.put_object_tagging(Bucket=BUCKET, Key=KEY, Tagging={"TagSet": tags})
    pipeline.invoke(event)
    assert pipeline.progress(KEY) == "all"
    assert pipeline.s3.get_object_tagging(Bucket=BUCKET, Key=KEY)["TagSet"] == tags
    assert len(set(pipeline.identities())) == RECORDS


def test_only_the_failed_object_of_an_event_is_retried(pipeline: Pipeline) -> None:
    small = fixture_bytes("otel-contrib-cwmetricstream/single_record")
    first = pipeline.put(KEY, small)
    second_key = KEY.replace("a b=c", "other")
    second = pipeline.put(second_key, DATA)
    event = {"Records": first["Records"] + second["Records"]}
    pipeline.outage.plan = (2, Fault(status=503), 100)  # the first object's request and one of the second
    with pytest.raises(
        DeliveryError,
        match=r"1 of 2 objects not delivered: .*other\.gz: collector http://127.0.0.1:\d+: HTTP 503",
    ):
        pipeline.invoke(event)
    assert pipeline.progress(KEY) == "all"
    assert pipeline.progress(second_key) == str(pipeline.collector.datapoint_count() - 1)
    pipeline.collector.clear_faults()
    pipeline.invoke(event)
    assert pipeline.progress(second_key) == "all"
    identities = pipeline.identities()
    assert len(identities) == len(set(identities)) == RECORDS + 1


def test_a_missing_object_fails_with_the_s3_error(pipeline: Pipeline) -> None:
    with pytest.raises(DeliveryError, match="NoSuchKey"):
        pipeline.invoke(s3_event("metrics/gone.gz", 10))


def test_secrets_manager_errors_fail_the_invocation(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline.secrets.delete_secret(SecretId=pipeline.secret_arn, ForceDeleteWithoutRecovery=True)
    event = pipeline.put(KEY, DATA)
    with pytest.raises(DeliveryError, match="ResourceNotFoundException"):
        pipeline.invoke(event)
    assert pipeline.collector.attempts == 0


def test_a_secret_missing_a_field_names_it(pipeline: Pipeline) -> None:
    pipeline.secrets.put_secret_value(
        SecretId=pipeline.secret_arn,
        SecretString=json.dumps(
            {
                "endpoint": "https://127.0.0.1:9",
                "token_url": "https://127.0.0.1:9",
                "client_secret": CLIENT_SECRET,
            }
        ),
    )
    with pytest.raises(DeliveryError, match="lacks the field 'client_id'") as caught:
        pipeline.invoke(pipeline.put(KEY, DATA))
    assert CLIENT_SECRET not in str(caught.value)


def test_no_secret_reaches_the_logs(
    pipeline: Pipeline, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    pipeline.outage.plan = (1, Fault(status=503), 100)
    event = pipeline.put(KEY, DATA)
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="cwotlp"):
        cwotlp.handler.runtime()  # configures logging as in Lambda
        logging.getLogger().setLevel(logging.DEBUG)  # an operator turned everything up
        with pytest.raises(DeliveryError):
            pipeline.invoke(event)
        pipeline.collector.clear_faults()
        pipeline.invoke(event)
    out, err = capfd.readouterr()
    logged = (
        caplog.text
        + out
        + err
        + "".join(orjson.dumps(r.__dict__, default=str).decode() for r in caplog.records)
    )
    assert CLIENT_SECRET not in logged
    assert "Bearer " not in logged


def test_a_missing_secret_arn_is_a_clear_error(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CWOTLP_SECRET_ARN")
    with pytest.raises(ConfigError, match="CWOTLP_SECRET_ARN is not set"):
        pipeline.invoke(pipeline.put(KEY, DATA))


def test_records_that_are_not_s3_are_ignored(pipeline: Pipeline, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="cwotlp"):
        result = pipeline.invoke({"Records": [{"eventSource": "aws:sqs"}]})
    assert result["objects"] == 0
    assert any(getattr(r, "ignored", 0) == 1 for r in caplog.records)


@pytest.mark.parametrize("stream_format", ["json", "opentelemetry1.0"])
def test_protobuf_requests_in_both_stream_formats(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, stream_format: str
) -> None:
    from cwotlp_local.generator import firehose_object, generate_records
    from cwotlp_local.otel1 import otel1_object

    monkeypatch.setenv("CWOTLP_OTLP_ENCODING", "protobuf")
    monkeypatch.setenv("CWOTLP_STREAM_FORMAT", stream_format)
    records = list(generate_records(500, seed=9))
    data = otel1_object(records, per_frame=60) if stream_format != "json" else firehose_object(records)
    pipeline.outage.plan = (1, Fault(status=503), 3)  # fail mid-object, then resume
    event = pipeline.put(KEY, data)
    with pytest.raises(DeliveryError):
        pipeline.invoke(event)
    pipeline.invoke(event)
    assert {r.content_type for r in pipeline.collector.requests} == {"application/x-protobuf"}
    identities = pipeline.identities()
    assert len(identities) == len(set(identities)) == len(records)


def test_a_warm_process_frees_what_failed_deliveries_leave_in_cycles(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the Lambda's collector setting (cwotlp.process), a process that fails delivery after delivery
    still frees the garbage in cycles they leave: after 450 failures, less is waiting than 150 of them
    leave (measured first with the collector off), so the collector freed the rest on its own."""
    import gc

    from cwotlp.process import collect_cycles_less_often

    def fail(times: int) -> None:
        for _ in range(times):
            with pytest.raises(DeliveryError):
                pipeline.invoke(event)

    short_backoff(monkeypatch, 0.0001)
    pipeline.collector.inject(Fault(reset=True), times=100_000)  # a collector that drops every connection
    event = pipeline.put(KEY, fixture_bytes("otel-contrib-cwmetricstream/multiple_records"))
    fail(3)  # warm: clients, session, imports (conftest restores the collector's settings after)
    gc.collect()
    gc.disable()
    fail(20)
    left_by_each = gc.collect() / 20
    gc.enable()
    collect_cycles_less_often()
    fail(450)
    waiting = gc.collect()
    assert left_by_each > 100  # failures do leave cycles, so the measure can tell
    assert waiting < left_by_each * 150
