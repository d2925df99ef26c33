"""Configuration: the environment, the secret, and errors that say what to fix without showing secrets."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping

import boto3
import pytest
from moto import mock_aws

from cwotlp.config import ConfigError, Destination, SecretSource, Settings, environment_variables
from cwotlp.otlp.convert import Naming
from cwotlp.rules import Rule

SECRET_VALUE = "s3cr3t-do-not-print"
FULL_SECRET = {
    "endpoint": "https://collector.example.test",
    "token_url": "https://auth.example.test/oauth/token",
    "client_id": "forwarder",
    "client_secret": SECRET_VALUE,
    "audience": "b14collector",
}


class RecordingEnvironment(Mapping[str, str]):
    """An environment that notes every variable looked up."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.looked_up: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.looked_up.add(key)
        return self.values[key]

    def get(self, key: str, default: object = None):  # type: ignore[override]
        self.looked_up.add(key)
        return self.values.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


def test_the_variables_read_are_exactly_the_documented_list() -> None:
    environ = RecordingEnvironment({})
    Settings.from_environment(environ)
    assert environ.looked_up == set(environment_variables())
    assert all(name.startswith("CWOTLP_") for name in environment_variables())


def test_defaults_match_the_reference_naming() -> None:
    settings = Settings.from_environment({})
    assert settings.naming == Naming("aws-cloudwatch-stream", {"environment": "production"}, False)
    assert settings.max_request_bytes == 3 * 1024 * 1024
    assert settings.secret_arn is None


def test_every_setting_is_read() -> None:
    settings = Settings.from_environment(
        {
            "CWOTLP_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:otlp",
            "CWOTLP_SECRET_TTL_SECONDS": "60",
            "CWOTLP_SERVICE_NAME": "metrics",
            "CWOTLP_RESOURCE_ATTRIBUTES": '{"team": "platform"}',
            "CWOTLP_DIMENSION_ATTRIBUTES": "true",
            "CWOTLP_MAX_REQUEST_BYTES": "65536",
            "CWOTLP_MAX_RETRIES": "2",
            "CWOTLP_REQUEST_TIMEOUT_SECONDS": "3",
            "CWOTLP_CA_BUNDLE": "/opt/ca.pem",
            "CWOTLP_LOG_LEVEL": "debug",
            "CWOTLP_NAMING": "otel",
            "CWOTLP_OTLP_ENCODING": "protobuf",
            "CWOTLP_RULES": '[{"action": "drop", "namespace": "AWS/EBS"}]',
        }
    )
    assert settings == Settings(
        secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:otlp",
        secret_ttl_seconds=60.0,
        naming=Naming("metrics", {"team": "platform"}, True, "otel"),
        max_request_bytes=65536,
        max_retries=2,
        request_timeout_seconds=3.0,
        ca_bundle="/opt/ca.pem",
        log_level="DEBUG",
        encoding="protobuf",
        rules=(Rule("drop", namespace="AWS/EBS"),),
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CWOTLP_MAX_REQUEST_BYTES", "lots", "CWOTLP_MAX_REQUEST_BYTES must be a number"),
        ("CWOTLP_MAX_REQUEST_BYTES", "10", "CWOTLP_MAX_REQUEST_BYTES must be at least 1024"),
        ("CWOTLP_DIMENSION_ATTRIBUTES", "maybe", "CWOTLP_DIMENSION_ATTRIBUTES must be true or false"),
        (
            "CWOTLP_RESOURCE_ATTRIBUTES",
            "team=a",
            "CWOTLP_RESOURCE_ATTRIBUTES must be a JSON object of strings",
        ),
        (
            "CWOTLP_RESOURCE_ATTRIBUTES",
            '{"n": 1}',
            "CWOTLP_RESOURCE_ATTRIBUTES must be a JSON object of strings",
        ),
        ("CWOTLP_LOG_LEVEL", "LOUD", "CWOTLP_LOG_LEVEL must be one of DEBUG, ERROR, INFO, WARNING"),
        ("CWOTLP_NAMING", "prometheus", "CWOTLP_NAMING must be one of cloudwatch, otel"),
        ("CWOTLP_OTLP_ENCODING", "xml", "CWOTLP_OTLP_ENCODING must be one of json, protobuf"),
        ("CWOTLP_RULES", "[{", "CWOTLP_RULES is not valid JSON"),
        ("CWOTLP_RULES", "{}", "CWOTLP_RULES must be a JSON list of rules"),
        ("CWOTLP_RULES", '[{"action": "hide"}]', r"CWOTLP_RULES\[0\]: action must be drop or keep"),
        (
            "CWOTLP_RULES",
            '[{"action": "drop", "metric": "x"}]',
            r"CWOTLP_RULES\[0\] has unknown fields \['metric'\]",
        ),
        ("CWOTLP_RULES", '[{"action": "drop", "dimensions": {"a": 1}}]', "dimensions must be an object"),
    ],
)
def test_bad_settings_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_environment({name: value})


def test_secret_with_oauth2() -> None:
    destination = Destination.from_secret(FULL_SECRET, "secret X")
    assert destination.endpoint == "https://collector.example.test/v1/metrics"
    assert destination.oauth2 is not None
    assert destination.oauth2.audience == "b14collector"
    assert SECRET_VALUE not in repr(destination)


def test_secret_with_static_headers_and_a_full_endpoint_path() -> None:
    destination = Destination.from_secret(
        {"endpoint": "https://otlp.example.test/custom/v1/metrics", "headers": {"x-api-key": SECRET_VALUE}},
        "secret X",
    )
    assert destination.endpoint == "https://otlp.example.test/custom/v1/metrics"
    assert destination.oauth2 is None
    assert destination.headers == {"x-api-key": SECRET_VALUE}
    assert SECRET_VALUE not in repr(destination)


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ([], "must hold a JSON object"),
        ({**FULL_SECRET, "endpoint": None}, "lacks the field 'endpoint'"),
        ({**FULL_SECRET, "client_id": ""}, "lacks the field 'client_id'"),
        ({k: v for k, v in FULL_SECRET.items() if k != "client_secret"}, "lacks the field 'client_secret'"),
        ({"endpoint": "https://c.example.test"}, "lacks the field 'token_url'"),
        ({**FULL_SECRET, "endpoint": "collector:4318"}, "'endpoint' must be an http"),
        ({**FULL_SECRET, "token_url": "ftp://auth"}, "'token_url' must be an http"),
        ({**FULL_SECRET, "audience": 7}, "'audience' must be a string"),
        (
            {"endpoint": "https://c.example.test", "headers": {"k": 1}},
            "'headers' must be an object of strings",
        ),
    ],
)
def test_bad_secrets_name_the_field_and_never_the_secret(secret: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        Destination.from_secret(secret, "secret arn:example")
    assert SECRET_VALUE not in str(caught.value)
    assert "secret arn:example" in str(caught.value)


@mock_aws
def test_the_secret_is_read_from_secrets_manager_and_cached_for_its_ttl() -> None:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    arn = client.create_secret(Name="otlp", SecretString=json.dumps(FULL_SECRET))["ARN"]
    now = [0.0]
    calls = []

    def factory():  # type: ignore[no-untyped-def]
        calls.append(1)
        return client

    source = SecretSource(arn, ttl=300, client_factory=factory, clock=lambda: now[0])
    assert source.get().oauth2.client_id == "forwarder"  # type: ignore[union-attr]
    client.put_secret_value(SecretId=arn, SecretString=json.dumps({**FULL_SECRET, "client_id": "rotated"}))
    now[0] = 299
    assert source.get().oauth2.client_id == "forwarder"  # type: ignore[union-attr]
    now[0] = 301
    assert source.get().oauth2.client_id == "rotated"  # type: ignore[union-attr]
    assert len(calls) == 2


@mock_aws
@pytest.mark.parametrize(
    ("secret_string", "message"),
    [
        ("not json", "is not valid JSON"),
        (json.dumps({**FULL_SECRET, "client_id": None}), "lacks the field 'client_id'"),
    ],
)
def test_unusable_secret_contents_fail_clearly(secret_string: str, message: str) -> None:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    arn = client.create_secret(Name="otlp", SecretString=secret_string)["ARN"]
    with pytest.raises(ConfigError, match=message) as caught:
        SecretSource(arn, 300, lambda: client).get()
    assert SECRET_VALUE not in str(caught.value)


@mock_aws
def test_a_missing_secret_fails_with_the_aws_error_code() -> None:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:absent-AbCdEf"
    with pytest.raises(ConfigError, match=f"cannot read secret {arn}: ResourceNotFoundException"):
        SecretSource(arn, 300, lambda: client).get()
