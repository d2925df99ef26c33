"""The OTLP/HTTP side of the collector: strict decoding of export requests and OTLP error answers."""

from __future__ import annotations

import json
import zlib
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.protobuf.unknown_fields import UnknownFieldSet
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from cwotlp_local._server import BodyTooLarge

JSON = "application/json"
PROTOBUF = "application/x-protobuf"


class Headers(dict[str, str]):
    """Request headers with lower-case names; lookups ignore case."""

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


def media_type(headers: Headers) -> str:
    return str(headers.get("content-type", "")).split(";", 1)[0].strip().lower()


class ErrorAnswer(Exception):
    """A request the collector answers with an error status instead of accepting it.

    code is the google.rpc code of the OTLP error body. A malformed request (a client bug) is recorded
    with `reason`; refusals such as a bad token or a body over the limit are not. The body is written in
    the request's content type unless content_type names another.
    """

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        malformed: bool = False,
        reason: str | None = None,
        body_head: bytes = b"",
        headers: dict[str, str] | None = None,
        content_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.malformed = malformed
        self.reason = reason or message
        self.body_head = body_head
        self.headers = headers
        self.content_type = content_type

    def body(self, request_headers: Headers) -> tuple[bytes, str]:
        """The google.rpc.Status body of the answer and its content type."""
        content_type = self.content_type or (PROTOBUF if media_type(request_headers) == PROTOBUF else JSON)
        return status_body(self.code, self.message, content_type), content_type


def malformed(status: int, reason: str, body: bytes) -> ErrorAnswer:
    """A request the collector cannot decode (google.rpc INVALID_ARGUMENT), with the head of its body."""
    return ErrorAnswer(status, 3, reason, malformed=True, body_head=body[:200])


def status_body(code: int, message: str, content_type: str) -> bytes:
    """A google.rpc.Status (the OTLP error body) in the given content type."""
    if content_type == PROTOBUF:
        text = message.encode()
        out = bytearray()
        if code:
            out += b"\x08" + _varint(code)
        out += b"\x12" + _varint(len(text)) + text
        return bytes(out)
    return json.dumps({"code": code, "message": message}).encode()


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _find_unknown_fields(message: Message, path: str = "") -> str | None:
    """The path of the first message holding fields unknown to the schema, or None."""
    if len(UnknownFieldSet(message)):
        return path or "<root>"
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            continue
        children = value if field.is_repeated else [value]
        for index, child in enumerate(children):
            found = _find_unknown_fields(child, f"{path}.{field.name}[{index}]")
            if found:
                return found
    return None


def _gunzip(data: bytes, limit: int) -> bytes:
    """Decompresses gzip (possibly several members) without producing more than limit + 1 bytes."""
    out = bytearray()
    remaining = data
    for _ in range(64):
        decompressor = zlib.decompressobj(wbits=31)
        out += decompressor.decompress(remaining, limit + 1 - len(out))
        if len(out) > limit:
            raise BodyTooLarge(f"more than {limit} bytes after decompression")
        if not decompressor.eof:
            if decompressor.unconsumed_tail:
                raise BodyTooLarge(f"more than {limit} bytes after decompression")
            raise zlib.error("truncated gzip stream")
        remaining = decompressor.unused_data
        if not remaining:
            return bytes(out)
    raise zlib.error("too many gzip members")


def _decompressed(headers: Headers, wire: bytes, limit: int) -> tuple[bytes, str]:
    """The body after its Content-Encoding, and the encoding."""
    encoding = str(headers.get("content-encoding", "identity")).strip().lower() or "identity"
    if encoding == "gzip":
        try:
            return _gunzip(wire, limit), encoding
        except zlib.error as e:
            raise malformed(400, f"bad gzip body: {e}", wire) from e
    if encoding != "identity":
        raise malformed(415, f"unsupported Content-Encoding {encoding!r}", wire)
    if len(wire) > limit:
        raise BodyTooLarge(f"{len(wire)} bytes")
    return wire, encoding


def decode_request(
    headers: Headers, wire: bytes, limit: int
) -> tuple[ExportMetricsServiceRequest, int, str, str]:
    """The request message, its decompressed size, its content type and its content encoding.

    Raises ErrorAnswer for what cannot be decoded strictly, and BodyTooLarge past `limit` bytes.
    """
    content_type = media_type(headers)
    if content_type not in (JSON, PROTOBUF):
        raise malformed(415, f"unsupported Content-Type {content_type!r}", wire)
    raw, encoding = _decompressed(headers, wire, limit)
    message = ExportMetricsServiceRequest()
    if content_type == JSON:
        try:
            json_format.Parse(raw.decode("utf-8"), message, ignore_unknown_fields=False)
        except (json_format.ParseError, UnicodeDecodeError, ValueError) as e:
            raise malformed(400, f"bad OTLP JSON: {e}", raw) from e
    else:
        try:
            message.ParseFromString(raw)
        except DecodeError as e:
            raise malformed(400, f"bad OTLP protobuf: {e}", raw) from e
        unknown = _find_unknown_fields(message)
        if unknown is not None:
            raise malformed(400, f"unknown protobuf fields at {unknown}", raw)
    return message, len(raw), content_type, encoding
