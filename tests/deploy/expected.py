"""What each example must create, written out from the examples and the module's documented defaults (not
read from the module), for tests/deploy/checks.py to compare with what moto holds after the apply."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ALARMS = (
    "forwarder-errors",
    "forwarder-throttles",
    "failure-queue-messages",
    "failure-queue-age",
    "firehose-delivery",
    "firehose-freshness",
    "metric-stream-publish-errors",
)
BASE_POLICY = {
    "ReadDeliveredObjects",
    "ReadAndWriteProgressMarkers",
    "ListDeliveredObjectsAndMarkers",
    "ReadTheCollectorSecret",
    "WriteItsLogs",
    "SendFailedInvocations",
}


@dataclass(frozen=True)
class Expected:
    name: str
    output_format: str
    lifecycle: dict[str, tuple[str, int]]  # rule id -> (prefix, days)
    buffering: tuple[int, int]  # MB, seconds
    include_filters: list[dict[str, Any]]
    exclude_filters: list[dict[str, Any]]
    statistics: list[dict[str, Any]]
    linked_accounts: bool
    runtime: str
    memory: int
    timeout: int
    reserved_concurrency: int | None
    environment: dict[str, str]  # without CWOTLP_SECRET_ARN, which is known after the apply
    retries: int
    event_age: int
    queue_retention: int
    log_retention: tuple[int, int]  # the forwarder's, Firehose's
    role_path: str
    policy: set[str] = field(default_factory=lambda: set(BASE_POLICY))
    alarm_topic: bool = False
    region: str = "eu-west-1"
    rules: list[dict[str, Any]] = field(default_factory=list)

    @property
    def lambda_name(self) -> str:
        return f"{self.name}-forwarder"


def _lifecycle(metrics: int, errors: int, uploads: int) -> dict[str, tuple[str, int]]:
    return {
        "expire-metrics": ("metrics/", metrics),
        "expire-progress-markers": ("progress/", metrics),
        "expire-errors": ("errors/", errors),
        "abort-incomplete-uploads": ("", uploads),
    }


QUICKSTART = Expected(
    name="cwotlp",
    output_format="json",
    lifecycle=_lifecycle(14, 14, 1),
    buffering=(5, 60),
    include_filters=[{"Namespace": ns} for ns in ("AWS/ApplicationELB", "AWS/EC2", "AWS/Lambda")],
    exclude_filters=[],
    statistics=[],
    linked_accounts=False,
    runtime="python3.13",
    memory=512,
    timeout=300,
    reserved_concurrency=None,
    environment={
        "CWOTLP_SECRET_TTL_SECONDS": "300",
        "CWOTLP_SERVICE_NAME": "aws-cloudwatch-stream",
        "CWOTLP_RESOURCE_ATTRIBUTES": '{"environment":"production"}',
        "CWOTLP_DIMENSION_ATTRIBUTES": "false",
        "CWOTLP_MAX_REQUEST_BYTES": "3145728",
        "CWOTLP_MAX_RETRIES": "5",
        "CWOTLP_REQUEST_TIMEOUT_SECONDS": "15",
        "CWOTLP_LOG_LEVEL": "INFO",
        "CWOTLP_NAMING": "cloudwatch",
        "CWOTLP_OTLP_ENCODING": "json",
        "CWOTLP_RULES": "[]",
        "CWOTLP_STREAM_FORMAT": "json",
        "CWOTLP_PROGRESS_PREFIX": "progress/",
        "CWOTLP_ACCOUNT_REGION_ATTRIBUTES": "",
        "CWOTLP_RESOURCE_TAGS": "[]",
        "CWOTLP_RESOURCE_TAGS_ROLE_NAME": "",
        "CWOTLP_RESOURCE_TAGS_TTL_SECONDS": "900",
    },
    retries=2,
    event_age=21600,
    queue_retention=1209600,
    log_retention=(14, 14),
    role_path="/",
)

COMPLETE_RULES = [
    {"action": "drop", "dimensions": {"Stage": "test*"}, "metric_name": "*", "namespace": "*"},
    {"action": "drop", "dimensions": {}, "metric_name": "Volume*Ops", "namespace": "AWS/EBS"},
]

COMPLETE = Expected(
    name="cwotlp-complete",
    output_format="opentelemetry1.0",
    lifecycle=_lifecycle(7, 30, 1),
    buffering=(8, 120),
    include_filters=[],
    exclude_filters=[
        {"Namespace": "AWS/Logs", "MetricNames": ["IncomingBytes", "IncomingLogEvents"]},
        {"Namespace": "AWS/Usage"},
    ],
    statistics=[
        {
            "AdditionalStatistics": ["p50", "p90", "p99"],
            "IncludeMetrics": [
                {"Namespace": "AWS/ApplicationELB", "MetricName": "TargetResponseTime"},
                {"Namespace": "AWS/Lambda", "MetricName": "Duration"},
            ],
        },
        {
            "AdditionalStatistics": ["p99.9"],
            "IncludeMetrics": [{"Namespace": "AWS/ApiGateway", "MetricName": "Latency"}],
        },
    ],
    linked_accounts=True,
    runtime="python3.13",
    memory=1024,
    timeout=600,
    reserved_concurrency=5,
    environment={
        "CWOTLP_SECRET_TTL_SECONDS": "600",
        "CWOTLP_SERVICE_NAME": "aws-cloudwatch",
        "CWOTLP_RESOURCE_ATTRIBUTES": '{"deployment.region":"eu-west-1","environment":"staging"}',
        "CWOTLP_DIMENSION_ATTRIBUTES": "true",
        "CWOTLP_MAX_REQUEST_BYTES": "1048576",
        "CWOTLP_MAX_RETRIES": "3",
        "CWOTLP_REQUEST_TIMEOUT_SECONDS": "20",
        "CWOTLP_LOG_LEVEL": "DEBUG",
        "CWOTLP_NAMING": "otel",
        "CWOTLP_OTLP_ENCODING": "protobuf",
        "CWOTLP_RULES": (
            '[{"action":"drop","dimensions":{"Stage":"test*"},"metric_name":"*","namespace":"*"},'
            '{"action":"drop","dimensions":{},"metric_name":"Volume*Ops","namespace":"AWS/EBS"}]'
        ),
        "CWOTLP_STREAM_FORMAT": "opentelemetry1.0",
        "CWOTLP_PROGRESS_PREFIX": "progress/",
        "CWOTLP_ACCOUNT_REGION_ATTRIBUTES": "true",
        "CWOTLP_RESOURCE_TAGS": '["team","environment"]',
        "CWOTLP_RESOURCE_TAGS_ROLE_NAME": "cwotlp-tag-reader",
        "CWOTLP_RESOURCE_TAGS_TTL_SECONDS": "1800",
    },
    retries=2,
    event_age=3600,
    queue_retention=604800,
    log_retention=(30, 30),
    role_path="/observability/",
    policy=BASE_POLICY
    | {
        "DecryptSecretAndObjects",
        "EncryptProgressMarkers",
        "EncryptFailedInvocations",
        "ReadResourceTags",
        "ReadResourceTagsInLinkedAccounts",
        "ManageNetworkInterfacesInTheVpc",
    },
    alarm_topic=True,
    rules=COMPLETE_RULES,
)
