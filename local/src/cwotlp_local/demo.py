"""The whole pipeline on this machine: `python -m cwotlp_local.demo` (what `make demo` runs).

Everything listens on 127.0.0.1 and a free port, and every part is real except AWS itself (see
local/README.md): the local stack (stack.py: moto, the token endpoint, the collector), a few minutes of
data of two CloudWatch metric streams, one in the JSON output format and one in OpenTelemetry 1.0, as
their Firehose delivery streams write them (scenario.py; --format picks one), and the real forwarder,
invoked with S3 ObjectCreated:Put events the way Lambda invokes it asynchronously: two retries, then the
on-failure queue (lambda_async.py).

Half-way through, the collector answers 503 for a while (long enough for invocations to fail and be
retried) and the token endpoint revokes every token. At the end each on-failure queue that holds
messages is re-driven with `cwotlp replay`, and every generated datapoint must have arrived exactly once,
with the values it was generated with and the form the naming gives a record (check.py), and no message
may be left in the queues; the exit status says whether it did.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from cwotlp_local.check import check_delivery, received_datapoints
from cwotlp_local.environment import ForwarderSettings, UnsafeEnvironment
from cwotlp_local.lambda_async import AsyncEvent
from cwotlp_local.names import ModuleNames
from cwotlp_local.namings import NAMINGS, STREAM_FORMATS, ForwarderTraits, naming_of
from cwotlp_local.report import (
    ENCODING_NAMES,
    ForwarderLog,
    Printer,
    Run,
    attempt_lines,
    delivery_table,
    problems,
    setup_lines,
    stream_lines,
    summary_lines,
    write_received,
    write_summary,
)
from cwotlp_local.scenario import (
    STREAMS,
    WrittenStream,
    apply_due,
    arrival_order,
    fault_plan,
    start_of_data,
    write_stream,
)
from cwotlp_local.stack import Forwarder, LocalStack, StackSettings

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_UNSAFE = 2
EXIT_INTERRUPTED = 130

RUN_TIME_LIMIT_SECONDS = 50.0


@dataclass
class Options:
    minutes: int = 6
    seed: int = 0
    output_dir: Path = Path("demo-output")
    outage_requests: int = 8
    token_lifetime: int = 5
    max_request_bytes: int = 32 * 1024
    quiet: bool = False
    formats: tuple[str, ...] = STREAM_FORMATS
    encoding: str = "json"
    naming: str = "cloudwatch"

    def stack_settings(self) -> StackSettings:
        forwarder = ForwarderSettings(
            encoding=self.encoding, naming=self.naming, max_request_bytes=self.max_request_bytes
        )
        return StackSettings(token_lifetime=self.token_lifetime, forwarder=forwarder)


def run(options: Options) -> int:
    say = Printer(options.quiet)
    started = time.monotonic()
    try:
        with LocalStack(options.stack_settings()) as stack:
            return _demo(stack, options, say, started)
    except UnsafeEnvironment as error:
        print(f"cwotlp demo: refusing to start: {error}", file=sys.stderr)
        return EXIT_UNSAFE


def _demo(stack: LocalStack, options: Options, say: Printer, started: float) -> int:
    for line in setup_lines(stack, options.encoding):
        say(line)
    rng = random.Random(options.seed)
    start_ms = start_of_data(options.minutes)
    streams = []
    for output_format in options.formats:
        streams.append(
            write_stream(stack, STREAMS[output_format], options.minutes, options.seed, start_ms, rng)
        )
        for line in stream_lines(streams[-1], options.minutes):
            say(line)
    options.output_dir.mkdir(parents=True, exist_ok=True)
    with ForwarderLog.attached(options.output_dir / "forwarder.log") as log:
        run = Run(reports=log.reports)
        _invoke(stack, arrival_order(streams), options, say, run, deadline=started + RUN_TIME_LIMIT_SECONDS)
        run.elapsed = time.monotonic() - started
        _redrive(stack, [stream.forwarder for stream in streams], run, say)
        return _verdict(stack, streams, run, options, say)


def _invoke(
    stack: LocalStack, events: list[AsyncEvent], options: Options, say: Printer, run: Run, deadline: float
) -> None:
    """Every event, invoked as Lambda does, with the faults of the plan injected on the way."""
    plan = fault_plan(len(events), len(options.formats), options.outage_requests)

    def before_first_attempt(event: AsyncEvent) -> None:
        for line in apply_due(plan, stack, event):
            say(f"  -- {line}")

    say()
    say("invocations (one S3 event each; a failed one is retried by Lambda, then sent to the queue):")
    width = max(len(f) for f in options.formats)
    lambda_async = stack.lambda_async(deadline=deadline)
    reported = 0
    for attempt in lambda_async.run(events, before_first_attempt):
        run.tally.add(attempt)
        for line in attempt_lines(attempt, run.reports[reported:], len(events), width):
            say(line)
        reported = len(run.reports)
    if lambda_async.gave_up:
        say(f"  giving up: the demo ran longer than {RUN_TIME_LIMIT_SECONDS:.0f} s", always=True)


def _redrive(stack: LocalStack, forwarders: list[Forwarder], run: Run, say: Printer) -> None:
    """Delivers what Lambda gave up on, once the outage is over: `cwotlp replay` of each forwarder's
    on-failure queue, with that forwarder's settings."""
    run.queue_before_redrive = run.queue_depth = stack.queue_depth()
    if not run.queue_depth:
        return
    stack.collector.clear_faults()
    run.redriven = True
    for forwarder in forwarders:
        if forwarder.queue_url is None or not stack.queue_depth(forwarder.queue_url):
            continue
        say(f"  re-driving the on-failure queue: cwotlp replay --queue-url {forwarder.queue_url}")
        replayed = stack.replay("--queue-url", forwarder.queue_url, forwarder=forwarder)
        for line in replayed.output:
            say(f"      {line}")
        say(f"      -> cwotlp replay exited with status {replayed.status}")
        run.redriven = run.redriven and replayed.status == 0
    run.queue_depth = stack.queue_depth()


def _verdict(
    stack: LocalStack, streams: list[WrittenStream], run: Run, options: Options, say: Printer
) -> int:
    """Checks what arrived, prints the tables and writes the output files; the exit status."""
    forwarder = stack.settings.forwarder
    check = check_delivery(
        {s.stream.output_format: s.records for s in streams},
        received_datapoints(r.message for r in stack.collector.requests),
        naming_of(
            options.naming,
            ForwarderTraits(forwarder.service_name, forwarder.resource_attributes, ModuleNames().account),
        ),
    )
    write_received(options.output_dir / "received.jsonl", stack.collector)
    say(always=True)
    say("datapoints per namespace and per stream (generated vs what the collector received):", always=True)
    say(delivery_table(check), always=True)
    say(always=True)
    for line in summary_lines(stack, streams, run, options.output_dir):
        say(line, always=True)
    write_summary(options.output_dir / "summary.json", check, stack, streams, run)
    found = problems(check, stack.collector, options.encoding, run.queue_depth)
    say(always=True)
    if found:
        say("FAILED: " + "; ".join(found), always=True)
        for example in check.examples:
            say(f"  {example}", always=True)
        return EXIT_MISMATCH
    total = check.total.records
    say(
        f"OK: all {total} datapoints arrived exactly once, with their names, attributes and values.",
        always=True,
    )
    return EXIT_OK


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m cwotlp_local.demo",
        description="Run the whole cwotlp pipeline on this machine and check that every datapoint arrives.",
    )
    parser.add_argument("--minutes", type=int, default=6, help="minutes of metric stream data (default 6)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated data (default 0)")
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path("demo-output"),
        help="where received.jsonl goes (default demo-output)",
    )
    parser.add_argument(
        "--outage-requests",
        type=int,
        default=8,
        help="collector requests answered 503 in the middle of the run (default 8; 0 for none)",
    )
    parser.add_argument(
        "--format",
        choices=[*STREAM_FORMATS, "both"],
        default="both",
        help="output format of the metric stream(s): a stream of each format, or one (default both)",
    )
    parser.add_argument(
        "--encoding",
        choices=list(ENCODING_NAMES),
        default="json",
        help="how the forwarder encodes its OTLP requests, CWOTLP_OTLP_ENCODING (default json)",
    )
    parser.add_argument(
        "--naming",
        choices=NAMINGS,
        default="cloudwatch",
        help="the forwarder's naming scheme, CWOTLP_NAMING (default cloudwatch)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only the result tables")
    args = parser.parse_args(argv)
    if not 1 <= args.minutes <= 30:
        parser.error("--minutes must be from 1 to 30")
    if not 0 <= args.outage_requests <= 30:
        parser.error("--outage-requests must be from 0 to 30")
    return Options(
        minutes=args.minutes,
        seed=args.seed,
        output_dir=args.output_dir,
        outage_requests=args.outage_requests,
        quiet=args.quiet,
        formats=STREAM_FORMATS if args.format == "both" else (args.format,),
        encoding=args.encoding,
        naming=args.naming,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    try:
        return run(options)
    except KeyboardInterrupt:
        print("\ncwotlp demo: interrupted; everything it started has been stopped", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
