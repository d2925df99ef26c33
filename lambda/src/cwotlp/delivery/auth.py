"""Request headers that authenticate to the collector: an OAuth2 bearer token, or static headers.

Tokens come from the client-credentials grant (RFC 6749 section 4.4) with client_secret_basic
authentication, and are cached per client across invocations until shortly before they expire.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from cwotlp.config import Destination, OAuth2
from cwotlp.delivery.http import Counters, Deadline, DeliveryError, RetryPolicy, post

if TYPE_CHECKING:
    import requests

# Refresh this long before a token's expiry, or a tenth of its lifetime for short-lived tokens.
EXPIRY_MARGIN_SECONDS = 60.0
# Lifetime assumed when the token endpoint does not say (expires_in is only RECOMMENDED by RFC 6749).
DEFAULT_LIFETIME_SECONDS = 300.0

_TokenKey = tuple[str, str, str | None, str | None]
_tokens: dict[_TokenKey, tuple[str, float]] = {}


class AuthError(DeliveryError):
    """The token endpoint refused or failed; the message carries its OAuth2 error code, never a secret."""


class StaticHeaders:
    """Fixed headers such as an API key; nothing to refresh."""

    can_refresh = False

    def __init__(self, headers: dict[str, str]) -> None:
        self._headers = headers

    def headers(self, deadline: Deadline, *, refresh: bool = False) -> dict[str, str]:
        return dict(self._headers)


class ClientCredentials:
    """Bearer tokens from an OAuth2 token endpoint, plus any static headers the secret also lists."""

    can_refresh = True

    def __init__(
        self,
        oauth2: OAuth2,
        session: requests.Session,
        policy: RetryPolicy,
        counters: Counters,
        extra_headers: dict[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._oauth2 = oauth2
        self._session = session
        self._policy = policy
        self._counters = counters
        self._extra = extra_headers or {}
        self._clock = clock
        self._key: _TokenKey = (oauth2.token_url, oauth2.client_id, oauth2.audience, oauth2.scope)

    def headers(self, deadline: Deadline, *, refresh: bool = False) -> dict[str, str]:
        cached = _tokens.get(self._key)
        if refresh or cached is None or self._clock() >= cached[1]:
            cached = _tokens[self._key] = self._request_token(deadline)
        return {**self._extra, "Authorization": f"Bearer {cached[0]}"}

    def _request_token(self, deadline: Deadline) -> tuple[str, float]:
        oauth2 = self._oauth2
        form = {"grant_type": "client_credentials"}
        if oauth2.audience:
            form["audience"] = oauth2.audience
        if oauth2.scope:
            form["scope"] = oauth2.scope
        # client_secret_basic: both parts are form-encoded before base64 (RFC 6749 section 2.3.1).
        basic = base64.b64encode(
            f"{quote_plus(oauth2.client_id)}:{quote_plus(oauth2.client_secret)}".encode()
        )
        response = post(
            self._session,
            oauth2.token_url,
            what="token endpoint",
            policy=self._policy,
            deadline=deadline,
            counters=self._counters,
            data=form,
            headers=lambda: {"Authorization": f"Basic {basic.decode()}", "Accept": "application/json"},
        )
        body = _json_or_none(response)
        if response.status_code != 200:
            raise AuthError(f"token endpoint answered HTTP {response.status_code}{_oauth_error(body)}")
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthError("token endpoint answered 200 without an access_token")
        lifetime = body.get("expires_in") if isinstance(body, dict) else None
        if not isinstance(lifetime, int | float) or isinstance(lifetime, bool) or lifetime <= 0:
            lifetime = DEFAULT_LIFETIME_SECONDS
        margin = min(EXPIRY_MARGIN_SECONDS, lifetime / 10)
        return token, self._clock() + lifetime - margin


def authenticator(
    destination: Destination, session: requests.Session, policy: RetryPolicy, counters: Counters
) -> StaticHeaders | ClientCredentials:
    if destination.oauth2 is None:
        return StaticHeaders(destination.headers)
    return ClientCredentials(destination.oauth2, session, policy, counters, destination.headers)


def forget_tokens() -> None:
    """Drops every cached token, so that tests start from none."""
    _tokens.clear()


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _oauth_error(body: Any) -> str:
    """The OAuth2 error code and description (RFC 6749 section 5.2), which carry no secrets."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return ""
    text = f": {body['error']}"
    description = body.get("error_description")
    if isinstance(description, str) and description:
        text += f" ({description[:200]})"
    return text
