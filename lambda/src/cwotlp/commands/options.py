"""The `cwotlp` command line: its options, and the forwarder's settings they make with the environment."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from cwotlp.config import ENCODINGS, STREAM_FORMATS, Settings
from cwotlp.errors import ConfigError
from cwotlp.otlp.naming import SCHEMES

Runner = Callable[[argparse.Namespace, Settings], int]


def parser(description: str, runners: Mapping[str, Runner]) -> argparse.ArgumentParser:
    """The command line; each command's `run` default is its runner in `runners`."""
    parser = argparse.ArgumentParser(prog="cwotlp", description=description)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    _convert_command(commands).set_defaults(run=runners["convert"])
    _send_command(commands).set_defaults(run=runners["send"])
    _replay_command(commands).set_defaults(run=runners["replay"])
    return parser


def _convert_command(commands: Any) -> argparse.ArgumentParser:
    convert: argparse.ArgumentParser = commands.add_parser(
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
    return convert


def _send_command(commands: Any) -> argparse.ArgumentParser:
    send: argparse.ArgumentParser = commands.add_parser("send", help="send FILEs to an OTLP/HTTP collector")
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
    return send


def _replay_command(commands: Any) -> argparse.ArgumentParser:
    replay: argparse.ArgumentParser = commands.add_parser(
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
        "--function",
        metavar="NAME",
        help="use the CWOTLP_* settings of this deployed forwarder (lambda:GetFunctionConfiguration) "
        "instead of the environment's; options given here still override them",
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
        "--object-timeout",
        type=_object_seconds,
        default=300.0,
        help="seconds per object, at most 900 as for the function (default 300)",
    )
    replay.add_argument(
        "--format", choices=STREAM_FORMATS, help="stream format (default $CWOTLP_STREAM_FORMAT)"
    )
    _naming_options(replay)
    return replay


def _object_seconds(text: str) -> float:
    """Seconds for one object: an object's lease lasts that long, and the function takes a lease
    longer than its own longest run (900 s) for a corrupt one."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 1 <= seconds <= 900:
        raise argparse.ArgumentTypeError(f"not a number of seconds from 1 to 900: {text!r}")
    return seconds


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
        lambda items: orjson.dumps(pairs(items, "--resource-attribute")).decode(),
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


def settings(args: argparse.Namespace) -> Settings:
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


def pairs(items: list[str], option: str) -> dict[str, str]:
    pairs = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"{option} takes NAME=VALUE, not {item!r}")
        pairs[name] = value
    return pairs
