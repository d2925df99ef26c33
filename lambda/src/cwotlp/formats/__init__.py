"""Stream formats: how the records of a metric stream object are read, one module per output format.

The format is chosen once, from configuration (the module knows its metric stream's output format),
never guessed from an object's bytes. Each format turns an object's plain bytes into CloudWatch records,
counting what it cannot read in `skipped`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from cwotlp.formats import json_lines

if TYPE_CHECKING:
    from cwotlp.otlp.convert import Converter
    from cwotlp.otlp.pieces import Entry

JSON = "json"
OPENTELEMETRY_1_0 = "opentelemetry1.0"


class StreamFormat(Protocol):
    name: str

    def records(
        self, chunks: Iterable[bytes], skipped: Counter[str], truncated: Callable[[], bool]
    ) -> Iterator[Any]: ...

    def entries(
        self,
        converter: Converter,
        chunks: Iterable[bytes],
        skipped: Counter[str],
        truncated: Callable[[], bool],
    ) -> Iterator[Entry]:
        """What converter.entries() makes of the records, made without the records where the format
        allows (typed lines, 1.0 datapoints); for objects without drop or keep rules, which take
        records."""
        ...


class JsonLines:
    name = JSON

    def records(
        self, chunks: Iterable[bytes], skipped: Counter[str], truncated: Callable[[], bool]
    ) -> Iterator[Any]:
        return json_lines.records(chunks, skipped, truncated)

    def entries(
        self,
        converter: Converter,
        chunks: Iterable[bytes],
        skipped: Counter[str],
        truncated: Callable[[], bool],
    ) -> Iterator[Entry]:
        from cwotlp.formats.json_typed import TypedLines  # msgspec, for the objects that need it

        return converter.line_entries(TypedLines(chunks, skipped, truncated), skipped)


class OpenTelemetry10:
    name = OPENTELEMETRY_1_0

    def records(
        self, chunks: Iterable[bytes], skipped: Counter[str], truncated: Callable[[], bool]
    ) -> Iterator[Any]:
        from cwotlp.formats import otel1  # protobuf's modules, for the objects that need them

        return otel1.records(chunks, skipped)

    def entries(
        self,
        converter: Converter,
        chunks: Iterable[bytes],
        skipped: Counter[str],
        truncated: Callable[[], bool],
    ) -> Iterator[Entry]:
        from cwotlp.formats import otel1

        return converter.datapoint_entries(otel1.datapoints(chunks, skipped), skipped)


FORMATS: dict[str, StreamFormat] = {JSON: JsonLines(), OPENTELEMETRY_1_0: OpenTelemetry10()}


def stream_format(name: str) -> StreamFormat:
    return FORMATS[name]


def detect(head: bytes) -> str:
    """The likely format of an object from its first plain bytes, for the command line only: a JSON
    record opens with '{' (after an optional byte order mark and whitespace); a frame with its length."""
    text = head.removeprefix(json_lines.BOM).lstrip()
    return JSON if not text or text[:1] == b"{" else OPENTELEMETRY_1_0
