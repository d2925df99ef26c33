"""Everything around the forwarder in one test: moto for S3 and Secrets Manager, a collector and a
token endpoint on 127.0.0.1 (TLS, trusted through CWOTLP_CA_BUNDLE), Lambda contexts, and a witness
that reads every log record, the captured output and every exception for secret values.

The forwarder runs as in Lambda: `cwotlp.handler.handler(event, context)` with its settings in CWOTLP_*
variables and its runtime cached in `cwotlp.handler._runtime`. Its AWS clients come from boto3's
default session; the world's own clients from a session of their own, so that a fault injected into
the forwarder's session (a denied PutObject, a counted GetSecretValue) leaves the world's alone.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import threading
import time
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlsplit

import orjson
import pytest
from faults.aws import fresh_session
from faults.otlp_peers import Receiver, TokenIssuer
from faults.peers import Peer, Request, Script

import cwotlp.handler
from cwotlp.config import Settings
from cwotlp_local.lambda_context import LambdaContext
from cwotlp_local.names import ModuleNames

BUCKET = "fault-suite-metrics"
CLIENT_ID = "forwarder-7c1d"
CLIENT_SECRET = "cs-Zq8rT3vW6yN1pK4m"
AUDIENCE = "otlp"
FUNCTION_NAMES = ModuleNames(name="cwotlp")  # the function cwotlp-forwarder in moto's account
_FRAGMENT = re.compile(r"[A-Za-z0-9._~+/=-]{8,}")


@dataclass
class Outcome:
    """One invocation: what it returned or raised, how long it took, and its objects' log lines."""

    result: dict[str, Any] | None
    error: BaseException | None
    elapsed: float
    lines: list[dict[str, Any]]

    @property
    def line(self) -> dict[str, Any]:
        assert len(self.lines) == 1, self.lines
        return self.lines[0]

    def failed_with(self, pattern: str) -> str:
        """The error's text, after checking it is the handler's DeliveryError and matches `pattern`."""
        from cwotlp.errors import DeliveryError

        assert isinstance(self.error, DeliveryError), repr(self.error)
        text = str(self.error)
        assert re.search(pattern, text), text
        return text


def s3_event(*objects: tuple[str, int]) -> dict[str, Any]:
    """An S3 notification for (key, size) objects of the bucket; keys form-encoded as S3 writes them."""
    return {"Records": [s3_record({"key": quote_plus(key, safe="/"), "size": size}) for key, size in objects]}


def s3_record(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": BUCKET, "arn": f"arn:aws:s3:::{BUCKET}"}, "object": item},
    }


def secret_fragments(values: Iterable[str]) -> set[str]:
    """Each secret, and each run of 8+ URL-safe characters in it: a secret with a line break or a
    non-Latin-1 character may leak in an escaped form that only its runs survive."""
    found: set[str] = set()
    for value in values:
        if len(value) >= 8:
            found.add(value)
        found.update(_FRAGMENT.findall(value))
    return found


class World:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tls: Any) -> None:
        self.monkeypatch = monkeypatch
        self.caplog = caplog
        self.authority_context = tls
        self.receiver = Receiver(self._authorize)
        self.issuer = TokenIssuer(CLIENT_ID, CLIENT_SECRET)
        self.required_headers: dict[str, str] | None = None  # static-header collectors
        self.collector = Peer(self.receiver, tls)
        self.tokens = Peer(self.issuer, tls)
        self.secret_values: set[str] = {CLIENT_SECRET}
        self.texts: list[str] = []  # exception texts and tracebacks, for the witness
        self._stack = contextlib.ExitStack()
        session = fresh_session()
        self.s3 = session.client("s3")
        self.secrets = session.client("secretsmanager")
        self.secret_arn = ""
        self._local = threading.local()  # the environment each thread invokes in
        self._separate_environments = False

    def start(self) -> None:
        self._stack.enter_context(self.collector)
        self._stack.enter_context(self.tokens)
        self.s3.create_bucket(Bucket=BUCKET)
        self.secret_arn = self.secrets.create_secret(Name="cwotlp", SecretString="{}")["ARN"]
        self.monkeypatch.setenv("CWOTLP_SECRET_ARN", self.secret_arn)
        self.write_secret(self.oauth2_secret())

    def close(self) -> None:
        self._stack.close()

    def oauth2_secret(self, collector: Peer | None = None, tokens: Peer | None = None) -> dict[str, Any]:
        return {
            "endpoint": (collector or self.collector).url("/v1/metrics"),
            "token_url": (tokens or self.tokens).url("/oauth2/token"),
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "audience": AUDIENCE,
        }

    def write_secret(self, value: dict[str, Any]) -> None:
        """Stores the secret (with logging off: the world's own request carries it)."""
        self.secret_values.update(_credentials_in(value))
        previous = logging.root.manager.disable
        logging.disable(logging.CRITICAL)
        try:
            self.secrets.put_secret_value(SecretId=self.secret_arn, SecretString=json.dumps(value))
        finally:
            logging.disable(previous)

    def use_static_headers(self, headers: dict[str, str], endpoint: str | None = None) -> None:
        self.required_headers = headers
        self.write_secret({"endpoint": endpoint or self.collector.url("/v1/metrics"), "headers": headers})

    def peer(self, script: Script, *, tls: bool = True, context: Any = None) -> Peer:
        """Another peer, stopped with the world; TLS with the suite's certificate, or `context`'s."""
        return self._stack.enter_context(Peer(script, context or (self.authority_context if tls else None)))

    def _authorize(self, request: Request) -> bool:
        if self.required_headers is None:
            return self.issuer.bearer_valid(request)
        return all(request.headers.get(k.lower()) == v for k, v in self.required_headers.items())

    def put(self, key: str, data: bytes) -> dict[str, Any]:
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        return s3_event((key, len(data)))

    def marker(self, key: str) -> dict[str, Any] | None:
        try:
            body = self.s3.get_object(Bucket=BUCKET, Key=f"progress/{key}")["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        return dict(json.loads(body))

    def reset_runtime(self) -> None:
        """A cold start: settings read again, a new HTTP client, the secret read again."""
        self.monkeypatch.setattr(cwotlp.handler, "_runtime", None)

    def environment(self) -> cwotlp.handler.Runtime:
        """A separate execution environment (in Lambda, a process of its own) for concurrent
        invocations: its own runtime, made here because boto3 clients are not safe to create from one
        session in several threads at once, with the secret already read, as in a warm environment."""
        if not self._separate_environments:
            self._separate_environments = True
            default, local = cwotlp.handler.runtime, self._local
            self.monkeypatch.setattr(
                cwotlp.handler, "runtime", lambda: getattr(local, "env", None) or default()
            )
            default()  # configures logging once, as the first invocation would
        runtime = cwotlp.handler.Runtime(Settings.from_environment(os.environ))
        _ = runtime.s3
        runtime.secret.get()
        return runtime

    def invoke(
        self,
        event: dict[str, Any],
        *,
        seconds: float = 60.0,
        request_id: str | None = None,
        environment: cwotlp.handler.Runtime | None = None,
    ) -> Outcome:
        context = LambdaContext.of(FUNCTION_NAMES, request_id=request_id, timeout_seconds=seconds)
        self._local.env = environment
        first = len(self.caplog.records)
        started = time.monotonic()
        result, error = None, None
        try:
            result = cwotlp.handler.handler(event, context)
        except Exception as caught:
            error = caught
            self.texts.append("".join(traceback.format_exception(caught)))
        elapsed = time.monotonic() - started
        me = threading.get_ident()
        lines = [
            dict(r.object)  # type: ignore[attr-defined]
            for r in self.caplog.records[first:]
            if hasattr(r, "object") and r.thread == me
        ]
        return Outcome(result, error, elapsed, lines)

    def invoke_concurrently(self, events: list[dict[str, Any]], *, seconds: float = 60.0) -> list[Outcome]:
        """One invocation per event, each in an execution environment of its own, all released at
        the same moment."""
        environments = [self.environment() for _ in events]
        barrier = threading.Barrier(len(events))
        outcomes: dict[int, Outcome] = {}

        def run(index: int) -> None:
            barrier.wait()
            outcomes[index] = self.invoke(events[index], seconds=seconds, environment=environments[index])

        threads = [threading.Thread(target=run, args=(index,)) for index in range(len(events))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(seconds + 30)
        assert len(outcomes) == len(events), "an invocation did not end"
        return [outcomes[index] for index in range(len(events))]

    def known_secrets(self) -> set[str]:
        values = set(self.secret_values) | set(self.issuer.issued)
        pairs = {(CLIENT_ID, CLIENT_SECRET), *self.issuer.credentials.items()}
        values.update(basic(client_id, client_secret) for client_id, client_secret in pairs)
        return values

    def leaks(self, captured: str) -> list[str]:
        """The secrets (or their fragments) found in any log record, the captured output or an error."""
        texts = [captured, *self.texts, *map(_record_text, self.caplog.records)]
        joined = "\n".join(texts)
        return sorted(s for s in secret_fragments(self.known_secrets()) if s in joined)


def basic(client_id: str, client_secret: str) -> str:
    """client_secret_basic's credentials (RFC 6749 2.3.1): both parts form-encoded, then base64."""
    return base64.b64encode(f"{quote_plus(client_id)}:{quote_plus(client_secret)}".encode()).decode()


def _credentials_in(secret: dict[str, Any]) -> Iterator[str]:
    for name in ("client_secret",):
        if isinstance(secret.get(name), str):
            yield secret[name]
    headers = secret.get("headers")
    if isinstance(headers, dict):
        yield from (value for value in headers.values() if isinstance(value, str))
    for name in ("endpoint", "token_url"):
        url = secret.get(name)
        if isinstance(url, str):
            with contextlib.suppress(ValueError):
                query = urlsplit(url).query
                if query:
                    yield query
                    yield from (value for _, value in parse_qsl(query))


def _record_text(record: logging.LogRecord) -> str:
    parts = [record.getMessage(), orjson.dumps(record.__dict__, default=str).decode()]
    if record.exc_info and record.exc_info[1] is not None:
        parts.append("".join(traceback.format_exception(record.exc_info[1])))
    return "\n".join(parts)
