"""The pre-commit hooks are a valid configuration and run only tools the project installs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ".pre-commit-config.yaml"


def test_config_is_valid() -> None:
    pre_commit = Path(sys.executable).with_name("pre-commit")
    assert pre_commit.exists() or shutil.which("pre-commit"), "pre-commit is in requirements-dev.txt"
    command = str(pre_commit) if pre_commit.exists() else "pre-commit"
    result = subprocess.run(
        [command, "validate-config", str(CONFIG)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_hook_is_local_and_its_program_exists() -> None:
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    assert {repo["repo"] for repo in config["repos"]} == {"local"}, "hooks run offline"
    assert {hook["id"] for hook in hooks} >= {"ruff", "mypy", "terraform-fmt", "terraform-validate"}
    for hook in hooks:
        program, *arguments = hook["entry"].split()
        if program == "bash":
            assert (ROOT / arguments[0]).is_file(), hook["id"]
            assert "--quick" in arguments, "the hook leaves out the slow terraform test suite"
        elif program.startswith(".venv/"):
            assert Path(program).name in {"ruff", "mypy"}, hook["id"]
        else:
            assert program == "terraform", hook["id"]


def test_the_check_script_refuses_unknown_arguments() -> None:
    script = ROOT / "scripts" / "terraform-check.sh"
    result = subprocess.run(["bash", str(script), "--bogus"], capture_output=True, text=True, check=False)
    assert result.returncode == 2 and "usage" in result.stderr
