"""OTLP/HTTP export of batches: gzip, retries, 413 splitting, one token refresh on 401.

A batch is accepted as a whole or split into accepted pieces; `on_accepted` is told about every
accepted piece in record order, which is what the caller records as progress.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from cwotlp import __version__
from cwotlp.delivery.http import Counters, Deadline, DeliveryError, RetryPolicy, post
from cwotlp.otlp.batch import Batch

if TYPE_CHECKING:
    import requests

log = logging.getLogger("cwotlp")

GZIP_LEVEL = 1  # about 12% of the raw size at a fraction of level 6's cost


class Authenticator(Protocol):
    can_refresh: bool

    def headers(self, deadline: Deadline, *, refresh: bool = False) -> dict[str, str]: ...


@dataclass
class ExportCounters(Counters):
    requests: int = 0
    raw_bytes: int = 0
    gzip_bytes: int = 0
    datapoints: int = 0
    rejected_datapoints: int = 0
    splits: int = 0


class Exporter:
    def __init__(
        self,
        endpoint: str,
        auth: Authenticator,
        session: requests.Session,
        policy: RetryPolicy,
        counters: ExportCounters,
    ) -> None:
        self._endpoint = endpoint
        self._auth = auth
        self._session = session
        self._policy = policy
        self.counters = counters

    def send(self, batch: Batch, deadline: Deadline, on_accepted: Callable[[Batch], None]) -> None:
        """Delivers the batch or raises DeliveryError; a 413 answer splits it in two and sends both."""
        raw_bytes, compressed = gzipped(batch.body_parts())
        if self._post(compressed, batch.layout.content_type, deadline) == 413:
            if len(batch.entries) < 2:
                raise DeliveryError(
                    f"collector: HTTP 413 for a request that cannot be split ({batch.datapoints} datapoints)"
                )
            self.counters.splits += 1
            for half in batch.split():
                self.send(half, deadline, on_accepted)
            return
        self.counters.requests += 1
        self.counters.raw_bytes += raw_bytes
        self.counters.gzip_bytes += len(compressed)
        self.counters.datapoints += batch.datapoints
        on_accepted(batch)

    def _post(self, compressed: bytes, content_type: str, deadline: Deadline) -> int:
        """POSTs one request; returns 200 or 413, raises DeliveryError for everything else."""
        refreshed = False
        while True:
            response = post(
                self._session,
                self._endpoint,
                what="collector",
                policy=self._policy,
                deadline=deadline,
                counters=self.counters,
                headers=lambda: self._headers(
                    content_type, deadline
                ),  # per attempt: a wait may outlast a token
                data=compressed,
            )
            status = response.status_code
            if status == 401 and self._auth.can_refresh and not refreshed:
                refreshed = True  # the token may have been revoked early: one fresh token, one more try
                self._auth.headers(deadline, refresh=True)
                continue
            if 200 <= status < 300:
                self._note_partial_success(response)
                return 200
            if status == 413:
                return 413
            raise DeliveryError(f"collector answered HTTP {status}{_excerpt(response)}")

    def _headers(self, content_type: str, deadline: Deadline) -> dict[str, str]:
        return {
            "Content-Type": content_type,
            "Content-Encoding": "gzip",
            "User-Agent": f"cwotlp/{__version__}",
            **self._auth.headers(deadline),
        }

    def _note_partial_success(self, response: requests.Response) -> None:
        """Logs the rejected count of a partial-success answer (JSON or protobuf, as the request was)."""
        rejected, message = _partial_success(response)
        if rejected or message:
            self.counters.rejected_datapoints += rejected
            log.warning(
                "collector rejected part of a request",
                extra={"rejected_datapoints": rejected, "error_message": message},
            )


def _partial_success(response: requests.Response) -> tuple[int, str]:
    content_type = response.headers.get("Content-Type", "")
    try:
        if "protobuf" in content_type:
            from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
                ExportMetricsServiceResponse,
            )

            partial = ExportMetricsServiceResponse.FromString(response.content).partial_success
            return int(partial.rejected_data_points), str(partial.error_message)
        if "json" in content_type:
            body = response.json().get("partialSuccess") or {}
            return int(body.get("rejectedDataPoints") or 0), str(body.get("errorMessage") or "")
    except (ValueError, AttributeError, TypeError):  # DecodeError is a ValueError too
        pass
    return 0, ""


def gzipped(parts: list[bytes]) -> tuple[int, bytes]:
    """The gzip stream of the parts joined, and their joined length, without joining them."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # wbits 31: gzip framing, mtime 0
    out = [compressor.compress(part) for part in parts]
    out.append(compressor.flush())
    return sum(map(len, parts)), b"".join(out)


def _excerpt(response: requests.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return f": {text[:200]}" if text else ""
