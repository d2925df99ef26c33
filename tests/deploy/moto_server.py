"""A moto server on 127.0.0.1 with the two things moto lacks for this module, added through moto's own
extension points (never in the module):

- the CloudWatch metric stream API (PutMetricStream, GetMetricStream, DeleteMetricStream,
  ListMetricStreams), which moto does not implement: PutMetricStream answers 500 there. The streams are
  kept per account and region next to moto's CloudWatch backend, in whichever protocol the client speaks
  (the provider uses the query protocol, boto3 RPC v2 CBOR), because moto serialises the results;
- the Lambda LoggingConfig, which moto ignores: GetFunction and GetFunctionConfiguration answer with the
  LoggingConfig that CreateFunction or UpdateFunctionConfiguration set, as Lambda does, instead of none
  (a perpetual diff for the provider);
- the aws:SecureTransport condition of a bucket policy: moto applies a bucket policy's statements without
  their conditions, so the module's TLS-only Deny would refuse every object request. A statement whose only
  condition is aws:SecureTransport now applies as in S3, by whether the request came over TLS; the server
  speaks HTTPS (with a throwaway CA), so the module's policy lets requests through, as S3 does.

Written against moto 5.2.1 (pinned in requirements-dev.txt): it replaces methods of moto's CloudWatch
response class and Lambda function model, whose names may change in other versions.

    python -m deploy.moto_server --tls-dir DIR [--port N]
    # prints "ready https://127.0.0.1:PORT DIR/ca.pem", serves until SIGTERM
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import parse_qs

from moto.awslambda.models import LambdaFunction
from moto.cloudwatch.exceptions import ResourceNotFoundException
from moto.cloudwatch.models import CloudWatchBackend
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult, EmptyResult
from moto.iam.access_control import IAMPolicy
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.s3.models import FakeBucket
from werkzeug.serving import WSGIRequestHandler, make_server

from cwotlp_local._tls import server_context, write_certificates

STREAM_FIELDS = (
    "FirehoseArn",
    "RoleArn",
    "OutputFormat",
    "IncludeFilters",
    "ExcludeFilters",
    "StatisticsConfigurations",
    "IncludeLinkedAccountsMetrics",
)


def _streams(backend: CloudWatchBackend) -> dict[str, dict[str, Any]]:
    """The metric streams of one account and region, kept on moto's backend for them."""
    streams: dict[str, dict[str, Any]] = backend.__dict__.setdefault("metric_streams", {})
    return streams


def _stream(response: CloudWatchResponse, name: str) -> dict[str, Any]:
    stream = _streams(response.cloudwatch_backend).get(name)
    if stream is None:
        raise ResourceNotFoundException()
    return stream


def put_metric_stream(self: CloudWatchResponse) -> ActionResult:
    name = self._get_param("Name")
    streams = _streams(self.cloudwatch_backend)
    now = dt.datetime.now(dt.UTC)
    arn = f"arn:aws:cloudwatch:{self.region}:{self.current_account}:metric-stream/{name}"
    created = streams.get(name, {}).get("CreationDate", now)
    stream = {"Arn": arn, "Name": name, "State": "running", "CreationDate": created, "LastUpdateDate": now}
    stream |= {field: self._get_param(field) for field in STREAM_FIELDS if self._get_param(field) is not None}
    streams[name] = stream
    tags = self._get_param("Tags", [])
    if tags:
        self.cloudwatch_backend.tagger.tag_resource(arn, tags)
    return ActionResult({"Arn": arn})


def get_metric_stream(self: CloudWatchResponse) -> ActionResult:
    return ActionResult(_stream(self, self._get_param("Name")))


def delete_metric_stream(self: CloudWatchResponse) -> EmptyResult:
    stream = _streams(self.cloudwatch_backend).pop(self._get_param("Name"), None)
    if stream is not None:
        self.cloudwatch_backend.tagger.delete_all_tags_for_resource(stream["Arn"])
    return EmptyResult()


def list_metric_streams(self: CloudWatchResponse) -> ActionResult:
    keys = ("Arn", "Name", "FirehoseArn", "State", "CreationDate", "LastUpdateDate", "OutputFormat")
    entries = [{key: s[key] for key in keys if key in s} for s in _streams(self.cloudwatch_backend).values()]
    return ActionResult({"Entries": entries})


def _remember_logging_config(original: Callable[..., Any]) -> Callable[..., Any]:
    def init(self: LambdaFunction, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        original(self, account_id, spec, *args, **kwargs)
        self.__dict__["logging_config"] = spec.get("LoggingConfig")

    return init


def _update_logging_config(original: Callable[..., Any]) -> Callable[..., Any]:
    def update(self: LambdaFunction, config_updates: dict[str, Any]) -> dict[str, Any]:
        if "LoggingConfig" in config_updates:
            self.__dict__["logging_config"] = config_updates["LoggingConfig"]
        result: dict[str, Any] = original(self, config_updates)
        return result

    return update


def _answer_logging_config(original: Callable[..., Any]) -> Callable[..., Any]:
    def get_configuration(self: LambdaFunction, *args: Any, **kwargs: Any) -> dict[str, Any]:
        config: dict[str, Any] = original(self, *args, **kwargs)
        # Lambda always answers with a LoggingConfig; these are its defaults when none was set.
        default = {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{self.function_name}"}
        config["LoggingConfig"] = self.__dict__.get("logging_config") or default
        return config

    return get_configuration


_request = threading.local()
# The largest query-protocol body read for its Action; the provider's are a few hundred bytes.
QUERY_BODY_LIMIT = 1 << 20


def query_action(environ: dict[str, Any]) -> str:
    """The Action of a query-protocol request (the provider's CloudWatch, IAM, SNS and STS calls; its SQS
    calls are JSON): from the query string, or from a form-encoded body, which is read and put back for
    moto."""
    action = parse_qs(environ.get("QUERY_STRING", "")).get("Action", [""])[0]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    form = environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded")
    if action or not form or not 0 < length <= QUERY_BODY_LIMIT:
        return action
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    return parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]


def transport_noted(app: Callable[..., Any]) -> Callable[..., Any]:
    """WSGI middleware that notes, for the bucket policy check below, whether the request came over TLS,
    and, for the log, the query protocol's Action."""

    def noting(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        _request.secure = environ.get("wsgi.url_scheme") == "https"
        _request.action = query_action(environ)
        return app(environ, start_response)

    return noting


def _applies(statement: dict[str, Any]) -> bool:
    """Whether a statement applies to the current request; conditions other than aws:SecureTransport are
    left to moto, which ignores them."""
    condition = statement.get("Condition")
    transport = (condition or {}).get("Bool", {}).get("aws:SecureTransport")
    if transport is None or len(condition or {}) != 1 or len(condition["Bool"]) != 1:
        return True
    return str(transport).lower() == str(getattr(_request, "secure", False)).lower()


def _permission_by_transport(original: Callable[..., Any]) -> Callable[..., Any]:
    def get_permission(self: FakeBucket, action: str, resource: str) -> Any:
        if self.policy is None:
            return original(self, action, resource)
        policy = json.loads(self.policy)
        policy["Statement"] = [s for s in policy["Statement"] if _applies(s)]
        return IAMPolicy(json.dumps(policy)).is_action_permitted(action, resource)

    return get_permission


def install_shims() -> None:
    """Adds the metric stream API and the Lambda LoggingConfig to moto (idempotent)."""
    if getattr(CloudWatchResponse, "put_metric_stream", None) is put_metric_stream:
        return
    CloudWatchResponse.put_metric_stream = put_metric_stream  # type: ignore[attr-defined]
    CloudWatchResponse.get_metric_stream = get_metric_stream  # type: ignore[attr-defined]
    CloudWatchResponse.delete_metric_stream = delete_metric_stream  # type: ignore[attr-defined]
    CloudWatchResponse.list_metric_streams = list_metric_streams  # type: ignore[attr-defined]
    LambdaFunction.__init__ = _remember_logging_config(LambdaFunction.__init__)  # type: ignore[method-assign]
    LambdaFunction.update_configuration = _update_logging_config(  # type: ignore[method-assign]
        LambdaFunction.update_configuration
    )
    LambdaFunction.get_configuration = _answer_logging_config(  # type: ignore[method-assign]
        LambdaFunction.get_configuration
    )
    FakeBucket.get_permission = _permission_by_transport(FakeBucket.get_permission)  # type: ignore[method-assign]


class Handler(WSGIRequestHandler):
    """Tells the application that the request came over TLS (the socket is wrapped below), and logs one
    short line per request: method, path, the operation (the JSON protocol's target or the query protocol's
    Action; "-" for the REST protocols), the status, the seconds since the connection was accepted, and
    "attempt=N" when the SDK marked the request as its N-th attempt, so that a failed deployment's moto.log
    shows which calls arrived, how often, how slowly, and whether a client sent them again (never a body,
    where secrets travel)."""

    def make_environ(self) -> Any:
        environ = super().make_environ()
        environ["wsgi.url_scheme"] = "https"
        return environ

    def setup(self) -> None:
        self.accepted = time.monotonic()
        super().setup()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        headers = self.headers or {}
        operation, _request.action = headers.get("X-Amz-Target") or getattr(_request, "action", ""), ""
        path = self.path.split("?", 1)[0] if self.path else ""
        # The AWS SDKs number each attempt of a call ("attempt=2; max=25"): a retry is marked as one.
        attempt = headers.get("amz-sdk-request", "").split(";", 1)[0].strip()
        retry = f" {attempt}" if attempt.startswith("attempt=") and attempt != "attempt=1" else ""
        now = time.time()
        took = time.monotonic() - self.accepted  # from the connection's accept: handshake and handling
        stamp = time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"
        # One write per line, so that the lines of concurrent requests never interleave.
        sys.stderr.write(f"{stamp} {self.command} {path} {operation or '-'} {code} {took:.3f}s{retry}\n")
        sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="moto on 127.0.0.1 (HTTPS) with the additions above")
    parser.add_argument("--tls-dir", type=Path, required=True, help="where to write the CA and certificate")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: a free one)")
    args = parser.parse_args(argv)
    install_shims()
    args.tls_dir.mkdir(parents=True, exist_ok=True)
    ca, cert, key = write_certificates(args.tls_dir)
    app = transport_noted(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=Handler)
    # Wrapped here rather than by werkzeug, so that each connection's handshake happens in its own thread.
    context = server_context(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    print(f"ready https://127.0.0.1:{server.server_port} {ca}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
