"""A real OAuth2 client-credentials token endpoint (RFC 6749 section 4.4) for tests and the demo."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import parse_qsl, unquote_plus

from cwotlp_local._server import BadRequestFraming, BodyTooLarge, LocalHandler, LocalServer
from cwotlp_local.faults import Fault, FaultQueue

TOKEN_PATH = "/oauth2/token"
FORM = "application/x-www-form-urlencoded"
# Form fields whose values are never recorded.
SECRET_FIELDS = frozenset({"client_secret", "client_assertion", "password", "refresh_token"})


@dataclass(frozen=True)
class TokenRequest:
    """One request to the token endpoint, secrets removed."""

    form: dict[str, str]  # the form fields; secret values replaced by "***"
    auth_method: str  # "client_secret_basic", "client_secret_post" or "none"
    client_id: str | None
    status: int  # 0 when the connection was reset by a fault
    error: str | None  # the OAuth2 error code of a refusal
    received_at: float


class _Client(NamedTuple):
    auth_method: str  # "client_secret_basic", "client_secret_post" or "none"
    client_id: str | None
    client_secret: str | None


class _OAuthError(Exception):
    """A refused token request; `client` is the client it came from, once its credentials were read."""

    def __init__(self, status: int, error: str, description: str, client: _Client | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.client = client


class _TokenHandler(LocalHandler):
    def do_POST(self) -> None:
        server: TokenServer = self.server.owner  # type: ignore[assignment]
        started = time.time()
        try:
            body = self.read_body(limit=64 * 1024)
        except (BodyTooLarge, BadRequestFraming) as e:
            server._log(TokenRequest({}, "none", None, 400, "invalid_request", started))
            self._error(400, "invalid_request", str(e))
            return
        form = dict(parse_qsl(body.decode("latin-1"), keep_blank_values=True))
        redacted = {k: ("***" if k in SECRET_FIELDS else v) for k, v in form.items()}

        fault = server._faults.take()
        if fault is not None:
            status = 0 if fault.reset else fault.status
            server._log(TokenRequest(redacted, "none", None, status, None, started))
            self.apply_fault(fault, server.stopping)
            return

        client = _Client("none", None, None)
        try:
            client = self._client(server, form)
            granted_scope = self._grant(server, form)
        except _OAuthError as e:
            client = e.client or client
            server._log(
                TokenRequest(redacted, client.auth_method, client.client_id, e.status, e.error, started)
            )
            headers = {}
            if e.status == 401 and client.auth_method == "client_secret_basic":
                headers["WWW-Authenticate"] = 'Basic realm="cwotlp-local"'
            self._error(e.status, e.error, e.description, headers)
            return

        token, expires_in = server._issue()
        response: dict[str, object] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": expires_in,
        }
        if granted_scope:
            response["scope"] = granted_scope
        server._log(TokenRequest(redacted, client.auth_method, client.client_id, 200, None, started))
        self.respond(
            200,
            json.dumps(response).encode(),
            "application/json",
            {"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    def _client(self, server: TokenServer, form: dict[str, str]) -> _Client:
        """The authenticated client; _OAuthError for an unknown path or failed client authentication."""
        if self.path.split("?", 1)[0] != server.path:
            raise _OAuthError(404, "not_found", "unknown path")
        client = self._client_credentials(form)
        if client.auth_method == "client_secret_post" and not server.allow_client_secret_post:
            raise _OAuthError(401, "invalid_client", "use HTTP Basic client authentication", client)
        if not server._client_ok(client.client_id, client.client_secret):
            raise _OAuthError(401, "invalid_client", "client authentication failed", client)
        return client

    def _grant(self, server: TokenServer, form: dict[str, str]) -> str | None:
        """The scope granted to a valid client-credentials request; _OAuthError for an invalid one."""
        content_type = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if content_type != FORM:
            raise _OAuthError(400, "invalid_request", f"the body must be {FORM}")
        grant_type = form.get("grant_type")
        if not grant_type:
            raise _OAuthError(400, "invalid_request", "grant_type is missing")
        if grant_type != "client_credentials":
            raise _OAuthError(400, "unsupported_grant_type", f"grant_type {grant_type!r} is unsupported")
        if server.audience is not None and form.get("audience") != server.audience:
            raise _OAuthError(400, "invalid_request", "audience is missing or unknown")
        return server._granted_scope(form.get("scope"))

    def do_GET(self) -> None:
        self.read_body(limit=64 * 1024)
        self.respond(405, b"method not allowed\n", "text/plain", {"Allow": "POST"})

    def _client_credentials(self, form: dict[str, str]) -> _Client:
        authorization = self.headers.get("Authorization")
        in_form = "client_secret" in form
        if authorization:
            if in_form:
                raise _OAuthError(400, "invalid_request", "more than one client authentication method")
            scheme, _, encoded = authorization.partition(" ")
            if scheme.lower() != "basic":
                raise _OAuthError(401, "invalid_client", "unsupported authentication scheme")
            try:
                decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError) as e:
                raise _OAuthError(401, "invalid_client", "malformed Basic credentials") from e
            raw_id, sep, raw_secret = decoded.partition(":")
            if not sep:
                raise _OAuthError(401, "invalid_client", "malformed Basic credentials")
            # RFC 6749 2.3.1: id and secret are form-urlencoded before the Basic encoding.
            return _Client("client_secret_basic", unquote_plus(raw_id), unquote_plus(raw_secret))
        if in_form:
            return _Client("client_secret_post", form.get("client_id"), form.get("client_secret"))
        return _Client("none", form.get("client_id"), None)

    def _error(
        self, status: int, error: str, description: str, headers: dict[str, str] | None = None
    ) -> None:
        body = json.dumps({"error": error, "error_description": description}).encode()
        self.respond(status, body, "application/json", {"Cache-Control": "no-store", **(headers or {})})


class TokenServer(LocalServer):
    """An OAuth2 token endpoint for one confidential client, on 127.0.0.1 and a free port.

    Clients authenticate with HTTP Basic (RFC 6749 2.3.1); client_secret_post is accepted too unless
    allow_client_secret_post is false. Tokens are random strings valid for expires_in seconds. With
    tls=True the URL is https and `ca_file` is the PEM of the CA that signed the server's certificate.
    """

    handler_class = _TokenHandler

    def __init__(
        self,
        client_id: str = "demo-client",
        client_secret: str = "demo-secret",
        expires_in: int = 3600,
        audience: str | None = None,
        scope: str | None = None,
        allow_client_secret_post: bool = True,
        path: str = TOKEN_PATH,
        tls: bool = False,
    ) -> None:
        super().__init__(tls)
        self.client_id = client_id
        self._client_secret = client_secret
        self.expires_in = expires_in
        self.audience = audience
        self.scope = scope
        self.allow_client_secret_post = allow_client_secret_post
        self.path = path
        self._faults = FaultQueue()
        self._state_lock = threading.Lock()
        self._tokens: dict[str, float] = {}  # token -> monotonic expiry
        self._requests: list[TokenRequest] = []
        self._issued = 0

    @property
    def url(self) -> str:
        return f"{self.base_url}{self.path}"

    def __repr__(self) -> str:
        return f"TokenServer(client_id={self.client_id!r}, expires_in={self.expires_in})"

    # controls ----------------------------------------------------------------------------------------------
    def inject(self, fault: Fault, times: int = 1, after: int = 0) -> None:
        """Queues a fault for each of `times` requests, after `after` requests let through."""
        self._faults.add(fault, times, after)

    def clear_faults(self) -> None:
        self._faults.clear()

    def expire_all(self) -> None:
        """Makes every token issued so far invalid."""
        with self._state_lock:
            self._tokens.clear()

    def is_valid(self, token: str) -> bool:
        """True when the token was issued by this server and has not expired."""
        now = time.monotonic()
        with self._state_lock:
            expiry = self._tokens.get(token)
            return expiry is not None and now < expiry

    # what happened -----------------------------------------------------------------------------------------
    @property
    def requests(self) -> list[TokenRequest]:
        with self._state_lock:
            return list(self._requests)

    @property
    def issued(self) -> int:
        """How many tokens were issued."""
        with self._state_lock:
            return self._issued

    # called by the handler ---------------------------------------------------------------------------------
    def _client_ok(self, client_id: str | None, client_secret: str | None) -> bool:
        if client_id is None or client_secret is None:
            return False
        id_ok = hmac.compare_digest(client_id.encode(), self.client_id.encode())
        secret_ok = hmac.compare_digest(client_secret.encode(), self._client_secret.encode())
        return id_ok and secret_ok

    def _granted_scope(self, requested: str | None) -> str | None:
        if self.scope is None:
            return None
        allowed = self.scope.split()
        if requested is None or not requested.strip():
            return self.scope
        wanted = requested.split()
        unknown = [s for s in wanted if s not in allowed]
        if unknown:
            raise _OAuthError(400, "invalid_scope", f"unknown scope {' '.join(unknown)}")
        return " ".join(wanted)

    def _issue(self) -> tuple[str, int]:
        token = secrets.token_urlsafe(32)
        with self._state_lock:
            now = time.monotonic()
            # forget long-expired tokens so the table stays small
            for old in [t for t, expiry in self._tokens.items() if expiry < now - 3600]:
                del self._tokens[old]
            self._tokens[token] = now + self.expires_in
            self._issued += 1
        return token, self.expires_in

    def _log(self, request: TokenRequest) -> None:
        with self._state_lock:
            self._requests.append(request)
