"""Lambda's asynchronous invocation on the local stack: retries, other events in between, the on-failure
destination, the deadline."""

from __future__ import annotations

import json
import time

from cwotlp.commands.replay import parse_failure_record
from cwotlp.delivery.http import DeliveryError
from cwotlp.source import ObjectRef
from cwotlp_local.events import ON_FAILURE_RECORD, S3Object, load_event
from cwotlp_local.generator import firehose_object, generate_records
from cwotlp_local.lambda_async import AsyncEvent, LambdaAsync, Tally
from cwotlp_local.stack import LocalStack

FAST = (0.05, 0.1)  # retry delays
BODY = firehose_object(generate_records(200, seed=3))


def test_a_failing_event_is_retried_twice_then_recorded_in_the_on_failure_queue(
    local_stack: LocalStack,
) -> None:
    never_written = S3Object(local_stack.bucket, "metrics/never written.gz", 10)
    event = local_stack.s3_event(never_written)
    attempts = list(LambdaAsync(local_stack, retry_delays=FAST).run([AsyncEvent(event, 1)], lambda e: None))

    assert [(a.event.attempt, a.retry_in) for a in attempts] == [(1, 0.05), (2, 0.1), (3, None)]
    assert all(isinstance(a.error, DeliveryError) and "NoSuchKey" in str(a.error) for a in attempts)
    assert len({a.event.request_id for a in attempts}) == 1  # Lambda keeps the request id across retries
    assert attempts[-1].sent_to_on_failure_destination
    tally = Tally()
    for attempt in attempts:
        tally.add(attempt)
    assert tally == Tally(first_attempts=1, retries=2, failed=3, sent_to_queue=1)

    [message] = local_stack.sqs.receive_message(QueueUrl=local_stack.queue_url)["Messages"]
    record = json.loads(message["Body"])
    assert set(record) == set(load_event(ON_FAILURE_RECORD))
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["requestId"] == attempts[0].event.request_id
    assert record["requestPayload"] == event
    assert record["responsePayload"]["errorType"] == "DeliveryError"
    assert parse_failure_record(message["Body"]) == [ObjectRef(local_stack.bucket, never_written.key, 10)]


def test_a_retry_comes_after_the_other_events_and_delivers(local_stack: LocalStack) -> None:
    late = S3Object(local_stack.bucket, "metrics/late.gz", len(BODY))
    present = local_stack.put("metrics/present.gz", BODY)
    events = [AsyncEvent(local_stack.s3_event(late), 1), AsyncEvent(local_stack.s3_event(present), 2)]
    first_attempts: list[int] = []
    attempts = []
    for attempt in LambdaAsync(local_stack, retry_delays=FAST).run(
        events, lambda e: first_attempts.append(e.number)
    ):
        attempts.append(attempt)
        if attempt.error is not None:
            local_stack.put(late.key, BODY)  # the object turns up before Lambda retries

    assert [(a.event.number, a.event.attempt, a.error is None) for a in attempts] == [
        (1, 1, False),
        (2, 1, True),
        (1, 2, True),
    ]
    assert first_attempts == [1, 2]
    assert local_stack.collector.datapoint_count() == 400
    assert local_stack.queue_depth() == 0


def test_nothing_is_invoked_past_the_deadline(local_stack: LocalStack) -> None:
    event = local_stack.s3_event(local_stack.put("metrics/a.gz", BODY))
    lambda_async = local_stack.lambda_async(deadline=time.monotonic() - 1)
    assert list(lambda_async.run([AsyncEvent(event, 1)], lambda e: None)) == []
    assert lambda_async.gave_up
    assert local_stack.collector.attempts == 0
