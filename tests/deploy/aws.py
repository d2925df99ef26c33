"""boto3 against one moto server: clients, the things a user of the complete example already has (a KMS key,
the collector secret, a permissions boundary, a VPC), and what is left in the account after a destroy."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@dataclass(frozen=True)
class Aws:
    endpoint: str
    ca_bundle: Path
    region: str

    def client(self, service: str, region: str | None = None) -> Any:
        return _client(self, region or self.region, service)


@cache
def _client(aws: Aws, region: str, service: str) -> Any:
    config = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=10, read_timeout=60)
    return boto3.client(
        service,
        endpoint_url=aws.endpoint,
        verify=str(aws.ca_bundle),
        region_name=region,
        config=config,
        **CREDENTIALS,
    )


@dataclass
class Prerequisites:
    """What the complete example takes as inputs, created the way a user would have them."""

    kms_key_arn: str
    secret_arn: str
    boundary_arn: str
    subnet_ids: list[str]
    security_group_ids: list[str]
    vpc_id: str
    created: dict[str, set[str]] = field(default_factory=dict)

    def variables(self) -> dict[str, str]:
        return {
            "kms_key_arn": self.kms_key_arn,
            "secret_arn": self.secret_arn,
            "permissions_boundary_arn": self.boundary_arn,
            "subnet_ids": json.dumps(self.subnet_ids),
            "security_group_ids": json.dumps(self.security_group_ids),
        }


BOUNDARY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"}],
}


def create_prerequisites(aws: Aws, secret_value: dict[str, str]) -> Prerequisites:
    key = aws.client("kms").create_key(Description="cwotlp complete example")["KeyMetadata"]["Arn"]
    secret = aws.client("secretsmanager").create_secret(
        Name="otlp/collector", KmsKeyId=key, SecretString=json.dumps(secret_value)
    )["ARN"]
    boundary = aws.client("iam").create_policy(
        PolicyName="workload-boundary", PolicyDocument=json.dumps(BOUNDARY)
    )["Policy"]["Arn"]
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{i}.0/24", AvailabilityZone=f"{aws.region}{zone}")[
            "Subnet"
        ]["SubnetId"]
        for i, zone in enumerate("ab")
    ]
    group = ec2.create_security_group(GroupName="cwotlp-forwarder", Description="forwarder", VpcId=vpc)[
        "GroupId"
    ]
    return Prerequisites(key, secret, boundary, subnets, [group], vpc)


def delete_prerequisites(aws: Aws, given: Prerequisites) -> None:
    aws.client("secretsmanager").delete_secret(SecretId=given.secret_arn, ForceDeleteWithoutRecovery=True)
    aws.client("iam").delete_policy(PolicyArn=given.boundary_arn)
    ec2 = aws.client("ec2")
    ec2.delete_security_group(GroupId=given.security_group_ids[0])
    for subnet in given.subnet_ids:
        ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=given.vpc_id)
    # A KMS key cannot be deleted at once, only scheduled; it is left out of the leftovers below.
    aws.client("kms").schedule_key_deletion(KeyId=given.kms_key_arn.rsplit("/", 1)[-1], PendingWindowInDays=7)


def leftovers(aws: Aws, regions: tuple[str, ...]) -> dict[str, list[str]]:
    """Everything the examples create that is still in the account, by kind (empty lists when clean)."""
    found = {"iam roles": [r["Arn"] for r in aws.client("iam").list_roles()["Roles"]]}
    found["iam policies"] = [p["Arn"] for p in aws.client("iam").list_policies(Scope="Local")["Policies"]]
    found["s3 buckets"] = [b["Name"] for b in aws.client("s3").list_buckets().get("Buckets", [])]
    for region in regions:
        found |= _regional_leftovers(aws, region)
    return found


def _regional_leftovers(aws: Aws, region: str) -> dict[str, list[str]]:
    def client(service: str) -> Any:
        return aws.client(service, region)

    secrets = client("secretsmanager").list_secrets(IncludePlannedDeletion=False)["SecretList"]
    return {
        f"{region} lambda functions": [
            f["FunctionName"] for f in client("lambda").list_functions()["Functions"]
        ],
        f"{region} sqs queues": client("sqs").list_queues().get("QueueUrls", []),
        f"{region} secrets": [s["ARN"] for s in secrets if "DeletedDate" not in s],
        f"{region} firehose streams": client("firehose").list_delivery_streams()["DeliveryStreamNames"],
        f"{region} metric streams": [
            s["Name"] for s in client("cloudwatch").list_metric_streams()["Entries"]
        ],
        f"{region} alarms": [a["AlarmName"] for a in client("cloudwatch").describe_alarms()["MetricAlarms"]],
        f"{region} dashboards": [
            d["DashboardName"] for d in client("cloudwatch").list_dashboards()["DashboardEntries"]
        ],
        f"{region} log groups": [
            g["logGroupName"] for g in client("logs").describe_log_groups()["logGroups"]
        ],
        f"{region} sns topics": [t["TopicArn"] for t in client("sns").list_topics()["Topics"]],
        f"{region} vpcs": [v["VpcId"] for v in client("ec2").describe_vpcs()["Vpcs"] if not v["IsDefault"]],
    }


def empty_bucket(aws: Aws, bucket: str) -> int:
    """Deletes every object of the bucket, as its owner must before deleting the bucket; returns how many."""
    s3 = aws.client("s3")
    deleted = 0
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, PaginationConfig={"MaxItems": 10_000}
    ):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            errors = s3.delete_objects(Bucket=bucket, Delete={"Objects": keys}).get("Errors", [])
            if errors:
                raise AssertionError(f"could not empty {bucket}: {errors[:3]}")
            deleted += len(keys)
    return deleted
