"""Bytes on the wire: the forwarder's requests as `cwotlp convert` writes them, raw and gzipped."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from objects import frames

from cwotlp.delivery.export import gzipped


@dataclass(frozen=True)
class Wire:
    requests: int
    raw_bytes: int
    gzip_bytes: int


def requests_in(output: bytes, encoding: str) -> Iterator[bytes]:
    """The requests of a `cwotlp convert` stdout: a JSON request per line, or length-delimited protobuf."""
    if encoding == "protobuf":
        return frames(output)
    return (line for line in output.split(b"\n") if line)


def wire_bytes(stdout: Path, encoding: str) -> Wire:
    """How many bytes the requests are, and how many once each is gzipped as the forwarder sends it."""
    requests = raw = compressed = 0
    for request in requests_in(stdout.read_bytes(), encoding):
        compressed += len(gzipped([request])[1])
        requests += 1
        raw += len(request)
    return Wire(requests, raw, compressed)
