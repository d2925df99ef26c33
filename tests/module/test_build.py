"""lambda/build.py: the deployment package is reproducible, complete, for the right platform and importable.

The builds are shared by all tests (three in all: arm64 twice, and once for this machine's interpreter).
"""

from __future__ import annotations

import base64
import hashlib
import os
import platform
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "lambda" / "build.py"
HOST_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
HOST_ARCH = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"


@dataclass
class Build:
    path: Path
    stdout: str
    infos: list[zipfile.ZipInfo]
    contents: dict[str, bytes]


def run_build(
    output: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BUILD), "--output", str(output), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )


def build(output: Path, *args: str) -> Build:
    result = run_build(output, *args)
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(output) as archive:
        infos = archive.infolist()
        return Build(output, result.stdout, infos, {i.filename: archive.read(i) for i in infos})


@pytest.fixture(scope="session")
def arm64_builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Build, Build]:
    first = build(tmp_path_factory.mktemp("first") / "cwotlp.zip")
    second = build(tmp_path_factory.mktemp("second") / "cwotlp.zip", "--arch", "arm64")
    return first, second


@pytest.fixture(scope="session")
def arm64_build(arm64_builds: tuple[Build, Build]) -> Build:
    return arm64_builds[0]


@pytest.fixture(scope="session")
def host_build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    output = tmp_path_factory.mktemp("host") / "cwotlp.zip"
    return build(output, "--arch", HOST_ARCH, "--python-version", HOST_VERSION)


def test_builds_are_byte_identical(arm64_builds: tuple[Build, Build]) -> None:
    first, second = arm64_builds
    assert first.path.read_bytes() == second.path.read_bytes()


def test_prints_path_and_code_sha256(arm64_build: Build) -> None:
    digest = base64.b64encode(hashlib.sha256(arm64_build.path.read_bytes()).digest()).decode()
    assert arm64_build.stdout.strip() == f"{arm64_build.path} CodeSha256={digest}"


def test_contains_package_and_dependencies(arm64_build: Build) -> None:
    names = arm64_build.contents.keys()
    for name in ("cwotlp/__init__.py", "cwotlp/environment.json", "cwotlp/py.typed", "certifi/cacert.pem"):
        assert name in names
    assert not any(name.startswith("requests/") for name in names)  # the forwarder speaks http.client
    assert any(name.startswith("orjson/orjson.") and name.endswith(".so") for name in names)
    assert not any(name.startswith("boto3/") for name in names)


def test_leaves_out_bytecode_and_installer_files(arm64_build: Build) -> None:
    for name in arm64_build.contents:
        assert "__pycache__" not in name.split("/")
        assert not name.endswith((".pyc", ".pyo"))
        assert name.rsplit("/", 1)[-1] not in ("INSTALLER", "REQUESTED", "direct_url.json")
        assert not name.startswith("bin/")


def test_orjson_is_built_for_the_requested_platform(arm64_build: Build) -> None:
    names = arm64_build.contents.keys()
    wheel = next(n for n in names if n.startswith("orjson-") and n.endswith(".dist-info/WHEEL"))
    metadata = arm64_build.contents[wheel].decode().splitlines()
    tags = [line.removeprefix("Tag:").strip() for line in metadata if line.startswith("Tag:")]
    assert tags and all(t.startswith("cp313-cp313-manylinux") and t.endswith("_aarch64") for t in tags), tags
    assert "orjson/orjson.cpython-313-aarch64-linux-gnu.so" in names


def test_entries_are_sorted_with_fixed_times_and_modes(arm64_build: Build) -> None:
    infos = arm64_build.infos
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.external_attr >> 16 in (0o100644, 0o100755, 0o40755), info.filename


def test_no_paths_of_the_build_machine(arm64_build: Build) -> None:
    needles = {
        str(REPO),
        str(arm64_build.path.parent),
        f"{tempfile.gettempdir()}/cwotlp-build-",
        str(Path.home() / ".cache"),
        sys.prefix,
        sys.base_prefix,
    }
    for name, data in arm64_build.contents.items():
        for needle in needles:
            assert needle.encode() not in data, f"{name} contains {needle}"


def test_handler_imports_in_a_clean_interpreter(host_build: Build, tmp_path: Path) -> None:
    with zipfile.ZipFile(host_build.path) as archive:
        archive.extractall(tmp_path)
    code = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import cwotlp.handler, orjson, certifi; "
        "assert orjson.__file__.startswith(sys.path[0]) and certifi.where().startswith(sys.path[0]); "
        "print(orjson.dumps({'ok': True}).decode())"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '{"ok":true}'


def test_pip_failure_is_a_clear_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env |= {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1"}  # no index and no links: nothing to download
    output = tmp_path / "out" / "cwotlp.zip"
    result = run_build(output, env=env)
    assert result.returncode == 1
    assert "build.py: error: pip could not download" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not output.exists()
