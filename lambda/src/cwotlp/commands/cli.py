"""The `cwotlp` command: convert or send Firehose objects from files, outside Lambda.

  cwotlp convert FILE...                 OTLP JSON requests, one per line, to stdout
  cwotlp send FILE... --endpoint URL     the same requests, through the exporter the Lambda uses
  cwotlp replay --bucket B [--prefix P]  deliver S3 objects again (or --queue-url: the on-failure queue)

convert and send print a JSON summary per file to stderr; replay prints progress to stderr and a JSON
summary to stdout. Exit status: 0 on success (skipped lines included), 1 when a delivery failed, 2 when
a file cannot be read, AWS cannot be reached, or the options are wrong.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import orjson

from cwotlp.config import ConfigError, Destination, Settings
from cwotlp.delivery.http import Deadline, DeliveryError
from cwotlp.pipeline import Conversion, ObjectReport, exporter_factory
from cwotlp.source import CHUNK_BYTES, ObjectRef

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

    convert = commands.add_parser("convert", help="write the OTLP JSON requests for FILEs to stdout")
    _conversion_options(convert)
    convert.set_defaults(run=_convert)

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
    send.add_argument("--max-retries", type=int, help="retries per request (default 5)")
    send.add_argument("--timeout", type=float, default=300.0, help="seconds for the whole run (default 300)")
    send.set_defaults(run=_send)

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
    _naming_options(replay)
    replay.set_defaults(run=_replay)
    return parser


def _timestamp(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r} (e.g. 2026-11-24T10:00Z)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _conversion_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="Firehose object, gzipped or not")
    _naming_options(parser)


def _naming_options(parser: argparse.ArgumentParser) -> None:
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


def _settings(args: argparse.Namespace) -> Settings:
    """Settings from the CWOTLP_* environment, overridden by the command line."""
    environ = dict(os.environ)
    if args.service_name:
        environ["CWOTLP_SERVICE_NAME"] = args.service_name
    if args.resource_attribute:
        environ["CWOTLP_RESOURCE_ATTRIBUTES"] = orjson.dumps(
            _pairs(args.resource_attribute, "--resource-attribute")
        ).decode()
    if args.dimension_attributes:
        environ["CWOTLP_DIMENSION_ATTRIBUTES"] = "true"
    if args.max_request_bytes is not None:
        environ["CWOTLP_MAX_REQUEST_BYTES"] = str(args.max_request_bytes)
    if getattr(args, "max_retries", None) is not None:
        environ["CWOTLP_MAX_RETRIES"] = str(args.max_retries)
    if getattr(args, "ca_bundle", None):
        environ["CWOTLP_CA_BUNDLE"] = args.ca_bundle
    if getattr(args, "secret_arn", None):
        environ["CWOTLP_SECRET_ARN"] = args.secret_arn
    return Settings.from_environment(environ)


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
    for path in args.files:
        report = ObjectReport("", str(path))
        try:
            with path.open("rb") as stream:
                conversion = Conversion.configured(iter(lambda: stream.read(CHUNK_BYTES), b""), settings)
                deliver(conversion, report)
        except OSError as error:
            print(f"cwotlp: cannot read {path}: {error.strerror or error}", file=sys.stderr)
            status = EXIT_USAGE
            continue
        except DeliveryError as error:
            report.status, report.error = "failed", str(error)
            status = status or EXIT_DELIVERY
        report.absorb(conversion)
        sys.stderr.write(orjson.dumps(report.log_fields()).decode() + "\n")
    return status


def _convert(args: argparse.Namespace, settings: Settings) -> int:
    out = sys.stdout.buffer
    settings = dataclasses.replace(settings, encoding="json")  # one request per line needs text

    def write(conversion: Conversion, report: ObjectReport) -> None:
        report.status = "converted"
        for batch in conversion.batches():
            parts = batch.body_parts()
            out.writelines(parts)
            out.write(b"\n")
            report.counters.requests += 1
            report.counters.raw_bytes += sum(map(len, parts))
            report.counters.datapoints += batch.datapoints
        out.flush()

    return _for_each_file(args, settings, write)


def _send(args: argparse.Namespace, settings: Settings) -> int:
    import requests

    try:
        destination = _destination(args)
    except ConfigError as error:
        print(f"cwotlp: {error}", file=sys.stderr)
        return EXIT_USAGE
    session = requests.Session()
    session.verify = settings.ca_bundle or True
    make_exporter = exporter_factory(destination, session, settings)
    deadline = Deadline.after(args.timeout)

    def send(conversion: Conversion, report: ObjectReport) -> None:
        exporter = make_exporter(report.counters)
        for batch in conversion.batches():
            exporter.send(batch, deadline, lambda _accepted: None)

    return _for_each_file(args, settings, send)


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from cwotlp.commands.replay import Replay, objects_under_prefix, queue_messages
    from cwotlp.handler import Runtime
    from cwotlp.pipeline import forward_object

    try:
        runtime = Runtime(settings, need_secret=not args.dry_run)
        forward = None
        if not args.dry_run:
            make_exporter = exporter_factory(runtime.secret.get(), runtime.session, settings)

            def forward(ref: ObjectRef) -> ObjectReport:
                deadline = Deadline.after(args.object_timeout)
                return forward_object(runtime.s3, ref, make_exporter, settings, deadline)

        replay = Replay(runtime.s3, forward)
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
    except (ClientError, BotoCoreError) as error:
        print(f"cwotlp: AWS: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(orjson.dumps(replay.summary.as_dict()).decode())
    return EXIT_DELIVERY if replay.summary.failed else 0


def _destination(args: argparse.Namespace) -> Destination:
    secret: dict[str, object] = {"endpoint": args.endpoint, "headers": _pairs(args.header, "--header")}
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
