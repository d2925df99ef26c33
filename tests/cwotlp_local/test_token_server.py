"""The local OAuth2 client-credentials token endpoint, exercised with a real HTTP client."""

from __future__ import annotations

import base64
import time
from urllib.parse import quote_plus

import pytest
import requests

from cwotlp_local import Fault, TokenServer

TIMEOUT = 5
GRANT = {"grant_type": "client_credentials"}


def basic(client_id: str, client_secret: str) -> dict[str, str]:
    """The Authorization header of RFC 6749 2.3.1: form-urlencode id and secret, then Basic-encode."""
    pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def token_request(server: TokenServer, form: dict[str, str], headers: dict[str, str]) -> requests.Response:
    return requests.post(server.url, data=form, headers=headers, timeout=TIMEOUT)


def test_good_credentials_get_a_bearer_token() -> None:
    with TokenServer(client_id="demo-client", client_secret="s3cret", expires_in=120) as server:
        assert server.url.startswith("http://127.0.0.1:")
        response = token_request(server, GRANT, basic("demo-client", "s3cret"))
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["Cache-Control"] == "no-store"
        body = response.json()
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 120
        assert len(body["access_token"]) >= 32
        assert server.is_valid(body["access_token"])
        assert not server.is_valid(body["access_token"] + "x")
        assert server.issued == 1


def test_each_request_gets_a_new_token() -> None:
    with TokenServer(client_secret="s") as server:
        tokens = {
            token_request(server, GRANT, basic("demo-client", "s")).json()["access_token"] for _ in range(3)
        }
        assert len(tokens) == 3
        assert all(server.is_valid(t) for t in tokens)


def test_requests_library_basic_auth_works_for_plain_credentials() -> None:
    with TokenServer(client_secret="plain") as server:
        response = requests.post(server.url, data=GRANT, auth=("demo-client", "plain"), timeout=TIMEOUT)
        assert response.status_code == 200


def test_credentials_are_form_urlencoded_inside_basic() -> None:
    client_id, secret = "client:with space", "p@ss:wörd+/="
    with TokenServer(client_id=client_id, client_secret=secret) as server:
        assert token_request(server, GRANT, basic(client_id, secret)).status_code == 200
        # the same credentials without the form-encoding step are not the same credentials
        raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        assert token_request(server, GRANT, {"Authorization": f"Basic {raw}"}).status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        basic("demo-client", "wrong"),
        basic("other-client", "s3cret"),
        {},
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Bearer something"},
    ],
)
def test_bad_client_credentials_are_401_invalid_client(headers: dict[str, str]) -> None:
    with TokenServer(client_secret="s3cret") as server:
        response = token_request(server, GRANT, headers)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"
        assert server.issued == 0


def test_basic_failure_carries_www_authenticate() -> None:
    with TokenServer(client_secret="s3cret") as server:
        response = token_request(server, GRANT, basic("demo-client", "wrong"))
        assert response.headers["WWW-Authenticate"].startswith("Basic")


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"grant_type": "authorization_code"}, "unsupported_grant_type"),
        ({}, "invalid_request"),
    ],
)
def test_wrong_grant_is_400(form: dict[str, str], error: str) -> None:
    with TokenServer(client_secret="s") as server:
        response = token_request(server, form, basic("demo-client", "s"))
        assert response.status_code == 400
        assert response.json()["error"] == error


def test_body_must_be_form_encoded() -> None:
    with TokenServer(client_secret="s") as server:
        response = requests.post(server.url, json=GRANT, headers=basic("demo-client", "s"), timeout=TIMEOUT)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"


def test_audience_must_match_when_configured() -> None:
    with TokenServer(client_secret="s", audience="https://otlp.example.test") as server:
        auth = basic("demo-client", "s")
        assert token_request(server, GRANT, auth).status_code == 400
        wrong = token_request(server, {**GRANT, "audience": "https://elsewhere.test"}, auth)
        assert wrong.status_code == 400
        assert wrong.json()["error"] == "invalid_request"
        right = token_request(server, {**GRANT, "audience": "https://otlp.example.test"}, auth)
        assert right.status_code == 200
        assert server.requests[-1].form["audience"] == "https://otlp.example.test"


def test_scope_is_granted_or_refused() -> None:
    with TokenServer(client_secret="s", scope="metrics:write logs:write") as server:
        auth = basic("demo-client", "s")
        assert (
            token_request(server, {**GRANT, "scope": "metrics:write"}, auth).json()["scope"]
            == "metrics:write"
        )
        assert token_request(server, GRANT, auth).json()["scope"] == "metrics:write logs:write"
        refused = token_request(server, {**GRANT, "scope": "admin"}, auth)
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_scope"


def test_client_secret_post_is_accepted_unless_disabled() -> None:
    form = {**GRANT, "client_id": "demo-client", "client_secret": "s"}
    with TokenServer(client_secret="s") as server:
        assert token_request(server, form, {}).status_code == 200
        assert server.requests[-1].auth_method == "client_secret_post"
        # two authentication methods at once are refused (RFC 6749 2.3)
        assert token_request(server, form, basic("demo-client", "s")).status_code == 400
    with TokenServer(client_secret="s", allow_client_secret_post=False) as server:
        assert token_request(server, form, {}).status_code == 401


def test_tokens_expire() -> None:
    with TokenServer(client_secret="s", expires_in=1) as server:
        token = token_request(server, GRANT, basic("demo-client", "s")).json()["access_token"]
        assert server.is_valid(token)
        deadline = time.monotonic() + 5
        while server.is_valid(token) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not server.is_valid(token)


def test_expire_all() -> None:
    with TokenServer(client_secret="s", expires_in=3600) as server:
        tokens = [
            token_request(server, GRANT, basic("demo-client", "s")).json()["access_token"] for _ in range(2)
        ]
        server.expire_all()
        assert not any(server.is_valid(t) for t in tokens)
        fresh = token_request(server, GRANT, basic("demo-client", "s")).json()["access_token"]
        assert server.is_valid(fresh)


def test_requests_are_recorded_without_secrets() -> None:
    secret = "very-secret-value-123"
    with TokenServer(client_secret=secret, audience="aud") as server:
        token_request(server, {**GRANT, "audience": "aud"}, basic("demo-client", secret))
        token_request(
            server, {**GRANT, "client_id": "demo-client", "client_secret": secret, "audience": "aud"}, {}
        )
        token_request(server, GRANT, basic("demo-client", "wrong-" + secret))
        recorded = server.requests
        assert [r.status for r in recorded] == [200, 200, 401]
        assert recorded[0].form == {"grant_type": "client_credentials", "audience": "aud"}
        assert recorded[0].client_id == "demo-client"
        assert recorded[0].auth_method == "client_secret_basic"
        assert recorded[1].form["client_secret"] == "***"
        assert recorded[2].error == "invalid_client"
        assert secret not in repr(recorded)
        assert secret not in repr(server)


def test_refusals_are_recorded_with_the_client_they_came_from() -> None:
    with TokenServer(client_secret="s", audience="aud", allow_client_secret_post=False) as server:
        wrong_secret = token_request(server, {**GRANT, "audience": "aud"}, basic("demo-client", "t"))
        assert wrong_secret.headers["WWW-Authenticate"] == 'Basic realm="cwotlp-local"'
        token_request(server, {**GRANT, "audience": "other"}, basic("demo-client", "s"))
        token_request(server, {**GRANT, "client_id": "demo-client", "client_secret": "s"}, {})
        not_basic = token_request(server, GRANT, {"Authorization": "Basic %%%"})
        assert "WWW-Authenticate" not in not_basic.headers  # the client is unknown: no Basic challenge
        recorded = [(r.status, r.error, r.auth_method, r.client_id) for r in server.requests]
        assert recorded == [
            (401, "invalid_client", "client_secret_basic", "demo-client"),
            (400, "invalid_request", "client_secret_basic", "demo-client"),
            (401, "invalid_client", "client_secret_post", "demo-client"),
            (401, "invalid_client", "none", None),
        ]


def test_faults() -> None:
    with TokenServer(client_secret="s") as server:
        auth = basic("demo-client", "s")
        server.inject(Fault(status=503, headers={"Retry-After": "2"}), times=2)
        server.inject(Fault(reset=True))
        first = token_request(server, GRANT, auth)
        assert first.status_code == 503
        assert first.headers["Retry-After"] == "2"
        assert token_request(server, GRANT, auth).status_code == 503
        with pytest.raises(requests.ConnectionError):
            token_request(server, GRANT, auth)
        assert token_request(server, GRANT, auth).status_code == 200
        assert [r.status for r in server.requests] == [503, 503, 0, 200]
        assert server.issued == 1

        server.inject(Fault(status=200, delay=0.3))
        started = time.monotonic()
        slow = token_request(server, GRANT, auth)
        assert time.monotonic() - started >= 0.3
        assert server.issued == 1  # a faulted answer carries no token
        assert slow.content == b""


def test_tls_with_generated_ca() -> None:
    with TokenServer(client_secret="s", tls=True) as server:
        assert server.url.startswith("https://127.0.0.1:")
        assert server.ca_file is not None
        response = requests.post(
            server.url, data=GRANT, headers=basic("demo-client", "s"), timeout=TIMEOUT, verify=server.ca_file
        )
        assert response.status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            requests.post(server.url, data=GRANT, headers=basic("demo-client", "s"), timeout=TIMEOUT)
