"""The collector secret: every field validated with messages that name the field and never its value,
the credential forms kept out of messages, and the secret read from Secrets Manager (moto)."""

from __future__ import annotations

import base64
import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cwotlp.errors import ConfigError
from cwotlp.secret import MAX_FIELD_CHARS, Destination, SecretSource

# Distinctive values: none of them may ever appear in a message.
CLIENT_SECRET = "Zq8-client-secret-value"
API_KEY = "Kx7-api-key-value"
QUERY_KEY = "Qw3-query-key-value"
ORIGIN = "secret arn:aws:secretsmanager:us-east-1:123456789012:secret:otlp"
OAUTH = {
    "endpoint": "https://collector.example.test",
    "token_url": "https://auth.example.test/oauth/token",
    "client_id": "forwarder",
    "client_secret": CLIENT_SECRET,
    "audience": "otlp",
    "scope": "metrics.write",
}
STATIC = {"endpoint": "https://collector.example.test", "headers": {"x-api-key": API_KEY}}
DISTINCTIVE = (CLIENT_SECRET, API_KEY, QUERY_KEY, "Pw5-url-password", "Ctl-value")


def refused(secret: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        Destination.from_secret(secret, ORIGIN)
    message = str(caught.value)
    assert ORIGIN in message
    for value in DISTINCTIVE:
        assert value not in message
    return message


def test_oauth2_secret() -> None:
    destination = Destination.from_secret(OAUTH, ORIGIN)
    assert destination.endpoint.origin == "https://collector.example.test"
    assert destination.endpoint.target == "/v1/metrics"  # a bare address gets the OTLP path
    assert destination.oauth2 is not None
    assert destination.oauth2.token_url.target == "/oauth/token"
    assert (destination.oauth2.client_id, destination.oauth2.client_secret) == ("forwarder", CLIENT_SECRET)
    assert (destination.oauth2.audience, destination.oauth2.scope) == ("otlp", "metrics.write")
    assert destination.headers == {}
    assert CLIENT_SECRET not in repr(destination)


def test_static_headers_and_a_full_endpoint_path_with_a_query() -> None:
    secret = {**STATIC, "endpoint": f"https://otlp.example.test:8443/custom/v1/metrics?key={QUERY_KEY}"}
    destination = Destination.from_secret(secret, ORIGIN)
    assert destination.endpoint.target == f"/custom/v1/metrics?key={QUERY_KEY}"
    assert destination.endpoint.origin == "https://otlp.example.test:8443"
    assert destination.oauth2 is None
    assert destination.headers == {"x-api-key": API_KEY}
    assert API_KEY not in repr(destination) and QUERY_KEY not in repr(destination)


def test_plain_http_is_accepted_only_when_allowed() -> None:
    secret = {**OAUTH, "endpoint": "http://10.0.0.5:4318", "token_url": "http://10.0.0.6/token"}
    assert "plain http" in refused(secret)
    destination = Destination.from_secret({**secret, "allow_http": True}, ORIGIN)
    assert destination.endpoint.origin == "http://10.0.0.5:4318"
    assert destination.oauth2 is not None and destination.oauth2.token_url.origin == "http://10.0.0.6"


def test_fields_are_counted_in_code_points_as_plan_counts_them() -> None:
    accent = "q\u0301"  # one character to a reader, two code points
    Destination.from_secret({**OAUTH, "client_secret": accent * (MAX_FIELD_CHARS // 2)}, ORIGIN)
    assert "'client_secret' is longer than" in refused({**OAUTH, "client_secret": accent * 4097})


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ([], "must hold a JSON object with at least 'endpoint'"),
        ("https://collector.example.test", "must hold a JSON object"),
        ({**OAUTH, "endpoint": None}, "lacks the field 'endpoint'"),
        ({**OAUTH, "endpoint": ""}, "lacks the field 'endpoint'"),
        ({**OAUTH, "endpoint": 4318}, "the field 'endpoint' must be a string"),
        ({**OAUTH, "endpoint": "collector:4318"}, "the field 'endpoint' must be an https:// URL with a host"),
        ({**OAUTH, "endpoint": f"ftp://c.example.test/{QUERY_KEY}"}, "'endpoint' must be an https:// URL"),
        (
            {**OAUTH, "endpoint": f"http://c.example.test/v1/metrics?k={QUERY_KEY}"},
            "'endpoint' is plain http",
        ),
        (
            {**OAUTH, "endpoint": "https://u:Pw5-url-password@c.example.test"},
            "must not carry a user or password",
        ),
        ({**OAUTH, "endpoint": "https://c.example.test:99999"}, "'endpoint' has a port that is not a number"),
        ({**OAUTH, "endpoint": "https://c.example.test/Ctl-value\n"}, "'endpoint' is longer than"),
        (
            {**OAUTH, "endpoint": "https://c.example.test/" + "a" * MAX_FIELD_CHARS},
            "'endpoint' is longer than",
        ),
        ({**OAUTH, "token_url": "https://auth.example.test:0/token"}, "'token_url' has a port"),
        ({**OAUTH, "token_url": ["https://auth.example.test"]}, "'token_url' must be a string"),
        ({**OAUTH, "client_id": ""}, "lacks the field 'client_id'"),
        ({k: v for k, v in OAUTH.items() if k != "client_secret"}, "lacks the field 'client_secret'"),
        ({**OAUTH, "client_secret": 12345}, "the field 'client_secret' must be a string"),
        ({**OAUTH, "client_secret": CLIENT_SECRET + "\n"}, "the field 'client_secret' is longer than"),
        ({**OAUTH, "client_secret": CLIENT_SECRET + "\x00"}, "the field 'client_secret' is longer than"),
        ({**OAUTH, "audience": 7}, "the field 'audience' must be a string"),
        ({**OAUTH, "scope": "metrics\twrite Ctl-value"}, "the field 'scope' is longer than"),
        ({**OAUTH, "allow_http": "yes"}, "the field 'allow_http' must be true or false"),
        ({**OAUTH, "headers": {"Authorization": f"Bearer {API_KEY}"}}, "must not set Authorization"),
        ({**OAUTH, "headers": {"authorization": f"Bearer {API_KEY}"}}, "must not set Authorization"),
        ({"endpoint": "https://c.example.test"}, "lacks 'token_url' (or 'headers' for API-key collectors)"),
        ({**STATIC, "client_id": "Ctl-value"}, "has 'client_id' without 'token_url': add token_url"),
        ({**STATIC, "audience": "a", "scope": "b"}, "has 'audience', 'scope' without 'token_url'"),
        (
            {**OAUTH, "endpoint": "https://[Ctl-value]/v1"},
            "'endpoint' has a host in brackets that is not an IPv6",
        ),
        (
            {**OAUTH, "token_url": "https://[Ctl-value/token"},
            "'token_url' has a host in brackets that is not",
        ),
        ({**STATIC, "headers": {"x-api-key": 1}}, "'headers' must be an object of header names"),
        ({**STATIC, "headers": [API_KEY]}, "'headers' must be an object of header names"),
        ({**STATIC, "headers": {"x api key": API_KEY}}, "the header name 'x'... is not a valid"),
        (
            {**STATIC, "headers": {"x-api-key": API_KEY + "\r\nX-Evil: 1"}},
            "header 'x-api-key' has a line break",
        ),
        ({**STATIC, "headers": {"x-api-key": " " + API_KEY}}, "or leading or trailing spaces"),
        ({**STATIC, "headers": {"x-api-key": API_KEY + "é"}}, "a control or non-ASCII character"),
    ],
)
def test_bad_fields_are_named_and_their_values_never_shown(secret: Any, message: str) -> None:
    assert message in refused(secret)


@pytest.mark.parametrize(
    "secret",
    [
        {**STATIC, "headers": {f"Authorization: Bearer {API_KEY}": ""}},
        {**STATIC, "headers": {f"x-api-key={API_KEY}": "x"}},
        {**OAUTH, f"client_secret: {CLIENT_SECRET}": ""},
        {**OAUTH, CLIENT_SECRET: "client_secret"},
    ],
    ids=["header-line-as-name", "header-assignment-as-name", "field-line-as-name", "value-as-name"],
)
def test_a_value_written_where_a_name_belongs_is_not_shown(secret: dict[str, Any]) -> None:
    message = refused(secret)  # asserts that no distinctive value is in the message
    assert "not a valid HTTP header name" in message or "not shown" in message


def test_unknown_fields_are_named_with_the_known_ones() -> None:
    message = refused({**OAUTH, "client_secrett": CLIENT_SECRET, "Audience": "x", "token": "y"})
    assert (
        "unknown fields 'Audience' (did you mean 'audience'?), 'client_secrett' (did you mean"
        " 'client_secret'?), 'token' (did you mean 'token_url'?);"
    ) in message
    assert "'endpoint', 'token_url'" in message


@pytest.mark.parametrize("name", ["hunterTwoSecretWord", "Zq_kWmPvRtYx", "Mxyzptlk"])
def test_an_unknown_field_like_no_known_one_is_counted_not_shown(name: str) -> None:
    """Letters only, as some passwords are: a name that is no near miss of a field is not echoed."""
    message = refused({**OAUTH, name: "x", "scopes": "y"})
    assert name not in message
    assert "unknown fields 'scopes' (did you mean 'scope'?) and 1 unknown field not shown;" in message


def test_secrets_include_every_form_a_peer_might_echo() -> None:
    special = "p@ss word/+=" + CLIENT_SECRET
    secret = {
        **OAUTH,
        "client_secret": special,
        "endpoint": f"https://c.example.test/v1/metrics?tenant=a&key={QUERY_KEY}",
        "token_url": "https://auth.example.test/token?app=abcd",
        "headers": {"x-tenant": "team-a"},
    }
    found = Destination.from_secret(secret, ORIGIN).secrets()
    basic = base64.b64encode(f"forwarder:{'p%40ss+word%2F%2B%3D' + CLIENT_SECRET}".encode()).decode()
    assert found >= {
        special,
        "p%40ss%20word%2F%2B%3D" + CLIENT_SECRET,  # quoted
        "p%40ss+word%2F%2B%3D" + CLIENT_SECRET,  # form-encoded
        basic,  # the Basic credentials sent to the token endpoint
        f"tenant=a&key={QUERY_KEY}",  # the whole query
        QUERY_KEY,  # and its values longer than three characters
        "app=abcd",
        "abcd",
        "team-a",
    }
    assert "a" not in found and "" not in found


def test_static_secrets_are_the_header_values() -> None:
    assert Destination.from_secret(STATIC, ORIGIN).secrets() == {API_KEY}


def test_secrets_include_parts_of_header_values_and_key_like_path_segments() -> None:
    basic = base64.b64encode(b"812345:glc_Rb41Xq9").decode()
    secret = {
        "endpoint": "https://c.example.test/otlp/pk-4f9a2c71/tenant/v1/metrics",
        "headers": {"Authorization": f"Basic {basic}", "X-Key": f"ApiKey {API_KEY}", "X-Scope": "Bearer ab"},
    }
    found = Destination.from_secret(secret, ORIGIN).secrets()
    assert found == {
        f"Basic {basic}",
        basic,
        "812345:glc_Rb41Xq9",  # decoded
        "glc_Rb41Xq9",  # the password alone
        f"ApiKey {API_KEY}",
        API_KEY,
        "Bearer ab",
        "pk-4f9a2c71",  # letters and digits, eight or more: a key; not otlp, tenant, v1 or metrics
    }


@pytest.fixture
def secrets_manager() -> Any:
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def test_the_secret_is_read_and_cached_for_its_ttl(secrets_manager: Any) -> None:
    arn = secrets_manager.create_secret(Name="otlp", SecretString=json.dumps(OAUTH))["ARN"]
    now = [0.0]
    reads: list[str] = []
    clients: list[Any] = []
    secrets_manager.meta.events.register(
        "before-call.secrets-manager.GetSecretValue", lambda **_: reads.append("read")
    )

    def factory() -> Any:
        clients.append(secrets_manager)
        return secrets_manager

    source = SecretSource(arn, ttl=300, client_factory=factory, clock=lambda: now[0])
    assert source.get().oauth2.client_id == "forwarder"  # type: ignore[union-attr]
    secrets_manager.put_secret_value(SecretId=arn, SecretString=json.dumps({**OAUTH, "client_id": "rotated"}))
    now[0] = 299
    assert source.get().oauth2.client_id == "forwarder"  # type: ignore[union-attr]
    now[0] = 301
    assert source.get().oauth2.client_id == "rotated"  # type: ignore[union-attr]
    assert len(reads) == 2
    secrets_manager.put_secret_value(SecretId=arn, SecretString=json.dumps({**OAUTH, "client_id": "again"}))
    assert source.refresh().oauth2.client_id == "again"  # type: ignore[union-attr]
    assert len(reads) == 3
    assert len(clients) == 1  # one client, made at the first read


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        ({"SecretString": f"not json {CLIENT_SECRET}"}, "is not valid JSON"),
        ({"SecretString": json.dumps({**OAUTH, "client_id": None})}, "lacks the field 'client_id'"),
        (
            {"SecretString": json.dumps({**OAUTH, "token_url": f"ftp://{CLIENT_SECRET}"})},
            "'token_url' must be",
        ),
        ({"SecretBinary": CLIENT_SECRET.encode()}, "has no SecretString; store the settings as JSON text"),
    ],
)
def test_unusable_secret_contents_fail_clearly(
    secrets_manager: Any, stored: dict[str, Any], message: str
) -> None:
    arn = secrets_manager.create_secret(Name="otlp", **stored)["ARN"]
    with pytest.raises(ConfigError, match=message) as caught:
        SecretSource(arn, 300, lambda: secrets_manager).get()
    assert CLIENT_SECRET not in str(caught.value)
    assert arn in str(caught.value)


def test_a_missing_secret_fails_with_the_aws_error_code(secrets_manager: Any) -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:absent-AbCdEf"
    with pytest.raises(ConfigError, match=f"cannot read secret {arn}: ResourceNotFoundException"):
        SecretSource(arn, 300, lambda: secrets_manager).get()
