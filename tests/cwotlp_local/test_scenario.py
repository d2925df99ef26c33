"""The demo's scenario: the streams' objects and events, their order, and the fault plan."""

from __future__ import annotations

import random
import re

import requests

from cwotlp_local.check import check_delivery, received_datapoints
from cwotlp_local.generator import generate_records, series_count
from cwotlp_local.lambda_async import AsyncEvent
from cwotlp_local.names import ModuleNames
from cwotlp_local.namings import JSON, OTEL1, ForwarderTraits, naming_of
from cwotlp_local.scenario import (
    STREAMS,
    CollectorOutage,
    RevokeTokens,
    WrittenStream,
    apply_due,
    arrival_order,
    fault_plan,
    split_into_objects,
    start_of_data,
    write_stream,
)
from cwotlp_local.stack import Forwarder, LocalStack

KEY = re.compile(
    r"metrics/\d{4}/\d\d/\d\d/\d\d/cwotlp-demo-otel-metrics-1-(\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d)-[0-9a-f-]{36}\.gz"
)


def test_the_fault_plan_revokes_tokens_then_opens_an_outage() -> None:
    assert fault_plan(12, 2, 8) == [CollectorOutage(4, 8), RevokeTokens(2)]
    assert fault_plan(6, 1, 8) == [CollectorOutage(3, 8), RevokeTokens(2)]
    assert fault_plan(1, 1, 5) == [CollectorOutage(1, 5), RevokeTokens(1)]
    assert fault_plan(12, 2, 0) == [RevokeTokens(2)]


def test_the_steps_due_before_an_event_are_applied_in_plan_order(local_stack: LocalStack) -> None:
    plan = fault_plan(1, 1, 2)
    assert apply_due(plan, local_stack, AsyncEvent({}, 2)) == []
    assert apply_due(plan, local_stack, AsyncEvent({}, 1)) == [
        "collector outage: the next 2 requests after 3 more get 503 Service Unavailable (Retry-After: 1)",
        "token endpoint revokes every token issued so far",
    ]


def test_an_outage_lets_requests_through_and_then_answers_them_with_the_fault(
    local_stack: LocalStack,
) -> None:
    CollectorOutage(1, requests=2, let_through=1).apply(local_stack)
    answers = [
        requests.post(
            local_stack.collector.url, data=b"{}", headers={"Content-Type": "application/json"}, timeout=5
        )
        for _ in range(4)
    ]
    assert [a.status_code for a in answers] == [401, 503, 503, 401]  # no token: 401 once the outage is over
    assert answers[1].headers["Retry-After"] == "1"


def test_revoked_tokens_are_refused(local_stack: LocalStack) -> None:
    form = {"grant_type": "client_credentials", "audience": "https://collector.demo.local"}
    auth = (local_stack.tokens.client_id, local_stack.client_secret)
    token = requests.post(local_stack.tokens.url, data=form, auth=auth, timeout=5).json()["access_token"]
    assert local_stack.tokens.is_valid(token)
    assert RevokeTokens(1).apply(local_stack) == "token endpoint revokes every token issued so far"
    assert not local_stack.tokens.is_valid(token)


def test_records_are_cut_into_objects_in_order() -> None:
    records = list(generate_records(500, seed=1))
    objects = split_into_objects(records, 6, random.Random(4))
    assert 1 < len(objects) <= 6
    assert [r for chunk in objects for r in chunk] == records
    assert len({len(chunk) for chunk in objects}) > 1  # sizes vary, as Firehose's buffers do


def test_the_streams_objects_arrive_in_turn_and_are_numbered() -> None:
    def written(output_format: str, count: int) -> WrittenStream:
        events = [AsyncEvent({}, 0, output_format, f"{output_format}-{i}") for i in range(count)]
        return WrittenStream(STREAMS[output_format], [], Forwarder(output_format), events)

    order = arrival_order([written(JSON, 3), written(OTEL1, 2)])
    assert [(e.number, e.key) for e in order] == [
        (1, "json-0"),
        (2, "opentelemetry1.0-0"),
        (3, "json-1"),
        (4, "opentelemetry1.0-1"),
        (5, "json-2"),
    ]


def test_a_written_stream_is_in_the_bucket_and_delivered_in_full(local_stack: LocalStack) -> None:
    stream = STREAMS[OTEL1]
    start_ms = start_of_data(2)
    written = write_stream(local_stack, stream, 2, 0, start_ms, random.Random(0))
    assert len(written.records) == 2 * series_count(seed=1, accounts=stream.accounts)
    assert written.frames > 0 and written.raw_bytes > written.gzip_bytes
    again = write_stream(local_stack, stream, 2, 0, start_ms, random.Random(0))
    assert [e.key for e in again.events] == [e.key for e in written.events]  # the seed decides the keys
    for event in written.events:
        assert KEY.fullmatch(event.key), event.key
        [record] = event.event["Records"]
        stored = local_stack.s3.head_object(Bucket=local_stack.bucket, Key=event.key)
        assert record["s3"]["object"]["size"] == stored["ContentLength"]
        assert event.forwarder is not None
        assert event.forwarder.environment == {"CWOTLP_STREAM_FORMAT": "opentelemetry1.0"}
        local_stack.invoke(event.event, event.forwarder)
    forwarder = local_stack.settings.forwarder
    check = check_delivery(
        {OTEL1: written.records},
        received_datapoints(r.message for r in local_stack.collector.requests),
        naming_of(
            "cloudwatch",
            ForwarderTraits(forwarder.service_name, forwarder.resource_attributes, ModuleNames().account),
        ),
    )
    assert check.examples == []
    assert check.total.records == check.total.delivered == len(written.records)
