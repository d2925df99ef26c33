"""The collector secret: where requests go and how they authenticate, validated when it is read.

The secret is a JSON object: `endpoint`, then either OAuth2 client credentials (`token_url`,
`client_id`, `client_secret`, optional `audience` and `scope`) or static `headers`, and optionally
`allow_http: true` for a plain-http endpoint on a trusted network. Every field is checked here, so that
no malformed value reaches the HTTP layer, where a library's error could quote it. Errors name the
field, never its value. The secret is cached for `CWOTLP_SECRET_TTL_SECONDS` and re-read at once when
the token endpoint says the client credentials are no longer valid (a rotation).
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus

from cwotlp.delivery.urls import Url, check_header, visible
from cwotlp.errors import ConfigError

OTLP_METRICS_PATH = "/v1/metrics"
FIELDS = ("endpoint", "token_url", "client_id", "client_secret", "audience", "scope", "headers", "allow_http")
OAUTH2_FIELDS = ("client_id", "client_secret", "audience", "scope")  # beside token_url
MAX_FIELD_CHARS = 8192
_FIELD_NAME = re.compile(r"[A-Za-z][A-Za-z_]{0,31}")
MIN_CREDENTIAL_CHARS = 8  # a part of a header value this long may be a key on its own
# A path segment that may be a key: long, with letters and digits (not `v1`, `metrics` or `otlp`).
_KEY_LIKE = re.compile(r"^(?=.{8,})(?=.*[0-9])(?=.*[A-Za-z])")


@dataclass(frozen=True)
class OAuth2:
    """Client-credentials grant settings. The secret itself is kept out of repr()."""

    token_url: Url = field(repr=False)
    client_id: str
    client_secret: str = field(repr=False)
    audience: str | None = None
    scope: str | None = None

    def basic_credentials(self) -> str:
        """client_secret_basic: both parts form-encoded before base64 (RFC 6749 section 2.3.1)."""
        pair = f"{quote_plus(self.client_id)}:{quote_plus(self.client_secret)}"
        return base64.b64encode(pair.encode()).decode()

    def secrets(self) -> set[str]:
        """The client secret in every form a peer might echo it: as it is, form-encoded, in Basic."""
        secret = self.client_secret
        return {secret, quote(secret, safe=""), quote_plus(secret), self.basic_credentials()}


def _header_credentials(value: str) -> set[str]:
    """A header value and its parts a peer might quote alone: the credentials after a scheme
    (`ApiKey <key>`), and for `Basic` the decoded `user:password` and the password."""
    found = {value, *(part for part in value.split() if len(part) >= MIN_CREDENTIAL_CHARS)}
    scheme, _, encoded = value.strip().partition(" ")
    if scheme.lower() == "basic":
        try:
            pair = base64.b64decode(encoded.strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError
            return found
        password = pair.partition(":")[2]
        found.update(text for text in (pair, password) if len(text) > 3)
    return found


@dataclass(frozen=True)
class Destination:
    """Where requests go and how they authenticate: OAuth2 or static headers (API keys)."""

    endpoint: Url = field(repr=False)
    oauth2: OAuth2 | None = None
    headers: dict[str, str] = field(default_factory=dict, repr=False)

    def secrets(self) -> set[str]:
        """Every credential string, in the forms a peer might echo it, to keep out of messages: header
        values, whole and in their parts; the URLs' query values and the path segments that look like
        keys (`/ingest/pk-4f9a2c71/v1/metrics`); the OAuth2 client secret."""
        found = set()
        for value in self.headers.values():
            found.update(_header_credentials(value))
        for url in (self.endpoint, self.oauth2.token_url if self.oauth2 else None):
            if url is None:
                continue
            if url.query:
                found.add(url.query)
                found.update(value for _, value in parse_qsl(url.query) if len(value) > 3)
            found.update(part for part in url.path.split("/") if _KEY_LIKE.search(part))
        if self.oauth2 is not None:
            found.update(self.oauth2.secrets())
        return {value for value in found if value}

    @classmethod
    def from_secret(cls, value: Any, origin: str) -> Destination:
        """Builds a destination from the secret's JSON object; `origin` names the secret in errors."""
        if not isinstance(value, dict):
            raise ConfigError(f"{origin} must hold a JSON object with at least 'endpoint'")
        fields = _Fields(value, origin)
        allow_http = fields.flag("allow_http")
        endpoint = fields.url("endpoint", allow_http, default_path=OTLP_METRICS_PATH, required=True)
        assert endpoint is not None
        headers = fields.headers()
        token_url = fields.url("token_url", allow_http)
        if token_url is None:
            if not headers:
                raise ConfigError(f"{origin} lacks 'token_url' (or 'headers' for API-key collectors)")
            stray = [name for name in OAUTH2_FIELDS if fields.text(name) is not None]
            if stray:  # an OAuth2 setting that would be ignored: most likely token_url was forgotten
                raise ConfigError(
                    f"{origin} has {', '.join(map(repr, stray))} without 'token_url': add token_url for "
                    "OAuth2, or remove them to authenticate with the headers alone"
                )
            return cls(endpoint=endpoint, headers=headers)
        oauth2 = OAuth2(
            token_url=token_url,
            client_id=fields.text("client_id", required=True) or "",
            client_secret=fields.text("client_secret", required=True) or "",
            audience=fields.text("audience"),
            scope=fields.text("scope"),
        )
        if "authorization" in (name.lower() for name in headers):
            raise ConfigError(f"{origin}: 'headers' must not set Authorization when 'token_url' is given")
        return cls(endpoint=endpoint, oauth2=oauth2, headers=headers)


def _unknown_fields(unknown: list[str]) -> str:
    """The unknown fields that are near misses of known ones, each with the field it likely means. The
    others are counted, never shown: a name like no field's may be a value put in the wrong place."""
    import difflib

    named = []
    for key in sorted(unknown):
        near = difflib.get_close_matches(key.lower(), FIELDS, n=1, cutoff=0.7)
        if near and _FIELD_NAME.fullmatch(key):
            named.append(f"{key!r} (did you mean {near[0]!r}?)")
    hidden = len(unknown) - len(named)
    shown = f"unknown fields {', '.join(named)}" if named else ""
    if hidden:
        shown += f"{' and ' if named else ''}{hidden} unknown field{'s' if hidden > 1 else ''} not shown"
    return shown


class _Fields:
    """Typed reads of the secret's fields, each error naming the field and never quoting its value."""

    def __init__(self, value: dict[str, Any], origin: str) -> None:
        unknown = [str(key) for key in value if key not in FIELDS]
        if unknown:
            raise ConfigError(f"{origin} has {_unknown_fields(unknown)}; the fields are {list(FIELDS)}")
        self._value = value
        self._origin = origin

    def text(self, name: str, *, required: bool = False) -> str | None:
        raw = self._value.get(name)
        if raw is None or raw == "":
            if required:
                raise ConfigError(f"{self._origin} lacks the field '{name}'")
            return None
        if not isinstance(raw, str):
            raise ConfigError(f"{self._origin}: the field '{name}' must be a string")
        if len(raw) > MAX_FIELD_CHARS or not visible(raw):
            raise ConfigError(
                f"{self._origin}: the field '{name}' is longer than {MAX_FIELD_CHARS} characters "
                "or holds a line break or another control character"
            )
        return raw

    def flag(self, name: str) -> bool:
        raw = self._value.get(name, False)
        if not isinstance(raw, bool):
            raise ConfigError(f"{self._origin}: the field '{name}' must be true or false")
        return raw

    def url(
        self, name: str, allow_http: bool, *, default_path: str = "/", required: bool = False
    ) -> Url | None:
        text = self.text(name, required=required)
        if text is None:
            return None
        return Url.parse(
            text, f"{self._origin}: the field '{name}'", allow_http=allow_http, default_path=default_path
        )

    def headers(self) -> dict[str, str]:
        raw = self._value.get("headers") or {}
        what = f"{self._origin}: the field 'headers'"
        if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
            raise ConfigError(f"{what} must be an object of header names to string values")
        for name, value in raw.items():
            check_header(name, value, what)
        return dict(raw)


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
        self._client: Any = None
        self._clock = clock
        self._cached: tuple[float, Destination] | None = None

    def get(self) -> Destination:
        now = self._clock()
        if self._cached is not None and now - self._cached[0] < self._ttl:
            return self._cached[1]
        destination = Destination.from_secret(self._read(), f"secret {self._arn}")
        self._cached = (now, destination)
        return destination

    def refresh(self) -> Destination:
        """Reads the secret again now, whatever its age."""
        self._cached = None
        return self.get()

    def _read(self) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        if self._client is None:
            self._client = self._client_factory()
        try:
            response = self._client.get_secret_value(SecretId=self._arn)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "error")
            raise ConfigError(f"cannot read secret {self._arn}: {code}") from None
        except BotoCoreError as error:
            raise ConfigError(f"cannot read secret {self._arn}: {type(error).__name__}") from None
        text = response.get("SecretString")
        if not isinstance(text, str):
            raise ConfigError(f"secret {self._arn} has no SecretString; store the settings as JSON text")
        try:
            return json.loads(text)
        except ValueError:
            raise ConfigError(f"secret {self._arn} is not valid JSON") from None
