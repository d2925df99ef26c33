"""The `cwotlp` command: convert or send Firehose objects from files, outside Lambda.

  cwotlp convert FILE...                 the OTLP requests the Lambda would send, to stdout or files
  cwotlp send FILE... --endpoint URL     the same requests, through the exporter the Lambda uses
  cwotlp replay --bucket B [--prefix P]  deliver S3 objects again (or --queue-url: the on-failure queue)

convert and send print a JSON summary per file to stderr; replay prints progress to stderr and a JSON
summary to stdout. Exit status: 0 on success (skipped lines included), 1 when a delivery failed, 2 when
a file cannot be read, AWS cannot be reached, or the options are wrong.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from cwotlp.config import ENCODINGS, STREAM_FORMATS, Settings
from cwotlp.deadline import Deadline
from cwotlp.errors import ConfigError, DeliveryError
from cwotlp.formats import detect
from cwotlp.otlp.encoding import varint
from cwotlp.otlp.naming import SCHEMES
from cwotlp.pipeline import Conversion, ObjectReport
from cwotlp.secret import Destination
from cwotlp.source import CHUNK_BYTES, Decompressed, ObjectRef

EXIT_DELIVERY = 1
EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = _settings(args)
    except ConfigError as error:
        print(f"cwotlp: {error}", file=sys.stderr)
        return EXIT_USAGE
    status: int = args.run(args, settings)
    return status


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cwotlp", description=__doc__.split("\n\n")[0] if __doc__ else None)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    _convert_command(commands)
    _send_command(commands)
    _replay_command(commands)
    return parser


def _convert_command(commands: Any) -> None:
    convert = commands.add_parser(
        "convert", help="write the OTLP requests for FILEs, as the Lambda sends them"
    )
    _conversion_options(convert)
    convert.add_argument(
        "--encoding", choices=ENCODINGS, help="request encoding (default $CWOTLP_OTLP_ENCODING or json)"
    )
    convert.add_argument(
        "--output-dir",
        type=Path,
        help="write each request to a file here (.json or .pb) instead of stdout, where JSON requests go one "
        "per line and protobuf requests each after its length as a varint",
    )
    convert.set_defaults(run=_convert)


def _send_command(commands: Any) -> None:
    send = commands.add_parser("send", help="send FILEs to an OTLP/HTTP collector")
    _conversion_options(send)
    send.add_argument("--endpoint", required=True, help="collector URL (a bare address gets /v1/metrics)")
    send.add_argument("--token-url", help="OAuth2 token endpoint (client-credentials grant)")
    send.add_argument("--client-id", help="OAuth2 client id")
    send.add_argument(
        "--client-secret-env",
        default="CWOTLP_CLIENT_SECRET",
        metavar="NAME",
        help="environment variable holding the OAuth2 client secret (default CWOTLP_CLIENT_SECRET)",
    )
    send.add_argument("--audience", help="OAuth2 audience parameter")
    send.add_argument("--scope", help="OAuth2 scope parameter")
    send.add_argument(
        "--header", action="append", default=[], metavar="NAME=VALUE", help="static header, e.g. an API key"
    )
    send.add_argument("--ca-bundle", help="PEM file of CAs to trust for a private collector")
    send.add_argument(
        "--allow-http", action="store_true", help="accept plain-http URLs (credentials travel unencrypted)"
    )
    send.add_argument(
        "--encoding", choices=ENCODINGS, help="request encoding (default $CWOTLP_OTLP_ENCODING or json)"
    )
    send.add_argument("--max-retries", type=int, help="retries per request (default 5)")
    send.add_argument("--timeout", type=float, default=300.0, help="seconds for the whole run (default 300)")
    send.set_defaults(run=_send)


def _replay_command(commands: Any) -> None:
    replay = commands.add_parser(
        "replay", help="deliver S3 objects again: by bucket and prefix, time window, or the on-failure queue"
    )
    chosen = replay.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--bucket", help="bucket the Firehose stream writes to")
    chosen.add_argument("--queue-url", help="the on-failure queue: deliver the objects its messages name")
    replay.add_argument(
        "--prefix", default="metrics/", help="key prefix, e.g. metrics/2026/11/24/ (default metrics/)"
    )
    replay.add_argument(
        "--since", type=_timestamp, help="only objects last modified at or after this ISO 8601 time"
    )
    replay.add_argument(
        "--until", type=_timestamp, help="only objects last modified before this ISO 8601 time"
    )
    replay.add_argument(
        "--secret-arn", help="secret with the endpoint and credentials (default $CWOTLP_SECRET_ARN)"
    )
    replay.add_argument(
        "--dry-run", action="store_true", help="list what would be delivered; send and change nothing"
    )
    replay.add_argument(
        "--max-messages", type=int, default=1000, help="queue messages to read at most (default 1000)"
    )
    replay.add_argument(
        "--visibility-timeout",
        type=int,
        default=900,
        help="seconds a message is hidden while handled (default 900)",
    )
    replay.add_argument(
        "--object-timeout", type=float, default=300.0, help="seconds per object (default 300)"
    )
    replay.add_argument(
        "--format", choices=STREAM_FORMATS, help="stream format (default $CWOTLP_STREAM_FORMAT)"
    )
    _naming_options(replay)
    replay.set_defaults(run=_replay)


def _timestamp(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r} (e.g. 2026-11-24T10:00Z)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _conversion_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="Firehose object, gzipped or not")
    parser.add_argument(
        "--format",
        choices=STREAM_FORMATS,
        help="the stream format of the files (default $CWOTLP_STREAM_FORMAT, or told from each file's bytes)",
    )
    _naming_options(parser)


def _naming_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--naming", choices=SCHEMES, help="naming scheme (default $CWOTLP_NAMING or cloudwatch)"
    )
    parser.add_argument("--service-name", help="resource attribute service.name")
    parser.add_argument(
        "--resource-attribute",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra resource attribute",
    )
    parser.add_argument(
        "--dimension-attributes", action="store_true", help="one datapoint attribute per dimension"
    )
    parser.add_argument("--max-request-bytes", type=int, help="upper bound of one request before gzip")


# Options that set a CWOTLP_* variable: option -> (variable, how the value is written).
_OVERRIDES: dict[str, tuple[str, Callable[[Any], str]]] = {
    "service_name": ("CWOTLP_SERVICE_NAME", str),
    "resource_attribute": (
        "CWOTLP_RESOURCE_ATTRIBUTES",
        lambda items: orjson.dumps(_pairs(items, "--resource-attribute")).decode(),
    ),
    "dimension_attributes": ("CWOTLP_DIMENSION_ATTRIBUTES", lambda _: "true"),
    "max_request_bytes": ("CWOTLP_MAX_REQUEST_BYTES", str),
    "naming": ("CWOTLP_NAMING", str),
    "encoding": ("CWOTLP_OTLP_ENCODING", str),
    "format": ("CWOTLP_STREAM_FORMAT", str),
    "max_retries": ("CWOTLP_MAX_RETRIES", str),
    "ca_bundle": ("CWOTLP_CA_BUNDLE", str),
    "secret_arn": ("CWOTLP_SECRET_ARN", str),
}


def _settings(args: argparse.Namespace) -> Settings:
    """Settings from the CWOTLP_* environment (or a deployed function's), overridden by the command line."""
    environ = dict(os.environ)
    if getattr(args, "function", None):
        environ.update(_function_environment(args.function))
    for option, (variable, written) in _OVERRIDES.items():
        value = getattr(args, option, None)
        if value is not None and value is not False and value != []:
            environ[variable] = written(value)
    return Settings.from_environment(environ)


def _function_environment(name: str) -> dict[str, str]:
    """The CWOTLP_* variables of a deployed function (lambda:GetFunctionConfiguration)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        configuration = boto3.client("lambda").get_function_configuration(FunctionName=name)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "error")
        raise ConfigError(f"cannot read the configuration of function {name}: {code}") from None
    except BotoCoreError as error:
        raise ConfigError(
            f"cannot read the configuration of function {name}: {type(error).__name__}"
        ) from None
    variables = configuration.get("Environment", {}).get("Variables", {})
    return {key: value for key, value in variables.items() if key.startswith("CWOTLP_")}


def _pairs(items: list[str], option: str) -> dict[str, str]:
    pairs = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"{option} takes NAME=VALUE, not {item!r}")
        pairs[name] = value
    return pairs


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

    def write(conversion: Conversion, report: ObjectReport) -> None:
        report.status = "converted"
        for number, batch in enumerate(conversion.batches(), 1):
            parts = batch.body_parts()
            size = sum(map(len, parts))
            if args.output_dir is not None:
                name = f"{Path(report.key).name}.{number:04d}.{'pb' if protobuf else 'json'}"
                (args.output_dir / name).write_bytes(b"".join(parts))
            else:
                out.writelines([varint(size), *parts] if protobuf else [*parts, b"\n"])
            report.counters.requests += 1
            report.counters.raw_bytes += size
            report.counters.datapoints += batch.datapoints
        out.flush()

    if args.output_dir is not None:
        args.output_dir.mkdir(parents=True, exist_ok=True)
    return _for_each_file(args, settings, write)


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
    print(orjson.dumps(replay.summary.as_dict()).decode())
    return EXIT_DELIVERY if replay.summary.failed else 0


def _destination(args: argparse.Namespace) -> Destination:
    secret: dict[str, object] = {"endpoint": args.endpoint, "headers": _pairs(args.header, "--header")}
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
    return Destination.from_secret(secret, "the command line")


if __name__ == "__main__":
    sys.exit(main())
