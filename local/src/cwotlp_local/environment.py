"""The process environment of the local stack: nothing that could reach a real AWS account, and the
forwarder's variables as the Terraform module sets them."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

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
DUMMY_CREDENTIAL = "testing"  # moto accepts any access key


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
                    f"{name}={value} points away from this machine; the local stack only talks to a moto "
                    f"server it starts on 127.0.0.1. Unset {name} and run it again."
                )
    return sorted(
        name
        for name in environ
        if name.upper() in AWS_CREDENTIAL_VARIABLES
        or name.upper().startswith(("AWS_", "CWOTLP_"))
        or name.upper() == "BOTO_CONFIG"
    )


@contextlib.contextmanager
def isolated_environment() -> Iterator[list[str]]:
    """Clears every AWS and forwarder variable (refusing remote endpoints) and keeps proxies away from
    127.0.0.1; yields the credential variables it cleared, and restores the whole environment on exit."""
    to_clear = check_environment(os.environ)
    saved = dict(os.environ)
    try:
        for name in to_clear:
            del os.environ[name]
        no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY", ""), "127.0.0.1,localhost"]))
        os.environ["NO_PROXY"] = os.environ["no_proxy"] = no_proxy
        yield [name for name in to_clear if name.upper() in AWS_CREDENTIAL_VARIABLES]
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def overlay(changes: Mapping[str, str | None]) -> Iterator[None]:
    """Sets (or, for None, removes) these variables for the duration, then puts back what was there."""
    saved = {name: os.environ.get(name) for name in changes}
    _apply(changes)
    try:
        yield
    finally:
        _apply(saved)


def _apply(changes: Mapping[str, str | None]) -> None:
    for name, value in changes.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def aws_environment(region: str, endpoint_url: str | None, config_dir: Path) -> dict[str, str]:
    """Dummy credentials, empty config files and, for a moto server, its endpoint: what the AWS SDK reads."""
    aws_config = config_dir / "aws-config"
    aws_credentials = config_dir / "aws-credentials"
    aws_config.write_text("")
    aws_credentials.write_text("")
    environment = {
        "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIAL,
        "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIAL,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_CONFIG_FILE": str(aws_config),
        "AWS_SHARED_CREDENTIALS_FILE": str(aws_credentials),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    if endpoint_url is not None:
        environment["AWS_ENDPOINT_URL"] = endpoint_url
    return environment


@dataclass(frozen=True)
class ForwarderSettings:
    """The forwarder's settings the stack passes in CWOTLP_* variables (lambda.tf sets the same ones)."""

    service_name: str = "aws-cloudwatch-stream"
    resource_attributes: dict[str, str] = field(default_factory=lambda: {"environment": "demo"})
    encoding: str = "json"
    naming: str = "cloudwatch"
    max_request_bytes: int = 32 * 1024
    max_retries: int = 2
    request_timeout_seconds: float = 5
    secret_ttl_seconds: float = 300
    log_level: str = "INFO"

    def environment(self, function_name: str, secret_arn: str, ca_bundle: Path | None) -> dict[str, str]:
        environment = {
            "AWS_LAMBDA_FUNCTION_NAME": function_name,
            "CWOTLP_SECRET_ARN": secret_arn,
            "CWOTLP_SECRET_TTL_SECONDS": f"{self.secret_ttl_seconds:g}",
            "CWOTLP_SERVICE_NAME": self.service_name,
            "CWOTLP_RESOURCE_ATTRIBUTES": json.dumps(self.resource_attributes),
            "CWOTLP_DIMENSION_ATTRIBUTES": "false",
            "CWOTLP_OTLP_ENCODING": self.encoding,
            "CWOTLP_NAMING": self.naming,
            "CWOTLP_MAX_REQUEST_BYTES": str(self.max_request_bytes),
            "CWOTLP_MAX_RETRIES": str(self.max_retries),
            "CWOTLP_REQUEST_TIMEOUT_SECONDS": f"{self.request_timeout_seconds:g}",
            "CWOTLP_LOG_LEVEL": self.log_level,
        }
        if ca_bundle is not None:
            environment["CWOTLP_CA_BUNDLE"] = str(ca_bundle)
        return environment
