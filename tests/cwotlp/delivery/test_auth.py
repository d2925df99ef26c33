"""Authentication: OAuth2 client credentials against a real token endpoint on 127.0.0.1, the token's
checks, its cache and expiry, refusals quoted only as a code and a redacted description, and the
secret read again when the client credentials are refused."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_plus

import pytest

from conftest import Retries
from cwotlp.delivery.auth import (
    DEFAULT_LIFETIME_SECONDS,
    MAX_LIFETIME_SECONDS,
    MAX_TOKEN_CHARS,
    AuthError,
    ClientCredentials,
    StaticHeaders,
    authenticator,
)
from cwotlp.delivery.http import Deadline, HttpClient, RetryPolicy
from cwotlp.delivery.urls import Url
from cwotlp.secret import Destination, OAuth2
from cwotlp_local.faults import Fault
from cwotlp_local.token_server import TokenServer

CLIENT_SECRET = "Vb2 secret/with+odd=chars"  # form-encoded before Basic: proves RFC 6749 2.3.1 is followed


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def tokens() -> Iterator[TokenServer]:
    with TokenServer(
        client_id="forwarder", client_secret=CLIENT_SECRET, audience="otlp", scope="metrics"
    ) as server:
        yield server


def oauth2(server: TokenServer, secret: str = CLIENT_SECRET, client_id: str = "forwarder") -> OAuth2:
    url = Url.parse(server.url, "token_url", allow_http=True)
    return OAuth2(url, client_id, secret, audience="otlp", scope="metrics")


def credentials(
    server: TokenServer,
    *,
    secret: str = CLIENT_SECRET,
    clock: Clock | None = None,
    reload: Any = None,
    extra: dict[str, str] | None = None,
    retries: int = 2,
) -> ClientCredentials:
    policy = RetryPolicy(max_retries=retries, sleep=lambda _: None, min_request_time=0.1)
    return ClientCredentials(
        oauth2(server, secret), HttpClient(), policy, Retries(), extra, clock=clock or Clock(), reload=reload
    )


def token_answer(**fields: object) -> Fault:
    """A token endpoint answer with these fields (access_token defaults to a good one)."""
    body = {"access_token": "good-token", "token_type": "Bearer", "expires_in": 3600, **fields}
    return Fault(status=200, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})


def bearer(headers: dict[str, str]) -> str:
    scheme, _, token = headers["Authorization"].partition(" ")
    assert scheme == "Bearer"
    return token


def test_a_token_is_fetched_with_basic_client_authentication(tokens: TokenServer) -> None:
    auth = credentials(tokens, extra={"x-tenant": "a"})
    headers = auth.headers(Deadline.after(10))
    assert tokens.is_valid(bearer(headers))
    assert headers["x-tenant"] == "a"
    [request] = tokens.requests
    assert request.auth_method == "client_secret_basic"
    assert request.form == {"grant_type": "client_credentials", "audience": "otlp", "scope": "metrics"}
    # The token and the client credentials in each form a peer might echo (the tenant header too).
    assert {bearer(headers), "a"} <= auth.secrets()
    basic = base64.b64encode(f"forwarder:{quote_plus(CLIENT_SECRET)}".encode()).decode()
    assert {CLIENT_SECRET, quote_plus(CLIENT_SECRET), basic} <= auth.secrets()


def test_tokens_are_cached_per_client_across_instances(tokens: TokenServer) -> None:
    first = bearer(credentials(tokens).headers(Deadline.after(10)))
    assert bearer(credentials(tokens).headers(Deadline.after(10))) == first
    assert tokens.issued == 1
    other = ClientCredentials(
        OAuth2(oauth2(tokens).token_url, "forwarder", CLIENT_SECRET, audience="otlp", scope=None),
        HttpClient(),
        RetryPolicy(),
        Retries(),
    )
    assert bearer(other.headers(Deadline.after(10))) != first  # another scope is another token
    assert tokens.issued == 2


@pytest.mark.parametrize(("expires_in", "refresh_at"), [(3600, 3540.0), (100, 90.0)])
def test_a_token_is_renewed_shortly_before_it_expires(
    tokens: TokenServer, expires_in: int, refresh_at: float
) -> None:
    tokens.expires_in = expires_in
    clock = Clock()
    auth = credentials(tokens, clock=clock)
    first = bearer(auth.headers(Deadline.after(10)))
    clock.now += refresh_at - 0.01
    assert bearer(auth.headers(Deadline.after(10))) == first
    clock.now += 0.01
    assert bearer(auth.headers(Deadline.after(10))) != first
    assert tokens.issued == 2


def test_refresh_asks_for_a_new_token(tokens: TokenServer) -> None:
    auth = credentials(tokens)
    first = bearer(auth.headers(Deadline.after(10)))
    assert bearer(auth.headers(Deadline.after(10), refresh=True)) != first
    assert tokens.issued == 2


@pytest.mark.parametrize(
    ("expires_in", "lifetime"),
    [
        ("120", 120.0),
        (120.5, 120.5),
        ("12e3", DEFAULT_LIFETIME_SECONDS),
        ("soon", DEFAULT_LIFETIME_SECONDS),
        (-60, DEFAULT_LIFETIME_SECONDS),
        (0, DEFAULT_LIFETIME_SECONDS),
        (True, DEFAULT_LIFETIME_SECONDS),
        (None, DEFAULT_LIFETIME_SECONDS),
        (10**12, MAX_LIFETIME_SECONDS),
    ],
)
def test_expires_in_is_read_carefully(tokens: TokenServer, expires_in: object, lifetime: float) -> None:
    tokens.inject(token_answer(expires_in=expires_in))
    clock = Clock()
    auth = credentials(tokens, clock=clock)
    assert bearer(auth.headers(Deadline.after(10))) == "good-token"
    renew = lifetime - min(60.0, lifetime / 10)
    clock.now += renew - 0.01
    assert bearer(auth.headers(Deadline.after(10))) == "good-token"
    clock.now += 0.01
    assert bearer(auth.headers(Deadline.after(10))) != "good-token"


def test_a_missing_expires_in_means_the_default_lifetime(tokens: TokenServer) -> None:
    body = json.dumps({"access_token": "good-token", "token_type": "bearer"}).encode()
    tokens.inject(Fault(status=200, body=body, headers={"Content-Type": "application/json"}))
    clock = Clock()
    auth = credentials(tokens, clock=clock)
    auth.headers(Deadline.after(10))
    clock.now += DEFAULT_LIFETIME_SECONDS - 30.01
    assert bearer(auth.headers(Deadline.after(10))) == "good-token"
    assert len(tokens.requests) == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"access_token": "two words"}, "an access_token that an HTTP header cannot carry"),
        ({"access_token": "line\nbreak"}, "an access_token that an HTTP header cannot carry"),
        ({"access_token": "tökén"}, "an access_token that an HTTP header cannot carry"),
        ({"access_token": "x" * (MAX_TOKEN_CHARS + 1)}, "an access_token that an HTTP header cannot carry"),
        ({"access_token": ""}, "answered HTTP 200 without an access_token"),
        ({"access_token": 12345}, "answered HTTP 200 without an access_token"),
        ({"token_type": "mac"}, "issued a token of type 'mac', not a bearer token"),
        ({"token_type": "DPoP"}, "issued a token of type 'DPoP', not a bearer token"),
        ({"token_type": "good-token"}, r"issued a token of type '\*\*\*', not a bearer token"),
    ],
)
def test_unusable_tokens_are_refused(tokens: TokenServer, fields: dict[str, object], message: str) -> None:
    tokens.inject(token_answer(**fields))
    with pytest.raises(AuthError, match=message) as caught:
        credentials(tokens).headers(Deadline.after(10))
    assert "line\nbreak" not in str(caught.value) and "two words" not in str(caught.value)
    assert "good-token" not in str(caught.value)
    assert len(tokens.requests) == 1


def test_a_token_type_in_any_case_is_a_bearer_token(tokens: TokenServer) -> None:
    tokens.inject(token_answer(token_type="BEARER"))
    assert bearer(credentials(tokens).headers(Deadline.after(10))) == "good-token"


def test_a_non_json_answer_is_no_token(tokens: TokenServer) -> None:
    tokens.inject(Fault(status=200, body=b"<html>login</html>"))
    with pytest.raises(AuthError, match="answered HTTP 200 without an access_token"):
        credentials(tokens).headers(Deadline.after(10))


def echoing(code: str, description: str, status: int = 400) -> Fault:
    body = json.dumps({"error": code, "error_description": description}).encode()
    return Fault(status=status, body=body, headers={"Content-Type": "application/json"})


def test_a_refusal_is_quoted_by_its_code_and_a_redacted_description(tokens: TokenServer) -> None:
    basic = base64.b64encode(b"forwarder:Vb2+secret%2Fwith%2Bodd%3Dchars").decode()
    described = f"secret {CLIENT_SECRET} or Vb2+secret%2Fwith%2Bodd%3Dchars or {basic} \n\t is not accepted"
    tokens.inject(echoing("invalid_grant", described))
    with pytest.raises(AuthError) as caught:
        credentials(tokens).headers(Deadline.after(10))
    message = str(caught.value)
    assert message == (
        f"token endpoint {tokens.base_url} answered HTTP 400: invalid_grant "
        "(secret *** or *** or *** is not accepted)"
    )
    assert not caught.value.invalid_client
    assert len(tokens.requests) == 1  # a refusal is not retried


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (echoing('bad"code', "Vb2 secret"), "answered HTTP 400$"),
        (echoing("x" * 65, "Vb2 secret"), "answered HTTP 400$"),
        (echoing("invalid_scope", ""), "answered HTTP 400: invalid_scope$"),
        (Fault(status=500, body=CLIENT_SECRET.encode()), "answered HTTP 500$"),
        (
            Fault(status=302, headers={"Location": "https://idp.example.test/login"}),
            "a redirect to idp.example.test, which is not followed",
        ),
    ],
)
def test_other_refusals(tokens: TokenServer, fault: Fault, message: str) -> None:
    tokens.inject(fault)
    with pytest.raises(AuthError, match=message) as caught:
        credentials(tokens).headers(Deadline.after(10))
    assert "Vb2" not in str(caught.value)


def test_an_unavailable_token_endpoint_is_retried(tokens: TokenServer) -> None:
    tokens.inject(Fault(status=503), times=2)
    assert tokens.is_valid(bearer(credentials(tokens, retries=2).headers(Deadline.after(10))))
    assert [request.status for request in tokens.requests] == [503, 503, 200]


def test_refused_client_credentials_read_the_secret_again_once(tokens: TokenServer) -> None:
    reloads = []

    def reload() -> OAuth2:
        reloads.append(1)
        return oauth2(tokens)  # the rotated secret

    auth = credentials(tokens, secret="Old-secret-before-rotation", reload=reload)
    headers = auth.headers(Deadline.after(10))
    assert tokens.is_valid(bearer(headers))
    assert len(reloads) == 1
    assert [request.error for request in tokens.requests] == ["invalid_client", None]
    assert auth.headers(Deadline.after(10), refresh=True) != headers  # the new credentials stay in use
    assert [request.status for request in tokens.requests] == [401, 200, 200]


@pytest.mark.parametrize("reloaded", ["same", "none", "also-wrong"])
def test_a_reload_that_does_not_help_fails_without_looping(tokens: TokenServer, reloaded: str) -> None:
    reloads = []
    old = oauth2(tokens, "Old-secret-before-rotation")

    def reload() -> OAuth2 | None:
        reloads.append(1)
        return {"same": old, "none": None, "also-wrong": oauth2(tokens, "Another-wrong-secret")}[reloaded]

    auth = ClientCredentials(old, HttpClient(), RetryPolicy(sleep=lambda _: None), Retries(), reload=reload)
    for _ in range(2):
        with pytest.raises(AuthError, match="answered HTTP 401: invalid_client") as caught:
            auth.headers(Deadline.after(10))
        assert caught.value.invalid_client
        assert "Old-secret" not in str(caught.value) and "Another-wrong" not in str(caught.value)
    assert len(reloads) == 1
    assert len(tokens.requests) == (3 if reloaded == "also-wrong" else 2)


def test_static_headers() -> None:
    auth = StaticHeaders({"x-api-key": "k"})
    headers = auth.headers(Deadline.after(1))
    headers["x-api-key"] = "changed"
    assert auth.headers(Deadline.after(1), refresh=True) == {"x-api-key": "k"}
    assert not auth.can_refresh
    assert auth.secrets() == set()


def test_the_authenticator_follows_the_destination(tokens: TokenServer) -> None:
    endpoint = Url.parse("https://collector.example.test", "endpoint")
    static = authenticator(
        Destination(endpoint, headers={"x-api-key": "k"}), HttpClient(), RetryPolicy(), Retries()
    )
    assert isinstance(static, StaticHeaders)
    destination = Destination(endpoint, oauth2=oauth2(tokens), headers={"x-scope-orgid": "t1"})
    oauth = authenticator(destination, HttpClient(), RetryPolicy(), Retries())
    assert isinstance(oauth, ClientCredentials)
    headers = oauth.headers(Deadline.after(10))
    assert headers["x-scope-orgid"] == "t1" and tokens.is_valid(bearer(headers))
