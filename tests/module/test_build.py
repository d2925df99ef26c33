"""lambda/build.py: the deployment package is reproducible, complete, for the right platform and importable,
with bytecode when a CPython of the runtime's version is at hand.

The builds are shared by all tests (five in all: arm64 for Python 3.13 twice, with no CPython 3.13 to be
found; twice for this machine's interpreter, which compiles the bytecode; and once for Python 3.13 on
this machine's architecture, compiled by the CPython 3.13 that the deploy test runs its handler with too).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import marshal
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
HOST_TAG = sys.implementation.cache_tag
_spec = importlib.util.spec_from_file_location("build", BUILD)
assert _spec is not None and _spec.loader is not None
build_script = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_script)


@dataclass
class Build:
    path: Path
    stdout: str
    stderr: str
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


def build(output: Path, *args: str, env: dict[str, str] | None = None) -> Build:
    result = run_build(output, *args, env=env)
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(output) as archive:
        infos = archive.infolist()
        return Build(
            output, result.stdout, result.stderr, infos, {i.filename: archive.read(i) for i in infos}
        )


@pytest.fixture(scope="session")
def arm64_builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Build, Build]:
    # PATH and PYENV_ROOT name an empty directory, so that no python3.13 is found whatever the machine has.
    empty = str(tmp_path_factory.mktemp("empty"))
    env = os.environ | {"PATH": empty, "PYENV_ROOT": empty}
    first = build(tmp_path_factory.mktemp("first") / "cwotlp.zip", env=env)
    second = build(tmp_path_factory.mktemp("second") / "cwotlp.zip", "--arch", "arm64", env=env)
    return first, second


@pytest.fixture(scope="session")
def arm64_build(arm64_builds: tuple[Build, Build]) -> Build:
    return arm64_builds[0]


@pytest.fixture(scope="session")
def host_builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Build, Build]:
    args = ("--arch", HOST_ARCH, "--python-version", HOST_VERSION)
    builds = []
    for seed in ("1", "2"):  # hash seeds that differ, as between two machines
        env = os.environ | {"PYTHONHASHSEED": seed}
        builds.append(build(tmp_path_factory.mktemp(f"host{seed}") / "cwotlp.zip", *args, env=env))
    return builds[0], builds[1]


@pytest.fixture(scope="session")
def host_build(host_builds: tuple[Build, Build]) -> Build:
    return host_builds[0]


@pytest.fixture(scope="session")
def python313() -> str:
    found = build_script.interpreter("3.13")
    assert found, "these tests, like the deploy test, need a CPython 3.13: on PATH, or installed by pyenv"
    return found


@pytest.fixture(scope="session")
def runtime_build(tmp_path_factory: pytest.TempPathFactory, python313: str) -> Build:
    """The package for the module's default runtime, Python 3.13, on this machine's architecture."""
    return build(
        tmp_path_factory.mktemp("py313") / "cwotlp.zip", "--arch", HOST_ARCH, "--python-version", "3.13"
    )


def test_builds_are_byte_identical(
    arm64_builds: tuple[Build, Build], host_builds: tuple[Build, Build]
) -> None:
    for first, second in (arm64_builds, host_builds):
        assert first.path.read_bytes() == second.path.read_bytes()


def test_prints_path_and_code_sha256(arm64_build: Build) -> None:
    digest = base64.b64encode(hashlib.sha256(arm64_build.path.read_bytes()).digest()).decode()
    assert arm64_build.stdout.strip() == f"{arm64_build.path} CodeSha256={digest}"


def test_contains_package_and_dependencies(arm64_build: Build) -> None:
    names = arm64_build.contents.keys()
    for name in ("cwotlp/__init__.py", "cwotlp/environment.json", "cwotlp/py.typed", "certifi/cacert.pem"):
        assert name in names
    assert not any(name.startswith("requests/") for name in names)  # the forwarder speaks http.client
    for extension in ("orjson/orjson.", "msgspec/_core.", "zlib_ng/zlib_ng."):
        assert any(name.startswith(extension) and name.endswith(".so") for name in names)
    assert not any(name.startswith("boto3/") for name in names)


def test_without_a_cpython_of_the_version_no_bytecode_and_says_so(arm64_build: Build) -> None:
    for name in arm64_build.contents:
        assert "__pycache__" not in name.split("/")
        assert not name.endswith((".pyc", ".pyo"))
        assert name.rsplit("/", 1)[-1] not in ("INSTALLER", "REQUESTED", "direct_url.json")
        assert not name.startswith("bin/")
    assert "no CPython 3.13 here" in arm64_build.stderr
    assert "the package has no bytecode" in arm64_build.stderr


def test_bytecode_of_every_module_for_the_runtime(host_build: Build) -> None:
    contents = host_build.contents
    sources = [name for name in contents if name.endswith(".py")]
    compiled = [name for name in contents if name.endswith(".pyc")]
    assert "cwotlp/handler.py" in sources and any(name.startswith("google/protobuf/") for name in sources)
    expected = {
        f"{d}/__pycache__/{n[:-3]}.{HOST_TAG}.pyc".lstrip("/")
        for d, _, n in (s.rpartition("/") for s in sources)
    }
    assert set(compiled) == expected
    for name in compiled:
        data = contents[name]
        assert data[:4] == importlib.util.MAGIC_NUMBER
        assert int.from_bytes(data[4:8], "little") == 0b01  # hash-based, source not checked
        source = name.replace("__pycache__/", "").replace(f".{HOST_TAG}.pyc", ".py")
        assert data[8:16] == importlib.util.source_hash(contents[source])
    code = marshal.loads(contents[f"cwotlp/__pycache__/handler.{HOST_TAG}.pyc"][16:])
    assert code.co_filename == "/var/task/cwotlp/handler.py"


@pytest.mark.parametrize(
    ("wheel", "extension"),
    [("orjson", "orjson/orjson"), ("msgspec", "msgspec/_core"), ("zlib_ng", "zlib_ng/zlib_ng")],
)
def test_compiled_wheels_are_built_for_the_requested_platform(
    arm64_build: Build, wheel: str, extension: str
) -> None:
    names = arm64_build.contents.keys()
    found = next(n for n in names if n.startswith(f"{wheel}-") and n.endswith(".dist-info/WHEEL"))
    metadata = arm64_build.contents[found].decode().splitlines()
    tags = [line.removeprefix("Tag:").strip() for line in metadata if line.startswith("Tag:")]
    assert tags and all(t.startswith("cp313-cp313-manylinux") and t.endswith("_aarch64") for t in tags), tags
    assert f"{extension}.cpython-313-aarch64-linux-gnu.so" in names


def test_entries_are_sorted_with_fixed_times_and_modes(arm64_build: Build) -> None:
    infos = arm64_build.infos
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.external_attr >> 16 in (0o100644, 0o100755, 0o40755), info.filename


@pytest.mark.parametrize("which", ["arm64_build", "host_build"])
def test_no_paths_of_the_build_machine(which: str, request: pytest.FixtureRequest) -> None:
    built: Build = request.getfixturevalue(which)
    needles = {
        str(REPO),
        str(built.path.parent),
        f"{tempfile.gettempdir()}/cwotlp-build-",
        f"{tempfile.gettempdir()}/cwotlp-bytecode-",
        str(Path.home() / ".cache"),
        sys.prefix,
        sys.base_prefix,
    }
    for name, data in built.contents.items():
        for needle in needles:
            assert needle.encode() not in data, f"{name} contains {needle}"


def imports_from_the_bytecode(built: Build, python: str, directory: Path) -> None:
    """Unpacks the package and imports the handler with `python` in a clean interpreter, with sources
    that would fail if read: the bytecode is what runs, as in /var/task, which nothing can write."""
    with zipfile.ZipFile(built.path) as archive:
        archive.extractall(directory)
    for module in (
        "cwotlp/handler.py",
        "cwotlp/__init__.py",
        "cwotlp/formats/json_typed.py",
        "orjson/__init__.py",
        "msgspec/__init__.py",
        "zlib_ng/__init__.py",
    ):
        if (directory / module).exists():
            (directory / module).write_text(
                "raise SystemExit('the source was compiled, not the bytecode used')\n"
            )
    code = (
        f"import sys; sys.path.insert(0, {str(directory)!r}); import cwotlp.handler, orjson, certifi; "
        "import msgspec, zlib_ng, gzip; from cwotlp.formats.json_typed import TypedLines; "
        "from cwotlp.source import Decompressed; "
        "assert all(m.__file__.startswith(sys.path[0]) for m in (orjson, msgspec, zlib_ng)); "
        "assert certifi.where().startswith(sys.path[0]); "
        'record = TypedLines([], {}, bool).decode(b\'{"namespace":"N","metric_name":"M",\''
        'b\'"timestamp":1,"value":{"count":1}}\'); '
        "plain = b''.join(Decompressed([gzip.compress(b'line')])); "
        "print(orjson.dumps({'ok': record.value == {'count': 1} and plain == b'line'}).decode())"
    )
    result = subprocess.run(
        [python, "-I", "-S", "-B", "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '{"ok":true}'


def test_handler_imports_in_a_clean_interpreter_from_the_bytecode(host_build: Build, tmp_path: Path) -> None:
    imports_from_the_bytecode(host_build, sys.executable, tmp_path)


def test_python_3_13_package_runs_from_its_bytecode(
    runtime_build: Build, python313: str, tmp_path: Path
) -> None:
    assert "no CPython" not in runtime_build.stderr
    assert "cwotlp/__pycache__/handler.cpython-313.pyc" in runtime_build.contents
    assert "google/protobuf/__pycache__/message.cpython-313.pyc" in runtime_build.contents
    imports_from_the_bytecode(runtime_build, python313, tmp_path)


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


MODULE = (
    b'"""A docstring, which optimisation would drop."""\n\ndef known(word):\n    return word in {"a", "b"}\n'
)


def test_bytecode_does_not_depend_on_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = []
    for environment in (
        {},
        {"PYTHONHASHSEED": "7", "PYTHONOPTIMIZE": "2", "PYTHONPYCACHEPREFIX": "/nonexistent/pycache"},
    ):
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        files = {"words/known.py": (MODULE, False)}
        build_script.add_bytecode(files, HOST_VERSION)
        assert sorted(files) == ["words/__pycache__/known." + HOST_TAG + ".pyc", "words/known.py"]
        compiled.append(files[f"words/__pycache__/known.{HOST_TAG}.pyc"][0])
    assert compiled[0] == compiled[1]
    assert marshal.loads(compiled[0][16:]).co_consts[0] == "A docstring, which optimisation would drop."


def test_a_module_that_does_not_compile_goes_without_bytecode(capsys: pytest.CaptureFixture[str]) -> None:
    files = {"broken/module.py": (b"def broken(:\n", False), "fine/module.py": (b"ANSWER = 42\n", False)}
    build_script.add_bytecode(files, HOST_VERSION)
    assert sorted(files) == ["broken/module.py", f"fine/__pycache__/module.{HOST_TAG}.pyc", "fine/module.py"]
    warning = capsys.readouterr().err
    assert warning.startswith(f"build.py: warning: {sys.executable} could not compile every module (")
    assert "broken/module.py" in warning and "SyntaxError" in warning
    assert warning.rstrip().endswith("1 of 2 modules are packaged without bytecode: broken/module.py")
    assert "cwotlp-bytecode-" not in warning  # the temporary directory is not named


def fake_python(directory: Path, name: str, body: str) -> None:
    script = directory / name
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)


def test_an_interpreter_on_path_is_asked_its_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    assert build_script.interpreter(HOST_VERSION) == sys.executable
    assert build_script.interpreter("3.13") is None  # none on PATH
    fake_python(tmp_path, "python3.13", f'exec {sys.executable} "$@"')  # named 3.13, is this one
    assert build_script.interpreter("3.13") is None
    fake_python(tmp_path, "python3.13", "exit 1")
    assert build_script.interpreter("3.13") is None


def test_bytecode_missing_after_compiling_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An interpreter on PATH that says it is CPython 3.13 is used; it is checked that it wrote the 3.13
    bytecode (this one writes its own version's)."""
    fake_python(
        tmp_path,
        "python3.13",
        f'case "$*" in *cache_tag*) echo cpython-313 ;; *) exec {sys.executable} "$@" ;; esac',
    )
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    assert build_script.interpreter("3.13") == str(tmp_path / "python3.13")
    files = {"cwotlp/module.py": (b"ANSWER = 42\n", False)}
    build_script.add_bytecode(files, "3.13")
    assert list(files) == ["cwotlp/module.py"]
    assert capsys.readouterr().err == (
        f"build.py: warning: {tmp_path / 'python3.13'} wrote no cpython-313 bytecode for them; "
        "1 of 1 modules are packaged without bytecode: cwotlp/module.py\n"
    )


def test_a_compiler_that_hangs_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_python(
        tmp_path, "python3.13", 'case "$*" in *cache_tag*) echo cpython-313 ;; *) exec sleep 30 ;; esac'
    )
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.defpath}")  # sleep
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    monkeypatch.setattr(build_script, "COMPILE_TIMEOUT_SECONDS", 1)
    files = {"cwotlp/module.py": (b"ANSWER = 42\n", False)}
    build_script.add_bytecode(files, "3.13")
    assert list(files) == ["cwotlp/module.py"]
    assert "took more than 1 s to compile the package; 1 of 1 modules" in capsys.readouterr().err


def test_pyenv_versions_are_found_newest_release_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyenv's shims run only the versions it was told to, so its versions directory is looked in."""
    claims = 'case "$*" in *cache_tag*) echo cpython-313 ;; *) exit 3 ;; esac'
    for version in ("3.13.2", "3.13.10", "3.13-dev", "3.13.0rc1", "3.12.9"):
        directory = tmp_path / "versions" / version / "bin"
        directory.mkdir(parents=True)
        fake_python(directory, f"python{version[:4]}", claims)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    newest, older = (str(tmp_path / "versions" / v / "bin" / "python3.13") for v in ("3.13.10", "3.13.2"))
    assert build_script.pyenv_pythons("3.13") == [newest, older]
    assert build_script.interpreter("3.13") == newest
    (tmp_path / "versions" / "3.13.10" / "bin" / "python3.13").write_text("#!/bin/sh\nexit 1\n")
    assert build_script.interpreter("3.13") == older  # one that fails is passed over
