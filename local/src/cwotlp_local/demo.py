"""The whole pipeline on this machine: `python -m cwotlp_local.demo` (what `make demo` runs).

Everything listens on 127.0.0.1 and a free port, and every part is real except AWS itself:

  moto server            S3 (the bucket Firehose writes to), Secrets Manager (the collector secret)
                         and SQS (the forwarder's on-failure queue), set up as the Terraform module does
  TokenServer            an OAuth2 client-credentials endpoint with short-lived tokens
  Collector              an OTLP/HTTP receiver that checks bearer tokens and decodes strictly
  generator              a few minutes of CloudWatch metric stream data, as gzip Firehose objects
  cwotlp.handler         the real forwarder, invoked with real S3 ObjectCreated:Put events the way
                         Lambda invokes it asynchronously: two retries, then the on-failure queue

Half-way through, the collector answers 503 for a while (long enough for invocations to fail and be
retried) and the token endpoint revokes every token. At the end every generated datapoint must have
arrived exactly once with the values it was generated with; the exit status says whether it did.
"""

from __future__ import annotations

import argparse
import contextlib
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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
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
DELIVERY_STREAM = f"{NAME}-metrics"
SECRET_NAME = f"{NAME}/collector"
QUEUE_NAME = f"{NAME}-forwarder-failures"
METRICS_PREFIX = "metrics/"

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
    moto_url: str, secret_arn: str, config_dir: Path, max_request_bytes: int, ca_bundle: Path
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
        "CWOTLP_SERVICE_NAME": "aws-cloudwatch-stream",
        "CWOTLP_RESOURCE_ATTRIBUTES": json.dumps({"environment": "demo"}),
        "CWOTLP_DIMENSION_ATTRIBUTES": "false",
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


def datapoint_key(resource: Mapping[str, Any], name: str, point: Any) -> RecordKey | None:
    """The generated record a received datapoint stands for, from the forwarder's naming."""
    from cwotlp_local.otlp import attributes

    attrs = attributes(point.attributes)
    namespace = attrs.get("Namespace")
    metric_name = attrs.get("MetricName")
    if namespace is None or metric_name is None:
        namespace, _, metric_name = name.removeprefix("amazonaws.com/").rpartition("/")
    dimensions_text = attrs.get("Dimensions")
    try:
        if isinstance(dimensions_text, str):
            dimensions = json.loads(dimensions_text)
        else:
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
    return problems


@dataclass
class NamespaceCheck:
    records: int = 0
    received: int = 0
    delivered: int = 0
    missing: int = 0
    duplicates: int = 0
    unexpected: int = 0
    values_off: int = 0


def check_delivery(
    records: list[dict[str, Any]], datapoints: list[tuple[dict[str, Any], str, Any]]
) -> tuple[dict[str, NamespaceCheck], list[str]]:
    """Per namespace: what was generated, received, missing, duplicated or altered; and examples."""
    from cwotlp_local.otlp import datapoint_identity

    expected = {record_key(r): r for r in records}
    checks: dict[str, NamespaceCheck] = defaultdict(NamespaceCheck)
    for record in records:
        checks[record["namespace"]].records += 1
    examples: list[str] = []
    seen_identities: set[str] = set()
    seen_keys: set[RecordKey] = set()
    for resource, name, point in datapoints:
        key = datapoint_key(resource, name, point)
        namespace = key[2] if key else "(unreadable)"
        check = checks[namespace]
        check.received += 1
        identity = datapoint_identity(resource, name, point)
        if identity in seen_identities:
            check.duplicates += 1
            if len(examples) < 5:
                examples.append(f"duplicate: {name} at {point.time_unix_nano}")
            continue
        seen_identities.add(identity)
        matched = expected.get(key) if key else None
        if key is None or matched is None or key in seen_keys:
            check.unexpected += 1
            if len(examples) < 5:
                examples.append(f"unexpected: {name} {key}")
            continue
        record = matched
        seen_keys.add(key)
        check.delivered += 1
        problems = value_problems(record, point)
        if problems:
            check.values_off += 1
            if len(examples) < 5:
                examples.append(f"values of {name} at {point.time_unix_nano}: {'; '.join(problems)}")
    for key, record in expected.items():
        if key not in seen_keys:
            checks[record["namespace"]].missing += 1
            if len(examples) < 5:
                examples.append(f"missing: {record['namespace']} {record['metric_name']} {key[4]} {key[5]}")
    return dict(sorted(checks.items())), examples


# --- output ----------------------------------------------------------------------------------------------


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )

    rule = "  ".join("-" * w for w in widths)
    body = [line(cells[0]), rule, *(line(r) for r in cells[1:-1]), rule, line(cells[-1])]
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
    from cwotlp_local.generator import firehose_key, firehose_object, generate_records, series_count
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

    # The data: a few minutes of the metric stream, cut into Firehose objects.
    rng = random.Random(options.seed)
    per_minute = series_count(seed=options.seed)
    now_ms = int(time.time() * 1000)
    start_ms = now_ms - now_ms % 60_000 - (options.minutes + 1) * 60_000
    records = list(generate_records(per_minute * options.minutes, seed=options.seed, start_ms=start_ms))
    objects = split_into_objects(records, options.minutes, rng)
    invocations: list[Invocation] = []
    raw_total = gzip_total = 0
    for index, chunk in enumerate(objects):
        written = dt.datetime.fromtimestamp(chunk[-1]["timestamp"] / 1000 + 75 + index, dt.UTC)
        object_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        key = firehose_key(DELIVERY_STREAM, written, uuid=object_id)
        body = firehose_object(chunk)
        raw_total += len(firehose_object(chunk, compress=False))
        gzip_total += len(body)
        etag = s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"].strip('"')
        invocations.append(Invocation(s3_event(bucket, key, len(body), etag, written), key, index + 1))
    namespaces = sorted({r["namespace"] for r in records})
    with_percentiles = sum(1 for r in records if "p99" in r["value"])
    say(
        f"  wrote {len(objects)} objects: {len(records)} records over {options.minutes} minutes, "
        f"{len(namespaces)} namespaces, {len({r['account_id'] for r in records})} accounts, "
        f"{with_percentiles} with percentiles; {human_bytes(raw_total)} raw, {human_bytes(gzip_total)} gzip"
    )
    say(f"  first key: {invocations[0].key}")

    # The forwarder, as Lambda runs it.
    os.environ.update(
        lambda_environment(moto_url, secret_arn, work_dir, options.max_request_bytes, ca_bundle)
    )
    options.output_dir.mkdir(parents=True, exist_ok=True)
    forwarder_log = ForwarderLog(options.output_dir / "forwarder.log")
    cwotlp_logger = logging.getLogger("cwotlp")
    cwotlp_logger.addHandler(forwarder_log)
    cwotlp_logger.propagate = False
    stack.callback(cwotlp_logger.removeHandler, forwarder_log)
    stack.callback(forwarder_log.close)

    import cwotlp.handler
    from cwotlp.auth import forget_tokens

    forget_tokens()
    cwotlp.handler._runtime = None  # a cold start: settings and clients are read from this environment

    # The token is revoked while it is still fresh (so the collector answers 401 and the forwarder
    # fetches a new one), then the collector has an outage; tokens also expire on their own meanwhile.
    revoke_object = min(1, len(invocations) - 1)
    outage_object = min(2, len(invocations) - 1)
    say()
    say("invocations (one S3 event each; a failed one is retried by Lambda, then sent to the queue):")
    pending = list(invocations)
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
        short_key = f"object {invocation.number} of {len(invocations)}"
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
                    Invocation(
                        invocation.event,
                        invocation.key,
                        invocation.number,
                        invocation.request_id,
                        invocation.attempt + 1,
                        time.monotonic() + delay,
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
            detail += f", resumed after record {resumed}"
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
    datapoints = collector.datapoints()
    checks, examples = check_delivery(records, datapoints)
    received_path = options.output_dir / "received.jsonl"
    write_received(received_path, collector)

    rows = []
    total = NamespaceCheck()
    for namespace, c in checks.items():
        rows.append(
            [
                namespace,
                c.records,
                c.received,
                c.delivered,
                c.missing,
                c.duplicates,
                c.unexpected,
                c.values_off,
            ]
        )
        for name in ("records", "received", "delivered", "missing", "duplicates", "unexpected", "values_off"):
            setattr(total, name, getattr(total, name) + getattr(c, name))
    rows.append(
        [
            "total",
            total.records,
            total.received,
            total.delivered,
            total.missing,
            total.duplicates,
            total.unexpected,
            total.values_off,
        ]
    )
    accepted = collector.requests
    statuses = collector.status_counts()
    reports = forwarder_log.reports
    http_retries = sum(int(r.get("retries", 0)) for r in reports)
    token_requests = tokens.requests
    say(always=True)
    say("datapoints per namespace (generated records vs what the collector received):", always=True)
    say(
        table(
            [
                "namespace",
                "generated",
                "received",
                "delivered",
                "missing",
                "duplicates",
                "unexpected",
                "values off",
            ],
            rows,
        ),
        always=True,
    )
    say(always=True)
    answers = ", ".join(f"{_status_name(s)} {n}" for s, n in sorted(statuses.items()))
    summary_rows = [
        ["objects", f"{len(objects)} ({human_bytes(raw_total)} raw, {human_bytes(gzip_total)} gzip in S3)"],
        [
            "invocations",
            f"{first_attempts + lambda_retries} ({lambda_retries} Lambda retries, "
            f"{failed_invocations} failed, {to_queue} sent to the on-failure queue)",
        ],
        ["OTLP requests", f"{len(accepted)} accepted of {collector.attempts} ({answers})"],
        [
            "request bytes",
            f"{human_bytes(sum(r.raw_bytes for r in accepted))} raw, "
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
        checks,
        collector,
        tokens,
        {
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
    if total.values_off:
        problems.append(f"{total.values_off} datapoints with altered values")
    if collector.errors:
        problems.append(f"{len(collector.errors)} malformed requests: {collector.errors[0].reason[:200]}")
    if queue_depth:
        problems.append(f"{queue_depth} failed invocations left in the on-failure queue")
    say(always=True)
    if problems:
        say("FAILED: " + "; ".join(problems), always=True)
        for example in examples:
            say(f"  {example}", always=True)
        return EXIT_MISMATCH
    say(f"OK: all {total.records} datapoints arrived exactly once, with their values.", always=True)
    return EXIT_OK


def _status_name(status: int) -> str:
    return "connection reset" if status == 0 else f"HTTP {status}"


def redrive(queue_url: str, say: Printer) -> bool:
    """Re-drives the on-failure queue with `cwotlp replay` if the forwarder has it; False if it could not."""
    try:
        from cwotlp import cli
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
    checks: Mapping[str, NamespaceCheck],
    collector: Any,
    tokens: Any,
    invocations: Mapping[str, int],
) -> None:
    summary = {
        "namespaces": {name: vars(check) for name, check in checks.items()},
        "requests_accepted": len(collector.requests),
        "request_attempts": collector.attempts,
        "statuses": {str(k): v for k, v in sorted(collector.status_counts().items())},
        "raw_bytes": sum(r.raw_bytes for r in collector.requests),
        "wire_bytes": sum(r.wire_bytes for r in collector.requests),
        "tokens_issued": tokens.issued,
        **invocations,
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
