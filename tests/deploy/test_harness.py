"""The deploy test's own parts, checked quickly: the moto server's additions (through boto3, over its TLS),
the upgrade plan's judgement, the search for a secret in a saved plan, and the rules the expected
datapoints are computed with. `make test-deploy` runs the deploy test itself."""

from __future__ import annotations

import io
import json
import os
import re
import ssl
import subprocess
import sys
import urllib.request
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from deploy import processes
from deploy.__main__ import run_lanes
from deploy.aws import Aws
from deploy.forwarder import check_bytecode, kept_by_rules, package_files
from deploy.lanes import LANES, RELEASES, Settings, upgrade_summary
from deploy.terraform import SentTwice, Terraform, leaked, plan_file_texts, sent_twice
from deploy.workspace import ENDPOINT_SERVICES, REPO, find_python, provider_block

ACCOUNT = "123456789012"
TLS_ONLY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::tls-only-bucket", "arn:aws:s3:::tls-only-bucket/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ],
}


@pytest.fixture(scope="module")
def moto_work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("moto")


@pytest.fixture(scope="module")
def aws(moto_work: Path) -> Iterator[Aws]:
    work = moto_work
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    command = [sys.executable, "-m", "deploy.moto_server", "--tls-dir", str(work / "tls")]
    server, line = processes.start_server(
        command, env=env, cwd=work, log=work / "moto.log", ready="ready", timeout=60
    )
    try:
        _, endpoint, ca_bundle = line.split()
        yield Aws(endpoint, Path(ca_bundle), "eu-west-1")
    finally:
        processes.stop(server)


def test_metric_streams_are_kept_listed_tagged_and_deleted(aws: Aws) -> None:
    cloudwatch = aws.client("cloudwatch")
    arn = cloudwatch.put_metric_stream(
        Name="stream",
        FirehoseArn=f"arn:aws:firehose:eu-west-1:{ACCOUNT}:deliverystream/stream",
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/stream",
        OutputFormat="opentelemetry1.0",
        ExcludeFilters=[{"Namespace": "AWS/Usage"}],
        StatisticsConfigurations=[
            {
                "IncludeMetrics": [{"Namespace": "AWS/EC2", "MetricName": "CPU"}],
                "AdditionalStatistics": ["p99"],
            }
        ],
        Tags=[{"Key": "team", "Value": "observability"}],
    )["Arn"]
    stream = cloudwatch.get_metric_stream(Name="stream")
    assert (stream["Arn"], stream["OutputFormat"], stream["State"]) == (arn, "opentelemetry1.0", "running")
    assert stream["ExcludeFilters"] == [{"Namespace": "AWS/Usage"}]
    assert stream["StatisticsConfigurations"][0]["AdditionalStatistics"] == ["p99"]
    assert [s["Name"] for s in cloudwatch.list_metric_streams()["Entries"]] == ["stream"]
    assert cloudwatch.list_tags_for_resource(ResourceARN=arn)["Tags"] == [
        {"Key": "team", "Value": "observability"}
    ]
    cloudwatch.delete_metric_stream(Name="stream")
    with pytest.raises(ClientError) as missing:
        cloudwatch.get_metric_stream(Name="stream")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert cloudwatch.list_metric_streams()["Entries"] == []


def _package() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def test_lambda_answers_with_the_logging_config_it_was_given(aws: Aws) -> None:
    trust = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]
    }
    role = aws.client("iam").create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]
    awslambda = aws.client("lambda")
    logging = {
        "LogFormat": "JSON",
        "LogGroup": "/aws/lambda/fn",
        "ApplicationLogLevel": "INFO",
        "SystemLogLevel": "WARN",
    }
    awslambda.create_function(
        FunctionName="fn",
        Runtime="python3.13",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": _package()},
        LoggingConfig=logging,
    )
    assert awslambda.get_function(FunctionName="fn")["Configuration"]["LoggingConfig"] == logging
    awslambda.update_function_configuration(
        FunctionName="fn", LoggingConfig={**logging, "ApplicationLogLevel": "DEBUG"}
    )
    configuration = awslambda.get_function_configuration(FunctionName="fn")
    assert configuration["LoggingConfig"]["ApplicationLogLevel"] == "DEBUG"


def test_a_tls_only_bucket_policy_lets_requests_over_tls_through(aws: Aws) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="tls-only-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_bucket_policy(Bucket="tls-only-bucket", Policy=json.dumps(TLS_ONLY))
    s3.put_object(Bucket="tls-only-bucket", Key="metrics/object", Body=b"data")
    assert s3.get_object(Bucket="tls-only-bucket", Key="metrics/object")["Body"].read() == b"data"
    # A statement without a condition still denies, as moto decides it.
    deny_all = {
        **TLS_ONLY,
        "Statement": [{k: v for k, v in TLS_ONLY["Statement"][0].items() if k != "Condition"}],
    }
    s3.put_bucket_policy(Bucket="tls-only-bucket", Policy=json.dumps(deny_all))
    with pytest.raises(ClientError) as denied:
        s3.get_object(Bucket="tls-only-bucket", Key="metrics/object")
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def _change(address: str, type_: str, actions: list[str], previous: str | None = None) -> dict[str, object]:
    change: dict[str, object] = {"address": address, "type": type_, "change": {"actions": actions}}
    return change | ({"previous_address": previous} if previous else {})


def test_upgrade_summary_allows_updates_and_flags_replacements_of_kept_resources() -> None:
    plan = {
        "resource_changes": [
            _change("module.m.aws_lambda_function.this", "aws_lambda_function", ["update"]),
            _change("module.m.terraform_data.package[0]", "terraform_data", ["delete", "create"]),
            _change("module.m.aws_s3_bucket.this[0]", "aws_s3_bucket", ["no-op"]),
            _change(
                "module.m.module.s.aws_iam_role.firehose",
                "aws_iam_role",
                ["no-op"],
                "module.m.aws_iam_role.firehose",
            ),
        ]
    }
    counts, lines, forbidden = upgrade_summary(plan)
    assert counts == {"update": 1, "replace": 1, "no-op": 2, "move": 1}
    assert forbidden == []
    assert (
        lines[-1]
        == "no-op    module.m.module.s.aws_iam_role.firehose (moved from module.m.aws_iam_role.firehose)"
    )
    plan["resource_changes"].append(
        _change("module.m.aws_s3_bucket.other", "aws_s3_bucket", ["create", "delete"])
    )
    plan["resource_changes"].append(
        _change("module.m.aws_cloudwatch_metric_stream.this", "aws_cloudwatch_metric_stream", ["delete"])
    )
    assert upgrade_summary(plan)[2] == [
        "module.m.aws_s3_bucket.other",
        "module.m.aws_cloudwatch_metric_stream.this",
    ]


@pytest.mark.parametrize(("release", "commit"), RELEASES.items())
def test_each_upgrade_starts_from_the_commit_of_its_release(release: str, commit: str) -> None:
    """The forwarder's version at the commit is the release's, and from 0.2.0 on its module sets the
    stream format: a commit with the version but not the whole release fails."""
    shown = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{commit}:lambda/src/cwotlp/__init__.py", f"{commit}:lambda.tf"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert f'__version__ = "{release}"' in shown
    assert ("CWOTLP_STREAM_FORMAT" in shown) == (release != "0.1.0")


def test_secret_search_reads_inside_the_compressed_plan(tmp_path: Path) -> None:
    plan = tmp_path / "first.tfplan"
    with zipfile.ZipFile(plan, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("tfplan", b"prefix " * 50 + b"cs-the-secret" + b" suffix" * 50)
    assert b"cs-the-secret" not in plan.read_bytes()  # compressed: a plain search of the file would miss it
    assert leaked(["cs-the-secret", "absent"], plan_file_texts(plan)) == ["value 0"]


def test_records_are_kept_unless_a_drop_rule_matches() -> None:
    rules = [
        {"action": "drop", "namespace": "*", "metric_name": "*", "dimensions": {"Stage": "test*"}},
        {"action": "drop", "namespace": "AWS/EBS", "metric_name": "Volume*Ops", "dimensions": {}},
    ]
    kept = kept_by_rules(rules)
    assert kept({"namespace": "AWS/EBS", "metric_name": "VolumeReadBytes", "dimensions": {}})
    assert not kept({"namespace": "AWS/EBS", "metric_name": "VolumeReadOps", "dimensions": {}})
    assert not kept({"namespace": "AWS/Lambda", "metric_name": "Errors", "dimensions": {"Stage": "test-2"}})
    assert kept({"namespace": "AWS/Lambda", "metric_name": "Errors", "dimensions": {"Stage": "prod"}})


def test_provider_block_points_every_service_at_moto() -> None:
    block = provider_block("https://127.0.0.1:1234", Path("/tmp/ca.pem"), alias="eu")
    assert 'alias                       = "eu"' in block
    assert 'custom_ca_bundle            = "/tmp/ca.pem"' in block
    for service in ENDPOINT_SERVICES:
        assert '"https://127.0.0.1:1234"' in block.split(f"    {service} ", 1)[1].splitlines()[0]


def test_the_lanes_initialise_one_at_a_time(tmp_path: Path) -> None:
    """Terraform's plugin cache, which the lanes share, is not safe for concurrent installs. A stand-in
    `terraform` marks each init in a directory while it runs; a second one inside finds the mark."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stand_in = bin_dir / "terraform"
    busy = tmp_path / "busy"
    stand_in.write_text(
        f"#!/bin/sh\nmkdir {busy} 2>/dev/null || {{ echo overlapping >> {tmp_path}/overlaps; }}\n"
        f"sleep 0.2\nrmdir {busy} 2>/dev/null\nexit 0\n"
    )
    stand_in.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    lanes = [Terraform(tmp_path, env, tmp_path / f"lane-{n}.log") for n in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(Terraform.init, lanes))
    assert all("$ terraform init" in lane.log.read_text() for lane in lanes)
    assert not (tmp_path / "overlaps").exists()


def test_the_server_logs_each_request_without_its_body(aws: Aws, moto_work: Path) -> None:
    secrets = aws.client("secretsmanager")
    secrets.create_secret(Name="logged", SecretString="s3cr3t-value-never-logged")
    secrets.delete_secret(SecretId="logged", RecoveryWindowInDays=7)
    with pytest.raises(ClientError, match="marked deleted"):
        secrets.delete_secret(SecretId="logged", RecoveryWindowInDays=7)
    log = (moto_work / "moto.log").read_text()
    assert log.count(" POST / secretsmanager.DeleteSecret 200") == 1
    assert log.count(" POST / secretsmanager.DeleteSecret 400") == 1
    assert "s3cr3t" not in log


def test_the_server_logs_the_query_protocols_action_and_still_reads_the_body(
    aws: Aws, moto_work: Path
) -> None:
    """The query protocol (IAM here; CloudWatch for the provider) names its operation in the form body, which
    the log line reads and puts back: moto must still see every parameter."""
    before = len((moto_work / "moto.log").read_text())
    iam = aws.client("iam")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName="logged-role", AssumeRolePolicyDocument=json.dumps(trust), Description="kept")
    assert iam.get_role(RoleName="logged-role")["Role"]["Description"] == "kept"
    iam.delete_role(RoleName="logged-role")
    with pytest.raises(ClientError, match="NoSuchEntity"):
        iam.delete_role(RoleName="logged-role")
    log = (moto_work / "moto.log").read_text()[before:]
    assert log.count(" POST / CreateRole 200") == 1
    assert log.count(" POST / DeleteRole 200") == 1
    assert log.count(" POST / DeleteRole 404") == 1
    assert "logged-role" not in log


def test_the_server_marks_a_request_the_sdk_sent_again(aws: Aws, moto_work: Path) -> None:
    """The AWS SDKs number each attempt of a call in the amz-sdk-request header; the log marks a retry."""
    before = len((moto_work / "moto.log").read_text())
    context = ssl.create_default_context(cafile=str(aws.ca_bundle))
    body = b"Action=ListRoles&Version=2010-05-08"
    for attempt in ("attempt=1; max=3", "attempt=2; max=3", ""):
        request = urllib.request.Request(aws.endpoint + "/", data=body, method="POST")
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
        request.add_header("Authorization", "AWS4-HMAC-SHA256 Credential=testing/20261201/us-east-1/iam/aws4")
        if attempt:
            request.add_header("amz-sdk-request", attempt)
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            assert response.status == 200
    lines = (moto_work / "moto.log").read_text()[before:].splitlines()
    fields = [line.split() for line in lines]
    assert [f[1:5] + f[6:] for f in fields] == [
        ["POST", "/", "ListRoles", "200"],
        ["POST", "/", "ListRoles", "200", "attempt=2"],
        ["POST", "/", "ListRoles", "200"],
    ]
    assert all(
        re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", f[0]) and re.fullmatch(r"\d+\.\d{3}s", f[5]) for f in fields
    )


def _terraform_failing(tmp_path: Path, outputs: list[str]) -> tuple[Terraform, Path]:
    """A stand-in `terraform` whose n-th run prints outputs[n] and exits 1 when it is not empty, 0 when it
    is; each run leaves a line in the returned file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    runs = tmp_path / "runs"
    for n, output in enumerate(outputs):
        (tmp_path / f"output-{n}").write_text(output)
    stand_in = bin_dir / "terraform"
    stand_in.write_text(
        f"#!/bin/sh\necho run >> {runs}\nn=$(($(wc -l < {runs}) - 1))\n"
        f"[ -s {tmp_path}/output-$n ] || exit 0\ncat {tmp_path}/output-$n\nexit 1\n"
    )
    stand_in.chmod(0o755)
    return Terraform(tmp_path, {"PATH": f"{bin_dir}:/usr/bin:/bin"}, tmp_path / "terraform.log"), runs


MOTO_LOG_TWICE = (
    "21:41:30.001 POST / secretsmanager.DeleteSecret 200 0.020s\n"
    "21:41:31.100 POST / DeleteDashboards 200 3.500s\n"
    "21:41:32.002 POST / secretsmanager.DeleteSecret 400 0.011s attempt=2\n"
    "21:41:33.003 POST / DeleteDashboards 404 0.010s attempt=2\n"
)
SECRET_TWICE = (
    "Error: deleting Secrets Manager Secret (arn:aws:secretsmanager:us-east-1:123456789012:secret:x): "
    "operation error Secrets Manager: DeleteSecret, https response error StatusCode: 400, "
    "InvalidRequestException: You tried to perform the operation on a secret that's currently marked "
    "deleted.\n"
)
DASHBOARD_TWICE = (
    "Error: deleting CloudWatch Dashboard (cwotlp): operation error CloudWatch: DeleteDashboards, https "
    "response error StatusCode: 404, RequestID: 4c, ResourceNotFound: The specified dashboard does not "
    "exist.\n"
)
ROLE_TWICE = (
    "Error: creating IAM Role (cwotlp-forwarder): operation error IAM: CreateRole, https response error "
    "StatusCode: 409, RequestID: 47U8, EntityAlreadyExists: Role with name cwotlp-forwarder already exists.\n"
)
MOTO_LOG_CREATED_TWICE = (
    "02:38:16.752 POST / CreateRole 200 0.158s\n"
    "02:38:16.765 POST / CreateRole 200 0.174s\n"
    "02:38:16.960 POST / GetRole 200 0.019s attempt=2\n"
    "02:38:17.045 POST / CreateRole 409 0.101s attempt=2\n"
    "02:38:17.056 POST / CreateRole 200 0.011s\n"
)


OTHER_ERROR = "Error: deleting S3 Bucket (b): operation error S3: DeleteBucket, BucketNotEmpty\n"
QUEUE_REFUSED = (
    "Error: deleting SQS Queue (q): operation error SQS: DeleteQueue, https response error StatusCode: 400, "
    "RequestID: 1, AccessDenied\n"
)


@pytest.mark.parametrize(
    ("output", "log", "kind", "twice"),
    [
        (SECRET_TWICE, MOTO_LOG_TWICE, "Delete", ["DeleteSecret"]),
        (DASHBOARD_TWICE, MOTO_LOG_TWICE, "Delete", ["DeleteDashboards"]),
        (SECRET_TWICE + DASHBOARD_TWICE, MOTO_LOG_TWICE, "Delete", ["DeleteSecret", "DeleteDashboards"]),
        (ROLE_TWICE, MOTO_LOG_CREATED_TWICE, "Create", ["CreateRole"]),
        # moto never answered 200 before: the first request was refused.
        (DASHBOARD_TWICE, "21:41:33 POST / DeleteDashboards 404 0.01s attempt=2\n", "Delete", []),
        (ROLE_TWICE, "02:38:17.045 POST / CreateRole 409 0.101s attempt=2\n", "Create", []),
        # a 200 after the refusal is no earlier success.
        (
            SECRET_TWICE,
            "21:41:32 POST / secretsmanager.DeleteSecret 400 0.01s attempt=2\n"
            "21:41:40 POST / DeleteSecret 200\n",
            "Delete",
            [],
        ),
        # the refusal was the call's first attempt: what it created was there before, or it deleted nothing.
        (
            ROLE_TWICE,
            MOTO_LOG_CREATED_TWICE.replace(" attempt=2\n02:38:17.056", "\n02:38:17.056"),
            "Create",
            [],
        ),
        (
            QUEUE_REFUSED,
            "21:41:34 POST / DeleteQueue 200 0.01s\n21:41:35 POST / DeleteQueue 400 0.01s\n",
            "Delete",
            [],
        ),
        (
            QUEUE_REFUSED,
            "21:41:34 POST / DeleteQueue 200 0.01s\n21:41:35 POST / DeleteQueue 400 0.01s attempt=2\n",
            "Delete",
            ["DeleteQueue"],
        ),
        # one error that the log explains is not enough when another one is there too.
        (DASHBOARD_TWICE + OTHER_ERROR, MOTO_LOG_TWICE, "Delete", []),
        (ROLE_TWICE + OTHER_ERROR, MOTO_LOG_CREATED_TWICE, "Create", []),
        (OTHER_ERROR, MOTO_LOG_TWICE, "Delete", []),
        ("", MOTO_LOG_TWICE, "Delete", []),
        (ROLE_TWICE, "", "Create", []),
        # only calls of the kind asked for: a destroy's Deletes, an apply's Creates.
        (SECRET_TWICE, MOTO_LOG_TWICE, "Create", []),
        (ROLE_TWICE, MOTO_LOG_CREATED_TWICE, "Delete", []),
        (
            "Error: X: operation error CloudWatch: PutDashboard, https response error StatusCode: 400\n",
            "21:41:31 POST / PutDashboard 200\n21:41:33 POST / PutDashboard 400 0.01s attempt=2\n",
            "Delete",
            [],
        ),
    ],
)
def test_a_call_counts_as_sent_twice_only_on_the_servers_evidence(
    output: str, log: str, kind: str, twice: list[str]
) -> None:
    found = sent_twice(output, log, kind)
    assert list(found) == twice
    for operation, lines in found.items():  # the log's lines of that call, and only those
        assert lines and all(line.split()[3].endswith(operation) for line in lines)


def _stand_in(tmp_path: Path, outputs: list[str], log: str) -> tuple[Terraform, Path]:
    tf, runs = _terraform_failing(tmp_path, outputs)
    tf.server_log = tmp_path / "moto.log"
    tf.server_log.write_text(log)
    return tf, runs


@pytest.mark.parametrize(
    ("outputs", "twice", "runs"),
    [
        ([""], [], 1),
        ([SECRET_TWICE, ""], ["DeleteSecret"], 2),
        ([DASHBOARD_TWICE, ""], ["DeleteDashboards"], 2),
    ],
)
def test_a_destroy_runs_again_only_after_a_delete_sent_twice(
    tmp_path: Path, outputs: list[str], twice: list[str], runs: int
) -> None:
    tf, run_file = _stand_in(tmp_path, outputs, MOTO_LOG_TWICE)
    evidence = tf.destroy()
    assert list(evidence) == twice
    for operation, lines in evidence.items():  # the log's two lines of that call, and only those
        assert len(lines) == 2 and all(line.split()[3].endswith(operation) for line in lines)
    assert len(run_file.read_text().splitlines()) == runs


@pytest.mark.parametrize(
    ("outputs", "log", "runs"),
    [
        ([OTHER_ERROR, ""], MOTO_LOG_TWICE, 1),
        ([DASHBOARD_TWICE, ""], "", 1),
        ([SECRET_TWICE, SECRET_TWICE, ""], MOTO_LOG_TWICE, 2),
        ([SECRET_TWICE, OTHER_ERROR, ""], MOTO_LOG_TWICE, 2),
    ],
)
def test_a_destroy_fails_on_any_other_error_and_on_a_second_failure(
    tmp_path: Path, outputs: list[str], log: str, runs: int
) -> None:
    tf, run_file = _stand_in(tmp_path, outputs, log)
    with pytest.raises(processes.ProcessError, match="terraform destroy"):
        tf.destroy()
    assert len(run_file.read_text().splitlines()) == runs


def test_a_destroy_without_a_server_log_never_runs_again(tmp_path: Path) -> None:
    tf, run_file = _terraform_failing(tmp_path, [SECRET_TWICE, ""])
    with pytest.raises(processes.ProcessError, match="terraform destroy"):
        tf.destroy()
    assert len(run_file.read_text().splitlines()) == 1


def test_the_package_must_hold_the_runtimes_bytecode_for_every_module(tmp_path: Path) -> None:
    for name in ("cwotlp/__init__.py", "cwotlp/__pycache__/__init__.cpython-313.pyc", "top.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(name.encode())
    files = package_files(tmp_path)
    with pytest.raises(AssertionError, match=r"no cpython-313 bytecode for 1 modules: \['top.py'\]"):
        check_bytecode(files, "python3.13")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "top.cpython-313.pyc").write_bytes(b"compiled")
    assert check_bytecode(package_files(tmp_path), "python3.13") == 2
    with pytest.raises(AssertionError, match="no cpython-312 bytecode for 2 modules"):
        check_bytecode(package_files(tmp_path), "python3.12")


def test_the_handlers_python_is_the_one_the_build_compiles_with() -> None:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert find_python(version) == sys.executable
    assert find_python("2.1") is None


@pytest.mark.parametrize(("outputs", "raised"), [([ROLE_TWICE], SentTwice), ([OTHER_ERROR], None)])
def test_an_apply_that_failed_on_a_create_sent_twice_says_so(
    tmp_path: Path, outputs: list[str], raised: type[Exception] | None
) -> None:
    tf, run_file = _stand_in(tmp_path, outputs, MOTO_LOG_CREATED_TWICE)
    with pytest.raises(processes.ProcessError, match="terraform apply") as error:
        tf.apply()
    assert (type(error.value) is SentTwice) is (raised is SentTwice)
    assert len(run_file.read_text().splitlines()) == 1  # never applied again: the state cannot know the role


@pytest.mark.parametrize(
    ("failures", "runs", "passed"),
    [
        ([], 1, True),
        ([SentTwice("terraform apply", {"CreateRole": ["a 409 attempt=2"]})], 2, True),
        ([SentTwice("terraform apply", {"CreateRole": ["line"]})] * 2, 2, False),
        ([AssertionError("a property is wrong")], 1, False),
    ],
)
def test_a_lane_runs_again_from_the_start_only_after_a_create_sent_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failures: list[Exception], runs: int, passed: bool
) -> None:
    started: list[int] = []

    def lane(settings: Settings) -> None:
        (settings.work / "stand-in").mkdir()  # as deploy.lanes.moto makes the lane's directory
        started.append(len(started))
        if len(started) <= len(failures):
            raise failures[len(started) - 1]

    monkeypatch.setitem(LANES, "stand-in", lane)
    config = Settings(tmp_path, tmp_path / "terraformrc", "x86_64", "python3.13", sys.executable)
    assert run_lanes(["stand-in"], config) == ([] if passed else ["stand-in"])
    assert len(started) == runs
    assert (tmp_path / "stand-in.first-run").is_dir() is (runs == 2)
