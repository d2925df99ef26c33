"""The local stack: AWS as the module sets it up, the servers, the environment, and the real handler."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
import requests

import cwotlp.handler
from cwotlp_local.environment import UnsafeEnvironment
from cwotlp_local.generator import firehose_object, generate_records
from cwotlp_local.names import ModuleNames
from cwotlp_local.otel1 import otel1_object
from cwotlp_local.stack import LocalStack, StackSettings

CREATED = dt.datetime(2024, 5, 1, 12, 1, 15, tzinfo=dt.UTC)
RECORDS = list(generate_records(300, seed=5))


def test_aws_is_set_up_as_the_module_names_it(local_stack: LocalStack) -> None:
    names = ModuleNames()
    assert local_stack.bucket.startswith(names.bucket_prefix)
    local_stack.s3.head_bucket(Bucket=local_stack.bucket)
    secret = local_stack.secretsmanager.get_secret_value(SecretId=names.secret_name)
    assert secret["ARN"] == local_stack.secret_arn
    assert json.loads(secret["SecretString"]) == {
        "endpoint": local_stack.collector.url,
        "token_url": local_stack.tokens.url,
        "client_id": "cwotlp-demo-client",
        "client_secret": local_stack.client_secret,
        "audience": "https://collector.demo.local",
        "allow_http": True,  # this stack runs without TLS, which the forwarder accepts only when told
    }
    assert local_stack.sqs.get_queue_url(QueueName=names.failure_queue)["QueueUrl"] == local_stack.queue_url
    assert os.environ["CWOTLP_SECRET_ARN"] == local_stack.secret_arn
    assert os.environ["AWS_LAMBDA_FUNCTION_NAME"] == names.function_name
    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
    assert "AWS_ENDPOINT_URL" not in os.environ  # moto in-process needs no endpoint
    assert local_stack.client_secret not in repr(local_stack)


def test_a_firehose_object_is_delivered_by_the_real_handler(local_stack: LocalStack) -> None:
    item = local_stack.put_firehose_object("cwotlp-demo-metrics", firehose_object(RECORDS), CREATED, "id-1")
    assert item.key == "metrics/2024/05/01/12/cwotlp-demo-metrics-1-2024-05-01-12-01-15-id-1.gz"
    result = local_stack.invoke(local_stack.s3_event(item))
    assert result == {"objects": 1, "delivered": 1, "already_delivered": 0, "datapoints": len(RECORDS)}
    assert local_stack.collector.datapoint_count() == len(RECORDS)
    assert local_stack.tokens.issued == 1


def test_each_forwarder_has_its_own_environment_and_warm_runtime(local_stack: LocalStack) -> None:
    seen: list[str | None] = []
    check_token = local_stack.tokens.is_valid

    def token_check(token: str) -> bool:  # runs while the handler waits for the collector's answer
        seen.append(os.environ.get("CWOTLP_STREAM_FORMAT"))
        return check_token(token)

    local_stack.collector.token_check = token_check
    json_forwarder = local_stack.forwarder("json", stream_format="json")
    otel_forwarder = local_stack.forwarder(
        "otel", stream_format="opentelemetry1.0", CWOTLP_OTLP_ENCODING="protobuf"
    )
    json_object = local_stack.put("metrics/a.gz", firehose_object(RECORDS))
    otel_object = local_stack.put("metrics/b.gz", otel1_object(RECORDS, per_frame=100))

    local_stack.invoke(local_stack.s3_event(json_object), json_forwarder)
    warm = json_forwarder.runtime
    local_stack.invoke(local_stack.s3_event(otel_object), otel_forwarder)
    local_stack.invoke(local_stack.s3_event(json_object), json_forwarder)  # already delivered

    assert warm is not None and json_forwarder.runtime is warm
    assert otel_forwarder.runtime is not None and otel_forwarder.runtime is not warm
    content_types = [request.content_type for request in local_stack.collector.requests]
    assert set(content_types[: content_types.index("application/x-protobuf")]) == {"application/json"}
    assert content_types[-1] == "application/x-protobuf"
    assert set(seen) == {"json", "opentelemetry1.0"} and seen[0] == "json" and seen[-1] == "opentelemetry1.0"
    assert "CWOTLP_STREAM_FORMAT" not in os.environ
    assert cwotlp.handler._runtime is None


def test_the_on_failure_queue_is_re_driven_with_replay(local_stack: LocalStack) -> None:
    item = local_stack.put("metrics/failed once.gz", firehose_object(RECORDS))
    try:
        raise RuntimeError("collector: HTTP 503 after 3 attempts")
    except RuntimeError as error:
        local_stack.send_to_on_failure_destination(local_stack.s3_event(item), "request-1", error, 3)
    assert local_stack.queue_depth() == 1
    replayed = local_stack.replay("--queue-url", local_stack.queue_url, "--visibility-timeout", "0")
    assert replayed.status == 0, replayed.output
    assert json.loads(replayed.output[-1])["messages_deleted"] == 1
    assert local_stack.queue_depth() == 0
    assert local_stack.collector.datapoint_count() == len(RECORDS)


def test_the_queue_depth_counts_messages_in_flight(local_stack: LocalStack) -> None:
    """A message received and not deleted (a replay that failed) is still in the queue."""
    forwarder = local_stack.forwarder("in flight")
    item = local_stack.put("metrics/failed.gz", firehose_object(RECORDS))
    local_stack.send_to_on_failure_destination(
        local_stack.s3_event(item), "request-2", RuntimeError("HTTP 503"), 3, forwarder
    )
    assert local_stack.queue_depth(forwarder.queue_url) == local_stack.queue_depth() == 1
    received = local_stack.sqs.receive_message(QueueUrl=forwarder.queue_url, VisibilityTimeout=300)
    assert len(received["Messages"]) == 1
    assert local_stack.queue_depth(forwarder.queue_url) == local_stack.queue_depth() == 1
    assert local_stack.queue_depth(local_stack.queue_url) == 0


def test_a_new_secret_version_changes_and_removes_fields(local_stack: LocalStack) -> None:
    local_stack.update_secret(endpoint=local_stack.collector.base_url, audience=None)
    value = json.loads(
        local_stack.secretsmanager.get_secret_value(SecretId=local_stack.secret_arn)["SecretString"]
    )
    assert value["endpoint"] == local_stack.collector.base_url
    assert "audience" not in value
    assert value["client_secret"] == local_stack.client_secret


def test_the_demo_stack_serves_tls_and_runs_a_moto_server() -> None:
    with LocalStack() as stack:
        assert stack.moto_url is not None and stack.moto_url.startswith("http://127.0.0.1:")
        assert os.environ["AWS_ENDPOINT_URL"] == stack.moto_url
        assert stack.collector.url.startswith("https://127.0.0.1:")
        bundle = os.environ["CWOTLP_CA_BUNDLE"]
        assert Path(bundle).read_text().count("BEGIN CERTIFICATE") == 2
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(stack.tokens.url, timeout=5)  # not trusted without the bundle
        item = stack.put_firehose_object("cwotlp-demo-metrics", firehose_object(RECORDS), CREATED)
        assert stack.invoke(stack.s3_event(item))["datapoints"] == len(RECORDS)
        assert stack.collector.errors == []


def test_leaving_the_stack_puts_everything_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("CWOTLP_DIMENSION_ATTRIBUTES", "true")
    before = dict(os.environ)
    with LocalStack(StackSettings(aws="in_process", tls=False)) as stack:
        assert "AWS_PROFILE" in stack.cleared
        assert os.environ["CWOTLP_DIMENSION_ATTRIBUTES"] == "false"  # the stack's own settings
        stack.invoke(stack.s3_event(stack.put("metrics/empty.gz", b"")))
        collector_url = stack.collector.url
    assert dict(os.environ) == before
    assert cwotlp.handler._runtime is None
    with pytest.raises(requests.ConnectionError):
        requests.post(collector_url, data=b"{}", timeout=5)


def test_a_remote_endpoint_is_refused_before_anything_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "https://s3.us-east-1.amazonaws.com")
    stack = LocalStack()
    with pytest.raises(UnsafeEnvironment, match="AWS_ENDPOINT_URL_S3"), stack:
        pass
    assert not hasattr(stack, "collector")
    assert os.environ["AWS_ENDPOINT_URL_S3"] == "https://s3.us-east-1.amazonaws.com"
