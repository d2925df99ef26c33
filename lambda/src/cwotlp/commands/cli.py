"""The `cwotlp` command: convert or send Firehose objects from files, outside Lambda.

  cwotlp convert FILE...                 the OTLP requests the Lambda would send, to stdout or files
  cwotlp send FILE... --endpoint URL     the same requests, through the exporter the Lambda uses
  cwotlp replay --bucket B [--prefix P]  deliver S3 objects again (or --queue-url: the on-failure queue)

convert and send print a JSON summary per file to stderr; replay prints progress to stderr and a JSON
summary to stdout. Exit status: 0 on success (skipped lines included), 1 when a delivery failed, 2 when
a file cannot be read, AWS cannot be reached, or the options are wrong. When convert's requests cannot
be written (stdout closed by its reader, a full disk), it says so and stops, with status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import io
import itertools
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import orjson

from cwotlp.commands import options
from cwotlp.config import Settings
from cwotlp.deadline import Deadline
from cwotlp.errors import ConfigError, DeliveryError
from cwotlp.formats import detect
from cwotlp.otlp.encoding import varint
from cwotlp.pipeline import Conversion, ObjectReport
from cwotlp.process import collect_cycles_less_often
from cwotlp.source import CHUNK_BYTES, Decompressed, ObjectRef

if TYPE_CHECKING:  # send and replay import it: convert needs no HTTP, TLS or secrets
    from cwotlp.secret import Destination

EXIT_DELIVERY = 1
EXIT_USAGE = 2
# The parts one writev takes (1,024 on Linux and macOS); None where there is no writev (Windows).
IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "writev") else None


class OutputError(Exception):
    """The requests cannot be written where they go: nothing more is converted."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = options.parser(
        __doc__.split("\n\n")[0] if __doc__ else "", {"convert": _convert, "send": _send, "replay": _replay}
    )
    args = parser.parse_args(argv)
    collect_cycles_less_often()
    try:
        settings = options.settings(args)
    except ConfigError as error:
        print(f"cwotlp: {error}", file=sys.stderr)
        return EXIT_USAGE
    status: int = args.run(args, settings)
    return status


def _for_each_file(
    args: argparse.Namespace, settings: Settings, deliver: Callable[[Conversion, ObjectReport], None]
) -> int:
    """Runs `deliver` on each file's conversion and prints its summary; the exit status of the run."""
    status = 0
    format_given = bool(getattr(args, "format", None) or os.environ.get("CWOTLP_STREAM_FORMAT", "").strip())
    for path in args.files:
        report = ObjectReport("", str(path))
        conversion = None
        try:
            with path.open("rb") as stream:
                chunks = iter(lambda: stream.read(CHUNK_BYTES), b"")
                if not format_given:
                    chunks, stream_format = _detected(chunks)
                    settings = dataclasses.replace(settings, stream_format=stream_format)
                conversion = Conversion(chunks, settings)
                deliver(conversion, report)
            if conversion.nothing_read():
                raise DeliveryError("nothing in the file could be read (see skipped); is --format right?")
        except OSError as error:
            print(f"cwotlp: cannot read {path}: {error.strerror or type(error).__name__}", file=sys.stderr)
            status = EXIT_USAGE
            continue
        except OutputError as error:
            print(f"cwotlp: {error}; stopped at {path}", file=sys.stderr)
            return EXIT_USAGE
        except DeliveryError as error:
            report.status, report.error = "failed", str(error)
            status = status or EXIT_DELIVERY
        if conversion is not None:
            report.absorb(conversion)
        sys.stderr.write(orjson.dumps(report.log_fields()).decode() + "\n")
    return status


def _detected(chunks: Iterator[bytes]) -> tuple[Iterator[bytes], str]:
    """The chunks unchanged, and the stream format their first plain bytes suggest."""
    head = next(chunks, b"")
    plain = next(iter(Decompressed([head])), b"")
    return itertools.chain((head,), chunks), detect(plain)


def _convert(args: argparse.Namespace, settings: Settings) -> int:
    out = sys.stdout.buffer
    protobuf = settings.encoding == "protobuf"
    suffix = "pb" if protobuf else "json"

    def write(conversion: Conversion, report: ObjectReport) -> None:
        report.status = "converted"
        for number, batch in enumerate(conversion.batches(), 1):
            parts = batch.body_parts()
            size = sum(map(len, parts))
            if args.output_dir is not None:
                file = args.output_dir / f"{Path(report.key).name}.{number:04d}.{suffix}"
                with _writing(file):
                    file.write_bytes(b"".join(parts))
            else:
                with _writing(None):
                    write_parts(out, [varint(size), *parts] if protobuf else [*parts, b"\n"])
            report.counters.requests += 1
            report.counters.raw_bytes += size
            report.counters.datapoints += batch.datapoints
        with _writing(None):
            out.flush()

    if args.output_dir is not None:
        try:
            with _writing(args.output_dir):
                args.output_dir.mkdir(parents=True, exist_ok=True)
        except OutputError as error:
            print(f"cwotlp: {error}", file=sys.stderr)
            return EXIT_USAGE
    return _for_each_file(args, settings, write)


@contextmanager
def _writing(file: Path | None) -> Iterator[None]:
    """An OSError of writing to the file (None: stdout) as an OutputError, so that it is not taken for
    one of reading the object."""
    try:
        yield
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise OutputError(f"cannot write {file or 'stdout'}: {reason}") from None


def write_parts(out: BinaryIO, parts: list[bytes]) -> None:
    """Writes the parts in order: with writev on a file descriptor, so that a request's thousands of
    parts take a system call per IOV_MAX of them (a buffered writer copies them into its buffer and
    makes a call per 8 KiB), looping over partial writes (a pipe takes what fits); else writelines."""
    try:
        descriptor = out.fileno()
    except (OSError, AttributeError, io.UnsupportedOperation):
        descriptor = None
    if descriptor is None or IOV_MAX is None:
        out.writelines(parts)
        return
    out.flush()
    pending: list[bytes | memoryview] = list(parts)
    start = 0
    while start < len(pending):
        written = os.writev(descriptor, pending[start : start + IOV_MAX])
        if not written and any(pending[start : start + IOV_MAX]):  # no progress: do not loop forever
            raise OSError(errno.EIO, "the output took none of the bytes")
        while start < len(pending) and written >= len(pending[start]):
            written -= len(pending[start])
            start += 1
        if written:  # a part written in part: the rest of it goes first next time
            pending[start] = memoryview(pending[start])[written:]


def _send(args: argparse.Namespace, settings: Settings) -> int:
    from cwotlp.delivery.export import Delivery

    try:
        destination = _destination(args)
    except ConfigError as error:
        print(f"cwotlp: {error}", file=sys.stderr)
        return EXIT_USAGE
    delivery = Delivery(_Fixed(destination), settings)
    deadline = Deadline.after(args.timeout)

    def send(conversion: Conversion, report: ObjectReport) -> None:
        exporter = delivery.exporter(report)
        for batch in conversion.batches():
            exporter(batch, deadline, lambda _accepted: None)

    return _for_each_file(args, settings, send)


class _Fixed:
    """A destination given on the command line, in place of the secret."""

    def __init__(self, destination: Destination) -> None:
        self._destination = destination

    def get(self) -> Destination:
        return self._destination

    def refresh(self) -> Destination:
        return self._destination


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from cwotlp.commands.replay import Replay, objects_under_prefix, queue_messages
    from cwotlp.handler import Runtime
    from cwotlp.pipeline import forward_object

    try:
        runtime = Runtime(settings, need_secret=not args.dry_run)
        import uuid

        holder = f"replay-{uuid.uuid4()}"
        forward = None
        if not args.dry_run:
            runtime.secret.get()  # a bad secret stops the run before the first object

            def forward(ref: ObjectRef) -> ObjectReport:
                deadline = Deadline.after(args.object_timeout)
                report = forward_object(
                    runtime.s3, ref, runtime.delivery.exporter, settings, deadline, holder=holder
                )
                report.log()
                return report

        replay = Replay(runtime.s3, forward, settings)
        if args.queue_url:
            sqs = runtime.client("sqs")
            messages = queue_messages(sqs, args.queue_url, args.max_messages, args.visibility_timeout)
            replay.run_queue(sqs, args.queue_url, messages)
        else:
            replay.run_objects(
                objects_under_prefix(runtime.s3, args.bucket, args.prefix, args.since, args.until)
            )
    except ConfigError as error:
        print(f"cwotlp: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ClientError as error:
        print(
            f"cwotlp: AWS {error.operation_name}: {error.response.get('Error', {}).get('Code')}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except BotoCoreError as error:
        print(f"cwotlp: AWS: {type(error).__name__}", file=sys.stderr)
        return EXIT_USAGE
    summary = orjson.dumps(replay.summary.as_dict()).decode()
    try:
        with _writing(None):
            _print_unbuffered(summary + "\n")
    except OutputError as error:  # the replay is done: its summary goes where it can still be read
        print(f"cwotlp: {error}; the summary: {summary}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_DELIVERY if replay.summary.failed else 0


def _print_unbuffered(text: str) -> None:
    """Writes to stdout's file descriptor where there is one, so that a closed pipe leaves nothing in a
    buffer to fail again when the interpreter flushes it at exit; else (stdout redirected to a text stream
    in memory) to stdout as it is."""
    sys.stdout.flush()
    binary = getattr(sys.stdout, "buffer", None)
    if binary is None:
        sys.stdout.write(text)
    else:
        write_parts(binary, [text.encode()])


def _destination(args: argparse.Namespace) -> Destination:
    secret: dict[str, object] = {"endpoint": args.endpoint, "headers": options.pairs(args.header, "--header")}
    if args.allow_http:
        secret["allow_http"] = True
    if args.token_url:
        if not os.environ.get(args.client_secret_env):
            raise ConfigError(
                f"--token-url needs the client secret in the environment variable {args.client_secret_env}"
            )
        if not args.client_id:
            raise ConfigError("--token-url needs --client-id")
        secret.update(
            token_url=args.token_url,
            client_id=args.client_id,
            client_secret=os.environ.get(args.client_secret_env),
            audience=args.audience,
            scope=args.scope,
        )
    from cwotlp.secret import Destination

    return Destination.from_secret(secret, "the command line")


if __name__ == "__main__":
    sys.exit(main())
