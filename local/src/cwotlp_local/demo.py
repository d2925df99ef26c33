"""The whole pipeline on this machine: `python -m cwotlp_local.demo` (what `make demo` runs).

Everything listens on 127.0.0.1 and a free port, and every part is real except AWS itself:

  moto server            S3 (the bucket Firehose writes to), Secrets Manager (the collector secret)
                         and SQS (the forwarder's on-failure queue), set up as the Terraform module does
  TokenServer            an OAuth2 client-credentials endpoint with short-lived tokens
  Collector              an OTLP/HTTP receiver that checks bearer tokens and decodes strictly
  generator              a few minutes of data of two CloudWatch metric streams, one in the JSON output
                         format and one in OpenTelemetry 1.0 (length-prefixed protobuf frames), as
                         the gzip objects their Firehose delivery streams write (--format picks one)
  cwotlp.handler         the real forwarder, invoked with real S3 ObjectCreated:Put events the way
                         Lambda invokes it asynchronously: two retries, then the on-failure queue

Half-way through, the collector answers 503 for a while (long enough for invocations to fail and be
retried) and the token endpoint revokes every token. At the end every generated datapoint must have
arrived exactly once, with the values it was generated with and the names, unit and attributes the
forwarder gives a record of its format; the exit status says whether it did.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import io
import itertools
import json
import logging
import os
import random
import secrets
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote_plus, urlsplit

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_UNSAFE = 2
EXIT_INTERRUPTED = 130

NAME = "cwotlp-demo"  # var.name of the module
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's account: the account that owns the bucket and runs the forwarder
FUNCTION_NAME = f"{NAME}-forwarder"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION_NAME}"
SECRET_NAME = f"{NAME}/collector"
QUEUE_NAME = f"{NAME}-forwarder-failures"
METRICS_PREFIX = "metrics/"
SERVICE_NAME = "aws-cloudwatch-stream"  # CWOTLP_SERVICE_NAME
RESOURCE_ATTRIBUTES = {"environment": "demo"}  # CWOTLP_RESOURCE_ATTRIBUTES

# The output formats of a metric stream the forwarder reads.
JSON = "json"
OTEL1 = "opentelemetry1.0"
FORMATS = (JSON, OTEL1)
ENCODINGS = ("json", "protobuf")  # CWOTLP_OTLP_ENCODING
ENCODING_NAMES = {"json": "OTLP JSON", "protobuf": "OTLP protobuf"}
CONTENT_TYPES = {"json": "application/json", "protobuf": "application/x-protobuf"}
OTEL1_RECORDS_PER_FRAME = 50
# Units as a metric stream writes them in the OpenTelemetry 1.0 format (UCUM), for the units of the
# generated data; any other unit is written as CloudWatch names it.
OTEL1_UNITS = {"Count": "1", "None": "1", "Seconds": "s", "Milliseconds": "ms", "Percent": "%", "Bytes": "By"}


@dataclass(frozen=True)
class Stream:
    """A metric stream of the demo and the Firehose delivery stream that writes its objects to the bucket.

    Each format has a stream of its own, in accounts of its own, as two instances of the module would
    have; here both write to the one bucket the forwarder reads.
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

LAMBDA_TIMEOUT_SECONDS = 60
LAMBDA_MAX_RETRIES = 2  # Lambda's asynchronous invocation: two retries, then the on-failure destination
# Lambda waits about one and then two minutes before its retries; the demo waits this long instead.
RETRY_DELAYS_SECONDS = (0.5, 1.0)
RUN_TIME_LIMIT_SECONDS = 50.0

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Variables that could make an AWS SDK use real credentials or a real account.
AWS_CREDENTIAL_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)


class UnsafeEnvironment(Exception):
    """The environment names an AWS endpoint that is not on this machine."""


def check_environment(environ: Mapping[str, str]) -> list[str]:
    """Raises UnsafeEnvironment for an AWS endpoint that is not local; returns the variables to clear.

    Credentials, profiles and config files are never used: they are cleared and replaced by dummy
    credentials for the local moto server. An endpoint elsewhere is refused, because someone meant it.
    """
    for name, value in sorted(environ.items()):
        if name.upper().startswith("AWS_ENDPOINT_URL") and value.strip():
            host = urlsplit(value.strip()).hostname
            if host not in LOCAL_HOSTS:
                raise UnsafeEnvironment(
                    f"{name}={value} points away from this machine; the demo only talks to a moto server "
                    f"it starts on 127.0.0.1. Unset {name} and run it again."
                )
    return sorted(
        name
        for name in environ
        if name.upper() in AWS_CREDENTIAL_VARIABLES
        or name.upper().startswith(("AWS_", "CWOTLP_"))
        or name.upper() == "BOTO_CONFIG"
    )


def lambda_environment(
    moto_url: str,
    secret_arn: str,
    config_dir: Path,
    max_request_bytes: int,
    ca_bundle: Path,
    encoding: str = "json",
) -> dict[str, str]:
    """The forwarder's environment as the module sets it, pointed at the local moto server."""
    aws_config = config_dir / "aws-config"
    aws_credentials = config_dir / "aws-credentials"
    aws_config.write_text("")
    aws_credentials.write_text("")
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_CONFIG_FILE": str(aws_config),
        "AWS_SHARED_CREDENTIALS_FILE": str(aws_credentials),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME,
        "CWOTLP_SECRET_ARN": secret_arn,
        "CWOTLP_SECRET_TTL_SECONDS": "300",
        "CWOTLP_SERVICE_NAME": SERVICE_NAME,
        "CWOTLP_RESOURCE_ATTRIBUTES": json.dumps(RESOURCE_ATTRIBUTES),
        "CWOTLP_DIMENSION_ATTRIBUTES": "false",
        "CWOTLP_OTLP_ENCODING": encoding,
        "CWOTLP_MAX_REQUEST_BYTES": str(max_request_bytes),
        "CWOTLP_MAX_RETRIES": "2",
        "CWOTLP_REQUEST_TIMEOUT_SECONDS": "5",
        "CWOTLP_CA_BUNDLE": str(ca_bundle),
        "CWOTLP_LOG_LEVEL": "INFO",
    }


# --- Lambda's side of things -----------------------------------------------------------------------------


@dataclass
class LambdaContext:
    """The parts of the Lambda context object a handler uses."""

    aws_request_id: str
    timeout_seconds: float = LAMBDA_TIMEOUT_SECONDS
    function_name: str = FUNCTION_NAME
    function_version: str = "$LATEST"
    invoked_function_arn: str = FUNCTION_ARN
    memory_limit_in_mb: str = "256"
    log_group_name: str = f"/aws/lambda/{FUNCTION_NAME}"
    log_stream_name: str = "2024/01/01/[$LATEST]demo"
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.started + self.timeout_seconds - time.monotonic()) * 1000))


def s3_event(bucket: str, key: str, size: int, etag: str, when: dt.datetime) -> dict[str, Any]:
    """The notification S3 sends for an ObjectCreated:Put (the key form-encoded, as S3 does)."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventTime": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:AROAEXAMPLEFIREHOSE:AWSFirehoseToS3"},
                "requestParameters": {"sourceIPAddress": "10.0.0.1"},
                "responseElements": {
                    "x-amz-request-id": secrets.token_hex(8).upper(),
                    "x-amz-id-2": secrets.token_urlsafe(48),
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "tf-s3-lambda-" + secrets.token_hex(10),
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {
                        "key": quote_plus(key, safe="/"),
                        "size": size,
                        "eTag": etag,
                        "sequencer": f"{time.time_ns():X}",
                    },
                },
            }
        ]
    }


def on_failure_record(event: dict[str, Any], request_id: str, error: BaseException) -> dict[str, Any]:
    """The record Lambda sends to an on-failure destination once the retries are exhausted."""
    now = dt.datetime.now(dt.UTC)
    return {
        "version": "1.0",
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"{FUNCTION_ARN}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": LAMBDA_MAX_RETRIES + 1,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {
            "errorMessage": str(error),
            "errorType": type(error).__name__,
            "requestId": request_id,
            "stackTrace": traceback.format_tb(error.__traceback__)[-5:],
        },
    }


@dataclass
class Invocation:
    event: dict[str, Any]
    key: str
    number: int
    output_format: str = JSON
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    attempt: int = 1
    not_before: float = 0.0


class ForwarderLog(logging.Handler):
    """Keeps the forwarder's per-object reports, and writes every forwarder log line to a file."""

    def __init__(self, path: Path) -> None:
        super().__init__(logging.DEBUG)
        from cwotlp.logs import JsonFormatter

        self._file = path.open("w")
        self._formatter = JsonFormatter()
        self.reports: list[dict[str, Any]] = []
        self.levels: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.levels[record.levelname] += 1
        report = getattr(record, "object", None)
        if isinstance(report, dict):
            self.reports.append(report)
        self._file.write(self._formatter.format(record) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
        super().close()


# --- checking what arrived -------------------------------------------------------------------------------

RecordKey = tuple[str, str, str, str, tuple[tuple[str, str], ...], int]


def record_key(record: Mapping[str, Any]) -> RecordKey:
    return (
        record["account_id"],
        record["region"],
        record["namespace"],
        record["metric_name"],
        tuple(sorted(record["dimensions"].items())),
        int(record["timestamp"]),
    )


class Received(NamedTuple):
    """A datapoint the collector accepted, with the resource and metric it came in."""

    resource: dict[str, Any]
    name: str
    unit: str
    point: Any


def received_datapoints(messages: Iterable[Any]) -> list[Received]:
    """The datapoints of ExportMetricsServiceRequest messages, in order."""
    from cwotlp_local.otlp import iter_metric_datapoints

    return [
        Received(resource, metric.name, metric.unit, point)
        for message in messages
        for resource, metric, point in iter_metric_datapoints(message)
    ]


def datapoint_key(resource: Mapping[str, Any], name: str, point: Any) -> RecordKey | None:
    """The generated record a received datapoint stands for, from its resource, name and attributes.

    Dimensions come as a JSON text attribute from JSON records and as a key-value list attribute from
    OpenTelemetry 1.0 objects.
    """
    from cwotlp_local.otlp import attributes

    attrs = attributes(point.attributes)
    namespace = attrs.get("Namespace")
    metric_name = attrs.get("MetricName")
    if namespace is None or metric_name is None:
        namespace, _, metric_name = name.removeprefix("amazonaws.com/").rpartition("/")
    dimensions = attrs.get("Dimensions")
    try:
        if isinstance(dimensions, str):
            dimensions = json.loads(dimensions)
        elif not isinstance(dimensions, dict):
            dimensions = {k: v for k, v in attrs.items() if k not in ("Namespace", "MetricName")}
        return (
            str(resource.get("cloud.account.id", "")),
            str(resource.get("cloud.region", "")),
            str(namespace),
            str(metric_name),
            tuple(sorted((str(k), str(v)) for k, v in dimensions.items())),
            int(point.time_unix_nano) // 1_000_000,
        )
    except (ValueError, AttributeError, TypeError):
        return None


@dataclass(frozen=True)
class Form:
    """How a record should arrive at the collector, apart from its values."""

    resource: dict[str, Any]
    name: str
    unit: str
    attributes: dict[str, Any]
    start_time_unix_nano: int


def expected_form(record: Mapping[str, Any], output_format: str) -> Form:
    """The resource, metric and attributes the forwarder gives a record of the given stream format.

    JSON records are converted with the cloudwatch naming scheme (CWOTLP_DIMENSION_ATTRIBUTES=false):
    the dimensions become one attribute, their JSON text. OpenTelemetry 1.0 requests are passed on as
    the metric stream wrote them (names, UCUM units, the dimensions as a key-value list, the start
    time), with service.name and CWOTLP_RESOURCE_ATTRIBUTES added to each resource.
    """
    account, region = record["account_id"], record["region"]
    namespace, metric_name, unit = record["namespace"], record["metric_name"], record["unit"]
    place = {"cloud.provider": "aws", "cloud.account.id": account, "cloud.region": region}
    added = {"service.name": SERVICE_NAME, **RESOURCE_ATTRIBUTES}
    name = f"amazonaws.com/{namespace}/{metric_name}"
    labels: dict[str, Any] = {"Namespace": namespace, "MetricName": metric_name}
    if output_format == OTEL1:
        stream_arn = f"arn:aws:cloudwatch:{region}:{account}:metric-stream/{record['metric_stream_name']}"
        return Form(
            {**place, "aws.exporter.arn": stream_arn, **added},
            name,
            OTEL1_UNITS.get(unit, unit),
            {**labels, "Dimensions": dict(record["dimensions"])},
            (int(record["timestamp"]) - 60_000) * 1_000_000,
        )
    return Form(
        {**place, **added},
        name,
        "" if unit == "None" else unit,
        {**labels, "Dimensions": json.dumps(record["dimensions"])},
        0,
    )


def form_problems(form: Form, received: Received) -> list[str]:
    """How a received datapoint's resource, name, unit and attributes differ from the expected ones."""
    from cwotlp_local.otlp import attributes

    problems = []
    if received.resource != form.resource:
        problems.append(f"resource {received.resource} != {form.resource}")
    if received.name != form.name:
        problems.append(f"name {received.name!r} != {form.name!r}")
    if received.unit != form.unit:
        problems.append(f"unit {received.unit!r} != {form.unit!r}")
    point_attributes = attributes(received.point.attributes)
    if point_attributes != form.attributes:
        problems.append(f"attributes {point_attributes} != {form.attributes}")
    if int(received.point.start_time_unix_nano) != form.start_time_unix_nano:
        problems.append(f"start time {received.point.start_time_unix_nano} != {form.start_time_unix_nano}")
    return problems


def value_problems(record: Mapping[str, Any], point: Any) -> list[str]:
    """How a received summary datapoint differs from the statistics of its record (empty when it does not)."""
    value = record["value"]
    problems = []
    if not hasattr(point, "quantile_values"):
        return [f"not a summary datapoint ({type(point).__name__})"]
    if int(point.count) != round(value["count"]):
        problems.append(f"count {point.count} != {value['count']}")
    if point.sum != value["sum"]:
        problems.append(f"sum {point.sum} != {value['sum']}")
    quantiles = {q.quantile: q.value for q in point.quantile_values}
    expected = {0.0: value["min"], 1.0: value["max"]}
    expected.update({int(k[1:]) / 100: v for k, v in value.items() if k in ("p50", "p90", "p99")})
    for quantile, number in expected.items():
        if quantiles.get(quantile) != number:
            problems.append(f"quantile {quantile}: {quantiles.get(quantile)} != {number}")
    if len(quantiles) != len(expected):
        problems.append(f"quantiles {sorted(quantiles)} != {sorted(expected)}")
    return problems


@dataclass
class Counts:
    """Datapoints of one namespace or stream format: generated, received, and what went wrong."""

    records: int = 0
    received: int = 0
    delivered: int = 0
    missing: int = 0
    duplicates: int = 0
    unexpected: int = 0
    altered: int = 0  # values, name, unit, resource or attributes other than its record's

    def add(self, other: Counts) -> None:
        for name, value in vars(other).items():
            setattr(self, name, getattr(self, name) + value)

    def row(self, label: str) -> list[Any]:
        return [label, *vars(self).values()]


@dataclass
class DeliveryCheck:
    namespaces: dict[str, Counts]
    formats: dict[str, Counts]
    examples: list[str]

    @property
    def total(self) -> Counts:
        total = Counts()
        for counts in self.formats.values():
            total.add(counts)
        return total


def _format_of(resource: Mapping[str, Any]) -> str:
    """The stream format a datapoint that matches no record most likely came from (for the tables)."""
    return OTEL1 if "aws.exporter.arn" in resource else JSON


def check_delivery(
    streams: Mapping[str, Sequence[Mapping[str, Any]]], datapoints: Iterable[Received]
) -> DeliveryCheck:
    """Compares the records of each stream format with the datapoints received.

    Per namespace and per format: what was generated, received, missing, duplicated, not generated at
    all, or altered (values, or name, unit, resource and attributes other than the record's format
    gives it); and a few examples of what went wrong.
    """
    from cwotlp_local.otlp import datapoint_identity

    expected: dict[RecordKey, tuple[str, Mapping[str, Any]]] = {}
    namespaces: dict[str, Counts] = defaultdict(Counts)
    formats: dict[str, Counts] = {output_format: Counts() for output_format in streams}
    for output_format, records in streams.items():
        for record in records:
            key = record_key(record)
            if key in expected:
                raise ValueError(f"two generated records are the same datapoint: {key}")
            expected[key] = (output_format, record)
            namespaces[record["namespace"]].records += 1
            formats[output_format].records += 1
    examples: list[str] = []

    def example(text: str) -> None:
        if len(examples) < 5:
            examples.append(text)

    seen_identities: set[str] = set()
    seen_keys: set[RecordKey] = set()
    for received in datapoints:
        resource, name, point = received.resource, received.name, received.point
        found = datapoint_key(resource, name, point)
        matched = expected.get(found) if found else None
        output_format = matched[0] if matched else _format_of(resource)
        counted = (
            namespaces[found[2] if found else "(unreadable)"],
            formats.setdefault(output_format, Counts()),
        )
        for counts in counted:
            counts.received += 1
        identity = datapoint_identity(resource, name, point)
        if identity in seen_identities:
            for counts in counted:
                counts.duplicates += 1
            example(f"duplicate: {name} at {point.time_unix_nano}")
            continue
        seen_identities.add(identity)
        if found is None or matched is None or found in seen_keys:
            for counts in counted:
                counts.unexpected += 1
            example(f"unexpected: {name} {found}")
            continue
        seen_keys.add(found)
        record = matched[1]
        problems = form_problems(expected_form(record, output_format), received)
        problems += value_problems(record, point)
        for counts in counted:
            counts.delivered += 1
            counts.altered += bool(problems)
        if problems:
            example(f"{output_format} {name} at {point.time_unix_nano}: {'; '.join(problems)}")
    for key, (output_format, record) in expected.items():
        if key not in seen_keys:
            namespaces[record["namespace"]].missing += 1
            formats[output_format].missing += 1
            what = f"{record['namespace']} {record['metric_name']} {key[4]} {key[5]}"
            example(f"missing: {output_format} {what}")
    return DeliveryCheck(dict(sorted(namespaces.items())), formats, examples)


# --- output ----------------------------------------------------------------------------------------------


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


class Printer:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def __call__(self, text: str = "", *, always: bool = False) -> None:
        if always or not self.quiet:
            print(text, flush=True)


# --- the run ---------------------------------------------------------------------------------------------


@dataclass
class Options:
    minutes: int = 6
    seed: int = 0
    output_dir: Path = Path("demo-output")
    outage_requests: int = 8
    token_lifetime: int = 5
    max_request_bytes: int = 32 * 1024
    quiet: bool = False
    formats: tuple[str, ...] = FORMATS
    encoding: str = "json"


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


def run(options: Options) -> int:
    say = Printer(options.quiet)
    started = time.monotonic()
    try:
        to_clear = check_environment(os.environ)
    except UnsafeEnvironment as error:
        print(f"cwotlp demo: refusing to start: {error}", file=sys.stderr)
        return EXIT_UNSAFE
    cleared = [name for name in to_clear if name.upper() in AWS_CREDENTIAL_VARIABLES]
    saved_environment = dict(os.environ)
    try:
        for name in to_clear:
            del os.environ[name]
        no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY", ""), "127.0.0.1,localhost"]))
        os.environ["NO_PROXY"] = os.environ["no_proxy"] = no_proxy
        with contextlib.ExitStack() as stack:
            return _run(options, say, stack, started, cleared)
    finally:
        os.environ.clear()
        os.environ.update(saved_environment)


def _run(
    options: Options, say: Printer, stack: contextlib.ExitStack, started: float, cleared: list[str]
) -> int:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from moto.server import ThreadedMotoServer

    from cwotlp_local.collector import Collector
    from cwotlp_local.faults import Fault
    from cwotlp_local.generator import (
        firehose_key,
        firehose_object,
        generate_records,
        otel1_object,
        series_count,
    )
    from cwotlp_local.token_server import TokenServer

    say("cwotlp demo: CloudWatch metric stream -> Firehose -> S3 -> forwarder -> OTLP/HTTP, on 127.0.0.1")
    if cleared:
        say(f"  (not using {', '.join(cleared)} from the environment: the demo needs no AWS account)")

    work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cwotlp-demo-")))
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    stack.callback(moto.stop)
    host, port = moto.get_host_and_port()
    moto_url = f"http://{host}:{port}"

    client_secret = secrets.token_urlsafe(24)
    audience = "https://collector.demo.local"
    tokens = stack.enter_context(
        TokenServer(
            client_id=f"{NAME}-client",
            client_secret=client_secret,
            expires_in=options.token_lifetime,
            audience=audience,
            tls=True,
        )
    )
    collector = stack.enter_context(Collector(token_check=tokens.is_valid, tls=True))
    # Both servers have certificates of their own throwaway CAs; the forwarder trusts exactly these.
    ca_bundle = work_dir / "ca-bundle.pem"
    ca_bundle.write_text(Path(str(tokens.ca_file)).read_text() + Path(str(collector.ca_file)).read_text())

    # AWS as the module sets it up, in moto.
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": moto_url,
        }
    )
    import boto3

    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    s3 = session.client("s3", endpoint_url=moto_url)
    sqs = session.client("sqs", endpoint_url=moto_url)
    secretsmanager = session.client("secretsmanager", endpoint_url=moto_url)
    for client in (s3, sqs, secretsmanager):
        if urlsplit(client.meta.endpoint_url).hostname != "127.0.0.1":
            raise RuntimeError(f"an AWS client points at {client.meta.endpoint_url}, not the moto server")

    bucket = f"{NAME}-{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}{secrets.randbelow(10**6):06d}"
    s3.create_bucket(Bucket=bucket)
    secret_value = {
        "endpoint": collector.url,
        "token_url": tokens.url,
        "client_id": tokens.client_id,
        "client_secret": client_secret,
        "audience": audience,
    }
    secret_arn = secretsmanager.create_secret(
        Name=SECRET_NAME,
        Description=f"OTLP collector endpoint and credentials for the {NAME} forwarder",
        SecretString=json.dumps(secret_value),
    )["ARN"]
    queue_url = sqs.create_queue(QueueName=QUEUE_NAME)["QueueUrl"]

    say(f"  AWS (moto server)       {moto_url}   S3, Secrets Manager, SQS")
    say(f"  OAuth2 token endpoint   {tokens.url}   tokens live {options.token_lifetime} s")
    say(f"  OTLP/HTTP collector     {collector.url}   bearer tokens checked, strict decoding")
    say("  TLS                     both served with certificates of throwaway CAs (CWOTLP_CA_BUNDLE)")
    say(f"  bucket                  s3://{bucket}/{METRICS_PREFIX}")
    say(f"  secret                  {SECRET_NAME} (endpoint, token URL, client id and secret, audience)")
    say(f"  on-failure queue        {QUEUE_NAME}")
    encoding = options.encoding
    say(f"  forwarder requests      {ENCODING_NAMES[encoding]} (CWOTLP_OTLP_ENCODING={encoding})")

    # The data: a few minutes of each metric stream, cut into Firehose objects.
    rng = random.Random(options.seed)
    now_ms = int(time.time() * 1000)
    start_ms = now_ms - now_ms % 60_000 - (options.minutes + 1) * 60_000
    generated: dict[str, list[dict[str, Any]]] = {}
    written: dict[str, list[Invocation]] = {}
    object_bytes: dict[str, tuple[int, int]] = {}  # raw and gzip bytes per format
    for stream in (STREAMS[f] for f in options.formats):
        seed = options.seed + stream.seed_offset
        per_minute = series_count(seed=seed, accounts=stream.accounts)
        records = list(
            generate_records(
                per_minute * options.minutes,
                seed=seed,
                start_ms=start_ms,
                accounts=stream.accounts,
                stream_name=stream.metric_stream,
            )
        )
        generated[stream.output_format] = records
        written[stream.output_format] = []
        raw_bytes = gzip_bytes = frames = 0
        for index, chunk in enumerate(split_into_objects(records, options.minutes, rng)):
            when = dt.datetime.fromtimestamp(chunk[-1]["timestamp"] / 1000 + 75 + index, dt.UTC)
            object_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            key = firehose_key(stream.delivery_stream, when, uuid=object_id)
            if stream.output_format == OTEL1:
                body = otel1_object(chunk, per_frame=OTEL1_RECORDS_PER_FRAME)
                raw_bytes += len(otel1_object(chunk, per_frame=OTEL1_RECORDS_PER_FRAME, compress=False))
                frames += -(-len(chunk) // OTEL1_RECORDS_PER_FRAME)
            else:
                body = firehose_object(chunk)
                raw_bytes += len(firehose_object(chunk, compress=False))
            gzip_bytes += len(body)
            etag = s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"].strip('"')
            event = s3_event(bucket, key, len(body), etag, when)
            written[stream.output_format].append(Invocation(event, key, 0, stream.output_format))
        object_bytes[stream.output_format] = (raw_bytes, gzip_bytes)
        with_percentiles = sum(1 for r in records if "p99" in r["value"])
        label = f"{stream.output_format} stream".ljust(24)
        say(
            f"  {label}metric stream {stream.metric_stream} -> Firehose {stream.delivery_stream}, "
            f"accounts {' and '.join(stream.accounts)}"
        )
        say(
            f"  {'':24}{len(written[stream.output_format])} objects: {len(records)} records"
            + (f" in {frames} frames" if frames else "")
            + f" over {options.minutes} minutes, {with_percentiles} with percentiles; "
            f"{human_bytes(raw_bytes)} raw, {human_bytes(gzip_bytes)} gzip"
        )
        say(f"  {'':24}first key {written[stream.output_format][0].key}")
    # The streams' objects arrive in turn; S3 notifies the forwarder of each.
    invocations = [
        dataclasses.replace(invocation, number=number)
        for number, invocation in enumerate(
            (i for group in itertools.zip_longest(*written.values()) for i in group if i is not None), 1
        )
    ]
    objects_by_format = {f: len(group) for f, group in written.items()}
    raw_total = sum(raw for raw, _ in object_bytes.values())
    gzip_total = sum(gz for _, gz in object_bytes.values())

    # The forwarder, as Lambda runs it.
    os.environ.update(
        lambda_environment(
            moto_url, secret_arn, work_dir, options.max_request_bytes, ca_bundle, options.encoding
        )
    )
    options.output_dir.mkdir(parents=True, exist_ok=True)
    forwarder_log = ForwarderLog(options.output_dir / "forwarder.log")
    cwotlp_logger = logging.getLogger("cwotlp")
    cwotlp_logger.addHandler(forwarder_log)
    cwotlp_logger.propagate = False
    stack.callback(cwotlp_logger.removeHandler, forwarder_log)
    stack.callback(forwarder_log.close)

    import cwotlp.handler
    from cwotlp.delivery.auth import forget_tokens

    forget_tokens()
    cwotlp.handler._runtime = None  # a cold start: settings and clients are read from this environment

    # The token is revoked while it is still fresh (so the collector answers 401 and the forwarder
    # fetches a new one), then the collector has an outage; tokens also expire on their own meanwhile.
    # With both formats the outage starts in the second OpenTelemetry 1.0 object, which then fails
    # part-way (its retry resumes after the frames the collector accepted); a JSON object fails next.
    revoke_object = min(1, len(invocations) - 1)
    outage_object = min(2 if len(options.formats) == 1 else 3, len(invocations) - 1)
    say()
    say("invocations (one S3 event each; a failed one is retried by Lambda, then sent to the queue):")
    pending = list(invocations)
    format_width = max(len(f) for f in options.formats)
    lambda_retries = 0
    failed_invocations = 0
    to_queue = 0
    first_attempts = 0
    limit = len(invocations) * (LAMBDA_MAX_RETRIES + 1) + 5
    for _ in range(limit):
        if not pending:
            break
        if time.monotonic() - started > RUN_TIME_LIMIT_SECONDS:
            say(f"  giving up: the demo ran longer than {RUN_TIME_LIMIT_SECONDS:.0f} s", always=True)
            break
        pending.sort(key=lambda i: i.not_before)
        invocation = pending.pop(0)
        wait = invocation.not_before - time.monotonic()
        if wait > 0:
            time.sleep(min(wait, 5.0))
        if invocation.attempt == 1:
            first_attempts += 1
            if first_attempts - 1 == outage_object and options.outage_requests > 0:
                collector.inject(
                    Fault(status=503, headers={"Retry-After": "1"}), options.outage_requests, after=3
                )
                say(
                    f"  -- collector outage: the next {options.outage_requests} requests after 3 more "
                    "get 503 Service Unavailable (Retry-After: 1)"
                )
            if first_attempts - 1 == revoke_object:
                tokens.expire_all()
                say("  -- token endpoint revokes every token issued so far")
        context = LambdaContext(aws_request_id=invocation.request_id)
        number_width = len(str(len(invocations)))
        short_key = (
            f"object {invocation.number:>{number_width}} of {len(invocations)}  "
            f"{invocation.output_format:<{format_width}}"
        )
        reports_before = len(forwarder_log.reports)
        invoked = time.monotonic()
        try:
            result = cwotlp.handler.handler(invocation.event, context)
            if time.monotonic() - invoked > LAMBDA_TIMEOUT_SECONDS:
                raise TimeoutError(f"Task timed out after {LAMBDA_TIMEOUT_SECONDS:.2f} seconds")
        except Exception as error:
            failed_invocations += 1
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            message = message.split(f"{invocation.key}: ", 1)[-1][:100]
            if invocation.attempt <= LAMBDA_MAX_RETRIES:
                delay = RETRY_DELAYS_SECONDS[invocation.attempt - 1]
                say(f"  {short_key}  attempt {invocation.attempt}  FAILED  {type(error).__name__}: {message}")
                say(f"      -> Lambda retries in {delay} s (about {invocation.attempt} min in AWS)")
                lambda_retries += 1
                pending.append(
                    dataclasses.replace(
                        invocation, attempt=invocation.attempt + 1, not_before=time.monotonic() + delay
                    )
                )
            else:
                say(f"  {short_key}  attempt {invocation.attempt}  FAILED  {type(error).__name__}: {message}")
                say("      -> retries exhausted: Lambda sends the event to the on-failure queue")
                record = on_failure_record(invocation.event, invocation.request_id, error)
                sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(record))
                to_queue += 1
            continue
        report = forwarder_log.reports[reports_before] if len(forwarder_log.reports) > reports_before else {}
        resumed = report.get("resumed_from", 0)
        status = (
            "delivered"
            if result.get("delivered")
            else "already delivered"
            if result.get("already_delivered")
            else "done"
        )
        detail = f"{result.get('datapoints', 0)} datapoints in {report.get('requests', '?')} requests"
        if resumed:
            unit = "frame part" if invocation.output_format == OTEL1 else "record"
            detail += f", resumed after {unit} {resumed}"
        if report.get("retries"):
            detail += f", {report['retries']} HTTP retries"
        say(f"  {short_key}  attempt {invocation.attempt}  {status}: {detail}")

    elapsed_pipeline = time.monotonic() - started
    queue_depth = int(
        sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"
        ]["ApproximateNumberOfMessages"]
    )
    redriven = 0
    left_for_replay = queue_depth
    if queue_depth:
        collector.clear_faults()  # the outage is over
        redriven = queue_depth if redrive(queue_url, say) else 0
        queue_depth = int(
            sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])[
                "Attributes"
            ]["ApproximateNumberOfMessages"]
        )

    # What arrived.
    check = check_delivery(generated, received_datapoints(r.message for r in collector.requests))
    total = check.total
    received_path = options.output_dir / "received.jsonl"
    write_received(received_path, collector)

    accepted = collector.requests
    statuses = collector.status_counts()
    reports = forwarder_log.reports
    http_retries = sum(int(r.get("retries", 0)) for r in reports)
    token_requests = tokens.requests
    say(always=True)
    say("datapoints per namespace and per stream (generated vs what the collector received):", always=True)
    headers = ["namespace", "generated", "received", "delivered", "missing", "duplicates", "unexpected"]
    sections = [
        [counts.row(namespace) for namespace, counts in check.namespaces.items()],
        [counts.row(f"{output_format} stream") for output_format, counts in check.formats.items()],
        [total.row("total")],
    ]
    say(table([*headers, "altered"], sections), always=True)
    say(always=True)
    answers = ", ".join(f"{_status_name(s)} {n}" for s, n in sorted(statuses.items()))
    summary_rows = [
        [
            "objects",
            f"{len(invocations)} ("
            + ", ".join(f"{n} {output_format}" for output_format, n in objects_by_format.items())
            + f"; {human_bytes(raw_total)} raw, {human_bytes(gzip_total)} gzip in S3)",
        ],
        [
            "invocations",
            f"{first_attempts + lambda_retries} ({lambda_retries} Lambda retries, "
            f"{failed_invocations} failed, {to_queue} sent to the on-failure queue)",
        ],
        ["OTLP requests", f"{len(accepted)} accepted of {collector.attempts} ({answers})"],
        [
            "request bytes",
            f"{human_bytes(sum(r.raw_bytes for r in accepted))} {ENCODING_NAMES[options.encoding]}, "
            f"{human_bytes(sum(r.wire_bytes for r in accepted))} gzip on the wire",
        ],
        ["HTTP retries", f"{http_retries} inside the forwarder (after 503 answers, honouring Retry-After)"],
        [
            "tokens",
            f"{tokens.issued} issued in {len(token_requests)} token requests "
            f"(lifetime {options.token_lifetime} s, one revocation)",
        ],
        [
            "on-failure queue",
            f"{queue_depth} messages at the end"
            + (f" ({left_for_replay} before the re-drive)" if redriven else ""),
        ],
        ["collector errors", f"{len(collector.errors)} malformed requests"],
        ["received", f"{received_path} ({len(accepted)} requests, OTLP JSON, one per line)"],
        ["forwarder log", f"{options.output_dir / 'forwarder.log'}"],
        ["time", f"{elapsed_pipeline:.1f} s"],
    ]
    width = max(len(r[0]) for r in summary_rows)
    for name, text in summary_rows:
        say(f"  {name.ljust(width)}  {text}", always=True)
    write_summary(
        options.output_dir / "summary.json",
        check,
        collector,
        tokens,
        {
            "encoding": options.encoding,
            "objects": objects_by_format,
            "lambda_retries": lambda_retries,
            "on_failure_records": to_queue,
            "queue_depth_before_redrive": left_for_replay,
            "queue_depth": queue_depth,
        },
    )

    problems = []
    if total.missing:
        problems.append(f"{total.missing} datapoints missing")
    if total.duplicates:
        problems.append(f"{total.duplicates} datapoints duplicated")
    if total.unexpected:
        problems.append(f"{total.unexpected} unexpected datapoints")
    if total.altered:
        problems.append(f"{total.altered} datapoints altered (values, names, units or attributes)")
    wrong_type = sum(1 for r in accepted if r.content_type != CONTENT_TYPES[options.encoding])
    if wrong_type:
        problems.append(f"{wrong_type} requests not in {ENCODING_NAMES[options.encoding]}")
    if collector.errors:
        problems.append(f"{len(collector.errors)} malformed requests: {collector.errors[0].reason[:200]}")
    if queue_depth:
        problems.append(f"{queue_depth} failed invocations left in the on-failure queue")
    say(always=True)
    if problems:
        say("FAILED: " + "; ".join(problems), always=True)
        for example in check.examples:
            say(f"  {example}", always=True)
        return EXIT_MISMATCH
    say(
        f"OK: all {total.records} datapoints arrived exactly once, with their names, attributes and values.",
        always=True,
    )
    return EXIT_OK


def _status_name(status: int) -> str:
    return "connection reset" if status == 0 else f"HTTP {status}"


def redrive(queue_url: str, say: Printer) -> bool:
    """Re-drives the on-failure queue with `cwotlp replay` if the forwarder has it; False if it could not."""
    try:
        from cwotlp.commands import cli
    except ImportError:
        return False
    parser_factory = getattr(cli, "_parser", None)
    commands: set[str] = set()
    if parser_factory is not None:
        import argparse as _argparse

        for action in parser_factory()._actions:
            if isinstance(action, _argparse._SubParsersAction):
                commands.update(action.choices)
    if "replay" not in commands:
        say("  the on-failure queue has messages and `cwotlp replay` is not available to re-drive them")
        return False
    say(f"  re-driving the on-failure queue: cwotlp replay --queue-url {queue_url}")
    output = io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        status = cli.main(["replay", "--queue-url", queue_url])
    for line in output.getvalue().splitlines():
        say(f"      {line}")
    say(f"      -> cwotlp replay exited with status {status}")
    return status == 0


def write_received(path: Path, collector: Any) -> None:
    from google.protobuf import json_format

    with path.open("w") as out:
        for request in collector.requests:
            out.write(json.dumps(json_format.MessageToDict(request.message), separators=(",", ":")) + "\n")


def write_summary(
    path: Path,
    check: DeliveryCheck,
    collector: Any,
    tokens: Any,
    run: Mapping[str, Any],
) -> None:
    summary = {
        "namespaces": {name: vars(counts) for name, counts in check.namespaces.items()},
        "formats": {name: vars(counts) for name, counts in check.formats.items()},
        "content_types": dict(Counter(r.content_type for r in collector.requests)),
        "requests_accepted": len(collector.requests),
        "request_attempts": collector.attempts,
        "statuses": {str(k): v for k, v in sorted(collector.status_counts().items())},
        "raw_bytes": sum(r.raw_bytes for r in collector.requests),
        "wire_bytes": sum(r.wire_bytes for r in collector.requests),
        "tokens_issued": tokens.issued,
        **run,
        "collector_errors": [e.reason for e in collector.errors],
    }
    path.write_text(json.dumps(summary, indent=2) + "\n")


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
        choices=[*FORMATS, "both"],
        default="both",
        help="output format of the metric stream(s): a stream of each format, or one (default both)",
    )
    parser.add_argument(
        "--encoding",
        choices=ENCODINGS,
        default="json",
        help="how the forwarder encodes its OTLP requests, CWOTLP_OTLP_ENCODING (default json)",
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
        formats=FORMATS if args.format == "both" else (args.format,),
        encoding=args.encoding,
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
