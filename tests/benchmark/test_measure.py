"""The bench's memory baselines: a row's `added` is measured from a fresh interpreter that has imported
exactly what a process of the row imports, lazily loaded modules included, whichever the row."""

from __future__ import annotations

from pathlib import Path

import pytest
from measure import imported_modules, rss_after_imports  # bench/, on pytest's pythonpath
from objects import FORMATS
from rows import ROWS

from cwotlp_local.realistic import cached_object

# Writes the names of the modules a Python process has loaded when it exits, to $LOADED_MODULES.
SITECUSTOMIZE = """\
import atexit, os, sys
atexit.register(lambda: open(os.environ["LOADED_MODULES"], "w").write("\\n".join(sys.modules)))
"""
# Where the modules that make a baseline differ from one row to another come from.
PACKAGES = ("cwotlp", "google", "opentelemetry", "orjson", "objects", "json", "gzip", "zlib")


def loaded(path: Path) -> set[str]:
    return {name for name in path.read_text().split("\n") if name.split(".")[0] in PACKAGES}


@pytest.mark.parametrize(
    ("output_format", "label"),
    [(output_format, row.label) for output_format in FORMATS for row in ROWS[output_format]],
)
def test_a_baseline_has_loaded_what_the_rows_process_loads(
    output_format: str, label: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setenv("LOADED_MODULES", str(tmp_path / "loaded.txt"))
    [row] = [row for row in ROWS[output_format] if row.label == label]
    probe = cached_object(tmp_path / "data", 64 << 10, output_format=output_format, compress=True)

    modules = imported_modules(row.argv(output_format, probe))
    by_the_process = loaded(tmp_path / "loaded.txt")
    rss_after_imports(modules, runs=1)
    by_the_baseline = loaded(tmp_path / "loaded.txt")

    assert by_the_process == by_the_baseline
    if output_format != FORMATS[0] and "--encoding protobuf --naming native" not in label:
        # every reader of OpenTelemetry 1.0 frames but the forwarder's passthrough parses them
        assert "opentelemetry.proto.collector.metrics.v1.metrics_service_pb2" in by_the_baseline


def test_sources_are_compiled_for_the_runs_and_only_what_was_made_is_removed(tmp_path: Path) -> None:
    import importlib.util
    import py_compile

    from measure import compiled

    package = tmp_path / "package"
    (package / "inner").mkdir(parents=True)
    sources = [package / "a.py", package / "inner" / "b.py"]
    for source in sources:
        source.write_text("VALUE = 1\n")
    caches = [Path(importlib.util.cache_from_source(str(source))) for source in sources]
    py_compile.compile(str(sources[1]))  # bytecode that was there before
    with compiled([package]):
        assert all(cache.read_bytes()[:4] == importlib.util.MAGIC_NUMBER for cache in caches)
    assert not caches[0].exists()
    assert caches[1].exists()
