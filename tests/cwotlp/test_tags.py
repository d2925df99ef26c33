"""Resource-tag enrichment against moto's Resource Groups Tagging API, STS and the services behind them."""

from __future__ import annotations

import io
import json
import logging
import re
import socket
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from cwotlp import tags as tags_module
from cwotlp.tags import ResourceTags, TagCounters, TagSettings, forget_cached_tags, namespace_mappings

REGION = "us-east-1"
OWN = "123456789012"  # moto's default account
LINKED = "222222222222"
SETTINGS = TagSettings(keys=("team", "env"), ttl_seconds=900.0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class RecordingSessions:
    """A session factory whose sessions note every AWS call made through them (service, operation, params)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.created = 0

    def __call__(self) -> Any:
        self.created += 1
        session = boto3.session.Session()
        session.events.register("provide-client-params.*.*", self._record)
        return session

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.service_model.service_name, model.name, dict(params)))

    def count(self, operation: str) -> int:
        return sum(1 for _, name, _ in self.calls if name == operation)


@pytest.fixture(autouse=True)
def _cold_cache() -> Iterator[None]:
    forget_cached_tags()
    yield
    forget_cached_tags()


@pytest.fixture
def aws() -> Iterator[boto3.session.Session]:
    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


def lookup(sessions: RecordingSessions, clock: Clock | None = None, **settings: Any) -> ResourceTags:
    chosen = TagSettings(**{"keys": SETTINGS.keys, **settings})
    return ResourceTags(chosen, own_account=OWN, session_factory=sessions, clock=clock or Clock())


def counters(resource_tags: ResourceTags) -> tuple[int, int, int]:
    taken = resource_tags.take_counters()
    return taken.lookups, taken.cache_hits, taken.failures


def tag_list(**tags: str) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def make_instance(aws: boto3.session.Session, **tags: str) -> str:
    ec2 = aws.client("ec2")
    image = ec2.describe_images()["Images"][0]["ImageId"]
    spec = [{"ResourceType": "instance", "Tags": tag_list(**tags)}]
    reply = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, TagSpecifications=spec)
    return str(reply["Instances"][0]["InstanceId"])


def make_function(aws: boto3.session.Session, name: str, **tags: str) -> None:
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handle(event, context):\n    return None\n")
    trust = '{"Version": "2012-10-17", "Statement": []}'
    role = aws.client("iam").create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=trust)
    aws.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="handler.handle",
        Code={"ZipFile": code.getvalue()},
        Tags=tags,
    )


def make_load_balancer(aws: boto3.session.Session, **tags: str) -> tuple[str, str, str]:
    """An ALB and a target group; returns (vpc id, LoadBalancer dimension, TargetGroup dimension)."""
    ec2, elb = aws.client("ec2"), aws.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{zone}")["Subnet"]
        for i, zone in enumerate("ab")
    ]
    balancer = elb.create_load_balancer(
        Name="web", Subnets=[s["SubnetId"] for s in subnets], Type="application", Tags=tag_list(**tags)
    )["LoadBalancers"][0]
    group = elb.create_target_group(
        Name="web-targets", Protocol="HTTP", Port=80, VpcId=vpc, Tags=tag_list(team="targets")
    )["TargetGroups"][0]
    balancer_dimension = balancer["LoadBalancerArn"].split(":loadbalancer/")[1]
    group_dimension = group["TargetGroupArn"].split(":")[-1]
    return vpc, balancer_dimension, group_dimension


def test_tags_of_resources_in_several_namespaces(aws: boto3.session.Session) -> None:
    instance = make_instance(aws, Name="web-1", team="web", env="prod")
    aws.client("sqs").create_queue(QueueName="orders", tags={"team": "shop", "owner": "ana"})
    aws.client("dynamodb").create_table(
        TableName="carts",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=tag_list(env="dev", team="cart"),
    )
    make_function(aws, "resize", team="media")
    _, balancer, _ = make_load_balancer(aws, team="edge", env="prod")
    aws.client("rds").create_db_instance(
        DBInstanceIdentifier="billing",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="billing",
        MasterUserPassword="not-a-real-password",
        AllocatedStorage=20,
        Tags=tag_list(team="finance", env="prod"),
    )
    sessions = RecordingSessions()
    resource_tags = lookup(sessions)
    found = {
        namespace: resource_tags.tags(OWN, REGION, namespace, dimensions)
        for namespace, dimensions in [
            ("AWS/EC2", {"InstanceId": instance}),
            ("AWS/SQS", {"QueueName": "orders"}),
            ("AWS/DynamoDB", {"TableName": "carts", "Operation": "GetItem"}),
            ("AWS/Lambda", {"FunctionName": "resize"}),
            ("AWS/ApplicationELB", {"LoadBalancer": balancer}),
            ("AWS/RDS", {"DBInstanceIdentifier": "billing"}),
        ]
    }
    assert found == {
        "AWS/EC2": (("team", "web"), ("env", "prod")),  # Name is not selected
        "AWS/SQS": (("team", "shop"),),  # no env tag on the queue, and owner is not selected
        "AWS/DynamoDB": (("team", "cart"), ("env", "dev")),  # in the order of the settings
        "AWS/Lambda": (("team", "media"),),
        "AWS/ApplicationELB": (("team", "edge"), ("env", "prod")),
        "AWS/RDS": (("team", "finance"), ("env", "prod")),
    }
    # one listing per resource type: load balancers and target groups for ALBs, instances and clusters for RDS
    assert counters(resource_tags) == (8, 0, 0)
    assert sessions.count("GetResources") == 8


def test_unknown_resource_gets_no_tags(aws: boto3.session.Session) -> None:
    make_instance(aws, team="web")
    resource_tags = lookup(RecordingSessions())
    assert resource_tags.tags(OWN, REGION, "AWS/EC2", {"InstanceId": "i-0000000000000000"}) == ()
    assert resource_tags.tags(OWN, REGION, "AWS/EC2", {"AutoScalingGroupName": "web"}) == ()


def test_ecs_service_before_its_cluster(aws: boto3.session.Session) -> None:
    # Names from YACE's pkg/job/maxdimassociator/associator_ecs_test.go (yet-another-cloudwatch-exporter).
    ecs = aws.client("ecs", region_name="af-south-1")
    ecs.create_cluster(clusterName="sampleCluster", tags=[{"key": "team", "value": "platform"}])
    ecs.register_task_definition(
        family="app", containerDefinitions=[{"name": "a", "image": "a", "memory": 64}]
    )
    for service in ("service1", "service2"):
        ecs.create_service(
            cluster="sampleCluster",
            serviceName=service,
            taskDefinition="app",
            desiredCount=0,
            tags=[{"key": "team", "value": f"{service}-team"}],
        )
    resource_tags = lookup(RecordingSessions())
    cluster = {"ClusterName": "sampleCluster"}
    assert resource_tags.tags(OWN, "af-south-1", "AWS/ECS", cluster) == (("team", "platform"),)
    both = {"ClusterName": "sampleCluster", "ServiceName": "service1"}
    assert resource_tags.tags(OWN, "af-south-1", "AWS/ECS", both) == (("team", "service1-team"),)
    assert resource_tags.tags(OWN, "af-south-1", "AWS/ECS", {"ServiceName": "service2"}) == ()


def test_target_group_before_its_load_balancer(aws: boto3.session.Session) -> None:
    _, balancer, group = make_load_balancer(aws, team="edge")
    resource_tags = lookup(RecordingSessions())
    assert resource_tags.tags(OWN, REGION, "AWS/ApplicationELB", {"LoadBalancer": balancer}) == (
        ("team", "edge"),
    )
    both = {"LoadBalancer": balancer, "TargetGroup": group, "AvailabilityZone": "us-east-1a"}
    assert resource_tags.tags(OWN, REGION, "AWS/ApplicationELB", both) == (("team", "targets"),)
    # the same listings serve network load balancers, whose dimension values start with net/
    assert resource_tags.tags(OWN, REGION, "AWS/NetworkELB", {"LoadBalancer": balancer}) == ()
    assert counters(resource_tags) == (2, 2, 0)


def test_second_call_is_served_from_the_cache(aws: boto3.session.Session) -> None:
    aws.client("sqs").create_queue(QueueName="orders", tags={"team": "shop"})
    sessions = RecordingSessions()
    first = lookup(sessions)
    assert first.tags(OWN, REGION, "AWS/SQS", {"QueueName": "orders"}) == (("team", "shop"),)
    url = aws.client("sqs").get_queue_url(QueueName="orders")["QueueUrl"]
    aws.client("sqs").tag_queue(QueueUrl=url, Tags={"team": "retagged"})
    assert first.tags(OWN, REGION, "AWS/SQS", {"QueueName": "orders"}) == (("team", "shop"),)
    assert counters(first) == (1, 1, 0)
    # a later invocation in the same process reuses the listing too
    second = lookup(sessions)
    assert second.tags(OWN, REGION, "AWS/SQS", {"QueueName": "orders"}) == (("team", "shop"),)
    assert counters(second) == (0, 1, 0)
    assert sessions.count("GetResources") == 1


def test_listing_is_made_again_after_the_ttl(aws: boto3.session.Session) -> None:
    aws.client("sqs").create_queue(QueueName="orders", tags={"team": "shop"})
    clock = Clock()
    resource_tags = lookup(RecordingSessions(), clock, ttl_seconds=300.0)
    assert resource_tags.tags(OWN, REGION, "AWS/SQS", {"QueueName": "orders"}) == (("team", "shop"),)
    url = aws.client("sqs").get_queue_url(QueueName="orders")["QueueUrl"]
    aws.client("sqs").tag_queue(QueueUrl=url, Tags={"team": "retagged"})
    clock.now += 299.0
    assert resource_tags.tags(OWN, REGION, "AWS/SQS", {"QueueName": "orders"}) == (("team", "shop"),)
    clock.now += 1.0
    assert resource_tags.tags(OWN, REGION, "AWS/SQS", {"QueueName": "orders"}) == (("team", "retagged"),)
    assert counters(resource_tags) == (2, 1, 0)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_api_gives_no_tags_and_is_not_retried_at_once(
    aws: boto3.session.Session, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    aws.client("sqs").create_queue(QueueName="orders", tags={"team": "shop"})
    endpoint = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API", endpoint)
    clock = Clock()
    resource_tags = lookup(RecordingSessions(), clock)
    with caplog.at_level(logging.WARNING, logger="cwotlp"):
        assert resource_tags.tags(OWN, REGION, "AWS/SQS", {"QueueName": "orders"}) == ()
        assert resource_tags.tags(OWN, REGION, "AWS/SQS", {"QueueName": "orders"}) == ()
    assert counters(resource_tags) == (1, 0, 1)
    [record] = caplog.records
    assert record.__dict__["error_code"] == "EndpointConnectionError"
    assert (record.__dict__["account_id"], record.__dict__["resource_type"]) == (OWN, "sqs")
    assert "127.0.0.1" not in caplog.text
    clock.now += 60.0  # a failed listing is tried again after a minute, not after the whole TTL
    monkeypatch.delenv("AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API")
    fresh = lookup(RecordingSessions(), clock)
    assert fresh.tags(OWN, REGION, "AWS/SQS", {"QueueName": "orders"}) == (("team", "shop"),)
    assert counters(fresh) == (1, 0, 0)


class DenyingSessions(RecordingSessions):
    """Sessions whose tagging clients are answered AccessDeniedException (botocore's Stubber)."""

    MESSAGE = "User arn:aws:iam::123456789012:user/deployer is not authorized to perform tag:GetResources"

    def __call__(self) -> Any:
        session = super().__call__()
        create_client = session.client

        def client(service: str, **kwargs: Any) -> Any:
            made = create_client(service, **kwargs)
            if service == "resourcegroupstaggingapi":
                stubber = Stubber(made)
                stubber.add_client_error("get_resources", "AccessDeniedException", self.MESSAGE, 400)
                stubber.activate()
            return made

        session.client = client
        return session


def test_denied_listing_is_logged_with_its_code_only(
    aws: boto3.session.Session, caplog: pytest.LogCaptureFixture
) -> None:
    aws.client("sqs").create_queue(QueueName="orders", tags={"team": "shop"})
    resource_tags = lookup(DenyingSessions())
    with caplog.at_level(logging.WARNING, logger="cwotlp"):
        assert resource_tags.tags(OWN, REGION, "AWS/SQS", {"QueueName": "orders"}) == ()
    assert counters(resource_tags) == (1, 0, 1)
    [record] = caplog.records
    assert record.__dict__["error_code"] == "AccessDeniedException"
    assert "deployer" not in caplog.text


def test_listing_out_of_time_is_a_failure(
    aws: boto3.session.Session, caplog: pytest.LogCaptureFixture
) -> None:
    aws.client("sqs").create_queue(QueueName="orders", tags={"team": "shop"})
    sessions = RecordingSessions()
    resource_tags = lookup(sessions)
    with caplog.at_level(logging.WARNING, logger="cwotlp"):
        assert resource_tags.tags(OWN, REGION, "AWS/SQS", {"QueueName": "orders"}, deadline_seconds=0) == ()
    assert counters(resource_tags) == (1, 0, 1)
    assert caplog.records[0].__dict__["error_code"] == "TimeBudgetExceeded"
    assert sessions.count("GetResources") == 0


def test_listing_reads_every_page_up_to_the_page_limit(
    aws: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(5):
        aws.client("sqs").create_queue(QueueName=f"queue-{n}", tags={"team": f"team-{n}"})
    monkeypatch.setattr(tags_module, "RESOURCES_PER_PAGE", 2)
    sessions = RecordingSessions()
    paged = lookup(sessions)
    assert paged.tags(OWN, REGION, "AWS/SQS", {"QueueName": "queue-4"}) == (("team", "team-4"),)
    assert sessions.count("GetResources") == 3
    assert counters(paged) == (1, 0, 0)

    forget_cached_tags()
    monkeypatch.setattr(tags_module, "PAGE_LIMIT", 2)
    cut = lookup(sessions)
    found = [cut.tags(OWN, REGION, "AWS/SQS", {"QueueName": f"queue-{n}"}) for n in range(5)]
    assert sum(1 for tags in found if tags) == 4  # what two pages held is still used
    assert counters(cut) == (1, 4, 1)


def test_cache_drops_the_oldest_listings_beyond_its_bound(
    aws: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tags_module, "MAX_CACHED_RESOURCES", 3)
    instance = make_instance(aws, team="web")
    make_instance(aws, team="web")
    for name in ("a", "b"):
        aws.client("sqs").create_queue(QueueName=name, tags={"team": name})
    resource_tags = lookup(RecordingSessions())
    assert resource_tags.tags(OWN, REGION, "AWS/EC2", {"InstanceId": instance}) == (("team", "web"),)
    assert resource_tags.tags(OWN, REGION, "AWS/SQS", {"QueueName": "a"}) == (("team", "a"),)
    assert resource_tags.tags(OWN, REGION, "AWS/SQS", {"QueueName": "b"}) == (("team", "b"),)
    assert resource_tags.tags(OWN, REGION, "AWS/EC2", {"InstanceId": instance}) == (("team", "web"),)
    assert counters(resource_tags) == (3, 1, 0)  # the instances were listed again


def assumed(aws: boto3.session.Session, role_arn: str) -> boto3.session.Session:
    issued = aws.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="setup")["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=issued["AccessKeyId"],
        aws_secret_access_key=issued["SecretAccessKey"],
        aws_session_token=issued["SessionToken"],
        region_name=REGION,
    )


def test_linked_account_is_listed_through_the_named_role(
    aws: boto3.session.Session, caplog: pytest.LogCaptureFixture
) -> None:
    role_arn = f"arn:aws:iam::{LINKED}:role/tag-reader"
    assumed(aws, role_arn).client("sqs").create_queue(QueueName="orders", tags={"team": "linked"})
    aws.client("sqs").create_queue(QueueName="orders", tags={"team": "own"})
    sessions, clock = RecordingSessions(), Clock()
    resource_tags = lookup(sessions, clock, role_name="tag-reader")
    with caplog.at_level(logging.DEBUG, logger="cwotlp"):
        assert resource_tags.tags(LINKED, REGION, "AWS/SQS", {"QueueName": "orders"}) == (("team", "linked"),)
        assert resource_tags.tags(OWN, REGION, "AWS/SQS", {"QueueName": "orders"}) == (("team", "own"),)
    [(_, _, params)] = [call for call in sessions.calls if call[1] == "AssumeRole"]
    assert params["RoleArn"] == role_arn
    assert counters(resource_tags) == (2, 0, 0)
    assert caplog.records == []

    clock.now += 900.0  # listings expired, credentials (an hour) not yet
    assert resource_tags.tags(LINKED, REGION, "AWS/SQS", {"QueueName": "orders"}) == (("team", "linked"),)
    assert sessions.count("AssumeRole") == 1
    clock.now += 3600.0
    assert resource_tags.tags(LINKED, REGION, "AWS/SQS", {"QueueName": "orders"}) == (("team", "linked"),)
    assert sessions.count("AssumeRole") == 2


def test_role_arn_follows_the_partition_of_the_region(aws: boto3.session.Session) -> None:
    sessions = RecordingSessions()
    resource_tags = lookup(sessions, role_name="tag-reader")
    resource_tags.tags(LINKED, "cn-north-1", "AWS/SQS", {"QueueName": "orders"})
    [(_, _, params)] = [call for call in sessions.calls if call[1] == "AssumeRole"]
    assert params["RoleArn"] == f"arn:aws-cn:iam::{LINKED}:role/tag-reader"


def test_linked_account_without_a_role_is_one_failure(
    aws: boto3.session.Session, caplog: pytest.LogCaptureFixture
) -> None:
    aws.client("sqs").create_queue(QueueName="orders", tags={"team": "own"})
    sessions = RecordingSessions()
    resource_tags = lookup(sessions)
    with caplog.at_level(logging.WARNING, logger="cwotlp"):
        for _ in range(3):
            assert resource_tags.tags(LINKED, REGION, "AWS/SQS", {"QueueName": "orders"}) == ()
    assert counters(resource_tags) == (0, 0, 1)
    assert sessions.calls == []
    [record] = caplog.records
    assert "role name" in record.getMessage() and record.__dict__["account_id"] == LINKED


def test_every_account_is_own_when_the_own_account_is_unknown(aws: boto3.session.Session) -> None:
    aws.client("sqs").create_queue(QueueName="orders", tags={"team": "own"})
    sessions = RecordingSessions()
    resource_tags = ResourceTags(SETTINGS, own_account=None, session_factory=sessions)
    assert resource_tags.tags(OWN, REGION, "AWS/SQS", {"QueueName": "orders"}) == (("team", "own"),)
    assert sessions.count("AssumeRole") == 0


@pytest.mark.parametrize(
    ("settings", "namespace", "dimensions"),
    [
        (SETTINGS, "AWS/Usage", {"Service": "SQS"}),
        (SETTINGS, "CWAgent", {"InstanceId": "i-1"}),
        (SETTINGS, "AWS/EC2", {}),
        (TagSettings(keys=()), "AWS/EC2", {"InstanceId": "i-1"}),
    ],
)
def test_nothing_to_look_up_makes_no_call(
    settings: TagSettings, namespace: str, dimensions: dict[str, str]
) -> None:
    sessions = RecordingSessions()
    resource_tags = ResourceTags(settings, own_account=OWN, session_factory=sessions)
    assert resource_tags.tags(OWN, REGION, namespace, dimensions) == ()
    assert (sessions.created, resource_tags.take_counters()) == (0, TagCounters())


# CloudWatch dimension names per namespace, from the AWS documentation of each service's metrics.
DIMENSIONS = {
    "AWS/EC2": {"InstanceId", "AutoScalingGroupName", "ImageId", "InstanceType"},
    "AWS/EBS": {"VolumeId"},
    "AWS/ELB": {"LoadBalancerName", "AvailabilityZone"},
    "AWS/ApplicationELB": {"LoadBalancer", "TargetGroup", "AvailabilityZone"},
    "AWS/NetworkELB": {"LoadBalancer", "TargetGroup", "AvailabilityZone"},
    "AWS/GatewayELB": {"LoadBalancer", "TargetGroup", "AvailabilityZone"},
    "AWS/Lambda": {"FunctionName", "Resource", "ExecutedVersion"},
    "AWS/RDS": {"DBInstanceIdentifier", "DBClusterIdentifier", "DatabaseClass", "EngineName", "Role"},
    "AWS/DynamoDB": {"TableName", "GlobalSecondaryIndexName", "Operation", "ReceivingRegion", "StreamLabel"},
    "AWS/SQS": {"QueueName"},
    "AWS/SNS": {"TopicName", "Application", "Platform", "Country", "SMSType"},
    "AWS/S3": {"BucketName", "StorageType", "FilterId"},
    "AWS/Kinesis": {"StreamName", "ShardId"},
    "AWS/ECS": {"ClusterName", "ServiceName"},
    "AWS/ElastiCache": {"CacheClusterId", "CacheNodeId", "clusterId"},
    "AWS/ApiGateway": {"ApiName", "ApiId", "Stage", "Method", "Resource", "Route"},
    "AWS/Firehose": {"DeliveryStreamName"},
    "AWS/EFS": {"FileSystemId", "StorageClass"},
    "AWS/NATGateway": {"NatGatewayId"},
    "AWS/ES": {"DomainName", "ClientId", "NodeId"},
    "AWS/Logs": {"LogGroupName", "DestinationType", "FilterName"},
    "AWS/States": {"StateMachineArn", "ActivityArn", "LambdaFunctionArn", "ServiceIntegrationResourceArn"},
    "AWS/CloudFront": {"DistributionId", "Region"},
}


def test_namespace_table_names_real_dimensions() -> None:
    mappings = namespace_mappings()
    assert set(mappings) == set(DIMENSIONS)
    for namespace, mapping in mappings.items():
        assert mapping.resource_types and mapping.arn_patterns, namespace
        assert all(re.fullmatch(r"[a-z0-9-]+(:[A-Za-z0-9-]+)?", t) for t in mapping.resource_types), namespace
        for pattern in mapping.arn_patterns:
            assert pattern.groupindex and set(pattern.groupindex) <= DIMENSIONS[namespace], pattern.pattern


def dimensions_of(namespace: str, arn: str) -> dict[str, str] | None:
    """The dimension values the first matching pattern of the namespace reads from an ARN."""
    for pattern in namespace_mappings()[namespace].arn_patterns:
        found = pattern.search(arn)
        if found:
            return found.groupdict()
    return None


ELB = "arn:aws:elasticloadbalancing:eu-central-1:123456789012"
# Values marked YACE are from yet-another-cloudwatch-exporter's pkg/job/maxdimassociator/associator_*_test.go.
ARNS = [
    ("AWS/EC2", "arn:aws:ec2:us-east-1:123456789012:instance/i-abc123", {"InstanceId": "i-abc123"}),  # YACE
    ("AWS/EBS", "arn:aws:ec2:us-east-1:123456789012:volume/vol-0a1b2c3d", {"VolumeId": "vol-0a1b2c3d"}),
    ("AWS/ELB", f"{ELB}:loadbalancer/classic-web", {"LoadBalancerName": "classic-web"}),
    ("AWS/ELB", f"{ELB}:loadbalancer/app/web/50dc6c495c0c9188", None),
    (
        "AWS/ApplicationELB",
        f"{ELB}:loadbalancer/app/web/50dc6c495c0c9188",
        {"LoadBalancer": "app/web/50dc6c495c0c9188"},
    ),
    (
        "AWS/ApplicationELB",
        f"{ELB}:targetgroup/web/73e2d6bc24d8a067",
        {"TargetGroup": "targetgroup/web/73e2d6bc24d8a067"},
    ),
    (
        "AWS/NetworkELB",
        f"{ELB}:loadbalancer/net/tcp/1234567890abcdef",
        {"LoadBalancer": "net/tcp/1234567890abcdef"},
    ),
    ("AWS/NetworkELB", f"{ELB}:loadbalancer/app/web/50dc6c495c0c9188", None),
    (
        "AWS/GatewayELB",
        f"{ELB}:loadbalancer/gwy/gwlb-1/4a049e69add14452",
        {"LoadBalancer": "gwy/gwlb-1/4a049e69add14452"},
    ),  # YACE
    (
        "AWS/GatewayELB",
        f"{ELB}:targetgroup/gwlb-target-group-1/012e9f368748cd345c",  # YACE
        {"TargetGroup": "targetgroup/gwlb-target-group-1/012e9f368748cd345c"},
    ),
    (
        "AWS/Lambda",
        "arn:aws:lambda:us-east-2:123456789012:function:lambdaFunction",
        {"FunctionName": "lambdaFunction"},
    ),  # YACE
    ("AWS/RDS", "arn:aws:rds:us-east-1:123456789012:db:test-db", {"DBInstanceIdentifier": "test-db"}),
    ("AWS/RDS", "arn:aws:rds:us-east-1:123456789012:cluster:aurora-1", {"DBClusterIdentifier": "aurora-1"}),
    ("AWS/DynamoDB", "arn:aws:dynamodb:us-east-1:123456789012:table/test-table", {"TableName": "test-table"}),
    ("AWS/SQS", "arn:aws:sqs:us-east-1:123456789012:orders.fifo", {"QueueName": "orders.fifo"}),
    ("AWS/SNS", "arn:aws:sns:us-east-1:123456789012:alerts", {"TopicName": "alerts"}),
    ("AWS/SNS", "arn:aws:sns:us-east-1:123456789012:alerts:0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0", None),
    ("AWS/S3", "arn:aws:s3:::my-bucket", {"BucketName": "my-bucket"}),
    ("AWS/Kinesis", "arn:aws:kinesis:us-east-1:123456789012:stream/clicks", {"StreamName": "clicks"}),
    (
        "AWS/ECS",
        "arn:aws:ecs:af-south-1:123456789222:cluster/sampleCluster",
        {"ClusterName": "sampleCluster"},
    ),  # YACE
    (
        "AWS/ECS",
        "arn:aws:ecs:af-south-1:123456789222:service/sampleCluster/service1",  # YACE
        {"ClusterName": "sampleCluster", "ServiceName": "service1"},
    ),
    (
        "AWS/ElastiCache",
        "arn:aws:elasticache:eu-east-1:123456789012:cluster:test-cluster-0001-001",  # YACE
        {"CacheClusterId": "test-cluster-0001-001"},
    ),
    (
        "AWS/ElastiCache",
        "arn:aws:elasticache:eu-east-1:123456789012:serverlesscache:test-serverless-cluster",  # YACE
        {"clusterId": "test-serverless-cluster"},
    ),
    ("AWS/ApiGateway", "arn:aws:apigateway:us-east-2::/apis/98765fghij", {"ApiId": "98765fghij"}),  # YACE
    (
        "AWS/ApiGateway",
        "arn:aws:apigateway:us-east-2::/apis/98765fghij/stages/$default",  # YACE
        {"ApiId": "98765fghij", "Stage": "$default"},
    ),
    (
        "AWS/ApiGateway",
        "arn:aws:apigateway:us-east-2::/restapis/test-api",
        None,
    ),  # YACE; v1 ids are not names
    (
        "AWS/Firehose",
        "arn:aws:firehose:us-east-1:123456789012:deliverystream/to-s3",
        {"DeliveryStreamName": "to-s3"},
    ),
    (
        "AWS/EFS",
        "arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/fs-0123456789abcdef0",
        {"FileSystemId": "fs-0123456789abcdef0"},
    ),
    (
        "AWS/NATGateway",
        "arn:aws:ec2:us-east-1:123456789012:natgateway/nat-0123456789abcdef0",
        {"NatGatewayId": "nat-0123456789abcdef0"},
    ),
    ("AWS/ES", "arn:aws:es:us-east-1:123456789012:domain/search", {"DomainName": "search"}),
    (
        "AWS/Logs",
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/fn",
        {"LogGroupName": "/aws/lambda/fn"},
    ),
    ("AWS/Logs", "arn:aws:logs:us-east-1:123456789012:log-group:app:*", {"LogGroupName": "app"}),
    (
        "AWS/States",
        "arn:aws:states:us-east-1:123456789012:stateMachine:orders",
        {"StateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:orders"},
    ),
    (
        "AWS/CloudFront",
        "arn:aws:cloudfront::123456789012:distribution/E1A2B3C4D5E6F7",
        {"DistributionId": "E1A2B3C4D5E6F7"},
    ),
]


@pytest.mark.parametrize(("namespace", "arn", "expected"), ARNS)
def test_arn_gives_the_dimension_values_of_its_metrics(
    namespace: str, arn: str, expected: dict[str, str] | None
) -> None:
    assert dimensions_of(namespace, arn) == expected


@pytest.mark.parametrize("stream_format", ["json", "opentelemetry1.0"])
def test_tags_that_make_one_prometheus_label_give_it_once(
    aws: boto3.session.Session, stream_format: str
) -> None:
    from conftest import decode, frame, make_settings, otel1_request
    from cwotlp.otlp.naming import Naming
    from cwotlp.pipeline import Conversion

    aws.client("sqs").create_queue(QueueName="orders", tags={"cost.center": "first", "cost_center": "second"})
    resource_tags = lookup(RecordingSessions(), keys=("cost.center", "cost_center"))
    record = {
        "metric_stream_name": "stream",
        "account_id": OWN,
        "region": REGION,
        "namespace": "AWS/SQS",
        "metric_name": "NumberOfMessagesSent",
        "dimensions": {"QueueName": "orders"},
        "timestamp": 1_767_225_600_000,
        "value": {"count": 1.0, "sum": 3.0, "min": 3.0, "max": 3.0},
        "unit": "Count",
    }
    settings = make_settings(naming=Naming(scheme="prometheus"), stream_format=stream_format)
    data = json.dumps(record).encode() if stream_format == "json" else frame(otel1_request([record]))
    conversion = Conversion([data], settings, tags=resource_tags)
    [request] = [decode(batch.body(), settings.encoding) for batch in conversion.batches()]
    for resource_metrics in request.resource_metrics:
        for metric in resource_metrics.scope_metrics[0].metrics:
            labels = [(kv.key, kv.value.string_value) for kv in metric.gauge.data_points[0].attributes]
            assert [label for label in labels if label[0] == "tag_cost_center"] == [
                ("tag_cost_center", "first")
            ]
