"""The one place that reads the forwarder's settings: the `CWOTLP_*` environment variables.

Settings are read when the handler first runs, never at import time. Errors name the variable at
fault. The credentials are not settings: they come from the secret (`cwotlp.secret`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from cwotlp import __version__
from cwotlp.errors import ConfigError
from cwotlp.otlp.naming import SCHEMES, Naming
from cwotlp.rules import Rule, parse_rules

DEFAULT_MAX_REQUEST_BYTES = 3 * 1024 * 1024
# Each tuple of choices starts with the default.
LOG_LEVELS = ("INFO", "DEBUG", "WARNING", "ERROR")
ENCODINGS = ("json", "protobuf")
STREAM_FORMATS = ("json", "opentelemetry1.0")

__all__ = ["ConfigError", "Settings", "TagSettings", "environment_variables"]


def environment_variables() -> dict[str, str]:
    """Every variable the forwarder reads, with its description (the Terraform module sets these)."""
    from importlib import resources  # read by the tests, never by the forwarder itself

    text = resources.files("cwotlp").joinpath("environment.json").read_text()
    variables: dict[str, str] = json.loads(text)
    return variables


@dataclass(frozen=True)
class TagSettings:
    keys: tuple[str, ...] = ()  # tag keys to add; empty = enrichment off
    role_name: str | None = None  # role to assume in linked accounts
    ttl_seconds: float = 900.0

    @property
    def enabled(self) -> bool:
        return bool(self.keys)


@dataclass(frozen=True)
class Settings:
    secret_arn: str | None = None
    secret_ttl_seconds: float = 300.0
    stream_format: str = "json"
    naming: Naming = field(default_factory=Naming)
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_retries: int = 5
    request_timeout_seconds: float = 15.0
    ca_bundle: str | None = None
    log_level: str = "INFO"
    encoding: str = "json"
    rules: tuple[Rule, ...] = ()
    tags: TagSettings = field(default_factory=TagSettings)
    progress_prefix: str = "progress/"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Settings:
        env = _Environment(environ)
        defaults = cls()
        return cls(
            secret_arn=env.text("CWOTLP_SECRET_ARN"),
            secret_ttl_seconds=env.number("CWOTLP_SECRET_TTL_SECONDS", defaults.secret_ttl_seconds, 0),
            stream_format=env.choice("CWOTLP_STREAM_FORMAT", STREAM_FORMATS),
            naming=_naming(env, defaults.naming),
            max_request_bytes=int(
                env.number("CWOTLP_MAX_REQUEST_BYTES", defaults.max_request_bytes, 1024, 64 * 1024 * 1024)
            ),
            max_retries=int(env.number("CWOTLP_MAX_RETRIES", defaults.max_retries, 0, 100)),
            request_timeout_seconds=env.number(
                "CWOTLP_REQUEST_TIMEOUT_SECONDS", defaults.request_timeout_seconds, 1, 900
            ),
            ca_bundle=env.text("CWOTLP_CA_BUNDLE"),
            log_level=env.choice("CWOTLP_LOG_LEVEL", LOG_LEVELS, upper=True),
            encoding=env.choice("CWOTLP_OTLP_ENCODING", ENCODINGS),
            rules=env.rules("CWOTLP_RULES"),
            tags=TagSettings(
                keys=env.string_list("CWOTLP_RESOURCE_TAGS"),
                role_name=env.text("CWOTLP_RESOURCE_TAGS_ROLE_NAME"),
                ttl_seconds=env.number(
                    "CWOTLP_RESOURCE_TAGS_TTL_SECONDS", defaults.tags.ttl_seconds, 0, 7 * 24 * 3600
                ),
            ),
            progress_prefix=env.text("CWOTLP_PROGRESS_PREFIX") or defaults.progress_prefix,
        )

    def fingerprint(self) -> str:
        """A digest of every setting that decides where an object's requests are cut (and of the code
        that cuts them): progress recorded under other settings does not count. The account of the
        function (in aws.exporter.arn) is left out: it changes no cut, and a replay runs elsewhere."""
        naming = dataclasses.replace(self.naming, exporter_account=None, partition="aws")
        parts = (
            __version__,
            self.stream_format,
            repr(naming),
            self.max_request_bytes,
            self.encoding,
            repr(self.rules),
            repr(self.tags.keys),
        )
        import hashlib

        return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def _naming(env: _Environment, defaults: Naming) -> Naming:
    return Naming(
        scheme=env.choice("CWOTLP_NAMING", SCHEMES),
        service_name=env.text("CWOTLP_SERVICE_NAME") or defaults.service_name,
        resource_attributes=env.string_map("CWOTLP_RESOURCE_ATTRIBUTES", defaults.resource_attributes),
        dimension_attributes=env.flag("CWOTLP_DIMENSION_ATTRIBUTES", defaults.dimension_attributes),
        account_region_attributes=env.optional_flag("CWOTLP_ACCOUNT_REGION_ATTRIBUTES"),
    )


class _Environment:
    """Typed reads of CWOTLP_* variables, each failing with the variable's name."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def text(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or None

    def number(self, name: str, default: float, minimum: float, maximum: float | None = None) -> float:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number, not {raw[:40]!r}") from None
        if not minimum <= value <= (maximum if maximum is not None else float("inf")):
            bound = (
                f"from {minimum:.15g} to {maximum:.15g}"
                if maximum is not None
                else f"at least {minimum:.15g}"
            )
            raise ConfigError(f"{name} must be {bound}, not {raw[:40]}")
        return value

    def choice(self, name: str, choices: tuple[str, ...], *, upper: bool = False) -> str:
        raw = self.text(name)
        if raw is None:
            return choices[0]
        value = raw.upper() if upper else raw.lower()
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(sorted(choices))}, not {raw[:40]!r}")
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

    def optional_flag(self, name: str) -> bool | None:
        raw = self.text(name)
        if raw is None:
            return None
        if raw.lower() in ("true", "1", "yes"):
            return True
        if raw.lower() in ("false", "0", "no"):
            return False
        raise ConfigError(f"{name} must be true or false, not {raw[:40]!r}")

    def flag(self, name: str, default: bool) -> bool:
        value = self.optional_flag(name)
        return default if value is None else value

    def string_map(self, name: str, default: dict[str, str]) -> dict[str, str]:
        value = self._json(name)
        if value is None:
            return dict(default)
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(
                f'{name} must be a JSON object of strings, like {{"environment": "production"}}'
            )
        return value

    def string_list(self, name: str) -> tuple[str, ...]:
        value = self._json(name)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f'{name} must be a JSON list of strings, like ["team", "env"]')
        return tuple(value)

    def _json(self, name: str) -> object:
        raw = self.text(name)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise ConfigError(f"{name} is not valid JSON") from None
