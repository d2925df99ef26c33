"""Where the deploy test applies the examples: copies of the repository (the working tree, or a release
from git), a Terraform CLI configuration that finds hashicorp/aws offline, and the override files that
point an example's provider at moto. The examples themselves are never edited."""

from __future__ import annotations

import importlib.util
import io
import os
import platform
import re
import shutil
import subprocess
import tarfile
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
# What a copy of the working tree leaves out: local state, caches, builds and virtual environments.
IGNORED = {
    ".git",
    ".tfcli",
    ".terraform",
    ".terraform.lock.hcl",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "__pycache__",
    "build",
    "dist",
    "demo-output",
    "node_modules",
}
ENDPOINT_SERVICES = (
    "cloudwatch",
    "ec2",
    "firehose",
    "iam",
    "kms",
    "lambda",
    "logs",
    "s3",
    "secretsmanager",
    "sns",
    "sqs",
    "sts",
)


def copy_working_tree(dest: Path) -> Path:
    """The repository as it is on disk, uncommitted changes included."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        return {
            n for n in names if n in IGNORED or n.startswith(".venv") or n.startswith("terraform.tfstate")
        }

    shutil.copytree(REPO, dest, ignore=ignore, symlinks=True)
    return dest


def copy_commit(commit: str, dest: Path) -> Path:
    """The repository as it was at `commit` (git archive)."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", commit],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def find_provider_mirror() -> Path | None:
    """A filesystem mirror with hashicorp/aws for this platform: TF_PROVIDER_MIRROR, the one that
    scripts/terraform-check.sh found (.tfcli/terraformrc), Terraform's implicit mirror directories, or
    else the first found on this machine the way that script searches."""
    configured = REPO / ".tfcli" / "terraformrc"
    found = (
        re.search(r'filesystem_mirror\s*{\s*path\s*=\s*"([^"]+)"', configured.read_text())
        if configured.exists()
        else None
    )
    candidates = [Path(p) for p in (os.environ.get("TF_PROVIDER_MIRROR"), found and found[1]) if p]
    candidates += [Path.home() / ".terraform.d/plugins", Path("/usr/local/share/terraform/plugins")]
    for mirror in [*candidates, Path("/usr/share/terraform/plugins")]:
        if _holds_aws(mirror):
            return mirror
    return _search_mirror()


def _holds_aws(mirror: Path) -> bool:
    return any((mirror / "registry.terraform.io/hashicorp/aws").glob(f"*/linux_{_platform_arch()}"))


def _platform_arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _search_mirror() -> Path | None:
    prune = (
        "( -path /proc -o -path /sys -o -path /dev -o -name .terraform -o -name .git -o -name node_modules )"
    )
    command = ["find", "/", "-xdev", *prune.split(), "-prune", "-o", "-type", "d"]
    command += ["-path", "*/registry.terraform.io/hashicorp/aws", "-print"]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    for line in sorted(result.stdout.splitlines()):
        mirror = Path(line).parents[2]
        if _holds_aws(mirror) and ".tfcli" not in mirror.parts:
            return mirror
    return None


def write_cli_config(path: Path, plugin_cache: Path) -> Path:
    """A CLI configuration of our own: the provider from the mirror (when there is one), and a plugin cache so
    that each of the copies links the provider instead of copying its several hundred MB."""
    plugin_cache.mkdir(parents=True, exist_ok=True)
    mirror = find_provider_mirror()
    lines = [f'plugin_cache_dir = "{plugin_cache}"', "plugin_cache_may_break_dependency_lock_file = true"]
    if mirror is not None:
        lines += [
            "provider_installation {",
            f'  filesystem_mirror {{\n    path    = "{mirror}"',
            '    include = ["registry.terraform.io/hashicorp/aws"]\n  }',
            '  direct {\n    exclude = ["registry.terraform.io/hashicorp/aws"]\n  }',
            "}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def provider_block(endpoint: str, ca_bundle: Path, alias: str | None = None) -> str:
    """A provider block that merges into the example's: dummy credentials, every endpoint at moto (trusted
    through its CA), and few attempts, so that an API moto lacks fails in seconds instead of after minutes
    of backoff. Not one attempt: the provider's HTTP client now and then finds a TLS connection of the
    test server closed before it has read the answer, which a second attempt gets."""
    endpoints = "\n".join(f'    {service:<14} = "{endpoint}"' for service in ENDPOINT_SERVICES)
    alias_line = f'  alias                       = "{alias}"\n' if alias else ""
    return (
        'provider "aws" {\n'
        f"{alias_line}"
        '  access_key                  = "testing"\n'
        '  secret_key                  = "testing"\n'
        "  skip_credentials_validation = true\n"
        "  skip_requesting_account_id  = true\n"
        "  skip_metadata_api_check     = true\n"
        "  s3_use_path_style           = true\n"
        "  max_retries                 = 3\n"
        f'  custom_ca_bundle            = "{ca_bundle}"\n'
        f"  endpoints {{\n{endpoints}\n  }}\n"
        "}\n"
    )


def write_overrides(
    example: Path, endpoint: str, ca_bundle: Path, aliases: tuple[str, ...] = (), module: str = ""
) -> None:
    """deploy_override.tf in a copy of an example: its providers at moto and, optionally, module arguments."""
    blocks = [provider_block(endpoint, ca_bundle, alias) for alias in (None, *aliases)]
    if module:
        blocks.append(module)
    header = "# Written by make test-deploy into a temporary copy of the example; Terraform merges it in.\n"
    (example / "deploy_override.tf").write_text(header + "\n".join(blocks))


def host_architecture() -> str:
    """This machine's Lambda architecture: the package must be built for it to run here."""
    return "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"


def build_script() -> ModuleType:
    """lambda/build.py, loaded as a module (it is a script, in no package)."""
    spec = importlib.util.spec_from_file_location("cwotlp_build", REPO / "lambda" / "build.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    return build


def find_python(version: str) -> str | None:
    """An interpreter of this Python version (3.13, say): the one lambda/build.py compiles the package's
    bytecode with (this one, on PATH, or installed by pyenv)."""
    found: str | None = build_script().interpreter(version)
    return found
