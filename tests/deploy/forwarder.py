"""The deployed forwarder at work: the package the apply uploaded, unpacked and run in a clean interpreter of
the function's Python version with the function's own environment, on an object laid out as Firehose writes
it, against the deployed bucket and secret in moto and a local OTLP collector and token endpoint (TLS)."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import secrets
import subprocess
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from importlib import import_module
from pathlib import Path
from typing import Any

from cwotlp_local import generator
from cwotlp_local.collector import Collector
from cwotlp_local.events import S3Object, s3_put_event
from cwotlp_local.otel1 import otel1_object
from cwotlp_local.token_server import TokenServer

from .aws import CREDENTIALS, Aws
from .workspace import build_script

# What Lambda's Python runtime provides besides the standard library: boto3 and what it needs.
RUNTIME_LIBRARIES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
INVOKE_TIMEOUT_SECONDS = 120.0
INVOKE_HANDLER = Path(__file__).with_name("invoke_handler.py")


@dataclass
class LocalCollector:
    tokens: TokenServer
    collector: Collector
    ca_bundle: Path
    client_id: str
    client_secret: str

    def secret_value(self) -> dict[str, str]:
        """The collector secret as the module's secret_value or an existing secret holds it."""
        return {
            "endpoint": self.collector.base_url,
            "token_url": self.tokens.url,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }


@contextlib.contextmanager
def local_collector(work: Path) -> Iterator[LocalCollector]:
    """A token endpoint and a collector that accepts only its tokens, both on HTTPS with throwaway CAs."""
    client_id, client_secret = "cwotlp-deploy-test", "cs-" + secrets.token_urlsafe(24)
    with (
        TokenServer(client_id=client_id, client_secret=client_secret, tls=True) as tokens,
        Collector(token_check=tokens.is_valid, tls=True) as collector,
    ):
        bundle = work / "ca-bundle.pem"
        bundle.write_text(Path(str(tokens.ca_file)).read_text() + Path(str(collector.ca_file)).read_text())
        yield LocalCollector(tokens, collector, bundle, client_id, client_secret)


def unpack_package(zip_path: Path, code_sha256: str, dest: Path) -> Path:
    """Unpacks the package after checking it is the one Lambda holds (its CodeSha256)."""
    digest = base64.b64encode(hashlib.sha256(zip_path.read_bytes()).digest()).decode()
    if digest != code_sha256:
        raise AssertionError(
            f"{zip_path} is not the deployed package: CodeSha256 {code_sha256}, file {digest}"
        )
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(dest)
    return dest


def package_files(code: Path) -> dict[str, str]:
    """Every file of an unpacked package, by its path, with its SHA-256."""
    return {
        path.relative_to(code).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in code.rglob("*")
        if path.is_file()
    }


def check_bytecode(files: dict[str, str], runtime: str) -> int:
    """The number of modules in the package, each of which must have its bytecode for the runtime
    (python3.13: __pycache__/NAME.cpython-313.pyc), as lambda/build.py compiles it."""
    build = build_script()
    tag = build.cache_tag(runtime.removeprefix("python"))
    sources = [name for name in files if name.endswith(".py")]
    missing = [name for name in sources if build.bytecode_path(name, tag) not in files]
    if missing or not sources:
        raise AssertionError(f"the package has no {tag} bytecode for {len(missing)} modules: {missing[:5]}")
    return len(sources)


def runtime_libraries(dest: Path) -> Path:
    """A directory with only the libraries Lambda's runtime provides, linked from this environment."""
    dest.mkdir(parents=True)
    for name in RUNTIME_LIBRARIES:
        location = Path(str(import_module(name).__file__))
        source = location.parent if location.name == "__init__.py" else location
        (dest / source.name).symlink_to(source)
    return dest


def firehose_object(records: list[dict[str, Any]], output_format: str) -> bytes:
    if output_format == "json":
        return generator.firehose_object(records)
    return otel1_object(records)


def put_object(
    aws: Aws, bucket: str, stream: str, output_format: str, records: list[dict[str, Any]]
) -> dict[str, Any]:
    """Writes the records as Firehose would and returns the S3 notification the bucket sends for them."""
    now = dt.datetime.now(dt.UTC)
    key = generator.firehose_key(stream, now)
    body = firehose_object(records, output_format)
    etag = aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body)["ETag"].strip('"')
    return s3_put_event([S3Object(bucket, key, len(body), etag, now)], aws.region)


def handler_environment(function: dict[str, Any], aws: Aws, work: Path, ca_bundle: Path) -> dict[str, str]:
    """The function's environment variables, plus what Lambda itself sets and what points boto3 at moto."""
    config = function["Configuration"]
    logging_config = config.get("LoggingConfig", {})
    for name in ("aws-config", "aws-credentials"):
        (work / name).write_text("")
    return {
        **config["Environment"]["Variables"],
        "CWOTLP_CA_BUNDLE": str(ca_bundle),
        "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
        "AWS_REGION": aws.region,
        "AWS_DEFAULT_REGION": aws.region,
        "AWS_ENDPOINT_URL": aws.endpoint,
        "AWS_CA_BUNDLE": str(aws.ca_bundle),
        "AWS_CONFIG_FILE": str(work / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(work / "aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_LAMBDA_FUNCTION_NAME": config["FunctionName"],
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config["MemorySize"]),
        "AWS_LAMBDA_LOG_GROUP_NAME": logging_config.get("LogGroup", ""),
        "AWS_LAMBDA_LOG_FORMAT": logging_config.get("LogFormat", "Text"),
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{config['Runtime']}",
    }


def invoke(
    python: str,
    function: dict[str, Any],
    code: Path,
    runtime: Path,
    env: dict[str, str],
    event: dict[str, Any],
    work: Path,
) -> Any:
    """Runs the handler in `python -I -S` with only `env`; returns its result."""
    event_file = work / "event.json"
    event_file.write_text(json.dumps(event))
    config = function["Configuration"]
    timeout = min(float(config["Timeout"]), INVOKE_TIMEOUT_SECONDS)
    args = [python, "-I", "-S", str(INVOKE_HANDLER), str(code), str(runtime), config["Handler"]]
    args += [str(event_file), config["FunctionArn"], str(timeout)]
    result = subprocess.run(
        args, env=env, cwd=work, capture_output=True, text=True, timeout=timeout + 30, check=False
    )
    (work / "handler.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        output = work / "handler.log"
        failure = f"the deployed handler failed (exit {result.returncode}); its output is in {output}"
        raise AssertionError(f"{failure}:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def datapoint_key(time_unix_nano: int, total: float, count: int) -> tuple[int, float, int]:
    return time_unix_nano, round(total, 6), count


def expected_datapoints(
    records: list[dict[str, Any]], kept: Callable[[dict[str, Any]], bool]
) -> Counter[tuple[int, float, int]]:
    """One datapoint per record the forwarder keeps: its time, sum and count."""
    return Counter(
        datapoint_key(r["timestamp"] * 1_000_000, r["value"]["sum"], round(r["value"]["count"]))
        for r in records
        if kept(r)
    )


def received_datapoints(collector: Collector) -> Counter[tuple[int, float, int]]:
    return Counter(datapoint_key(p.time_unix_nano, p.sum, p.count) for _, _, p in collector.datapoints())


def kept_by_rules(rules: list[dict[str, Any]]) -> Callable[[dict[str, Any]], bool]:
    """Whether a record passes drop rules, written out here independently of the forwarder's own code."""

    def matches(rule: dict[str, Any], record: dict[str, Any]) -> bool:
        dims = record["dimensions"]
        return (
            fnmatchcase(record["namespace"], rule.get("namespace", "*"))
            and fnmatchcase(record["metric_name"], rule.get("metric_name", "*"))
            and all(k in dims and fnmatchcase(dims[k], v) for k, v in rule.get("dimensions", {}).items())
        )

    return lambda record: not any(matches(rule, record) for rule in rules if rule["action"] == "drop")
