"""The demo's scenario: the metric streams, the objects their Firehose delivery streams write, the S3
events that announce them, and the faults injected along the way (a plan: data, applied in order)."""

from __future__ import annotations

import datetime as dt
import gzip
import http
import itertools
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cwotlp_local.faults import Fault
from cwotlp_local.generator import firehose_object, generate_records, series_count
from cwotlp_local.lambda_async import AsyncEvent
from cwotlp_local.names import ModuleNames
from cwotlp_local.namings import JSON, OTEL1
from cwotlp_local.otel1 import otel1_object
from cwotlp_local.stack import Forwarder, LocalStack

NAME = ModuleNames().name  # var.name of the demo's instance of the module
OWNER = ModuleNames().account  # the account the module runs in, which owns the metric streams
OTEL1_RECORDS_PER_FRAME = 50


@dataclass(frozen=True)
class Stream:
    """A metric stream of the demo and the Firehose delivery stream that writes its objects to the bucket.

    Each format has a stream of its own, in accounts of its own, as two instances of the module would
    have; here both write to the one bucket, and each has a forwarder of its own.
    """

    output_format: str
    metric_stream: str
    delivery_stream: str
    accounts: tuple[str, ...]
    seed_offset: int  # added to --seed, so the two streams carry different series


STREAMS = {
    JSON: Stream(JSON, NAME, f"{NAME}-metrics", ("111122223333", "444455556666"), 0),
    OTEL1: Stream(OTEL1, f"{NAME}-otel", f"{NAME}-otel-metrics", ("777788889999", "222233334444"), 1),
}


@dataclass
class WrittenStream:
    """What one stream delivered to the bucket: its records, in objects, each announced by an event."""

    stream: Stream
    records: list[dict[str, Any]]
    forwarder: Forwarder
    events: list[AsyncEvent] = field(default_factory=list)
    raw_bytes: int = 0
    gzip_bytes: int = 0
    frames: int = 0  # OpenTelemetry 1.0 frames (length-prefixed requests)


def split_into_objects(
    records: list[dict[str, Any]], count: int, rng: random.Random
) -> list[list[dict[str, Any]]]:
    """Cuts the records, in delivery order, into `count` objects of varying sizes, as Firehose buffers do."""
    weights = [rng.uniform(0.6, 1.4) for _ in range(count)]
    total = sum(weights)
    bounds = [0]
    for w in weights[:-1]:
        bounds.append(min(len(records), bounds[-1] + round(len(records) * w / total)))
    bounds.append(len(records))
    return [records[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def _percentiles_only(record: dict[str, Any]) -> dict[str, Any]:
    """The record as an OpenTelemetry 1.0 stream carries it: a summary has no room for trimmed means and
    the like, which CloudWatch streams in the JSON format only."""
    value = {k: v for k, v in record["value"].items() if k in ("count", "sum", "min", "max") or k[0] == "p"}
    return {**record, "value": value}


def start_of_data(minutes: int) -> int:
    """The first minute of the data (ms): `minutes` whole minutes, ending more than a minute ago."""
    now_ms = int(time.time() * 1000)
    return now_ms - now_ms % 60_000 - (minutes + 1) * 60_000


def write_stream(
    stack: LocalStack, stream: Stream, minutes: int, seed: int, start_ms: int, rng: random.Random
) -> WrittenStream:
    """Generates `minutes` of the stream's data and writes it to the bucket as Firehose would."""
    stream_seed = seed + stream.seed_offset
    per_minute = series_count(seed=stream_seed, accounts=stream.accounts)
    records = list(
        generate_records(
            per_minute * minutes,
            seed=stream_seed,
            start_ms=start_ms,
            accounts=stream.accounts,
            stream_name=stream.metric_stream,
        )
    )
    if stream.output_format == OTEL1:
        records = [_percentiles_only(record) for record in records]
    forwarder = stack.forwarder(stream.output_format, stream_format=stream.output_format)
    written = WrittenStream(stream, records, forwarder)
    for index, chunk in enumerate(split_into_objects(records, minutes, rng)):
        # Firehose writes an object a little after the minute it buffered.
        created = dt.datetime.fromtimestamp(chunk[-1]["timestamp"] / 1000 + 75 + index, dt.UTC)
        object_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        body = _write_object(written, chunk)
        item = stack.put_firehose_object(stream.delivery_stream, body, created, object_id)
        written.events.append(AsyncEvent(stack.s3_event(item), 0, stream.output_format, item.key, forwarder))
    return written


def _write_object(written: WrittenStream, chunk: list[dict[str, Any]]) -> bytes:
    """The object's body in the stream's format; counts its bytes (and frames)."""
    if written.stream.output_format == OTEL1:
        raw = otel1_object(chunk, per_frame=OTEL1_RECORDS_PER_FRAME, owner=OWNER, compress=False)
        body = gzip.compress(raw, compresslevel=6, mtime=0)
        written.raw_bytes += len(raw)
        written.frames += -(-len(chunk) // OTEL1_RECORDS_PER_FRAME)
    else:
        body = firehose_object(chunk)
        written.raw_bytes += len(firehose_object(chunk, compress=False))
    written.gzip_bytes += len(body)
    return body


def arrival_order(streams: Sequence[WrittenStream]) -> list[AsyncEvent]:
    """The streams' events as they reach the forwarder, the streams' objects in turn, numbered from 1."""
    interleaved = itertools.zip_longest(*(s.events for s in streams))
    in_turn = [event for group in interleaved for event in group if event is not None]
    for number, event in enumerate(in_turn, 1):
        event.number = number
    return in_turn


# The fault plan ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CollectorOutage:
    """Before the first attempt at object `before_object`, the collector lets `let_through` requests
    pass and then answers `requests` requests with the fault."""

    before_object: int
    requests: int
    let_through: int = 3
    fault: Fault = field(default_factory=lambda: Fault(status=503, headers={"Retry-After": "1"}))

    def apply(self, stack: LocalStack) -> str:
        stack.collector.inject(self.fault, self.requests, after=self.let_through)
        headers = ", ".join(f"{k}: {v}" for k, v in self.fault.headers.items())
        return (
            f"collector outage: the next {self.requests} requests after {self.let_through} more get "
            f"{self.fault.status} {http.HTTPStatus(self.fault.status).phrase}"
            + (f" ({headers})" if headers else "")
        )


@dataclass(frozen=True)
class RevokeTokens:
    """Before the first attempt at object `before_object`, every token issued so far becomes invalid."""

    before_object: int

    def apply(self, stack: LocalStack) -> str:
        stack.tokens.expire_all()
        return "token endpoint revokes every token issued so far"


FaultStep = CollectorOutage | RevokeTokens


def fault_plan(objects: int, formats: int, outage_requests: int) -> list[FaultStep]:
    """The demo's faults, for this many objects (numbered from 1) of this many stream formats.

    The token is revoked while it is still fresh (so the collector answers 401 and the forwarder fetches
    a new one), then the collector has an outage; tokens also expire on their own meanwhile. With both
    formats the outage starts in the second OpenTelemetry 1.0 object, which then fails part-way (its
    retry resumes after the frames the collector accepted); a JSON object fails next.
    """
    revoke = min(2, objects)
    outage = min(3 if formats == 1 else 4, objects)
    plan: list[FaultStep] = [CollectorOutage(outage, outage_requests)] if outage_requests > 0 else []
    return [*plan, RevokeTokens(revoke)]


def apply_due(plan: Sequence[FaultStep], stack: LocalStack, event: AsyncEvent) -> list[str]:
    """Applies the steps due before the first attempt at this event; what each did, in plan order."""
    return [step.apply(stack) for step in plan if step.before_object == event.number]
