"""Request headers that authenticate to the collector: an OAuth2 bearer token, or static headers.

Tokens come from the client-credentials grant (RFC 6749 section 4.4) with client_secret_basic
authentication, and are cached per client across invocations until shortly before they expire. A token
is checked before use: it must be something an HTTP header can carry. The token endpoint's answers are
quoted in errors only as their OAuth2 error code and a redacted description.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import orjson

from cwotlp.deadline import Deadline
from cwotlp.delivery.http import Counters, HttpClient, Response, RetryPolicy, location_host, post_with_retries
from cwotlp.errors import DeliveryError, redact
from cwotlp.secret import Destination, OAuth2

# Refresh this long before a token's expiry, or a tenth of its lifetime for short-lived tokens.
EXPIRY_MARGIN_SECONDS = 60.0
# Lifetime assumed when the token endpoint does not say (expires_in is only RECOMMENDED by RFC 6749).
DEFAULT_LIFETIME_SECONDS = 300.0
MAX_LIFETIME_SECONDS = 24 * 3600.0
MAX_TOKEN_CHARS = 16 * 1024
_TOKEN = re.compile(r"[\x21-\x7e]+")  # visible ASCII: what a header value can carry unchanged
_SECONDS = re.compile(r"[0-9]{1,9}")
_ERROR_CODE = re.compile(r"[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}")  # RFC 6749's error code characters

_TokenKey = tuple[str, str, str, str | None, str | None]
_tokens: dict[_TokenKey, tuple[str, float]] = {}


class AuthError(DeliveryError):
    """The token endpoint refused or failed. `invalid_client` says the client credentials were refused,
    which after a rotation means the secret should be read again."""

    def __init__(self, message: str, *, invalid_client: bool = False) -> None:
        super().__init__(message)
        self.invalid_client = invalid_client


class StaticHeaders:
    """Fixed headers such as an API key; nothing to refresh."""

    can_refresh = False

    def __init__(self, headers: dict[str, str]) -> None:
        self._headers = headers

    def headers(self, deadline: Deadline, *, refresh: bool = False) -> dict[str, str]:
        return dict(self._headers)

    def secrets(self) -> set[str]:
        return set()


class ClientCredentials:
    """Bearer tokens from an OAuth2 token endpoint, plus any static headers the secret also lists."""

    can_refresh = True

    def __init__(
        self,
        oauth2: OAuth2,
        client: HttpClient,
        policy: RetryPolicy,
        counters: Counters,
        extra_headers: dict[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        reload: Callable[[], OAuth2 | None] | None = None,
    ) -> None:
        self._client = client
        self._policy = policy
        self._counters = counters
        self._extra = extra_headers or {}
        self._clock = clock
        self._reload = reload
        self._use(oauth2)

    def _use(self, oauth2: OAuth2) -> None:
        self._oauth2 = oauth2
        url = oauth2.token_url
        self._key: _TokenKey = (url.origin, url.target, oauth2.client_id, oauth2.audience, oauth2.scope)
        self._what = f"token endpoint {url.origin}"

    def headers(self, deadline: Deadline, *, refresh: bool = False) -> dict[str, str]:
        cached = _tokens.get(self._key)
        if refresh or cached is None or self._clock() >= cached[1]:
            cached = _tokens[self._key] = self._fresh_token(deadline)
        return {**self._extra, "Authorization": f"Bearer {cached[0]}"}

    def _fresh_token(self, deadline: Deadline) -> tuple[str, float]:
        """A new token; when the client credentials are refused, the secret is read once more (it may
        have been rotated) and, if it holds other credentials, they are tried."""
        try:
            return self._request_token(deadline)
        except AuthError as error:
            if not error.invalid_client or self._reload is None:
                raise
            reload, self._reload = self._reload, None
            oauth2 = reload()
            if oauth2 is None or oauth2 == self._oauth2:
                raise
            self._use(oauth2)
            return self._request_token(deadline)

    def secrets(self) -> set[str]:
        """The current token and credentials (after a reload, the new ones), to keep out of messages."""
        cached = _tokens.get(self._key)
        return {*self._oauth2.secrets(), *self._extra.values(), *((cached[0],) if cached else ())}

    def _request_token(self, deadline: Deadline) -> tuple[str, float]:
        oauth2 = self._oauth2
        form = {"grant_type": "client_credentials"}
        if oauth2.audience:
            form["audience"] = oauth2.audience
        if oauth2.scope:
            form["scope"] = oauth2.scope
        basic = oauth2.basic_credentials()
        response = post_with_retries(
            self._client,
            oauth2.token_url,
            urlencode(form).encode(),
            what=self._what,
            policy=self._policy,
            deadline=deadline,
            counters=self._counters,
            headers=lambda: {
                "Authorization": f"Basic {basic}",
                "Accept": "application/json",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        return self._token(response)

    def _token(self, response: Response) -> tuple[str, float]:
        body = _json_object(response)
        if response.status != 200:
            raise self._refusal(response, body)
        if not response.complete:
            raise AuthError(f"{self._what} answered HTTP 200 but its answer did not arrive whole")
        token = body.get("access_token") if body is not None else None
        if not isinstance(token, str) or not token:
            raise AuthError(f"{self._what} answered HTTP 200 without an access_token")
        if len(token) > MAX_TOKEN_CHARS or not _TOKEN.fullmatch(token):
            raise AuthError(
                f"{self._what} issued an access_token that an HTTP header cannot carry "
                "(spaces, line breaks, control or non-ASCII characters)"
            )
        token_type = body.get("token_type") if body is not None else None
        if isinstance(token_type, str) and token_type.lower() != "bearer":
            shown = redact(token_type, {token, *self.secrets()}, limit=20)
            raise AuthError(f"{self._what} issued a token of type {shown!r}, not a bearer token")
        lifetime = _lifetime(body.get("expires_in") if body is not None else None)
        margin = min(EXPIRY_MARGIN_SECONDS, lifetime / 10)
        return token, self._clock() + lifetime - margin

    def _refusal(self, response: Response, body: dict[str, Any] | None) -> AuthError:
        status = response.status
        if 300 <= status < 400:
            target = location_host(response.header("Location"), self.secrets())
            return AuthError(
                f"{self._what} answered HTTP {status}, a redirect{target}, which is not followed"
            )
        code = body.get("error") if body is not None else None
        if not isinstance(code, str) or not _ERROR_CODE.fullmatch(code):
            return AuthError(f"{self._what} answered HTTP {status}")
        description = body.get("error_description") if body is not None else None
        text = f"{self._what} answered HTTP {status}: {redact(code, self.secrets())}"
        if isinstance(description, str) and description:
            text += f" ({redact(description, self.secrets())})"
        return AuthError(text, invalid_client=code == "invalid_client")


def authenticator(
    destination: Destination,
    client: HttpClient,
    policy: RetryPolicy,
    counters: Counters,
    reload: Callable[[], OAuth2 | None] | None = None,
) -> StaticHeaders | ClientCredentials:
    if destination.oauth2 is None:
        return StaticHeaders(destination.headers)
    return ClientCredentials(destination.oauth2, client, policy, counters, destination.headers, reload=reload)


def forget_tokens() -> None:
    """Drops every cached token, so that tests start from none."""
    _tokens.clear()


def _json_object(response: Response) -> dict[str, Any] | None:
    try:
        value = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _lifetime(value: Any) -> float:
    """expires_in in seconds: a number, or a string of digits as some servers send it."""
    if isinstance(value, str) and _SECONDS.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < float("inf"):
        return DEFAULT_LIFETIME_SECONDS
    return min(float(value), MAX_LIFETIME_SECONDS)
