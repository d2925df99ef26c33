"""Stream formats: how the records of a metric stream object are read, one module per output format.

The format is chosen once, from configuration (the module knows its metric stream's output format),
never guessed from an object's bytes. Each format turns an object's plain bytes into CloudWatch records,
counting what it cannot read in `skipped`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from cwotlp.formats import json_lines

JSON = "json"
OPENTELEMETRY_1_0 = "opentelemetry1.0"


class StreamFormat(Protocol):
    name: str

    def records(
        self, chunks: Iterable[bytes], skipped: Counter[str], truncated: Callable[[], bool]
    ) -> Iterator[Any]: ...


class JsonLines:
    name = JSON

    def records(
        self, chunks: Iterable[bytes], skipped: Counter[str], truncated: Callable[[], bool]
    ) -> Iterator[Any]:
        return json_lines.records(chunks, skipped, truncated)


class OpenTelemetry10:
    name = OPENTELEMETRY_1_0

    def records(
        self, chunks: Iterable[bytes], skipped: Counter[str], truncated: Callable[[], bool]
    ) -> Iterator[Any]:
        from cwotlp.formats import otel1  # protobuf's modules, for the objects that need them

        return otel1.records(chunks, skipped)


FORMATS: dict[str, StreamFormat] = {JSON: JsonLines(), OPENTELEMETRY_1_0: OpenTelemetry10()}


def stream_format(name: str) -> StreamFormat:
    return FORMATS[name]


def detect(head: bytes) -> str:
    """The likely format of an object from its first plain bytes, for the command line only: a JSON
    record opens with '{' (after an optional byte order mark and whitespace); a frame with its length."""
    text = head.removeprefix(json_lines.BOM).lstrip()
    return JSON if not text or text[:1] == b"{" else OPENTELEMETRY_1_0
