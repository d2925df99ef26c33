"""OTLP/HTTP export of batches: gzip, retries, one token refresh on 401, and narrowing down refusals.

A batch is accepted whole or in accepted pieces, and `on_accepted` hears of every piece in record order,
which is what the caller records as progress. A 413 splits the batch in two. A 400 splits it too, to
find the records the collector refuses: a single refused record is counted as `rejected_by_collector`
and passed over, the rest is delivered. A collector that refuses both halves of a refused request is
refusing everything (a wrong path or tenant, say), not some records: that fails the delivery after a
handful of requests instead of one request per record. Once the collector has accepted a request,
nothing that follows (a strange answer body, a progress write) makes it be sent again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

import orjson
from zlib_ng import zlib_ng

from cwotlp import __version__
from cwotlp.deadline import Deadline
from cwotlp.delivery.auth import authenticator
from cwotlp.delivery.http import HttpClient, Response, RetryPolicy, location_host, post_with_retries
from cwotlp.delivery.urls import Url
from cwotlp.errors import DeliveryError, redact
from cwotlp.otlp.batch import Batch
from cwotlp.report import ExportCounters
from cwotlp.secret import Destination
from cwotlp.source import GZIP_ERROR

log = logging.getLogger("cwotlp")

# zlib-ng's level 2: about 12% of the raw size, smaller than zlib's level 1 in half its time (its level
# 1 is faster still, but about a fifth larger).
GZIP_LEVEL = 2
GZIP_RUN_BYTES = 256 << 10
MAX_REFUSALS = 64  # 400 answers per object before the delivery fails
MAX_PARTIAL_SUCCESS_BYTES = 1 << 16
ACCEPTED, TOO_LARGE, REFUSED = "accepted", "too_large", "refused"


class Authenticator(Protocol):
    can_refresh: bool

    def headers(self, deadline: Deadline, *, refresh: bool = False) -> dict[str, str]: ...

    def secrets(self) -> set[str]: ...


class Exporter:
    def __init__(
        self,
        endpoint: Url,
        auth: Authenticator,
        client: HttpClient,
        policy: RetryPolicy,
        counters: ExportCounters,
        secrets: set[str],
    ) -> None:
        self._endpoint = endpoint
        self._auth = auth
        self._client = client
        self._policy = policy
        self.counters = counters
        self._secrets = secrets
        self._what = f"collector {endpoint.origin}"
        self._refusal = ""

    def send(self, batch: Batch, deadline: Deadline, on_accepted: Callable[[Batch], None]) -> None:
        """Delivers the batch, or raises DeliveryError."""
        self._deliver(batch, deadline, on_accepted, judge=True)

    def _deliver(
        self, batch: Batch, deadline: Deadline, on_accepted: Callable[[Batch], None], *, judge: bool
    ) -> None:
        self._settle(batch, self._attempt(batch, deadline), deadline, on_accepted, judge=judge)

    def _settle(
        self,
        batch: Batch,
        outcome: str,
        deadline: Deadline,
        on_accepted: Callable[[Batch], None],
        *,
        judge: bool,
    ) -> None:
        """Follows up a batch's first answer: recorded, split (413) or narrowed down (400)."""
        if outcome == ACCEPTED:
            self._accepted(batch, on_accepted)
        elif outcome == TOO_LARGE:
            if len(batch.entries) < 2:
                raise DeliveryError(
                    f"{self._what}: HTTP 413 for a request that cannot be split "
                    f"({batch.datapoints} datapoints)"
                )
            self.counters.splits += 1
            for half in batch.split():
                self._deliver(half, deadline, on_accepted, judge=judge)
        else:
            self._narrow(batch, deadline, on_accepted, judge=judge)

    def _narrow(
        self, batch: Batch, deadline: Deadline, on_accepted: Callable[[Batch], None], *, judge: bool
    ) -> None:
        """Delivers what the collector takes of a refused batch, in record order.

        `judge`: nothing near this batch was accepted yet, so the collector may be refusing everything.
        Its halves are tried, and when both are refused its quarters: a collector that refuses all four
        refuses everything (seven requests in all), while up to three refused records, wherever they
        lie, leave a quarter it takes.
        """
        if len(batch.entries) == 1:
            self._pass_over(batch, on_accepted)
            return
        self.counters.splits += 1
        halves = list(batch.split())
        if not judge:
            for half in halves:
                self._deliver(half, deadline, on_accepted, judge=False)
            return
        tried = [(half, self._attempt(half, deadline)) for half in halves]
        if all(outcome == REFUSED for _, outcome in tried):
            tried = [quarter for half in halves for quarter in self._quarters(half, deadline)]
            if all(outcome == REFUSED for _, outcome in tried):
                raise DeliveryError(
                    f"{self._what} refused a request with HTTP 400, and every quarter of it: it refuses "
                    f"everything, not single records; check the endpoint's path, tenant and format "
                    f"({self._refusal or 'no message'})"
                )
        for piece, outcome in tried:  # recorded in order, whatever order they were answered in
            self._settle(piece, outcome, deadline, on_accepted, judge=False)

    def _quarters(self, half: Batch, deadline: Deadline) -> list[tuple[Batch, str]]:
        """The halves of a refused half, tried; a single record stands as refused, not sent again."""
        if len(half.entries) == 1:
            return [(half, REFUSED)]
        return [(piece, self._attempt(piece, deadline)) for piece in half.split()]

    def _pass_over(self, batch: Batch, on_accepted: Callable[[Batch], None]) -> None:
        self.counters.rejected_by_collector += batch.datapoints
        log.warning(
            "collector refused a record; it is passed over",
            extra={"first_record": batch.first_record, "collector_message": self._refusal},
        )
        on_accepted(batch)

    def _accepted(self, batch: Batch, on_accepted: Callable[[Batch], None]) -> None:
        self.counters.datapoints += batch.datapoints
        on_accepted(batch)

    def _attempt(self, batch: Batch, deadline: Deadline) -> str:
        raw_bytes, compressed = gzipped(batch.body_parts())
        refreshed = False
        while True:
            response = post_with_retries(
                self._client,
                self._endpoint,
                compressed,
                what=self._what,
                policy=self._policy,
                deadline=deadline,
                counters=self.counters,
                headers=lambda: self._headers(batch.layout.content_type, deadline),
            )
            status = response.status
            if status == 401 and self._auth.can_refresh and not refreshed:
                refreshed = True  # the token may have been revoked early: one fresh token, one more try
                self._auth.headers(deadline, refresh=True)
                continue
            break
        if 200 <= status < 300:
            self.counters.requests += 1
            self.counters.raw_bytes += raw_bytes
            self.counters.gzip_bytes += len(compressed)
            self._note_partial_success(response, batch.layout.content_type)
            return ACCEPTED
        if status == 413:
            return TOO_LARGE
        if status == 400:
            self.counters.refusals += 1
            self._refusal = self._excerpt(response)
            if self.counters.refusals > MAX_REFUSALS:
                raise DeliveryError(f"{self._what}: more than {MAX_REFUSALS} requests refused with HTTP 400")
            return REFUSED
        raise DeliveryError(self._failure(response))

    def _failure(self, response: Response) -> str:
        status = response.status
        if 300 <= status < 400:
            target = location_host(response.header("Location"), self._secrets | self._auth.secrets())
            return (
                f"{self._what} answered HTTP {status}, a redirect{target}; redirects are not followed: "
                "set the endpoint to the URL that takes the data"
            )
        excerpt = self._excerpt(response)
        return f"{self._what} answered HTTP {status}" + (f": {excerpt}" if excerpt else "")

    def _headers(self, content_type: str, deadline: Deadline) -> dict[str, str]:
        return {
            "Content-Type": content_type,
            "Content-Encoding": "gzip",
            "User-Agent": f"cwotlp/{__version__}",
            **self._auth.headers(deadline),
        }

    def _excerpt(self, response: Response) -> str:
        """The start of an answer's body (which is at most RESPONSE_LIMIT), with every credential
        removed."""
        return self._redact(response.body.decode("utf-8", "replace"))

    def _redact(self, text: str) -> str:
        """The text without any credential: the secret's, and the authenticator's current ones."""
        return redact(text, self._secrets | self._auth.secrets())

    def _note_partial_success(self, response: Response, content_type: str) -> None:
        """Logs the rejected count of a partial-success answer. An answer that cannot be read is logged
        and otherwise ignored: the request was accepted."""
        rejected, message = _partial_success(response, content_type)
        if rejected is None:
            log.warning("collector accepted a request with an answer that cannot be read")
            return
        if rejected or message:
            self.counters.rejected_datapoints += rejected
            log.warning(
                "collector rejected part of a request",
                extra={"rejected_datapoints": rejected, "collector_message": self._redact(message)},
            )


class DestinationSource(Protocol):
    def get(self) -> Destination: ...

    def refresh(self) -> Destination: ...


class Delivery:
    """The collector side of one runtime: the secret, the HTTP connections, the retry policy."""

    def __init__(self, secret: DestinationSource, settings: Any) -> None:
        self._secret = secret
        self._client = HttpClient(settings.ca_bundle)
        self._policy = RetryPolicy(max_retries=settings.max_retries, timeout=settings.request_timeout_seconds)

    def exporter(self, report: Any) -> Callable[[Batch, Deadline, Callable[[Batch], None]], None]:
        """The send function of an exporter that counts into the object's report."""
        destination = self._secret.get()
        auth = authenticator(
            destination,
            self._client,
            self._policy,
            report.counters,
            reload=lambda: self._secret.refresh().oauth2,
        )
        exporter = Exporter(
            destination.endpoint, auth, self._client, self._policy, report.counters, destination.secrets()
        )
        return exporter.send


def _partial_success(response: Response, request_type: str) -> tuple[int | None, str]:
    """(rejected datapoints, message) from an answer, (0, "") for an empty one, (None, "") if unreadable.

    The answer is in the request's encoding (OTLP/HTTP); its Content-Type is only a hint.
    """
    encoding = response.header("Content-Encoding")
    body = (
        response.body
        if encoding in (None, "identity")
        else _inflate(response.body)
        if encoding == "gzip"
        else None
    )
    if body is None:
        return None, ""
    if not body:
        return 0, ""
    answer_type = response.header("Content-Type") or request_type
    try:
        if "protobuf" in answer_type:
            from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
                ExportMetricsServiceResponse,
            )

            answer = ExportMetricsServiceResponse.FromString(body).partial_success
            return int(answer.rejected_data_points), str(answer.error_message)
        value = orjson.loads(body)
        partial = (value.get("partialSuccess") or {}) if isinstance(value, dict) else None
        rejected = partial.get("rejectedDataPoints", 0) if isinstance(partial, dict) else None
        if isinstance(rejected, str) and rejected.isascii() and rejected.isdigit() and len(rejected) < 19:
            rejected = int(rejected)  # OTLP JSON writes 64-bit integers as strings
        if isinstance(rejected, bool) or not isinstance(rejected, int) or not 0 <= rejected < 2**63:
            return None, ""
        message = partial.get("errorMessage") if isinstance(partial, dict) else ""
        return rejected, message if isinstance(message, str) else ""
    except Exception:
        return None, ""


def _inflate(body: bytes) -> bytes | None:
    try:
        inflater = zlib_ng.decompressobj(wbits=47)  # gzip or zlib
        return inflater.decompress(body, MAX_PARTIAL_SUCCESS_BYTES)
    except GZIP_ERROR:
        return None


def gzipped(parts: list[bytes]) -> tuple[int, bytes]:
    """The gzip stream of the parts joined, and their joined length, without joining them all: zlib-ng
    gets them in runs of about GZIP_RUN_BYTES joined, since a call per part (a request has thousands)
    costs more than the copy, and a run is all the memory it takes besides the parts."""
    compressor = zlib_ng.compressobj(GZIP_LEVEL, zlib_ng.DEFLATED, 31)  # wbits 31: gzip framing, mtime 0
    out: list[bytes] = []
    run: list[bytes] = []
    run_bytes = 0
    for part in parts:
        run.append(part)
        run_bytes += len(part)
        if run_bytes >= GZIP_RUN_BYTES:
            out.append(compressor.compress(b"".join(run)))
            run, run_bytes = [], 0
    out.append(compressor.compress(b"".join(run)))
    out.append(compressor.flush())
    return sum(map(len, parts)), b"".join(out)
