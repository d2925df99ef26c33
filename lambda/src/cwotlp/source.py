"""Where object bytes come from: S3 event records and streamed, possibly gzipped, object bodies."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import Any
from urllib.parse import unquote_plus

GZIP_MAGIC = b"\x1f\x8b"
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class ObjectRef:
    bucket: str
    key: str
    size: int | None = None


def objects_in_event(event: dict[str, Any]) -> tuple[list[ObjectRef], int]:
    """The S3 objects an S3 notification event names, and how many of its records were not S3 records.

    Keys in S3 event notifications are form-encoded (a space arrives as '+').
    """
    refs = []
    ignored = 0
    for record in event.get("Records") or []:
        try:
            s3 = record["s3"]
            refs.append(
                ObjectRef(s3["bucket"]["name"], unquote_plus(s3["object"]["key"]), s3["object"].get("size"))
            )
        except (KeyError, TypeError):
            ignored += 1
    return refs, ignored


class Decompressed:
    """Iterates the plain bytes of a body given as chunks, gunzipping when it starts with gzip's magic.

    Concatenated gzip members are read one after another. A body that ends inside a member is
    truncated: every byte decompressed before the cut is still produced and `truncated` is set.
    """

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = chunks
        self.truncated = False
        self.compressed = False
        self.bytes_read = 0
        self._plain = self._read()
        self._peeked: bytes | None = None

    def peek(self) -> bytes:
        """The first plain chunk (empty for an empty body), still produced by iteration afterwards."""
        if self._peeked is None:
            self._peeked = next((chunk for chunk in self._plain if chunk), b"")
        return self._peeked

    def __iter__(self) -> Iterator[bytes]:
        if self._peeked:
            yield self._peeked
        yield from self._plain

    def _read(self) -> Iterator[bytes]:
        chunks = iter(self._chunks)
        first = b""
        for chunk in chunks:  # the magic needs two bytes, and a chunk may be shorter
            first += chunk
            if len(first) >= 2:
                break
        body = chain((first,), chunks) if first else chunks
        if first.startswith(GZIP_MAGIC):
            self.compressed = True
            yield from self._gunzip(body)
        else:
            for chunk in body:
                self.bytes_read += len(chunk)
                yield chunk

    def _gunzip(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        inflater = zlib.decompressobj(wbits=31)
        inside_member = False
        for chunk in chunks:
            self.bytes_read += len(chunk)
            data = chunk
            while data:
                try:
                    out = inflater.decompress(data)
                except zlib.error:
                    self.truncated = True  # corrupt from here on: keep what came before
                    return
                inside_member = True
                if out:
                    yield out
                if not inflater.eof:
                    break
                data = inflater.unused_data
                inflater = zlib.decompressobj(wbits=31)
                inside_member = False
        if inside_member:  # the body ended inside a member: whatever zlib still holds is all there is
            self.truncated = True
            tail = inflater.flush()
            if tail:
                yield tail
