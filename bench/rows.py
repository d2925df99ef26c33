"""What is measured on each object: the forwarder's command lines, the naive converters and the floors,
and the targets the forwarder is held to."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from measure import BENCH_DIR
from objects import JSON, OTEL1

FORWARDER, NAIVE, FLOOR = "cwotlp", "naive", "floor"
CWOTLP = str(Path(sys.executable).with_name("cwotlp"))  # the console script next to this interpreter


@dataclass(frozen=True)
class Target:
    """A bound on the time ratio of a forwarder row to a reference row, measured pair by pair."""

    reference: str  # NAIVE or FLOOR
    speedup: bool  # show reference time / forwarder time (else forwarder time / reference time)
    bound: float | None  # at least this for a speed-up, at most this for a time ratio; None: no target
    note: str = ""

    def verdict(self, median: float) -> str:
        if self.bound is None:
            return "(no target)"
        met = median >= self.bound if self.speedup else median <= self.bound
        bound = f"{'>=' if self.speedup else '<='} {self.bound:g}x{self.note}"
        return f"target {bound}: median {'met' if met else 'NOT met'}"


@dataclass(frozen=True)
class Row:
    label: str
    role: str
    options: tuple[str, ...] = ()  # of `cwotlp convert`
    encoding: str = "json"  # of the forwarder's requests
    targets: tuple[Target, ...] = ()

    def argv(self, output_format: str, path: Path, cwotlp: str = CWOTLP) -> list[str]:
        if self.role == FORWARDER:
            return [cwotlp, "convert", str(path), *self.options]
        return [sys.executable, str(BENCH_DIR / f"{self.role}.py"), output_format, str(path)]


_JSON_TARGETS = (
    Target(NAIVE, speedup=True, bound=7.0, note=" (set on the 32 MiB object)"),
    Target(FLOOR, speedup=False, bound=2.5),
)
_OTEL1 = ("--format", OTEL1)


def _otel1_row(encoding: str, naming: str, bound: float) -> Row:
    options = (*_OTEL1, "--encoding", encoding, "--naming", naming)
    return Row(
        f"cwotlp convert {' '.join(options[2:])}",
        FORWARDER,
        options,
        encoding,
        (Target(NAIVE, False, bound), Target(FLOOR, False, None)),
    )


ROWS = {
    JSON: (
        Row("cwotlp convert", FORWARDER, (), "json", _JSON_TARGETS),
        Row(
            "cwotlp convert --encoding protobuf",
            FORWARDER,
            ("--encoding", "protobuf"),
            "protobuf",
            _JSON_TARGETS,
        ),
        Row("naive: json.loads, dicts, json.dumps", NAIVE),
        Row("floor: orjson.loads per line", FLOOR),
    ),
    OTEL1: (
        _otel1_row("protobuf", "native", 1.0),
        _otel1_row("json", "native", 3.0),
        _otel1_row("protobuf", "cloudwatch", 3.0),
        _otel1_row("protobuf", "otel", 3.0),
        _otel1_row("protobuf", "prometheus", 3.0),
        Row("naive: parse and SerializeToString", NAIVE),
        Row("floor: parse every frame", FLOOR),
    ),
}
