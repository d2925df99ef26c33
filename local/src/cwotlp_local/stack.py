"""The local stack: everything the forwarder talks to, on this machine, as the Terraform module sets it up.

    with LocalStack() as stack:
        item = stack.put_firehose_object("cwotlp-demo-metrics", body, when)
        stack.invoke(stack.s3_event(item))
        assert stack.collector.datapoint_count() > 0

AWS is moto (a moto server on 127.0.0.1, or moto in-process), holding the bucket Firehose writes to,
the collector secret and the forwarder's on-failure queue, named as the module names them. Beside it run
an OAuth2 token endpoint and an OTLP/HTTP collector, both with TLS certificates of throwaway CAs that the
forwarder trusts through CWOTLP_CA_BUNDLE. The process environment holds dummy AWS credentials and the
forwarder's CWOTLP_* settings while the stack is open; everything is put back on exit.

The real handler, `cwotlp.handler.handler`, is invoked with a LambdaContext as Lambda invokes it. Each
`Forwarder` is one function with environment variables of its own (CWOTLP_STREAM_FORMAT for the stream it
serves) and its own warm runtime: the handler keeps its settings in `cwotlp.handler._runtime`, read once
per cold start, so the stack swaps that module variable for the forwarder being invoked.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import logging
import os
import secrets
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self
from urllib.parse import urlsplit

import cwotlp.handler
from cwotlp_local.collector import Collector
from cwotlp_local.environment import (
    DUMMY_CREDENTIAL,
    ForwarderSettings,
    aws_environment,
    isolated_environment,
    overlay,
)
from cwotlp_local.events import S3Object, on_failure_record, s3_put_event
from cwotlp_local.generator import firehose_key
from cwotlp_local.lambda_async import LambdaAsync
from cwotlp_local.lambda_context import LAMBDA_TIMEOUT_SECONDS, LambdaContext
from cwotlp_local.names import ModuleNames
from cwotlp_local.token_server import TokenServer

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

STREAM_FORMAT_VARIABLE = "CWOTLP_STREAM_FORMAT"


@dataclass(frozen=True)
class StackSettings:
    """How the local stack is set up; the defaults are the demo's."""

    names: ModuleNames = field(default_factory=ModuleNames)
    aws: Literal["server", "in_process"] = "server"  # a moto server on 127.0.0.1, or moto's mock_aws
    tls: bool = True
    token_lifetime: int = 5  # seconds a token is valid
    client_id: str | None = None  # default "<name>-client"
    audience: str | None = "https://collector.demo.local"
    bucket: str | None = None  # default a new name under the module's bucket prefix
    forwarder: ForwarderSettings = field(default_factory=ForwarderSettings)


@dataclass
class Forwarder:
    """One forwarder function: the variables it has on top of the stack's, and its warm runtime."""

    label: str
    environment: Mapping[str, str | None] = field(default_factory=dict)
    runtime: cwotlp.handler.Runtime | None = None  # set by its first invocation: later ones are warm
    queue_url: str | None = None  # its own on-failure queue; None: the stack's


@dataclass(frozen=True)
class Replayed:
    """What `cwotlp replay` answered."""

    status: int
    output: list[str]


class LocalStack:
    """The local stack as a context manager; see the module documentation.

    Once entered: `s3`, `sqs` and `secretsmanager` (boto3 clients of moto), `bucket`, `secret_arn`,
    `queue_url`, `tokens` (the TokenServer), `collector` (the Collector), `ca_bundle` (None without TLS),
    `moto_url` (None in-process), `work_dir`, and `cleared` (the credential variables it cleared).
    """

    def __init__(self, settings: StackSettings | None = None) -> None:
        self.settings = settings or StackSettings()
        self.names = self.settings.names
        self.client_secret = secrets.token_urlsafe(24)
        self.default_forwarder = Forwarder("default")
        self._queues: list[str] = []  # the forwarders' own on-failure queues
        self._exit = contextlib.ExitStack()

    def __repr__(self) -> str:
        return f"LocalStack(name={self.names.name!r}, aws={self.settings.aws!r})"

    # lifecycle ---------------------------------------------------------------------------------------------
    def __enter__(self) -> Self:
        try:
            self._start()
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._exit.close()

    def _start(self) -> None:
        # UnsafeEnvironment comes from here, before anything is started.
        self.cleared = self._exit.enter_context(isolated_environment())
        self.work_dir = Path(self._exit.enter_context(tempfile.TemporaryDirectory(prefix="cwotlp-local-")))
        self.moto_url = self._start_aws()
        self.tokens = self._exit.enter_context(
            TokenServer(
                client_id=self.settings.client_id or f"{self.names.name}-client",
                client_secret=self.client_secret,
                expires_in=self.settings.token_lifetime,
                audience=self.settings.audience,
                tls=self.settings.tls,
            )
        )
        self.collector = self._exit.enter_context(
            Collector(token_check=self.tokens.is_valid, tls=self.settings.tls)
        )
        self.ca_bundle = self._write_ca_bundle()
        os.environ.update(aws_environment(self.names.region, self.moto_url, self.work_dir))
        self.s3, self.sqs, self.secretsmanager = self._clients()
        self.bucket = self._create_bucket()
        self.secret_arn = self.secretsmanager.create_secret(
            Name=self.names.secret_name,
            Description=f"OTLP collector endpoint and credentials for the {self.names.name} forwarder",
            SecretString=json.dumps(self.secret_value()),
        )["ARN"]
        self.queue_url = self.sqs.create_queue(QueueName=self.names.failure_queue)["QueueUrl"]
        forwarder = self.settings.forwarder
        os.environ.update(forwarder.environment(self.names.function_name, self.secret_arn, self.ca_bundle))
        self._exit.enter_context(_cold_process())

    def _start_aws(self) -> str | None:
        """Starts moto; the endpoint URL of its server, None in-process."""
        if self.settings.aws == "in_process":
            from moto import mock_aws

            self._exit.enter_context(mock_aws())
            return None
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        self._exit.callback(moto.stop)
        host, port = moto.get_host_and_port()
        return f"http://{host}:{port}"

    def _write_ca_bundle(self) -> Path | None:
        """The CAs of the token endpoint and the collector, the only ones the forwarder trusts."""
        if not self.settings.tls:
            return None
        bundle = self.work_dir / "ca-bundle.pem"
        bundle.write_text("".join(Path(str(s.ca_file)).read_text() for s in (self.tokens, self.collector)))
        return bundle

    def _clients(self) -> tuple[S3Client, SQSClient, SecretsManagerClient]:
        import boto3

        session = boto3.session.Session(
            aws_access_key_id=DUMMY_CREDENTIAL,
            aws_secret_access_key=DUMMY_CREDENTIAL,
            region_name=self.names.region,
        )
        s3 = session.client("s3", endpoint_url=self.moto_url)
        sqs = session.client("sqs", endpoint_url=self.moto_url)
        secretsmanager = session.client("secretsmanager", endpoint_url=self.moto_url)
        if self.moto_url is not None:
            for client in (s3, sqs, secretsmanager):
                if urlsplit(client.meta.endpoint_url).hostname != "127.0.0.1":
                    raise RuntimeError(
                        f"an AWS client points at {client.meta.endpoint_url}, not the moto server"
                    )
        return s3, sqs, secretsmanager

    def _create_bucket(self) -> str:
        # Unique like the names Terraform makes from a bucket_prefix.
        stamp = f"{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}{secrets.randbelow(10**6):06d}"
        bucket = self.settings.bucket or f"{self.names.bucket_prefix}{stamp}"
        self.s3.create_bucket(Bucket=bucket)
        return bucket

    # the collector secret ----------------------------------------------------------------------------------
    def secret_value(self) -> dict[str, str | bool]:
        """The secret as the module's documentation asks for it: where to send, and how to get a token;
        without TLS, the opt-in to plain http that the forwarder requires."""
        value: dict[str, str | bool] = {
            "endpoint": self.collector.url,
            "token_url": self.tokens.url,
            "client_id": self.tokens.client_id,
            "client_secret": self.client_secret,
        }
        if self.settings.audience is not None:
            value["audience"] = self.settings.audience
        if not self.settings.tls:
            value["allow_http"] = True
        return value

    def update_secret(self, **fields: str | bool | None) -> None:
        """Writes a new version of the secret with these fields changed (None removes a field)."""
        value: dict[str, str | bool | None] = {**self.secret_value(), **fields}
        changed = {name: text for name, text in value.items() if text is not None}
        self.secretsmanager.put_secret_value(SecretId=self.secret_arn, SecretString=json.dumps(changed))

    # objects and events ------------------------------------------------------------------------------------
    def put(self, key: str, body: bytes, created: dt.datetime | None = None) -> S3Object:
        """Writes an object to the bucket; the object as a notification names it."""
        etag = self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)["ETag"].strip('"')
        return S3Object(self.bucket, key, len(body), etag, created or dt.datetime.now(dt.UTC))

    def put_firehose_object(
        self, delivery_stream: str, body: bytes, created: dt.datetime, object_id: str | None = None
    ) -> S3Object:
        """Writes an object where the Firehose delivery stream puts it (metrics/YYYY/MM/DD/HH/...)."""
        key = firehose_key(delivery_stream, created, uuid=object_id, prefix=self.names.metrics_prefix)
        return self.put(key, body, created)

    def s3_event(self, *objects: S3Object) -> dict[str, Any]:
        """The s3:ObjectCreated:Put notification S3 sends for these objects."""
        return s3_put_event(objects, self.names.region)

    # the forwarder -----------------------------------------------------------------------------------------
    def forwarder(self, label: str, stream_format: str | None = None, **environment: str | None) -> Forwarder:
        """A forwarder function of its own, with an on-failure queue of its own, as each instance of the
        module has: for one metric stream's format, with more variables if given."""
        variables: dict[str, str | None] = {STREAM_FORMAT_VARIABLE: stream_format} if stream_format else {}
        name = f"{self.names.failure_queue}-{''.join(c if c.isalnum() else '-' for c in label)}"
        queue_url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        self._queues.append(queue_url)
        return Forwarder(label, {**variables, **environment}, queue_url=queue_url)

    def invoke(
        self,
        event: dict[str, Any],
        forwarder: Forwarder | None = None,
        *,
        request_id: str | None = None,
        timeout_seconds: float = LAMBDA_TIMEOUT_SECONDS,
    ) -> dict[str, Any]:
        """One invocation of the real handler: its result, or the exception it raised (a failed invocation).

        Running past the timeout fails the invocation as Lambda would, though only once it returned.
        """
        forwarder = forwarder or self.default_forwarder
        context = LambdaContext.of(self.names, request_id=request_id, timeout_seconds=timeout_seconds)
        with overlay(forwarder.environment), _warm(forwarder):
            result = cwotlp.handler.handler(event, context)
        if context.get_remaining_time_in_millis() <= 0:
            raise TimeoutError(f"Task timed out after {timeout_seconds:.2f} seconds")
        return result

    def lambda_async(self, *, deadline: float | None = None) -> LambdaAsync:
        """Lambda's asynchronous invocation of this stack's forwarders: retries, then the on-failure queue.

        `deadline` is a time.monotonic() value after which no more attempts are made.
        """
        return LambdaAsync(self, deadline=deadline)

    def send_to_on_failure_destination(
        self,
        event: dict[str, Any],
        request_id: str,
        error: BaseException,
        invoke_count: int,
        forwarder: Forwarder | None = None,
    ) -> None:
        """What Lambda does once an event's attempts all failed: its record goes to the function's
        on-failure queue."""
        record = on_failure_record(
            event,
            request_id=request_id,
            function_arn=self.names.function_arn,
            error=error,
            invoke_count=invoke_count,
        )
        queue_url = (forwarder.queue_url if forwarder else None) or self.queue_url
        self.sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(record))

    def queue_depth(self, queue_url: str | None = None) -> int:
        """Messages in one on-failure queue, or in all of them (the stack's and each forwarder's): those
        waiting and those in flight, received but not deleted (as a failed `cwotlp replay` leaves them)."""
        total = 0
        for url in [queue_url] if queue_url else [self.queue_url, *self._queues]:
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            total += int(attributes["ApproximateNumberOfMessages"])
            total += int(attributes["ApproximateNumberOfMessagesNotVisible"])
        return total

    def replay(self, *arguments: str, forwarder: Forwarder | None = None) -> Replayed:
        """Runs `cwotlp replay` with these arguments in the forwarder's environment."""
        from cwotlp.commands import cli

        output = io.StringIO()
        environment = (forwarder or self.default_forwarder).environment
        with overlay(environment), contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            status = cli.main(["replay", *arguments])
        return Replayed(status, output.getvalue().splitlines())


@contextlib.contextmanager
def _warm(forwarder: Forwarder) -> Iterator[None]:
    """Gives the handler this forwarder's runtime (None: a cold start) and keeps what it made of it."""
    previous = cwotlp.handler._runtime
    cwotlp.handler._runtime = forwarder.runtime
    try:
        yield
    finally:
        forwarder.runtime = cwotlp.handler._runtime
        cwotlp.handler._runtime = previous


@contextlib.contextmanager
def _cold_process() -> Iterator[None]:
    """No cached runtime or token from before the stack, and none left behind."""
    from cwotlp.delivery.auth import forget_tokens

    previous = cwotlp.handler._runtime
    cwotlp.handler._runtime = None
    forget_tokens()
    try:
        yield
    finally:
        forget_tokens()
        cwotlp.handler._runtime = previous
