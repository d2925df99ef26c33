"""A cold start of the Lambda handler on this machine: a fresh interpreter to the first object delivered.

Everything listens on 127.0.0.1: a moto server process (S3 holding the objects, Secrets Manager holding
the collector secret), a token endpoint and a collector (cwotlp_local, both with TLS). Each run uploads
the object under two new keys and starts coldstart_child.py, which imports cwotlp.handler and hands
it an S3 event for each: the first is the cold object, the second the warm one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from measure import BENCH_DIR

from cwotlp_local.names import ModuleNames

BUCKET = "cwotlp-bench-metrics"
SECRET_NAME = "cwotlp-bench/collector"
MAX_REQUEST_BYTES = 3 * 1024 * 1024  # the module's default
REGION = "us-east-1"
NAMES = ModuleNames(name="cwotlp-bench", region=REGION)
SERVER_START_SECONDS = 20.0
CHILD_TIMEOUT_SECONDS = 300.0


@dataclass(frozen=True)
class ColdStart:
    imported: float  # seconds from spawning the interpreter to cwotlp.handler imported
    cold: float  # from spawning to the first object delivered
    cold_handler: float  # the first invocation alone
    warm: float  # the second invocation, in the same process


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """A moto server process on 127.0.0.1; its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while not _accepts(port):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"the moto server did not start on port {port}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def cold_starts(object_path: Path, runs: int) -> list[ColdStart]:
    """`runs` cold starts, each a fresh interpreter delivering the object twice (cold, then warm)."""
    from cwotlp_local.collector import Collector
    from cwotlp_local.environment import check_environment
    from cwotlp_local.token_server import TokenServer

    to_clear = check_environment(os.environ)  # refuses an AWS endpoint that is not on this machine
    with contextlib.ExitStack() as stack:
        moto_url = stack.enter_context(moto_server())
        client_secret = secrets.token_urlsafe(24)
        tokens = stack.enter_context(TokenServer(client_id="bench", client_secret=client_secret, tls=True))
        collector = stack.enter_context(Collector(token_check=tokens.is_valid, tls=True))
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cwotlp-bench-")))
        ca_bundle = work / "ca-bundle.pem"
        ca_bundle.write_text(Path(str(tokens.ca_file)).read_text() + Path(str(collector.ca_file)).read_text())
        destination = {"endpoint": collector.url, "token_url": tokens.url, "client_id": "bench"}
        aws = _Aws(moto_url, {**destination, "client_secret": client_secret})
        environment = {name: value for name, value in os.environ.items() if name not in to_clear}
        environment.update(aws.lambda_environment(work, ca_bundle))
        return [_cold_start(aws, object_path, work, environment, run) for run in range(runs)]


class _Aws:
    """The bucket and the secret in moto, as the Terraform module sets them up."""

    def __init__(self, moto_url: str, secret: dict[str, str]) -> None:
        import boto3

        self.moto_url = moto_url
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        self.s3 = session.client("s3", endpoint_url=moto_url)
        self.s3.create_bucket(Bucket=BUCKET)
        secrets_manager = session.client("secretsmanager", endpoint_url=moto_url)
        created = secrets_manager.create_secret(Name=SECRET_NAME, SecretString=json.dumps(secret))
        self.secret_arn: str = created["ARN"]

    def lambda_environment(self, work: Path, ca_bundle: Path) -> dict[str, str]:
        """What the function's environment holds (AWS's part pointed at moto), with the module's defaults."""
        from cwotlp_local.environment import ForwarderSettings, aws_environment

        settings = ForwarderSettings(
            max_request_bytes=MAX_REQUEST_BYTES, max_retries=5, request_timeout_seconds=15
        )
        return {
            **aws_environment(REGION, self.moto_url, work),
            **settings.environment(NAMES.function_name, self.secret_arn, ca_bundle),
            "CWOTLP_STREAM_FORMAT": "json",
            "NO_PROXY": "127.0.0.1,localhost",
        }

    def put(self, key: str, data: bytes) -> dict[str, Any]:
        """Uploads an object; the S3 event that announces it."""
        from cwotlp_local.events import S3Object, s3_put_event

        etag = self.s3.put_object(Bucket=BUCKET, Key=key, Body=data)["ETag"].strip('"')
        return s3_put_event([S3Object(BUCKET, key, len(data), etag, dt.datetime.now(dt.UTC))], REGION)


def _cold_start(aws: _Aws, object_path: Path, work: Path, environment: dict[str, str], run: int) -> ColdStart:
    data = object_path.read_bytes()
    events = [aws.put(f"metrics/bench/run-{run}-{name}.gz", data) for name in ("cold", "warm")]
    run_path, marks_path = work / "run.json", work / "marks.json"
    run_path.write_text(json.dumps({"function_arn": NAMES.function_arn, "events": events}))
    child = [sys.executable, str(BENCH_DIR / "coldstart_child.py"), str(run_path), str(marks_path)]
    spawned = time.monotonic()
    finished = subprocess.run(child, env=environment, capture_output=True, timeout=CHILD_TIMEOUT_SECONDS)
    if finished.returncode != 0:
        raise RuntimeError(f"the cold-start child failed: {finished.stderr.decode(errors='replace')[-2000:]}")
    marks = json.loads(marks_path.read_text())
    for name in ("cold", "warm"):
        if marks[f"{name}_result"].get("delivered") != 1:
            raise RuntimeError(f"the {name} object was not delivered: {marks[f'{name}_result']}")
    return ColdStart(
        imported=marks["imported"] - spawned,
        cold=marks["cold_done"] - spawned,
        cold_handler=marks["cold_done"] - marks["cold_started"],
        warm=marks["warm_done"] - marks["warm_started"],
    )
