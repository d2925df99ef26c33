"""The stack's environment: remote AWS endpoints refused, credentials cleared, everything put back."""

from __future__ import annotations

import os

import pytest

from cwotlp_local.environment import UnsafeEnvironment, check_environment, isolated_environment, overlay


@pytest.mark.parametrize(
    "variable", ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SECRETS_MANAGER"]
)
def test_a_remote_endpoint_is_refused(variable: str) -> None:
    with pytest.raises(UnsafeEnvironment, match=variable):
        check_environment({variable: "https://s3.us-east-1.amazonaws.com"})


def test_credentials_and_settings_are_cleared_and_local_endpoints_allowed() -> None:
    environ = {
        "AWS_PROFILE": "production",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SESSION_TOKEN": "token",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
        "CWOTLP_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:x",
        "HOME": "/home/someone",
    }
    cleared = check_environment(environ)
    assert set(cleared) == set(environ) - {"HOME"}


def test_the_isolated_environment_clears_aws_and_forwarder_variables_and_restores_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("CWOTLP_NAMING", "otel")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    before = dict(os.environ)
    with isolated_environment() as cleared:
        assert "AWS_PROFILE" in cleared and "AWS_REGION" not in cleared  # credentials, to tell the user
        assert not any(name.startswith(("AWS_", "CWOTLP_")) for name in os.environ)
        assert os.environ["NO_PROXY"] == os.environ["no_proxy"] == "internal.example,127.0.0.1,localhost"
        os.environ["AWS_ACCESS_KEY_ID"] = "testing"
    assert dict(os.environ) == before


def test_the_isolated_environment_refuses_a_remote_endpoint_and_changes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", "https://sqs.us-east-1.amazonaws.com")
    monkeypatch.setenv("AWS_PROFILE", "production")
    before = dict(os.environ)
    with pytest.raises(UnsafeEnvironment, match="AWS_ENDPOINT_URL_SQS"), isolated_environment():
        pass
    assert dict(os.environ) == before


def test_an_overlay_sets_and_removes_variables_for_its_duration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CWOTLP_OTLP_ENCODING", "json")
    monkeypatch.setenv("CWOTLP_SECRET_ARN", "arn")
    monkeypatch.delenv("CWOTLP_STREAM_FORMAT", raising=False)
    with overlay({"CWOTLP_STREAM_FORMAT": "opentelemetry1.0", "CWOTLP_OTLP_ENCODING": "protobuf"}):
        assert os.environ["CWOTLP_STREAM_FORMAT"] == "opentelemetry1.0"
        assert os.environ["CWOTLP_OTLP_ENCODING"] == "protobuf"
        with overlay({"CWOTLP_SECRET_ARN": None}):
            assert "CWOTLP_SECRET_ARN" not in os.environ
        assert os.environ["CWOTLP_SECRET_ARN"] == "arn"
    assert "CWOTLP_STREAM_FORMAT" not in os.environ
    assert os.environ["CWOTLP_OTLP_ENCODING"] == "json"
