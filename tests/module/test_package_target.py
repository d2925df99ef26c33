"""`make package` builds for the platform the function runs on: ARCH and PYTHON_VERSION reach lambda/build.py,
their defaults are the module's, and the docs give the command an x86_64 function needs."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from module.hcl_blocks import blocks

ROOT = Path(__file__).resolve().parents[2]


def package_command(*overrides: str) -> str:
    """The build command `make package` runs, printed by make without running anything."""
    if shutil.which("make") is None:
        pytest.fail("make is needed: every command a user runs is a Makefile target")
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", "-C", str(ROOT), "package", *overrides],
        capture_output=True,
        text=True,
        check=True,
    )
    (line,) = [line for line in result.stdout.splitlines() if "lambda/build.py" in line]
    return line


def defaults(path: Path) -> dict[str, str]:
    """The string defaults of a variables.tf, unquoted."""
    variables = blocks(path, "variable").items()
    return {
        name: body["default"].strip('"') for name, body in variables if isinstance(body.get("default"), str)
    }


def module_settings(main_tf: Path) -> dict[str, str]:
    """The literal string arguments of the module block in an example's main.tf."""
    (body,) = blocks(main_tf, "module").values()
    return {name: value.strip('"') for name, value in body.items() if isinstance(value, str)}


def test_arch_and_python_version_reach_the_build() -> None:
    command = package_command("ARCH=x86_64", "PYTHON_VERSION=3.12")
    assert "--arch x86_64 --python-version 3.12" in command
    assert "--output dist/cwotlp-lambda.zip" in command


def test_the_defaults_are_the_module_defaults() -> None:
    module = defaults(ROOT / "variables.tf")
    version = module["lambda_runtime"].removeprefix("python")
    assert f"--arch {module['lambda_architecture']} --python-version {version}" in package_command()


@pytest.mark.parametrize("doc", ["README.md", "docs/deployment.md", "docs/usage.md"])
def test_docs_give_the_command_for_another_architecture(doc: str) -> None:
    text = (ROOT / doc).read_text(encoding="utf-8")
    command = r"make package ARCH=x86_64( PYTHON_VERSION=3\.\d+)?"
    assert re.search(rf"`{command}`|^{command}\s", text, re.M)


def test_the_complete_example_says_how_to_build_its_package() -> None:
    settings = module_settings(ROOT / "examples" / "complete" / "main.tf")
    module = defaults(ROOT / "variables.tf")
    command = f"make package ARCH={settings['lambda_architecture']}"
    if settings["lambda_runtime"] != module["lambda_runtime"]:
        command += f" PYTHON_VERSION={settings['lambda_runtime'].removeprefix('python')}"
    assert f"`{command}`" in (ROOT / "examples" / "complete" / "README.md").read_text(encoding="utf-8")
