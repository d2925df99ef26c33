"""What the demo prints and writes: the setup, one line per invocation, the delivery table, the summary,
the verdict, and the files in the output directory (received.jsonl, summary.json, forwarder.log)."""

from __future__ import annotations

import contextlib
import json
import logging
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from cwotlp_local.check import DeliveryCheck
from cwotlp_local.collector import Collector
from cwotlp_local.lambda_async import Attempt, Tally
from cwotlp_local.scenario import WrittenStream
from cwotlp_local.stack import LocalStack

ENCODING_NAMES = {"json": "OTLP JSON", "protobuf": "OTLP protobuf"}
CONTENT_TYPES = {"json": "application/json", "protobuf": "application/x-protobuf"}


class Printer:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def __call__(self, text: str = "", *, always: bool = False) -> None:
        if always or not self.quiet:
            print(text, flush=True)


class ForwarderLog(logging.Handler):
    """Keeps the forwarder's per-object reports, and writes every forwarder log line to a file."""

    def __init__(self, path: Path) -> None:
        super().__init__(logging.DEBUG)
        from cwotlp.logs import JsonFormatter

        self._file = path.open("w")
        self._formatter = JsonFormatter()
        self.reports: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        report = getattr(record, "object", None)
        if isinstance(report, dict):
            self.reports.append(report)
        self._file.write(self._formatter.format(record) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
        super().close()

    @classmethod
    @contextlib.contextmanager
    def attached(cls, path: Path) -> Iterator[ForwarderLog]:
        """The forwarder's logger writes only here while this is open (nothing reaches the console)."""
        log = cls(path)
        logger = logging.getLogger("cwotlp")
        propagate = logger.propagate
        logger.addHandler(log)
        logger.propagate = False
        try:
            yield log
        finally:
            logger.removeHandler(log)
            logger.propagate = propagate
            log.close()


@dataclass
class Run:
    """What happened in the run, beyond what the stack's servers recorded."""

    tally: Tally = field(default_factory=Tally)
    reports: list[dict[str, Any]] = field(default_factory=list)  # the forwarder's, one per object
    queue_before_redrive: int = 0
    queue_depth: int = 0
    redriven: bool = False
    elapsed: float = 0.0


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def table(headers: list[str], sections: list[list[list[Any]]]) -> str:
    """A text table: the first column left-aligned, the others right-aligned, a rule between sections."""
    cells = [[str(c) for c in row] for row in [headers, *(row for rows in sections for row in rows)]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[Any]) -> str:
        return "  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )

    rule = "  ".join("-" * w for w in widths)
    body = [line(headers)]
    for rows in sections:
        body += [rule, *(line(row) for row in rows)]
    return "\n".join("  " + b for b in body)


def setup_lines(stack: LocalStack, encoding: str) -> list[str]:
    """What runs where: the servers, the bucket, the secret, the queue and the forwarder's encoding."""
    lines = [
        "cwotlp demo: CloudWatch metric stream -> Firehose -> S3 -> forwarder -> OTLP/HTTP, on 127.0.0.1"
    ]
    if stack.cleared:
        lines.append(
            f"  (not using {', '.join(stack.cleared)} from the environment: the demo needs no AWS account)"
        )
    lifetime = stack.settings.token_lifetime
    return [
        *lines,
        f"  AWS (moto server)       {stack.moto_url}   S3, Secrets Manager, SQS",
        f"  OAuth2 token endpoint   {stack.tokens.url}   tokens live {lifetime} s",
        f"  OTLP/HTTP collector     {stack.collector.url}   bearer tokens checked, strict decoding",
        "  TLS                     both served with certificates of throwaway CAs (CWOTLP_CA_BUNDLE)",
        f"  bucket                  s3://{stack.bucket}/{stack.names.metrics_prefix}",
        f"  secret                  {stack.names.secret_name} "
        "(endpoint, token URL, client id and secret, audience)",
        f"  on-failure queue        {stack.names.failure_queue}",
        f"  forwarder requests      {ENCODING_NAMES[encoding]} (CWOTLP_OTLP_ENCODING={encoding}), "
        f"naming {stack.settings.forwarder.naming} (CWOTLP_NAMING)",
    ]


def stream_lines(written: WrittenStream, minutes: int) -> list[str]:
    stream, records = written.stream, written.records
    with_percentiles = sum(1 for r in records if "p99" in r["value"])
    frames = f" in {written.frames} frames" if written.frames else ""
    return [
        f"  {f'{stream.output_format} stream':<24}metric stream {stream.metric_stream} -> Firehose "
        f"{stream.delivery_stream}, accounts {' and '.join(stream.accounts)}",
        f"  {'':24}{len(written.events)} objects: {len(records)} records{frames} over {minutes} minutes, "
        f"{with_percentiles} with percentiles; {human_bytes(written.raw_bytes)} raw, "
        f"{human_bytes(written.gzip_bytes)} gzip",
        f"  {'':24}first key {written.events[0].key}",
    ]


def attempt_lines(
    attempt: Attempt, reports: Sequence[Mapping[str, Any]], total: int, width: int
) -> list[str]:
    """One invocation: which object and attempt, and what came of it (with the forwarder's report)."""
    event = attempt.event
    which = f"object {event.number:>{len(str(total))}} of {total}  {event.label:<{width}}"
    head = f"  {which}  attempt {event.attempt}"
    if attempt.error is not None:
        error = attempt.error
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        message = message.split(f"{event.key}: ", 1)[-1][:100]
        if attempt.retry_in is not None:
            then = f"Lambda retries in {attempt.retry_in} s (about {event.attempt} min in AWS)"
        else:
            then = "retries exhausted: Lambda sends the event to the on-failure queue"
        return [f"{head}  FAILED  {type(error).__name__}: {message}", f"      -> {then}"]
    return [f"{head}  {_outcome(attempt.result or {}, reports[0] if reports else {}, event.label)}"]


def _outcome(result: Mapping[str, Any], report: Mapping[str, Any], output_format: str) -> str:
    if result.get("delivered"):
        status = "delivered"
    elif result.get("already_delivered"):
        status = "already delivered"
    else:
        status = "done"
    detail = f"{result.get('datapoints', 0)} datapoints in {report.get('requests', '?')} requests"
    if report.get("resumed_from", 0):
        detail += f", resumed after {report['resumed_from']} of {report.get('units', '?')} units"
    if report.get("retries"):
        detail += f", {report['retries']} HTTP retries"
    return f"{status}: {detail}"


def delivery_table(check: DeliveryCheck) -> str:
    headers = ["namespace", "generated", "received", "delivered", "missing", "duplicates", "unexpected"]
    sections = [
        [counts.row(namespace) for namespace, counts in check.namespaces.items()],
        [counts.row(f"{output_format} stream") for output_format, counts in check.formats.items()],
        [check.total.row("total")],
    ]
    return table([*headers, "altered"], sections)


def status_name(status: int) -> str:
    return "connection reset" if status == 0 else f"HTTP {status}"


def problems(check: DeliveryCheck, collector: Collector, encoding: str, queue_depth: int) -> list[str]:
    """What makes the run a failure; none for a complete, exact delivery."""
    total = check.total
    found = []
    if total.missing:
        found.append(f"{total.missing} datapoints missing")
    if total.duplicates:
        found.append(f"{total.duplicates} datapoints duplicated")
    if total.unexpected:
        found.append(f"{total.unexpected} unexpected datapoints")
    if total.altered:
        found.append(f"{total.altered} datapoints altered (examples below)")
    wrong_type = sum(1 for r in collector.requests if r.content_type != CONTENT_TYPES[encoding])
    if wrong_type:
        found.append(f"{wrong_type} requests not in {ENCODING_NAMES[encoding]}")
    if collector.errors:
        found.append(f"{len(collector.errors)} malformed requests: {collector.errors[0].reason[:200]}")
    if queue_depth:
        found.append(f"{queue_depth} failed invocations left in the on-failure queue")
    return found


def write_received(path: Path, collector: Collector) -> None:
    with path.open("w") as out:
        for request in collector.requests:
            out.write(json.dumps(json_format.MessageToDict(request.message), separators=(",", ":")) + "\n")


def write_summary(
    path: Path, check: DeliveryCheck, stack: LocalStack, streams: Sequence[WrittenStream], run: Run
) -> None:
    collector = stack.collector
    summary = {
        "namespaces": {name: vars(counts) for name, counts in check.namespaces.items()},
        "formats": {name: vars(counts) for name, counts in check.formats.items()},
        "content_types": dict(Counter(r.content_type for r in collector.requests)),
        "requests_accepted": len(collector.requests),
        "request_attempts": collector.attempts,
        "statuses": {str(k): v for k, v in sorted(collector.status_counts().items())},
        "raw_bytes": sum(r.raw_bytes for r in collector.requests),
        "wire_bytes": sum(r.wire_bytes for r in collector.requests),
        "tokens_issued": stack.tokens.issued,
        "encoding": stack.settings.forwarder.encoding,
        "naming": stack.settings.forwarder.naming,
        "objects": {s.stream.output_format: len(s.events) for s in streams},
        "lambda_retries": run.tally.retries,
        "on_failure_records": run.tally.sent_to_queue,
        "queue_depth_before_redrive": run.queue_before_redrive,
        "queue_depth": run.queue_depth,
        "collector_errors": [e.reason for e in collector.errors],
    }
    path.write_text(json.dumps(summary, indent=2) + "\n")


def summary_lines(
    stack: LocalStack, streams: Sequence[WrittenStream], run: Run, output_dir: Path
) -> list[str]:
    """The run in numbers: objects, invocations, requests, bytes, retries, tokens, the queue, the files."""
    collector, accepted = stack.collector, stack.collector.requests
    encoding = stack.settings.forwarder.encoding
    objects = ", ".join(f"{len(s.events)} {s.stream.output_format}" for s in streams)
    raw, gzip = sum(s.raw_bytes for s in streams), sum(s.gzip_bytes for s in streams)
    answers = ", ".join(f"{status_name(s)} {n}" for s, n in sorted(collector.status_counts().items()))
    http_retries = sum(int(r.get("retries", 0)) for r in run.reports)
    token_requests = len(stack.tokens.requests)
    before = f" ({run.queue_before_redrive} before the re-drive)" if run.redriven else ""
    tally = run.tally
    rows = [
        (
            "objects",
            f"{sum(len(s.events) for s in streams)} ({objects}; "
            f"{human_bytes(raw)} raw, {human_bytes(gzip)} gzip in S3)",
        ),
        (
            "invocations",
            f"{tally.first_attempts + tally.retries} ({tally.retries} Lambda retries, {tally.failed} failed, "
            f"{tally.sent_to_queue} sent to the on-failure queue)",
        ),
        ("OTLP requests", f"{len(accepted)} accepted of {collector.attempts} ({answers})"),
        (
            "request bytes",
            f"{human_bytes(sum(r.raw_bytes for r in accepted))} {ENCODING_NAMES[encoding]}, "
            f"{human_bytes(sum(r.wire_bytes for r in accepted))} gzip on the wire",
        ),
        ("HTTP retries", f"{http_retries} inside the forwarder (after 503 answers, honouring Retry-After)"),
        (
            "tokens",
            f"{stack.tokens.issued} issued in {token_requests} token requests "
            f"(lifetime {stack.settings.token_lifetime} s, one revocation)",
        ),
        ("on-failure queue", f"{run.queue_depth} messages at the end{before}"),
        ("collector errors", f"{len(collector.errors)} malformed requests"),
        ("received", f"{output_dir / 'received.jsonl'} ({len(accepted)} requests, OTLP JSON, one per line)"),
        ("forwarder log", f"{output_dir / 'forwarder.log'}"),
        ("time", f"{run.elapsed:.1f} s"),
    ]
    width = max(len(name) for name, _ in rows)
    return [f"  {name.ljust(width)}  {text}" for name, text in rows]
