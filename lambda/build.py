#!/usr/bin/env python3
"""Build the Lambda deployment package: the cwotlp sources plus the pinned runtime wheels, as one zip.

Usage: python3 build.py --output PATH.zip [--arch arm64|x86_64] [--python-version 3.13]

Needs only the Python standard library and pip, so Terraform can run it with the system python3.
pip downloads the wheels pinned in requirements.txt for the Lambda platform (manylinux2014, CPython
of the requested version); the wheels are unpacked here rather than installed, so no installer writes
scripts or machine-specific metadata.

Bytecode: /var/task is read-only, so a Lambda compiles every module it imports at each cold start unless
the package holds the bytecode (about a tenth of a second for the forwarder). When a CPython of the
requested version is at hand (the one running this script, `python3.13` on PATH for 3.13, or a 3.13.N
that pyenv installed), every module is compiled with it, as unchecked-hash .pyc files (valid whatever
the files' times after unpacking) named for /var/task. Bytecode only saves time, so it never fails the
build: without such an interpreter the package has none, and a module the interpreter cannot compile
goes without; a line on stderr says so either way.

The zip is deterministic: the same inputs (and the same zlib and interpreters) give the same bytes,
because entries are sorted, every timestamp is 1980-01-01 00:00:00, modes are fixed (0644 files, 0755
directories and executables), compression is fixed, bytecode comes only from the compilation above
(the wheels' own __pycache__ and *.pyc are left out), and installer-only files are dropped (with their
lines in *.dist-info/RECORD).
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import importlib.util
import io
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements.txt"
SOURCE = HERE / "src" / "cwotlp"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
PLATFORMS = {"arm64": "aarch64", "x86_64": "x86_64"}
INSTALLER_FILES = {"INSTALLER", "REQUESTED", "direct_url.json"}
LAMBDA_TASK_ROOT = "/var/task"  # where Lambda unpacks the package: the source paths the bytecode names
COMPILE_TIMEOUT_SECONDS = 300

# archive path -> (content, executable)
Files = dict[str, tuple[bytes, bool]]


class BuildError(Exception):
    """An expected failure, reported as one line without a traceback."""


def excluded(path: str) -> bool:
    parts = path.split("/")
    return "__pycache__" in parts or path.endswith((".pyc", ".pyo"))


def add(files: Files, path: str, data: bytes, executable: bool) -> None:
    if path in files and files[path][0] != data:
        raise BuildError(f"two sources give different contents for {path}")
    files[path] = (data, executable)


def download_wheels(requirements: Path, arch: str, python_version: str, dest: Path) -> list[Path]:
    if importlib.util.find_spec("pip") is None:
        raise BuildError(f"pip is not available for {sys.executable}; install it (e.g. python3-pip)")
    machine = PLATFORMS[arch]
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-input", "--disable-pip-version-check"]
    cmd += ["--only-binary=:all:", "--no-deps", "--implementation", "cp", "--python-version", python_version]
    cmd += ["--platform", f"manylinux2014_{machine}", "--platform", f"manylinux_2_17_{machine}"]
    cmd += ["--dest", str(dest), "--requirement", str(requirements)]
    # pip's own messages go to stderr so that stdout carries only the result.
    result = subprocess.run(cmd, stdout=sys.stderr, check=False)
    if result.returncode != 0:
        raise BuildError(
            f"pip could not download the wheels in {requirements.name} for {arch}/CPython {python_version} "
            f"(exit {result.returncode}); check the network access to the package index and the pins"
        )
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise BuildError(f"pip downloaded no wheels for {requirements}")
    return wheels


def installed_name(name: str) -> str | None:
    """Where an installer puts a wheel's file, or None for what the package does not need."""
    target: str | None = name
    data_dir = re.match(r"[^/]+\.data/([^/]+)/(.*)", name)
    if data_dir:  # purelib/platlib go to the top level; scripts, headers and data are not needed
        target = data_dir[2] if data_dir[1] in ("purelib", "platlib") else None
    if target and (excluded(target) or target.rsplit("/", 1)[-1] in INSTALLER_FILES):
        target = None
    return target


def unpack_wheel(wheel: Path, files: Files) -> None:
    """Add a wheel's files as an installer would place them, with its RECORD rewritten to match."""
    renamed: dict[str, str | None] = {}
    records: list[str] = []
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            name = info.filename
            target = renamed[name] = installed_name(name)
            if re.fullmatch(r"[^/]+\.dist-info/RECORD", name):
                records.append(name)
            elif target:
                add(files, target, zf.read(info), bool((info.external_attr >> 16) & 0o111))
        for record in records:
            add(files, record, rewritten_record(record, zf.read(record), renamed), False)


def rewritten_record(record: str, original: bytes, renamed: dict[str, str | None]) -> bytes:
    """A RECORD file with its rows following the files' new places, and dropped files dropped."""
    if all(name == target for name, target in renamed.items()):  # nothing moved or dropped
        return original
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in csv.reader(io.StringIO(original.decode())):
        if row and (row[0] == record or renamed.get(row[0])):
            writer.writerow([renamed.get(row[0]) or row[0], *row[1:]])
    return out.getvalue().encode()


def add_source(source: Path, files: Files) -> None:
    if not (source / "__init__.py").is_file():
        raise BuildError(f"{source} is not a Python package (no __init__.py)")
    for path in sorted(source.rglob("*")):
        rel = f"{source.name}/{path.relative_to(source).as_posix()}"
        if path.is_file() and not excluded(rel):
            add(files, rel, path.read_bytes(), bool(path.stat().st_mode & 0o111))


def cache_tag(python_version: str) -> str:
    """The tag in the names of CPython's bytecode files: cpython-313 for 3.13."""
    return f"cpython-{python_version.replace('.', '')}"


def bytecode_path(source: str, tag: str) -> str:
    """Where CPython looks for a module's bytecode: a/b.py -> a/__pycache__/b.cpython-313.pyc."""
    directory, _, name = source.rpartition("/")
    return f"{directory}/__pycache__/{name.removesuffix('.py')}.{tag}.pyc".lstrip("/")


def interpreter(python_version: str) -> str | None:
    """A CPython of the given version (3.13) to compile with: this one, python3.13 on PATH, or pyenv's
    newest 3.13.N (its shims run only the versions it was told to); None if none is one."""
    tag = cache_tag(python_version)
    if sys.implementation.cache_tag == tag:
        return sys.executable
    candidates = [shutil.which(f"python{python_version}"), *pyenv_pythons(python_version)]
    for candidate in dict.fromkeys(c for c in candidates if c):
        try:
            result = subprocess.run(
                [candidate, "-I", "-c", "import sys; print(sys.implementation.cache_tag)"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if result.returncode == 0 and result.stdout.strip() == tag:
            return candidate
    return None


def pyenv_pythons(python_version: str) -> list[str]:
    """The interpreters of pyenv's released versions of python_version (3.13.N, no 3.13-dev or 3.13.0rc1),
    newest first."""
    try:
        root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    except RuntimeError:  # no home directory to look in
        return []
    release = re.compile(re.escape(python_version) + r"\.(\d+)")
    found = []
    for executable in root.glob(f"versions/{python_version}.*/bin/python{python_version}"):
        number = release.fullmatch(executable.parents[1].name)
        if number:
            found.append((int(number[1]), str(executable)))
    return [executable for _, executable in sorted(found, reverse=True)]


def add_bytecode(files: Files, python_version: str) -> None:
    """Adds the bytecode of every module in files, compiled by a CPython of python_version (see the
    module's docstring). Bytecode only saves time, so nothing about it fails the build: without such an
    interpreter, or for modules it could not compile, a warning on stderr says what has none."""
    executable = interpreter(python_version)
    if executable is None:
        print(
            f"build.py: no CPython {python_version} here ({sys.executable} is not one, and neither PATH nor "
            f"pyenv has a python{python_version}): the package has no bytecode, so the Lambda compiles its "
            "modules at each cold start",
            file=sys.stderr,
        )
        return
    tag = cache_tag(python_version)
    sources = [path for path in files if path.endswith(".py")]
    missing = []
    with tempfile.TemporaryDirectory(prefix="cwotlp-bytecode-") as tmp:
        root = Path(tmp)
        for path in sources:
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(files[path][0])
        problem = compile_tree(executable, root)
        for path in sources:
            compiled = bytecode_path(path, tag)
            if (root / compiled).is_file():
                add(files, compiled, (root / compiled).read_bytes(), False)
            else:
                missing.append(path)
    if problem or missing:
        cause = problem or f"{executable} wrote no {tag} bytecode for them"
        listed = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        print(
            f"build.py: warning: {cause}; {len(missing)} of {len(sources)} modules are packaged without "
            f"bytecode{': ' + listed if missing else ''}",
            file=sys.stderr,
        )


def compile_tree(executable: str, root: Path) -> str | None:
    """Compiles every module under root with executable, as unchecked-hash .pyc named for /var/task; what
    went wrong, or None."""
    command = [executable, "-s", "-m", "compileall", "-q", "-r", "100", "--invalidation-mode"]
    command += ["unchecked-hash", "-d", LAMBDA_TASK_ROOT, str(root)]
    # No PYTHON* setting of this machine may change what is written or where (PYTHONOPTIMIZE would drop
    # docstrings and name the files .opt-1.pyc, PYTHONPYCACHEPREFIX would write them elsewhere).
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=environment,
            timeout=COMPILE_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"{executable} took more than {COMPILE_TIMEOUT_SECONDS} s to compile the package"
    except OSError as exc:
        return f"{executable} could not be run ({exc.strerror})"
    if result.returncode != 0:
        output = " ".join(result.stdout.split())[-1000:]
        return f"{executable} could not compile every module ({output.replace(str(root), '')})"
    return None


def write_zip(files: Files, output: Path) -> None:
    directories = {path.rsplit("/", i)[0] + "/" for path in files for i in range(1, path.count("/") + 1)}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name in sorted(directories | files.keys()):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.create_system = 3  # Unix, so that external_attr carries the mode
            if name.endswith("/"):
                info.external_attr = (stat.S_IFDIR | 0o755) << 16 | 0x10
                zf.writestr(info, b"")
            else:
                data, executable = files[name]
                info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data, compresslevel=9)
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buffer.getvalue())
        os.chmod(tmp, 0o644)
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build(output: Path, arch: str, python_version: str, requirements: Path, source: Path) -> str:
    """Write the package to output and return its base64 SHA-256 (Lambda's CodeSha256)."""
    files: Files = {}
    with tempfile.TemporaryDirectory(prefix="cwotlp-build-") as tmp:
        for wheel in download_wheels(requirements, arch, python_version, Path(tmp)):
            unpack_wheel(wheel, files)
    add_source(source, files)
    add_bytecode(files, python_version)
    write_zip(files, output)
    return base64.b64encode(hashlib.sha256(output.read_bytes()).digest()).decode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--output", required=True, type=Path, help="path of the zip to write")
    parser.add_argument("--arch", choices=sorted(PLATFORMS), default="arm64", help="Lambda architecture")
    parser.add_argument("--python-version", default="3.13", help="Lambda Python runtime version, e.g. 3.13")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"3\.\d+", args.python_version):
        parser.error(f"--python-version must look like 3.13, not {args.python_version!r}")
    try:
        digest = build(args.output, args.arch, args.python_version, REQUIREMENTS, SOURCE)
    except (BuildError, OSError) as exc:
        print(f"build.py: error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.output} CodeSha256={digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
