"""The parts of the deploy test, each against a moto server of its own so that they run side by side: the
quickstart and the complete example applied, checked, run and destroyed; the multi-region example applied
and checked in both regions; and the upgrades from 0.1.0 (f598cc9) and 0.2.0 (4c0a765), each planned and
applied on the state of that release."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cwotlp_local import generator

from . import aws as aws_mod
from . import forwarder, processes, workspace
from .checks import Deployment, Problems, check_deployment, check_multi_region, check_secret
from .expected import COMPLETE, QUICKSTART, Expected
from .terraform import Terraform, clean_environment, leaked, plan_file_texts, resource

# The releases of the module whose deployments this version must upgrade in place, and their commits.
RELEASES = {"0.1.0": "f598cc9", "0.2.0": "4c0a765"}
REGION = "eu-west-1"
MOTO_START_SECONDS = 60.0
RECORDS_PER_OBJECT = 600
_print_lock = threading.Lock()
_started = time.monotonic()


@dataclass
class Settings:
    work: Path
    cli_config: Path
    architecture: str
    runtime: str
    python: str


@dataclass
class Lane:
    name: str
    settings: Settings
    endpoint: str = ""
    ca_bundle: Path = Path()

    @property
    def work(self) -> Path:
        return self.settings.work / self.name

    def say(self, message: str) -> None:
        with _print_lock:
            print(f"[{time.monotonic() - _started:6.1f} s] {self.name:<13} {message}", flush=True)

    def aws(self) -> aws_mod.Aws:
        return aws_mod.Aws(self.endpoint, self.ca_bundle, REGION)

    def terraform(self, example: Path, variables: dict[str, str]) -> Terraform:
        env = clean_environment(self.settings.cli_config, variables)
        return Terraform(example, env, self.work / "terraform.log", self.work / "moto.log")


@contextlib.contextmanager
def moto(lane: Lane) -> Iterator[None]:
    """A moto server with the test's additions (deploy/moto_server.py) for this lane alone."""
    lane.work.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    command = [sys.executable, "-m", "deploy.moto_server", "--tls-dir", str(lane.work / "moto-tls")]
    server, line = processes.start_server(
        command, env=env, cwd=lane.work, log=lane.work / "moto.log", ready="ready", timeout=MOTO_START_SECONDS
    )
    _, lane.endpoint, ca_bundle = line.split()
    lane.ca_bundle = Path(ca_bundle)
    lane.say(f"moto at {lane.endpoint}")
    try:
        yield
    finally:
        processes.stop(server)


def module_overrides(settings: Settings, configured: Expected) -> str:
    """Arguments merged into the example's module block so that this machine can run the package."""
    lines = [f'  lambda_architecture = "{settings.architecture}"']
    if settings.runtime != configured.runtime:
        lines.append(f'  lambda_runtime      = "{settings.runtime}"')
    return 'module "cloudwatch_otlp" {\n' + "\n".join(lines) + "\n}\n"


def apply_with_saved_plan(lane: Lane, tf: Terraform) -> Path:
    lane.say("terraform init, plan -out, apply of the saved plan (builds the package with pip)")
    tf.init()
    tf.plan("first.tfplan")
    started = time.monotonic()
    tf.apply("first.tfplan")
    lane.say(f"applied in {time.monotonic() - started:.0f} s")
    return tf.directory / "first.tfplan"


def assert_no_changes(lane: Lane, tf: Terraform) -> None:
    if tf.plan("second.tfplan"):
        raise AssertionError(f"{lane.name}: a second plan has changes:\n{tf.tail(60)}")
    lane.say("a second plan -detailed-exitcode shows no changes")


def assert_secret_kept_out(
    lane: Lane, tf: Terraform, plan_file: Path, secrets: list[str], *, control: str
) -> None:
    """The secrets are in none of the saved plan, its JSON, the state and the state's JSON. `control`, a
    plain value of the example, must be found in the saved plan: proof that the search reads its contents."""
    _, plan_json = tf.show(plan_file.name)
    _, state_json = tf.show()
    places = {
        "saved plan": list(plan_file_texts(plan_file)),
        "plan JSON": [plan_json],
        "state file": [(tf.directory / "terraform.tfstate").read_bytes()],
        "state JSON": [state_json],
    }
    if not leaked([control], places["saved plan"]):
        raise AssertionError(f"{lane.name}: the search did not find a plain variable in the saved plan")
    for place, texts in places.items():
        for secret in secrets:
            if leaked([secret], texts):
                raise AssertionError(f"{lane.name}: a value of the collector's secret is in the {place}")
    lane.say(f"the collector's endpoint and credentials are in none of: {', '.join(places)}")


def destroy(lane: Lane, tf: Terraform) -> None:
    twice = tf.destroy()
    if twice:
        evidence = [line for lines in twice.values() for line in lines]
        lane.say(
            f"the destroy's {', '.join(twice)} was refused after moto had carried it out: the request "
            f"arrived twice; a second destroy ran. moto.log: {' | '.join(evidence[-6:])}"
        )


def destroy_and_check_empty(lane: Lane, tf: Terraform, before: Callable[[], None] = lambda: None) -> None:
    destroy(lane, tf)
    before()
    remaining = {kind: names for kind, names in aws_mod.leftovers(lane.aws(), (REGION,)).items() if names}
    if remaining:
        raise AssertionError(f"{lane.name}: terraform destroy left {remaining}")
    lane.say("destroyed; moto holds no bucket, function, role, queue, secret, stream, alarm or log group")


def run_forwarder(
    lane: Lane, d: Deployment, function: dict[str, Any], local: forwarder.LocalCollector, zip_path: Path
) -> None:
    """The deployed package, run on a Firehose object in the deployed bucket; every datapoint must arrive."""
    e, work = d.expected, lane.work / "forwarder"
    work.mkdir()
    code = forwarder.unpack_package(zip_path, function["Configuration"]["CodeSha256"], work / "code")
    runtime = forwarder.runtime_libraries(work / "runtime")
    records = list(generator.generate_records(RECORDS_PER_OBJECT, stream_name=e.name))
    event = forwarder.put_object(lane.aws(), d.bucket, e.name, e.output_format, records)
    env = forwarder.handler_environment(function, lane.aws(), work, local.ca_bundle)
    key = event["Records"][0]["s3"]["object"]["key"]
    unpacked = forwarder.package_files(code)
    modules = forwarder.check_bytecode(unpacked, lane.settings.runtime)
    lane.say(f"running the deployed handler ({lane.settings.python} -I -S) on {key}")
    forwarder.invoke(lane.settings.python, function, code, runtime, env, event, work)
    changed = sorted(set(forwarder.package_files(code).items()) ^ set(unpacked.items()))
    if changed:  # Python wrote bytecode: the package's was missing, stale or for another version
        raise AssertionError(f"{lane.name}: the handler's run changed the package: {changed[:5]}")
    lane.say(f"the handler ran from the package's bytecode ({modules} modules), compiling none")
    expected = forwarder.expected_datapoints(records, forwarder.kept_by_rules(e.rules))
    received = forwarder.received_datapoints(local.collector)
    if received != expected or local.collector.errors:
        missing, extra = expected - received, received - expected
        raise AssertionError(
            f"{lane.name}: {sum(missing.values())} datapoints missing, {sum(extra.values())} unexpected, "
            f"{len(local.collector.errors)} malformed requests"
        )
    dropped, requests = len(records) - sum(expected.values()), len(local.collector.requests)
    lane.say(
        f"the collector received all {sum(received.values())} datapoints ({dropped} dropped by the rules)"
    )
    lane.say(f"in {requests} requests, authorised by {local.tokens.issued} token(s) of the token endpoint")


def check(lane: Lane, d: Deployment, secret_value: dict[str, str]) -> dict[str, Any]:
    checked, function = check_deployment(d)
    problems = Problems()
    check_secret(d, problems, secret_value)
    if problems.found:
        raise AssertionError(f"{lane.name}: {problems.found}")
    lane.say(f"{checked + problems.checked} properties of the created resources are as expected")
    return function


def package_path(tf: Terraform) -> Path:
    state, _ = tf.show()
    filename = resource(state, "aws_lambda_function.this")["values"]["filename"]
    return (tf.directory / filename).resolve()


def quickstart(settings: Settings) -> None:
    lane = Lane("quickstart", settings)
    with moto(lane), forwarder.local_collector(lane.work) as local:
        repo = workspace.copy_working_tree(lane.work / "repo")
        example = repo / "examples" / "quickstart"
        workspace.write_overrides(
            example, lane.endpoint, lane.ca_bundle, module=module_overrides(settings, QUICKSTART)
        )
        secret_value = local.secret_value()
        tf = lane.terraform(example, secret_value)
        plan_file = apply_with_saved_plan(lane, tf)
        # The example's collector variables are ephemeral, as the secret they go into: none may be anywhere.
        secrets = [secret_value[name] for name in ("client_secret", "endpoint", "token_url", "client_id")]
        assert_secret_kept_out(lane, tf, plan_file, secrets, control=REGION)
        state, _ = tf.show()
        secret_arn = resource(state, "aws_secretsmanager_secret.this[0]")["values"]["arn"]
        bucket = state["values"]["outputs"]["s3_bucket_name"]["value"]
        d = Deployment(QUICKSTART, lane.aws(), bucket, secret_arn, settings.architecture, settings.runtime)
        function = check(lane, d, secret_value)
        run_forwarder(lane, d, function, local, package_path(tf))
        assert_no_changes(lane, tf)
        # The quickstart keeps s3_force_destroy off, so the bucket must be emptied first, as its owner would.
        lane.say(
            f"emptied the bucket of {aws_mod.empty_bucket(lane.aws(), bucket)} objects before the destroy"
        )
        destroy_and_check_empty(lane, tf)


def complete(settings: Settings) -> None:
    lane = Lane("complete", settings)
    with moto(lane), forwarder.local_collector(lane.work) as local:
        given = aws_mod.create_prerequisites(lane.aws(), local.secret_value())
        lane.say("created what the example takes as given: KMS key, secret, permissions boundary, VPC")
        repo = workspace.copy_working_tree(lane.work / "repo")
        example = repo / "examples" / "complete"
        workspace.write_overrides(
            example, lane.endpoint, lane.ca_bundle, module=module_overrides(settings, COMPLETE)
        )
        tf = lane.terraform(example, given.variables())
        apply_with_saved_plan(lane, tf)
        state, _ = tf.show()
        d = Deployment(
            COMPLETE,
            lane.aws(),
            state["values"]["outputs"]["s3_bucket_name"]["value"],
            given.secret_arn,
            settings.architecture,
            settings.runtime,
            given.kms_key_arn,
            given.boundary_arn,
            tuple(given.subnet_ids),
            tuple(given.security_group_ids),
        )
        function = check(lane, d, local.secret_value())
        run_forwarder(lane, d, function, local, package_path(tf))
        assert_no_changes(lane, tf)
        destroy_and_check_empty(lane, tf, before=lambda: aws_mod.delete_prerequisites(lane.aws(), given))


# Resources an upgrade must keep: replacing them would lose data or configuration in flight.
KEPT = (
    "aws_s3_bucket",
    "aws_cloudwatch_metric_stream",
    "aws_kinesis_firehose_delivery_stream",
    "aws_lambda_function",
    "aws_secretsmanager_secret",
    "aws_secretsmanager_secret_version",
    "aws_sqs_queue",
    "aws_iam_role",
)


def upgrade_summary(plan: dict[str, Any]) -> tuple[Counter[str], list[str], list[str]]:
    """Counts of actions, one line per change, and the changes that would delete a kept resource."""
    counts: Counter[str] = Counter()
    lines, forbidden = [], []
    for change in plan.get("resource_changes", []):
        actions = change["change"]["actions"]
        action = "replace" if set(actions) == {"create", "delete"} else actions[0]
        moved = change.get("previous_address")
        if moved:
            counts["move"] += 1
        counts[action] += 1
        if action != "no-op" or moved:
            lines.append(f"{action:<8} {change['address']}" + (f" (moved from {moved})" if moved else ""))
        if "delete" in actions and change["type"] in KEPT:
            forbidden.append(change["address"])
    return counts, lines, forbidden


def upgrade(release: str) -> Callable[[Settings], None]:
    """The lane that applies examples/quickstart of `release`, then plans and applies this version on
    its state: nothing kept may be deleted or replaced."""
    return lambda settings: _upgrade(Lane(f"upgrade-{release}", settings), release)


def _upgrade(lane: Lane, release: str) -> None:
    commit = RELEASES[release]
    values = {"endpoint": "https://otlp.example.com", "token_url": "https://auth.example.com/token"}
    values |= {"client_id": "cwotlp", "client_secret": "upgrade-test-secret"}
    with moto(lane):
        old = workspace.copy_commit(commit, lane.work / "previous") / "examples" / "quickstart"
        new = workspace.copy_working_tree(lane.work / "repo") / "examples" / "quickstart"
        for example in (old, new):
            workspace.write_overrides(example, lane.endpoint, lane.ca_bundle)
        lane.say(f"applying examples/quickstart of {release} ({commit})")
        previous = lane.terraform(old, values)
        apply_with_saved_plan(lane, previous)
        shutil.copy2(old / "terraform.tfstate", new / "terraform.tfstate")
        tf = lane.terraform(new, values)
        tf.init()
        tf.plan("upgrade.tfplan")
        counts, lines, forbidden = upgrade_summary(tf.show("upgrade.tfplan")[0])
        lane.say(
            "plan of this version on that state: " + ", ".join(f"{n} {a}" for a, n in sorted(counts.items()))
        )
        for line in lines:
            lane.say(f"  {line}")
        if forbidden:
            raise AssertionError(f"upgrade: the plan would delete or replace {forbidden}")
        tf.apply("upgrade.tfplan")
        lane.say("upgrade applied")
        assert_no_changes(lane, tf)
        destroy_and_check_empty(lane, tf)


def multi_region(settings: Settings) -> None:
    lane = Lane("multi-region", settings)
    values = {"endpoint": "https://otlp.example.com", "token_url": "https://auth.example.com/token"}
    values |= {"client_id": "cwotlp", "client_secret": "multi-region-test-secret"}
    central, other = "us-east-1", "eu-west-1"
    with moto(lane):
        example = workspace.copy_working_tree(lane.work / "repo") / "examples" / "multi-region"
        workspace.write_overrides(example, lane.endpoint, lane.ca_bundle, aliases=("eu",))
        tf = lane.terraform(example, values)
        apply_with_saved_plan(lane, tf)
        state, _ = tf.show()
        bucket = state["values"]["outputs"]["s3_bucket_name"]["value"]
        aws = aws_mod.Aws(lane.endpoint, lane.ca_bundle, central)
        checked = check_multi_region(aws, bucket, central, other)
        lane.say(f"{checked} properties of both regions' streams are as expected")
        assert_no_changes(lane, tf)
        destroy(lane, tf)
        remaining = {kind: names for kind, names in aws_mod.leftovers(aws, (central, other)).items() if names}
        if remaining:
            raise AssertionError(f"{lane.name}: terraform destroy left {remaining}")
        lane.say(f"destroyed; nothing is left in {central} or {other}")


LANES: dict[str, Callable[[Settings], None]] = {
    "quickstart": quickstart,
    "complete": complete,
    **{f"upgrade-{release}": upgrade(release) for release in RELEASES},
    "multi-region": multi_region,
}
