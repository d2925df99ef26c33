"""Settings from the CWOTLP_* environment: every variable read, errors that name the variable, and the
fingerprint that decides whether recorded progress still counts."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping

import pytest

from cwotlp.config import Settings, environment_variables
from cwotlp.errors import ConfigError
from cwotlp.otlp.naming import Naming
from cwotlp.rules import Rule
from cwotlp.tags import TagSettings


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


def test_defaults() -> None:
    settings = Settings.from_environment({})
    assert settings == Settings()
    assert settings.naming == Naming(
        scheme="cloudwatch",
        service_name="aws-cloudwatch-stream",
        resource_attributes={"environment": "production"},
        dimension_attributes=False,
        account_region_attributes=None,
    )
    assert (settings.stream_format, settings.encoding) == ("json", "json")
    assert settings.max_request_bytes == 3 * 1024 * 1024
    assert settings.secret_arn is None
    assert settings.progress_prefix == "progress/"
    assert not settings.tags.enabled


def test_every_setting_is_read() -> None:
    settings = Settings.from_environment(
        {
            "CWOTLP_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:otlp",
            "CWOTLP_SECRET_TTL_SECONDS": "60",
            "CWOTLP_STREAM_FORMAT": "OpenTelemetry1.0",
            "CWOTLP_SERVICE_NAME": "metrics",
            "CWOTLP_RESOURCE_ATTRIBUTES": '{"team": "platform"}',
            "CWOTLP_DIMENSION_ATTRIBUTES": "true",
            "CWOTLP_MAX_REQUEST_BYTES": "65536",
            "CWOTLP_MAX_RETRIES": "2",
            "CWOTLP_REQUEST_TIMEOUT_SECONDS": "3",
            "CWOTLP_CA_BUNDLE": "/opt/ca.pem",
            "CWOTLP_LOG_LEVEL": "debug",
            "CWOTLP_NAMING": "prometheus",
            "CWOTLP_OTLP_ENCODING": "protobuf",
            "CWOTLP_RULES": '[{"action": "drop", "namespace": "AWS/EBS"}]',
            "CWOTLP_ACCOUNT_REGION_ATTRIBUTES": "no",
            "CWOTLP_RESOURCE_TAGS": '["team", "env"]',
            "CWOTLP_RESOURCE_TAGS_ROLE_NAME": "tag-reader",
            "CWOTLP_RESOURCE_TAGS_TTL_SECONDS": "120",
            "CWOTLP_PROGRESS_PREFIX": "state/",
        }
    )
    assert settings == Settings(
        secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:otlp",
        secret_ttl_seconds=60.0,
        stream_format="opentelemetry1.0",
        naming=Naming(
            scheme="prometheus",
            service_name="metrics",
            resource_attributes={"team": "platform"},
            dimension_attributes=True,
            account_region_attributes=False,
        ),
        max_request_bytes=65536,
        max_retries=2,
        request_timeout_seconds=3.0,
        ca_bundle="/opt/ca.pem",
        log_level="DEBUG",
        encoding="protobuf",
        rules=(Rule("drop", namespace="AWS/EBS"),),
        tags=TagSettings(keys=("team", "env"), role_name="tag-reader", ttl_seconds=120.0),
        progress_prefix="state/",
    )
    assert settings.naming.account_region is False


@pytest.mark.parametrize(
    ("scheme", "flag", "expected"),
    [
        ("prometheus", None, True),
        ("cloudwatch", None, False),
        ("native", None, False),
        ("otel", None, False),
        ("cloudwatch", "true", True),
        ("prometheus", "false", False),
    ],
)
def test_account_and_region_attributes_default_on_for_prometheus_only(
    scheme: str, flag: str | None, expected: bool
) -> None:
    environ = {"CWOTLP_NAMING": scheme}
    if flag is not None:
        environ["CWOTLP_ACCOUNT_REGION_ATTRIBUTES"] = flag
    assert Settings.from_environment(environ).naming.account_region is expected


def test_blank_variables_count_as_unset() -> None:
    settings = Settings.from_environment(
        {"CWOTLP_NAMING": "  ", "CWOTLP_PROGRESS_PREFIX": " ", "CWOTLP_RULES": ""}
    )
    assert settings == Settings()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CWOTLP_MAX_REQUEST_BYTES", "lots", "CWOTLP_MAX_REQUEST_BYTES must be a number"),
        ("CWOTLP_MAX_REQUEST_BYTES", "10", "CWOTLP_MAX_REQUEST_BYTES must be from 1024 to 67108864"),
        ("CWOTLP_MAX_RETRIES", "101", "CWOTLP_MAX_RETRIES must be from 0 to 100"),
        ("CWOTLP_SECRET_TTL_SECONDS", "-1", "CWOTLP_SECRET_TTL_SECONDS must be at least 0"),
        ("CWOTLP_REQUEST_TIMEOUT_SECONDS", "nan", "CWOTLP_REQUEST_TIMEOUT_SECONDS must be from 1 to 900"),
        ("CWOTLP_DIMENSION_ATTRIBUTES", "maybe", "CWOTLP_DIMENSION_ATTRIBUTES must be true or false"),
        ("CWOTLP_ACCOUNT_REGION_ATTRIBUTES", "2", "CWOTLP_ACCOUNT_REGION_ATTRIBUTES must be true or false"),
        ("CWOTLP_RESOURCE_ATTRIBUTES", "team=a", "CWOTLP_RESOURCE_ATTRIBUTES is not valid JSON"),
        (
            "CWOTLP_RESOURCE_ATTRIBUTES",
            '{"n": 1}',
            "CWOTLP_RESOURCE_ATTRIBUTES must be a JSON object of strings",
        ),
        ("CWOTLP_RESOURCE_TAGS", '"team"', "CWOTLP_RESOURCE_TAGS must be a JSON list of strings"),
        ("CWOTLP_RESOURCE_TAGS", '["team", ""]', "CWOTLP_RESOURCE_TAGS must be a JSON list of strings"),
        ("CWOTLP_LOG_LEVEL", "LOUD", "CWOTLP_LOG_LEVEL must be one of DEBUG, ERROR, INFO, WARNING"),
        ("CWOTLP_NAMING", "yace", "CWOTLP_NAMING must be one of cloudwatch, native, otel, prometheus"),
        ("CWOTLP_OTLP_ENCODING", "xml", "CWOTLP_OTLP_ENCODING must be one of json, protobuf"),
        (
            "CWOTLP_STREAM_FORMAT",
            "opentelemetry0.7",
            "CWOTLP_STREAM_FORMAT must be one of json, opentelemetry1.0",
        ),
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


CUTTING_CHANGES = {
    "stream_format": "opentelemetry1.0",
    "naming": Naming(scheme="native"),
    "max_request_bytes": 1 << 20,
    "encoding": "protobuf",
    "rules": (Rule("drop", namespace="AWS/EBS"),),
    "tags": TagSettings(keys=("team",)),
}
OTHER_CHANGES = {
    "secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:other",
    "secret_ttl_seconds": 1.0,
    "max_retries": 0,
    "request_timeout_seconds": 2.0,
    "ca_bundle": "/etc/ca.pem",
    "log_level": "DEBUG",
    "progress_prefix": "elsewhere/",
}


@pytest.mark.parametrize("field", sorted(CUTTING_CHANGES))
def test_the_fingerprint_changes_with_every_setting_that_decides_where_requests_are_cut(field: str) -> None:
    changed = dataclasses.replace(Settings(), **{field: CUTTING_CHANGES[field]})
    assert changed.fingerprint() != Settings().fingerprint()


@pytest.mark.parametrize("field", sorted(OTHER_CHANGES))
def test_the_fingerprint_ignores_settings_that_do_not_cut_requests(field: str) -> None:
    changed = dataclasses.replace(Settings(), **{field: OTHER_CHANGES[field]})
    assert changed.fingerprint() == Settings().fingerprint()
    assert len(Settings().fingerprint()) == 16
