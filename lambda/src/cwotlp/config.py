"""The one place that reads configuration: `CWOTLP_*` environment variables and the credentials secret.

Settings are read when the handler first runs, never at import time. The secret is cached for
`CWOTLP_SECRET_TTL_SECONDS`, so a rotation takes effect without a redeploy. Error messages name the
variable or field at fault and never show a secret value.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cwotlp.otlp.convert import Naming
from cwotlp.rules import Rule, parse_rules

DEFAULT_MAX_REQUEST_BYTES = 3 * 1024 * 1024
LOG_LEVELS = ("INFO", "DEBUG", "WARNING", "ERROR")  # each tuple of choices starts with the default
NAMING_SCHEMES = ("cloudwatch", "otel")
ENCODINGS = ("json", "protobuf")


class ConfigError(Exception):
    """The configuration is unusable; the message says what to fix."""


def environment_variables() -> dict[str, str]:
    """Every variable the forwarder reads, with its description (the Terraform module sets these)."""
    text = resources.files("cwotlp").joinpath("environment.json").read_text()
    variables: dict[str, str] = json.loads(text)
    return variables


@dataclass(frozen=True)
class Settings:
    secret_arn: str | None = None
    secret_ttl_seconds: float = 300.0
    naming: Naming = field(default_factory=Naming)
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_retries: int = 5
    request_timeout_seconds: float = 15.0
    ca_bundle: str | None = None
    log_level: str = "INFO"
    encoding: str = "json"
    rules: tuple[Rule, ...] = ()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Settings:
        env = _Environment(environ)
        defaults = cls()
        naming = Naming(
            service_name=env.text("CWOTLP_SERVICE_NAME") or defaults.naming.service_name,
            resource_attributes=env.string_map(
                "CWOTLP_RESOURCE_ATTRIBUTES", defaults.naming.resource_attributes
            ),
            dimension_attributes=env.flag(
                "CWOTLP_DIMENSION_ATTRIBUTES", defaults.naming.dimension_attributes
            ),
            scheme=env.choice("CWOTLP_NAMING", NAMING_SCHEMES),
        )
        return cls(
            secret_arn=env.text("CWOTLP_SECRET_ARN"),
            secret_ttl_seconds=env.number(
                "CWOTLP_SECRET_TTL_SECONDS", defaults.secret_ttl_seconds, minimum=0
            ),
            naming=naming,
            max_request_bytes=int(
                env.number("CWOTLP_MAX_REQUEST_BYTES", defaults.max_request_bytes, minimum=1024)
            ),
            max_retries=int(env.number("CWOTLP_MAX_RETRIES", defaults.max_retries, minimum=0)),
            request_timeout_seconds=env.number(
                "CWOTLP_REQUEST_TIMEOUT_SECONDS", defaults.request_timeout_seconds, minimum=1
            ),
            ca_bundle=env.text("CWOTLP_CA_BUNDLE"),
            log_level=env.choice("CWOTLP_LOG_LEVEL", LOG_LEVELS, upper=True),
            encoding=env.choice("CWOTLP_OTLP_ENCODING", ENCODINGS),
            rules=env.rules("CWOTLP_RULES"),
        )


class _Environment:
    """Typed reads of CWOTLP_* variables, each failing with the variable's name."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def text(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or None

    def number(self, name: str, default: float, *, minimum: float) -> float:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number, not {raw!r}") from None
        if value < minimum:
            raise ConfigError(f"{name} must be at least {minimum:g}, not {raw}")
        return value

    def choice(self, name: str, choices: tuple[str, ...], *, upper: bool = False) -> str:
        raw = self.text(name)
        if raw is None:
            return choices[0]
        value = raw.upper() if upper else raw.lower()
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(sorted(choices))}, not {raw!r}")
        return value

    def rules(self, name: str) -> tuple[Rule, ...]:
        raw = self.text(name)
        if raw is None:
            return ()
        try:
            return parse_rules(json.loads(raw), name)
        except ValueError as error:  # a JSON syntax error is a ValueError too
            message = str(error) if str(error).startswith(name) else f"{name} is not valid JSON"
            raise ConfigError(message) from None

    def flag(self, name: str, default: bool) -> bool:
        raw = self.text(name)
        if raw is None:
            return default
        if raw.lower() in ("true", "1", "yes"):
            return True
        if raw.lower() in ("false", "0", "no"):
            return False
        raise ConfigError(f"{name} must be true or false, not {raw!r}")

    def string_map(self, name: str, default: dict[str, str]) -> dict[str, str]:
        raw = self.text(name)
        if raw is None:
            return dict(default)
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(
                f'{name} must be a JSON object of strings, like {{"environment": "production"}}'
            )
        return value


@dataclass(frozen=True)
class OAuth2:
    """Client-credentials grant settings. The secret itself is kept out of repr()."""

    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    audience: str | None = None
    scope: str | None = None


@dataclass(frozen=True)
class Destination:
    """Where requests go and how they authenticate: OAuth2 or static headers (API keys)."""

    endpoint: str
    oauth2: OAuth2 | None = None
    headers: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_secret(cls, value: Any, origin: str) -> Destination:
        """Builds a destination from the secret's JSON object; `origin` names the secret in errors."""
        if not isinstance(value, dict):
            raise ConfigError(f"{origin} must hold a JSON object with at least 'endpoint'")

        def text(name: str, *, required: bool = False) -> str | None:
            raw = value.get(name)
            if raw is None or raw == "":
                if required:
                    raise ConfigError(f"{origin} lacks the field '{name}'")
                return None
            if not isinstance(raw, str):
                raise ConfigError(f"{origin}: the field '{name}' must be a string")
            return raw

        endpoint = metrics_endpoint(text("endpoint", required=True) or "", f"{origin}: the field 'endpoint'")
        headers = value.get("headers") or {}
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise ConfigError(f"{origin}: the field 'headers' must be an object of strings")
        token_url = text("token_url")
        if token_url is None:
            if not headers:
                raise ConfigError(
                    f"{origin} lacks the field 'token_url' (or 'headers' for API-key collectors)"
                )
            return cls(endpoint=endpoint, headers=headers)
        oauth2 = OAuth2(
            token_url=_http_url(token_url, f"{origin}: the field 'token_url'"),
            client_id=text("client_id", required=True) or "",
            client_secret=text("client_secret", required=True) or "",
            audience=text("audience"),
            scope=text("scope"),
        )
        return cls(endpoint=endpoint, oauth2=oauth2, headers=headers)


def _http_url(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{what} must be an http(s) URL")
    return url


def metrics_endpoint(url: str, what: str) -> str:
    """The URL to POST metrics to: a bare collector address gets the OTLP path /v1/metrics."""
    _http_url(url, what)
    parts = urlsplit(url)
    if parts.path in ("", "/"):
        parts = parts._replace(path="/v1/metrics")
    return urlunsplit(parts)


class SecretSource:
    """Reads the destination from Secrets Manager and keeps it for `ttl` seconds."""

    def __init__(
        self,
        arn: str,
        ttl: float,
        client_factory: Callable[[], Any],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._arn = arn
        self._ttl = ttl
        self._client_factory = client_factory
        self._clock = clock
        self._cached: tuple[float, Destination] | None = None

    def get(self) -> Destination:
        now = self._clock()
        if self._cached is not None and now - self._cached[0] < self._ttl:
            return self._cached[1]
        destination = Destination.from_secret(self._read(), f"secret {self._arn}")
        self._cached = (now, destination)
        return destination

    def invalidate(self) -> None:
        self._cached = None

    def _read(self) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._client_factory().get_secret_value(SecretId=self._arn)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "error")
            raise ConfigError(f"cannot read secret {self._arn}: {code}") from None
        except BotoCoreError as error:
            raise ConfigError(f"cannot read secret {self._arn}: {type(error).__name__}") from None
        text = response.get("SecretString")
        if text is None:
            raise ConfigError(f"secret {self._arn} has no SecretString; store the settings as JSON text")
        try:
            return json.loads(text)
        except ValueError:
            raise ConfigError(f"secret {self._arn} is not valid JSON") from None
