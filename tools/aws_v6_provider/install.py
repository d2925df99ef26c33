"""Installs the test-only hashicorp/aws v6 provider where Terraform can find it.

- a virtual environment, .venv-tfv6 at the repository root, with the plugin's pinned
  requirements (requirements.txt) and the schema's source package (requirements-schema.txt,
  without dependencies: the generator reads its files and never imports it); it is rebuilt when
  either file changes;
- a filesystem mirror holding
  registry.terraform.io/hashicorp/aws/terraform-provider-aws_<version>_<platform>.zip, whose
  terraform-provider-aws_v<version> runs plugin.py with the environment's Python; <version> is
  the provider version schema.json was generated from;
- optionally a Terraform CLI configuration that takes hashicorp/aws from that mirror only.

Usage: python install.py [--mirror DIR] [--cli-config FILE] [--platform OS_ARCH] [--check-types]
Standard library only, so that the system Python can run it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import shlex
import shutil
import stat
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
VENV = REPO_ROOT / ".venv-tfv6"
REQUIREMENTS = HERE / "requirements.txt"
REQUIREMENTS_SCHEMA = HERE / "requirements-schema.txt"
SCHEMA = HERE / "schema.json"
PLUGIN = HERE / "plugin.py"
PIP_TIMEOUT = 900


def venv_python(venv_dir: Path = VENV) -> Path:
    return venv_dir / "bin" / "python"


def ensure_venv(venv_dir: Path = VENV) -> Path:
    """The environment's Python, after (re)building the environment if its requirements changed."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes() + REQUIREMENTS_SCHEMA.read_bytes()).hexdigest()[:16]
    stamp = venv_dir / f".installed-{digest}"
    if stamp.exists():
        return venv_python(venv_dir)
    shutil.rmtree(venv_dir, ignore_errors=True)
    venv.EnvBuilder(with_pip=True).create(venv_dir)
    pip = [str(venv_python(venv_dir)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    log = venv_dir / "pip.log"
    with log.open("w") as out:
        for extra in (["-r", str(REQUIREMENTS)], ["--no-deps", "-r", str(REQUIREMENTS_SCHEMA)]):
            done = subprocess.run(
                pip + extra, stdout=out, stderr=subprocess.STDOUT, timeout=PIP_TIMEOUT, check=False
            )
            if done.returncode != 0:
                sys.stderr.write(log.read_text())
                raise SystemExit(f"installing {extra[-1]} into {venv_dir} failed")
    stamp.touch()
    return venv_python(venv_dir)


def provider_version() -> str:
    return str(json.loads(SCHEMA.read_text(encoding="utf-8"))["provider_version"])


def terraform_platform() -> str:
    """Terraform's own platform (os_arch), or this machine's when Terraform is not installed."""
    terraform = shutil.which("terraform")
    if terraform:
        done = subprocess.run(
            [terraform, "version", "-json"], capture_output=True, text=True, timeout=60, check=True
        )
        return str(json.loads(done.stdout)["platform"])
    machine = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine(), platform.machine()
    )
    return f"{sys.platform}_{machine}"


def build_mirror(mirror: Path, python: Path, target: str) -> Path:
    """Lays the provider out in mirror (replacing what was there); returns its package.

    The packed layout (a zip per version and platform) is used: it has no <version>/<platform>
    directories, which is what the v5 check looks for when it searches the disk for a mirror of
    the real provider, so that search cannot pick this one up.
    """
    version = provider_version()
    provider_dir = mirror / "registry.terraform.io" / "hashicorp" / "aws"
    shutil.rmtree(provider_dir, ignore_errors=True)
    provider_dir.mkdir(parents=True)
    wrapper = (
        "#!/bin/sh\n"
        "# Test-only hashicorp/aws v6: serves the provider's schema, see tools/aws_v6_provider/plugin.py.\n"
        f'exec {shlex.quote(str(python))} {shlex.quote(str(PLUGIN))} "$@"\n'
    )
    package = provider_dir / f"terraform-provider-aws_{version}_{target}.zip"
    entry = zipfile.ZipInfo(f"terraform-provider-aws_v{version}", date_time=(2020, 1, 1, 0, 0, 0))
    entry.external_attr = (stat.S_IFREG | 0o755) << 16
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr(entry, wrapper)
    return package


def write_cli_config(path: Path, mirror: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f"    path    = {json.dumps(str(mirror))}\n"
        '    include = ["registry.terraform.io/hashicorp/aws"]\n'
        "  }\n"
        "  direct {\n"
        '    exclude = ["registry.terraform.io/hashicorp/aws"]\n'
        "  }\n"
        "}\n",
        encoding="utf-8",
    )


def missing_types(root: Path = REPO_ROOT) -> list[str]:
    """Types that root's .tf files use but schema.json lacks: the subset is stale then."""
    sys.path.insert(0, str(HERE))
    from generate_schema import used_types

    document = json.loads(SCHEMA.read_text(encoding="utf-8"))
    resources, data_sources = used_types(root)
    return [f"resource {t}" for t in resources if t not in document["resource_schemas"]] + [
        f"data {t}" for t in data_sources if t not in document["data_source_schemas"]
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, help="filesystem mirror directory to lay the provider out in")
    parser.add_argument(
        "--cli-config", type=Path, help="write a Terraform CLI configuration using the mirror"
    )
    parser.add_argument("--platform", help="os_arch of the package (default: Terraform's platform)")
    parser.add_argument("--check-types", action="store_true", help="fail if schema.json lacks a type in use")
    args = parser.parse_args(argv)

    if args.check_types:
        missing = missing_types()
        if missing:
            print(
                "schema.json lacks types the configuration uses: " + ", ".join(missing) + "\n"
                "Regenerate it: .venv-tfv6/bin/python tools/aws_v6_provider/generate_schema.py",
                file=sys.stderr,
            )
            return 1
    python = ensure_venv()
    if args.mirror:
        mirror = args.mirror.resolve()
        package = build_mirror(mirror, python, args.platform or terraform_platform())
        print(f"hashicorp/aws {provider_version()} (v6 schema provider): {package}")
        if args.cli_config:
            write_cli_config(args.cli_config, mirror)
    return 0


if __name__ == "__main__":
    sys.exit(main())
