"""Where object bytes come from: S3 event records and streamed, possibly gzipped, object bodies.

Memory stays bounded whatever the object holds: the body is read in chunks, and gzip is inflated at
most INFLATE_STEP bytes at a time, so a gzip bomb (a gigabyte of zeros in a megabyte) never sits in
memory whole. Inflating is zlib-ng's (the zlib module's interface, and its results, at twice its speed
on Firehose's objects).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, TypeGuard, cast
from urllib.parse import unquote_plus

from zlib_ng import zlib_ng

from cwotlp.errors import DeliveryError

GZIP_MAGIC = b"\x1f\x8b"
CHUNK_BYTES = 1 << 20
INFLATE_STEP = 256 << 10
# zlib_ng.error, the exception class zlib.error stands for (zlib-ng's stubs declare an instance).
GZIP_ERROR = cast("type[Exception]", zlib_ng.error)


@dataclass(frozen=True)
class ObjectRef:
    bucket: str
    key: str
    size: int | None = None


@dataclass
class EventObjects:
    """What an S3 notification event asks for."""

    refs: list[ObjectRef] = field(default_factory=list)
    ignored: int = 0  # records of other kinds (not S3, or not an object creation)
    unusable: int = 0  # S3 records that do not name a bucket and key


def objects_in_event(event: Any) -> EventObjects:
    """The S3 objects an S3 notification event names.

    Keys in S3 event notifications are form-encoded (a space arrives as '+').
    """
    found = EventObjects()
    records = event.get("Records") if isinstance(event, dict) else None
    for record in records if isinstance(records, list) else ():
        if not isinstance(record, dict):
            found.ignored += 1
            continue
        s3, name = record.get("s3"), record.get("eventName", "ObjectCreated:Put")
        if not isinstance(s3, dict) or not isinstance(name, str) or not name.startswith("ObjectCreated"):
            found.ignored += 1
            continue
        bucket, item = s3.get("bucket"), s3.get("object")
        bucket_name = bucket.get("name") if isinstance(bucket, dict) else None
        key, size = (item.get("key"), item.get("size")) if isinstance(item, dict) else (None, None)
        if not (_name(bucket_name) and _name(key)):
            found.unusable += 1
            continue
        size = size if type(size) is int else None
        found.refs.append(ObjectRef(bucket_name, unquote_plus(key), size))
    return found


def _name(value: Any) -> TypeGuard[str]:
    """Whether an event's bucket name or key can be one: a string that is not empty and is UTF-8 (a
    lone surrogate, which JSON can escape, is not)."""
    if not isinstance(value, str) or not value:
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def content_tag(s3: Any, ref: ObjectRef) -> str:
    """The ETag of the object's content now: delivery progress counts the units of one content, so an
    object written again under its key is delivered again, from its start."""
    from botocore.exceptions import ClientError

    try:
        return str(s3.head_object(Bucket=ref.bucket, Key=ref.key).get("ETag", ""))
    except ClientError as error:  # an answer to HEAD has no body: its code is the HTTP status
        code = str(error.response.get("Error", {}).get("Code", "error"))
        raise DeliveryError(f"S3 HeadObject: {_HEAD_CODES.get(code, code)}") from None


def body_of(s3: Any, ref: ObjectRef, content: str) -> Any:
    """The object's streamed body, if it still holds `content` (content_tag's ETag)."""
    from botocore.exceptions import ClientError

    try:
        response = s3.get_object(Bucket=ref.bucket, Key=ref.key, **({"IfMatch": content} if content else {}))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
            raise DeliveryError(
                "the object was written again while it was being started; the retry delivers it anew"
            ) from None
        raise
    return response["Body"]


_HEAD_CODES = {"404": "NoSuchKey", "403": "AccessDenied"}


class Decompressed:
    """Iterates the plain bytes of a body given as chunks, gunzipping when it starts with gzip's magic.

    Concatenated gzip members are read one after another. A body that ends inside a member, or has
    bytes after one that are not another member, is truncated: every byte decompressed before that is
    still produced and `truncated` is set.
    """

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = chunks
        self.truncated = False
        self.compressed = False
        self.bytes_read = 0
        self.plain_bytes = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._read():
            self.plain_bytes += len(chunk)
            yield chunk

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
            return
        for chunk in body:
            self.bytes_read += len(chunk)
            yield chunk

    def _gunzip(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        inflater = zlib_ng.decompressobj(wbits=31)
        inside_member = False
        for chunk in chunks:
            self.bytes_read += len(chunk)
            data = chunk
            while data or inside_member:
                try:
                    out = inflater.decompress(data, INFLATE_STEP)
                except GZIP_ERROR:
                    self.truncated = True  # corrupt from here on: keep what came before
                    return
                inside_member = True
                if out:
                    yield out
                data = inflater.unconsumed_tail
                if data or len(out) == INFLATE_STEP:
                    continue  # more to come from this input
                if not inflater.eof:
                    break  # the member goes on in the next chunk
                data = inflater.unused_data
                inflater = zlib_ng.decompressobj(wbits=31)
                inside_member = False
        if inside_member:  # the body ended inside a member: whatever zlib still holds is all there is
            self.truncated = True
            tail = inflater.flush()
            if tail:
                yield tail
