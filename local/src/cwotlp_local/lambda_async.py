"""Lambda's asynchronous invocation, as S3 notifications use it: a failed invocation is retried twice,
after a delay, and then its event goes to the on-failure destination.

Lambda waits about one and then two minutes before its retries; here they come after RETRY_DELAYS_SECONDS,
and other events are invoked in between, as they would be.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from cwotlp_local.stack import Forwarder

# One delay per retry: two retries, Lambda's default for asynchronous invocations.
RETRY_DELAYS_SECONDS = (0.5, 1.0)
LONGEST_WAIT_SECONDS = 5.0  # a retry is never waited for longer than this


class Invoker(Protocol):
    """What LambdaAsync needs of the local stack."""

    def invoke(
        self, event: dict[str, Any], forwarder: Forwarder | None = None, *, request_id: str | None = None
    ) -> dict[str, Any]: ...

    def send_to_on_failure_destination(
        self,
        event: dict[str, Any],
        request_id: str,
        error: BaseException,
        invoke_count: int,
        forwarder: Any = None,
    ) -> None: ...


@dataclass
class AsyncEvent:
    """An event in Lambda's queue for asynchronous invocation, and which attempt at it comes next."""

    event: dict[str, Any]
    number: int  # its place among the events submitted together, from 1
    label: str = ""  # what the event stands for, for reports
    key: str = ""  # the object key it names, for reports
    forwarder: Forwarder | None = None  # the function invoked; None for the stack's default one
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))  # the same for every attempt
    attempt: int = 1
    not_before: float = 0.0  # time.monotonic() before which it is not invoked


@dataclass(frozen=True)
class Attempt:
    """One invocation: its result, or its error and what Lambda does next."""

    event: AsyncEvent
    result: dict[str, Any] | None = None
    error: Exception | None = None
    retry_in: float | None = None  # seconds until Lambda retries a failed attempt

    @property
    def sent_to_on_failure_destination(self) -> bool:
        return self.error is not None and self.retry_in is None


@dataclass
class Tally:
    """Counts of attempts, as the Lambda metrics would show them."""

    first_attempts: int = 0
    retries: int = 0
    failed: int = 0
    sent_to_queue: int = 0

    def add(self, attempt: Attempt) -> None:
        self.first_attempts += attempt.event.attempt == 1
        self.failed += attempt.error is not None
        self.retries += attempt.retry_in is not None
        self.sent_to_queue += attempt.sent_to_on_failure_destination


class LambdaAsync:
    """Invokes queued events until each succeeded or went to the on-failure destination, or the deadline
    (a time.monotonic() value) passed; `gave_up` says whether it did."""

    def __init__(
        self,
        invoker: Invoker,
        *,
        retry_delays: Sequence[float] = RETRY_DELAYS_SECONDS,
        deadline: float | None = None,
    ) -> None:
        self.invoker = invoker
        self.retry_delays = retry_delays
        self.deadline = deadline
        self.gave_up = False

    def run(
        self, events: Sequence[AsyncEvent], before_first_attempt: Callable[[AsyncEvent], None]
    ) -> Iterator[Attempt]:
        """Yields every attempt, first attempts in order; `before_first_attempt` runs before each."""
        pending = list(events)
        for _ in range(len(pending) * (len(self.retry_delays) + 1) + 5):
            if not pending:
                return
            if self.deadline is not None and time.monotonic() > self.deadline:
                self.gave_up = True
                return
            pending.sort(key=lambda queued: queued.not_before)
            queued = pending.pop(0)
            time.sleep(min(max(0.0, queued.not_before - time.monotonic()), LONGEST_WAIT_SECONDS))
            if queued.attempt == 1:
                before_first_attempt(queued)
            attempt = self._attempt(queued)
            if attempt.retry_in is not None:
                next_try = time.monotonic() + attempt.retry_in
                pending.append(dataclasses.replace(queued, attempt=queued.attempt + 1, not_before=next_try))
            yield attempt

    def _attempt(self, queued: AsyncEvent) -> Attempt:
        try:
            result = self.invoker.invoke(queued.event, queued.forwarder, request_id=queued.request_id)
        except Exception as error:
            if queued.attempt <= len(self.retry_delays):
                return Attempt(queued, error=error, retry_in=self.retry_delays[queued.attempt - 1])
            self.invoker.send_to_on_failure_destination(
                queued.event,
                queued.request_id,
                error,
                invoke_count=queued.attempt,
                forwarder=queued.forwarder,
            )
            return Attempt(queued, error=error)
        return Attempt(queued, result=result)
