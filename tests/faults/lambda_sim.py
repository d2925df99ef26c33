"""Lambda's asynchronous invocation, as far as delivery depends on it, on threads.

S3 notifications invoke a function asynchronously: events wait in Lambda's queue while the function's
reserved concurrency is in use; an invocation that fails is retried up to `maximum_retry_attempts`
times (after about one, then two minutes: scaled down here), and then the event goes to the
on-failure destination, here an SQS queue in moto. Each worker thread is one execution environment
with its own runtime, kept warm between the invocations it serves.
"""

from __future__ import annotations

import heapq
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from faults.aws import fresh_session
from faults.world import World


@dataclass
class Attempt:
    event: dict[str, Any]
    number: int  # 0 for the first invocation, then 1 .. maximum_retry_attempts
    outcome_error: str | None = None


@dataclass
class AsyncLambda:
    world: World
    reserved_concurrency: int
    function_seconds: float
    maximum_retry_attempts: int = 2
    retry_delays: tuple[float, ...] = (0.5, 1.0)
    attempts: list[Attempt] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sqs = fresh_session().client("sqs")
        self.on_failure = self.sqs.create_queue(QueueName="cwotlp-on-failure")["QueueUrl"]
        self._queue: list[tuple[float, int, dict[str, Any], int]] = []
        self._order = itertools.count()
        self._pending = 0
        self._condition = threading.Condition()

    def run(self, events: list[dict[str, Any]], timeout: float) -> None:
        """Invokes the function for every event until each is delivered or sent to the on-failure queue."""
        for event in events:
            self._schedule(event, 0, 0.0)
        environments = [self.world.environment() for _ in range(self.reserved_concurrency)]
        workers = [threading.Thread(target=self._work, args=(env,), daemon=True) for env in environments]
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + timeout
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        assert not any(worker.is_alive() for worker in workers), "events still pending at the timeout"

    def failed_events(self) -> list[dict[str, Any]]:
        """The events in the on-failure queue (their requestPayload, as Lambda's destination record)."""
        found = []
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.on_failure, MaxNumberOfMessages=10)
            if not messages.get("Messages"):
                return found
            for message in messages["Messages"]:
                found.append(json.loads(message["Body"])["requestPayload"])
                self.sqs.delete_message(QueueUrl=self.on_failure, ReceiptHandle=message["ReceiptHandle"])

    def _schedule(self, event: dict[str, Any], number: int, delay: float) -> None:
        with self._condition:
            heapq.heappush(self._queue, (time.monotonic() + delay, next(self._order), event, number))
            self._pending += 1
            self._condition.notify_all()

    def _next(self) -> tuple[dict[str, Any], int] | None:
        with self._condition:
            while True:
                if not self._queue and self._pending == 0:
                    return None
                if self._queue and self._queue[0][0] <= time.monotonic():
                    _, _, event, number = heapq.heappop(self._queue)
                    return event, number
                wait = self._queue[0][0] - time.monotonic() if self._queue else None
                self._condition.wait(wait)

    def _work(self, environment: Any) -> None:
        while (item := self._next()) is not None:
            event, number = item
            outcome = self.world.invoke(event, seconds=self.function_seconds, environment=environment)
            error = None if outcome.error is None else str(outcome.error)
            with self._condition:
                self.attempts.append(Attempt(event, number, error))
            if error is not None and number < self.maximum_retry_attempts:
                self._schedule(event, number + 1, self.retry_delays[number])
            elif error is not None:
                self._send_to_on_failure(event, error)
            with self._condition:
                self._pending -= 1
                self._condition.notify_all()

    def _send_to_on_failure(self, event: dict[str, Any], error: str) -> None:
        record = {
            "requestContext": {
                "condition": "RetriesExhausted",
                "approximateInvokeCount": self.maximum_retry_attempts + 1,
            },
            "requestPayload": event,
            "responseContext": {"functionError": "Unhandled"},
            "responsePayload": {"errorType": "DeliveryError", "errorMessage": error[:200]},
        }
        self.sqs.send_message(QueueUrl=self.on_failure, MessageBody=json.dumps(record))
