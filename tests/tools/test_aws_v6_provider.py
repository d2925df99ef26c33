"""The hashicorp/aws v6 schema provider (tools/aws_v6_provider): its schema subset is what the generator
makes of the pinned cdktn-provider-aws, and validation against it catches a wrong argument."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROVIDER_V6 = ROOT / "tools" / "aws_v6_provider"
sys.path.insert(0, str(PROVIDER_V6))

import install  # noqa: E402

TERRAFORM_TIMEOUT = 300
# Copies of the repository leave out what is not configuration.
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv*", ".tfcli", ".terraform", ".terraform.lock.hcl", "terraform.tfstate*", ".*_cache",
    "__pycache__", "demo-output", "dist", "build", "node_modules",
)  # fmt: skip


@pytest.fixture(scope="module")
def v6_python() -> Path:
    """The plugin's environment, with the schema's source package (installed on first use)."""
    return install.ensure_venv()


def test_schema_json_is_what_the_generator_makes(v6_python: Path, tmp_path: Path) -> None:
    regenerated = tmp_path / "schema.json"
    done = subprocess.run(
        [str(v6_python), str(PROVIDER_V6 / "generate_schema.py"), "--output", str(regenerated)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert regenerated.read_bytes() == (PROVIDER_V6 / "schema.json").read_bytes(), (
        "schema.json is stale: run .venv-tfv6/bin/python tools/aws_v6_provider/generate_schema.py"
    )


def test_schema_is_v6_and_keeps_write_only_arguments() -> None:
    document = json.loads((PROVIDER_V6 / "schema.json").read_text())
    assert document["provider_version"].startswith("6.")
    version = document["resource_schemas"]["aws_secretsmanager_secret_version"]["block"]["attributes"]
    assert version["secret_string_wo"] == {"optional": True, "type": "string", "write_only": True}
    # Every v6 resource can be placed in another region than the provider's.
    assert document["resource_schemas"]["aws_s3_bucket"]["block"]["attributes"]["region"]["optional"]


def terraform(workdir: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["terraform", f"-chdir={workdir}", *args, "-no-color"],
        capture_output=True,
        text=True,
        timeout=TERRAFORM_TIMEOUT,
        env=env,
        check=False,
    )


@pytest.fixture(scope="module")
def v6_env(v6_python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    if shutil.which("terraform") is None:
        pytest.skip("terraform is not on PATH")
    base = tmp_path_factory.mktemp("aws-v6")
    install.build_mirror(base / "mirror", v6_python, install.terraform_platform())
    install.write_cli_config(base / "terraformrc", base / "mirror")
    return {
        **os.environ,
        "TF_CLI_CONFIG_FILE": str(base / "terraformrc"),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
    }


def module_copy(destination: Path) -> Path:
    shutil.copytree(ROOT, destination, ignore=NOT_COPIED)
    return destination


def test_v6_validation_passes_the_module_and_fails_a_misspelled_argument(
    v6_env: dict[str, str], tmp_path: Path
) -> None:
    good = module_copy(tmp_path / "good")
    bad = module_copy(tmp_path / "bad")
    firehose = bad / "modules" / "regional-stream" / "main.tf"
    text = firehose.read_text()
    assert "buffering_interval " in text
    firehose.write_text(text.replace("buffering_interval ", "buffering_intervall ", 1))

    for copy in (good, bad):
        init = terraform(copy, "init", "-backend=false", "-input=false", env=v6_env)
        assert init.returncode == 0, init.stderr
        assert 'version     = "6.' in (copy / ".terraform.lock.hcl").read_text()

    valid = terraform(good, "validate", env=v6_env)
    assert valid.returncode == 0, valid.stderr + valid.stdout

    invalid = terraform(bad, "validate", env=v6_env)
    assert invalid.returncode != 0
    assert "Unsupported argument" in invalid.stderr
    assert '"buffering_intervall" is not expected here' in invalid.stderr


def test_v6_provider_refuses_to_plan_for_real(v6_env: dict[str, str], tmp_path: Path) -> None:
    """Without mock_provider, nothing is planned: the provider only serves schemas."""
    workdir = tmp_path / "plain"
    workdir.mkdir()
    (workdir / "main.tf").write_text(
        'terraform {\n  required_providers {\n    aws = { source = "hashicorp/aws" }\n  }\n}\n\n'
        'provider "aws" {\n  region = "eu-west-1"\n}\n\n'
        'resource "aws_sqs_queue" "this" {\n  name = "v6-schema-only"\n}\n'
    )
    assert terraform(workdir, "init", "-backend=false", env=v6_env).returncode == 0
    plan = terraform(workdir, "plan", "-refresh=false", env=v6_env)
    assert plan.returncode != 0
    assert "cannot plan, apply or read" in plan.stderr.replace("\n", " ")
