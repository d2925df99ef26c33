"""The `json` stream format read for the converter's typed path (`Converter.line_entries`).

A line that is exactly a CloudWatch record, every field of the type CloudWatch writes it with, is decoded
straight into a `Record`: it costs less than parsing it into a dict (`cwotlp.formats.json_lines`), and
its fields need no checks of types. Any other line is parsed as `json_lines.records` parses it, so that
the converter judges it, and counts it, as it judges every record. The decoder must never accept a line
that orjson rejects, nor read one differently: the tests compare the two on hostile lines.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
import orjson

from cwotlp.formats import json_lines
from cwotlp.formats.json_lines import Lines

if TYPE_CHECKING:
    from msgspec.json import Decoder

# An integer of 64 signed bits at most: orjson reads some wider ones as floats, so a line with one goes
# through `TypedLines.parsed`, as does every line that the two might read differently.
Integer = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]


NO_DIMENSIONS = msgspec.Raw(b"null")  # a record without the field reads as `"dimensions": null`


class Record(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A CloudWatch record exactly as CloudWatch writes it. No field is skipped unread (an unknown one
    fails the line): orjson rejects a line for bytes anywhere in it, so the typed decoder must see
    them all to reject it too.

    The dimensions are kept as the line writes them (msgspec checks that they are well-formed JSON):
    the converter looks their attributes up by these bytes, and decodes them (`TypedLines.dimensions`)
    only for dimensions it has not met, which are a few in a hundred lines of a real stream.
    """

    namespace: str
    metric_name: str
    timestamp: int
    value: dict[str, Integer | float]
    metric_stream_name: str | None = None
    account_id: str | None = None
    region: str | None = None
    dimensions: msgspec.Raw = NO_DIMENSIONS
    unit: str | None = None


@functools.cache
def _decoder() -> Decoder[Record]:
    return msgspec.json.Decoder(Record)  # made when first needed: it costs a few milliseconds


@functools.cache
def _dimensions_decoder() -> Decoder[dict[str, str] | None]:
    return msgspec.json.Decoder(dict[str, str] | None)


class TypedLines(Lines):
    """A body's non-blank lines for the typed path (`runs`, as `json_lines.Lines` cuts them): `decode`
    makes a Record of a line or raises `error`; `dimensions` reads a Record's dimensions; `parsed` reads
    any other line as `json_lines.records` does, counting it when it does not parse."""

    # ValidationError is a DecodeError. A Record's typed fields hold nothing nested, so the decoder
    # stops at the first level too deep; but the dimensions' bytes are checked to their end, and a value
    # nested past Python's recursion limit (which orjson may still read) raises RecursionError: that
    # line, like any other the decoder refuses, is read as json_lines reads it (the tests nest values
    # deep in each field).
    error = (msgspec.DecodeError, RecursionError)

    def __init__(self, chunks: Iterable[bytes], skipped: Counter[str], truncated: Callable[[], bool]) -> None:
        super().__init__(chunks, skipped)
        self.decode = _decoder().decode
        self._decode_dimensions = _dimensions_decoder().decode
        self._truncated = truncated

    def dimensions(self, text: bytes) -> dict[str, str] | None:
        """The dimensions of a Record, from their bytes ({} for null); None when they are not an object
        of strings, which the converter refuses as it refuses such a record."""
        try:
            return self._decode_dimensions(text) or {}
        except self.error:
            return None

    def parsed(self, line: bytes) -> tuple[Any, ...]:
        """The line's value, alone in a tuple, or nothing when it does not parse."""
        try:
            return (orjson.loads(line),)
        except orjson.JSONDecodeError:
            self.failed(line, self._truncated)
            return ()

    def records(self) -> Iterator[Any]:
        """The body's records as `json_lines.records` reads them, instead of the lines."""
        return json_lines.records(self._chunks, self.skipped, self._truncated)
