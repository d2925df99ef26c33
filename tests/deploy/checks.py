"""What an applied example created, read back from moto with boto3 and compared by content with
tests/deploy/expected.py. Each check collects its differences, so that a failure lists all of them."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .aws import Aws
from .expected import ALARMS, Expected

ACCOUNT = "123456789012"  # moto's default account


@dataclass
class Deployment:
    """An applied example: what is expected, and what was only known once it was applied."""

    expected: Expected
    aws: Aws
    bucket: str
    secret_arn: str
    architecture: str
    runtime: str
    kms_key_arn: str | None = None
    boundary_arn: str | None = None
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()

    def client(self, service: str) -> Any:
        return self.aws.client(service)

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.aws.region}:{ACCOUNT}:{resource}"


class Problems:
    def __init__(self) -> None:
        self.found: list[str] = []
        self.checked = 0

    def expect(self, what: str, actual: Any, expected: Any) -> None:
        self.checked += 1
        if actual != expected:
            self.found.append(f"{what}: {actual!r}, expected {expected!r}")


def check_bucket(d: Deployment, p: Problems) -> None:
    s3, bucket = d.client("s3"), d.bucket
    p.expect("bucket name", bucket.startswith(f"{d.expected.name}-"), True)
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    default = rule["ApplyServerSideEncryptionByDefault"]
    p.expect("bucket encryption", default.get("SSEAlgorithm"), "aws:kms" if d.kms_key_arn else "AES256")
    p.expect("bucket KMS key", default.get("KMSMasterKeyID"), d.kms_key_arn)
    p.expect("bucket key", rule.get("BucketKeyEnabled", False), d.kms_key_arn is not None)
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    settings = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    p.expect("public access block", block, dict.fromkeys(settings, True))
    ownership = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    p.expect("object ownership", ownership, [{"ObjectOwnership": "BucketOwnerEnforced"}])
    (statement,) = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    arn = f"arn:aws:s3:::{bucket}"
    p.expect(
        "TLS-only policy",
        statement,
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [arn, f"{arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    )
    check_lifecycle(d, p)
    (notification,) = s3.get_bucket_notification_configuration(Bucket=bucket)["LambdaFunctionConfigurations"]
    p.expect(
        "notified function",
        notification["LambdaFunctionArn"],
        d.arn("lambda", f"function:{d.expected.lambda_name}"),
    )
    p.expect("notified events", notification["Events"], ["s3:ObjectCreated:*"])
    filters = notification["Filter"]["Key"]["FilterRules"]
    p.expect("notified prefix", [(f["Name"].lower(), f["Value"]) for f in filters], [("prefix", "metrics/")])


def check_lifecycle(d: Deployment, p: Problems) -> None:
    rules = d.client("s3").get_bucket_lifecycle_configuration(Bucket=d.bucket)["Rules"]
    actual = {}
    for rule in rules:
        days = (
            rule.get("Expiration", {}).get("Days")
            or rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
        )
        actual[rule["ID"]] = (rule["Filter"].get("Prefix", ""), days)
        p.expect(f"lifecycle {rule['ID']} status", rule["Status"], "Enabled")
    p.expect("lifecycle rules (prefix, days)", actual, d.expected.lifecycle)


def check_firehose(d: Deployment, p: Problems) -> None:
    e = d.expected
    stream = d.client("firehose").describe_delivery_stream(DeliveryStreamName=f"{e.name}-metrics")
    description = stream["DeliveryStreamDescription"]
    (destination,) = description["Destinations"]
    s3 = destination["ExtendedS3DestinationDescription"]
    p.expect("firehose bucket", s3["BucketARN"], f"arn:aws:s3:::{d.bucket}")
    p.expect("firehose prefix", s3["Prefix"], "metrics/!{timestamp:yyyy/MM/dd/HH}/")
    p.expect(
        "firehose error prefix",
        s3["ErrorOutputPrefix"],
        "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/",
    )
    p.expect("firehose compression", s3["CompressionFormat"], "GZIP")
    p.expect(
        "firehose buffering",
        (s3["BufferingHints"]["SizeInMBs"], s3["BufferingHints"]["IntervalInSeconds"]),
        e.buffering,
    )
    processors = s3.get("ProcessingConfiguration", {}).get("Processors", [])
    delimiter = e.output_format == "json"
    p.expect(
        "firehose processors",
        [x["Type"] for x in processors],
        ["AppendDelimiterToRecord"] if delimiter else [],
    )
    p.expect(
        "firehose object key",
        s3["EncryptionConfiguration"].get("KMSEncryptionConfig", {}).get("AWSKMSKeyARN"),
        d.kms_key_arn,
    )
    logging = s3["CloudWatchLoggingOptions"]
    p.expect(
        "firehose error log",
        (logging["Enabled"], logging["LogGroupName"], logging["LogStreamName"]),
        (True, f"/aws/kinesisfirehose/{e.name}-metrics", "DestinationDelivery"),
    )
    role = s3["RoleARN"].rsplit("/", 1)[-1]
    p.expect("firehose role", role, f"{e.name}-firehose")


def check_metric_stream(d: Deployment, p: Problems) -> None:
    e = d.expected
    stream = d.client("cloudwatch").get_metric_stream(Name=e.name)
    p.expect(
        "metric stream firehose", stream["FirehoseArn"], d.arn("firehose", f"deliverystream/{e.name}-metrics")
    )
    p.expect("metric stream output format", stream["OutputFormat"], e.output_format)
    p.expect(
        "metric stream include filters", _by_namespace(stream.get("IncludeFilters", [])), e.include_filters
    )
    p.expect(
        "metric stream exclude filters", _by_namespace(stream.get("ExcludeFilters", [])), e.exclude_filters
    )
    p.expect(
        "metric stream statistics", _statistics(stream.get("StatisticsConfigurations", [])), e.statistics
    )
    p.expect(
        "metric stream linked accounts", stream.get("IncludeLinkedAccountsMetrics", False), e.linked_accounts
    )
    p.expect("metric stream role", stream["RoleArn"].rsplit("/", 1)[-1], f"{e.name}-metric-stream")


def _by_namespace(filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    cleaned = [{k: sorted(v) if k == "MetricNames" else v for k, v in f.items() if v} for f in filters]
    return sorted(cleaned, key=lambda f: f["Namespace"])


def _statistics(configurations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(
        (
            {
                "AdditionalStatistics": sorted(c["AdditionalStatistics"]),
                "IncludeMetrics": sorted(c["IncludeMetrics"], key=json.dumps),
            }
            for c in configurations
        ),
        key=json.dumps,
    )


def check_function(d: Deployment, p: Problems) -> dict[str, Any]:
    e = d.expected
    function = d.client("lambda").get_function(FunctionName=e.lambda_name)
    config = function["Configuration"]
    p.expect("handler", config["Handler"], "cwotlp.handler.handler")
    p.expect("runtime", config["Runtime"], d.runtime)
    p.expect("architecture", config["Architectures"], [d.architecture])
    p.expect("memory and timeout", (config["MemorySize"], config["Timeout"]), (e.memory, e.timeout))
    environment = config["Environment"]["Variables"]
    p.expect("environment", environment, e.environment | {"CWOTLP_SECRET_ARN": d.secret_arn})
    p.expect(
        "logging config",
        config["LoggingConfig"],
        {
            "LogFormat": "JSON",
            "LogGroup": f"/aws/lambda/{e.lambda_name}",
            "ApplicationLogLevel": e.environment["CWOTLP_LOG_LEVEL"].replace("WARNING", "WARN"),
            "SystemLogLevel": "WARN",
        },
    )
    vpc = config.get("VpcConfig") or {}
    p.expect("VPC subnets", sorted(vpc.get("SubnetIds", [])), sorted(d.subnet_ids))
    p.expect("VPC security groups", sorted(vpc.get("SecurityGroupIds", [])), sorted(d.security_group_ids))
    concurrency = function.get("Concurrency", {}).get("ReservedConcurrentExecutions")
    p.expect("reserved concurrency", concurrency, e.reserved_concurrency)
    return dict(function)


def check_invoke_config(d: Deployment, p: Problems) -> None:
    e = d.expected
    config = d.client("lambda").get_function_event_invoke_config(FunctionName=e.lambda_name)
    p.expect("async retries", config["MaximumRetryAttempts"], e.retries)
    p.expect("async event age", config["MaximumEventAgeInSeconds"], e.event_age)
    destination = config["DestinationConfig"]["OnFailure"]["Destination"]
    p.expect("on-failure destination", destination, d.arn("sqs", f"{e.name}-forwarder-failures"))


def check_queue(d: Deployment, p: Problems) -> None:
    sqs = d.client("sqs")
    url = sqs.get_queue_url(QueueName=f"{d.expected.name}-forwarder-failures")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    p.expect("queue retention", int(attributes["MessageRetentionPeriod"]), d.expected.queue_retention)
    p.expect("queue KMS key", attributes.get("KmsMasterKeyId"), d.kms_key_arn)
    if d.kms_key_arn is None:
        # With a KMS key, moto still reports SqsManagedSseEnabled as true (SQS itself reports false).
        p.expect("queue SQS managed encryption", attributes.get("SqsManagedSseEnabled"), "true")


def check_alarms(d: Deployment, p: Problems) -> None:
    e = d.expected
    alarms = d.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"{e.name}-")["MetricAlarms"]
    p.expect("alarms", sorted(a["AlarmName"] for a in alarms), sorted(f"{e.name}-{name}" for name in ALARMS))
    topics = [d.arn("sns", f"{e.name}-alarms")] if e.alarm_topic else []
    p.expect(
        "alarm actions",
        {a["AlarmName"]: a["AlarmActions"] for a in alarms},
        {a["AlarmName"]: topics for a in alarms},
    )
    by_name = {a["AlarmName"].removeprefix(f"{e.name}-"): a for a in alarms}
    if "firehose-delivery" in by_name:
        delivery = by_name["firehose-delivery"]
        p.expect(
            "silent pipeline alarm",
            (delivery["MetricName"], delivery["TreatMissingData"]),
            ("DeliveryToS3.Success", "breaching"),
        )


def check_roles(d: Deployment, p: Problems) -> None:
    e = d.expected
    iam = d.client("iam")
    trust = {
        "forwarder": "lambda.amazonaws.com",
        "firehose": "firehose.amazonaws.com",
        "metric-stream": "streams.metrics.cloudwatch.amazonaws.com",
    }
    for suffix, principal in trust.items():
        role = iam.get_role(RoleName=f"{e.name}-{suffix}")["Role"]
        p.expect(f"role {suffix} path", role["Path"], e.role_path)
        p.expect(
            f"role {suffix} boundary",
            role.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn"),
            d.boundary_arn,
        )
        (statement,) = _document(role["AssumeRolePolicyDocument"])["Statement"]
        p.expect(f"role {suffix} trust", statement["Principal"], {"Service": principal})
    policy = iam.get_role_policy(RoleName=e.lambda_name, PolicyName="forward-metrics")["PolicyDocument"]
    p.expect("forwarder policy statements", {s["Sid"] for s in _document(policy)["Statement"]}, e.policy)


def _document(document: Any) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(document) if isinstance(document, str) else document
    return parsed


def check_logs(d: Deployment, p: Problems) -> None:
    e = d.expected
    groups = d.client("logs").describe_log_groups()["logGroups"]
    retention = {g["logGroupName"]: g.get("retentionInDays") for g in groups}
    expected = {
        f"/aws/lambda/{e.lambda_name}": e.log_retention[0],
        f"/aws/kinesisfirehose/{e.name}-metrics": e.log_retention[1],
    }
    p.expect("log groups and retention", {k: v for k, v in retention.items() if k in expected}, expected)


def check_secret(d: Deployment, p: Problems, value: dict[str, str]) -> None:
    """The secret holds the given value; a difference names the fields, never their values."""
    stored = json.loads(d.client("secretsmanager").get_secret_value(SecretId=d.secret_arn)["SecretString"])
    p.expect(
        "secret fields that differ",
        sorted(k for k in value.keys() | stored.keys() if value.get(k) != stored.get(k)),
        [],
    )


CHECKS: tuple[Callable[[Deployment, Problems], Any], ...] = (
    check_bucket,
    check_firehose,
    check_metric_stream,
    check_function,
    check_invoke_config,
    check_queue,
    check_alarms,
    check_roles,
    check_logs,
)


def check_deployment(d: Deployment) -> tuple[int, dict[str, Any]]:
    """Runs every check; returns how many comparisons passed and the function as GetFunction answers."""
    problems = Problems()
    for check in CHECKS:
        check(d, problems)
    if problems.found:
        raise AssertionError(
            f"{d.expected.name}: {len(problems.found)} differences:\n  " + "\n  ".join(problems.found)
        )
    return problems.checked, d.client("lambda").get_function(FunctionName=d.expected.lambda_name)


def check_multi_region(aws: Aws, bucket: str, central: str, other: str) -> int:
    """The central region's stream writes under metrics/, the other region's under metrics/<region>/ of the
    same bucket, each with its own roles; returns how many comparisons passed."""
    p = Problems()
    for region, segment, qualifier in ((central, "", ""), (other, f"{other}/", f"-{other}")):
        firehose = aws.client("firehose", region).describe_delivery_stream(
            DeliveryStreamName="cwotlp-metrics"
        )
        (destination,) = firehose["DeliveryStreamDescription"]["Destinations"]
        s3 = destination["ExtendedS3DestinationDescription"]
        p.expect(f"{region} firehose bucket", s3["BucketARN"], f"arn:aws:s3:::{bucket}")
        p.expect(f"{region} firehose prefix", s3["Prefix"], f"metrics/{segment}!{{timestamp:yyyy/MM/dd/HH}}/")
        p.expect(f"{region} firehose role", s3["RoleARN"].rsplit("/", 1)[-1], f"cwotlp{qualifier}-firehose")
        stream = aws.client("cloudwatch", region).get_metric_stream(Name="cwotlp")
        p.expect(
            f"{region} stream firehose",
            stream["FirehoseArn"],
            firehose["DeliveryStreamDescription"]["DeliveryStreamARN"],
        )
        p.expect(
            f"{region} stream role", stream["RoleArn"].rsplit("/", 1)[-1], f"cwotlp{qualifier}-metric-stream"
        )
    (notification,) = aws.client("s3").get_bucket_notification_configuration(Bucket=bucket)[
        "LambdaFunctionConfigurations"
    ]
    p.expect(
        "one notification for every region",
        notification["Filter"]["Key"]["FilterRules"][0]["Value"],
        "metrics/",
    )
    if p.found:
        raise AssertionError("multi-region: " + "; ".join(p.found))
    return p.checked
