"""A small HTTP/1.1 server on 127.0.0.1 whose every answer is written byte by byte by a script.

It parses requests itself (request line, headers, Content-Length body) and writes answers as raw bytes,
so that a test can send what no well-behaved server would: a redirect, a lying Content-Encoding, a body
cut short, garbage instead of a status line, or any part of an answer one byte at a time. It serves TLS
when given a context (the handshake runs in the connection's thread, so a stuck client cannot block the
others), keeps connections alive, and records every request with the time it arrived.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_BODY_BYTES = 64 << 20
STAGES = ("status", "headers", "body")  # where an answer may start to trickle


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # path and query as sent
    headers: dict[str, str]  # names in lower case
    body: bytes
    arrived: float  # time.monotonic()

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    raw: bytes | None = None  # written as it is, instead of a status line, headers and body
    trickle_from: str | None = None  # one of STAGES: from there on, one byte per `trickle_seconds`
    trickle_seconds: float = 0.5
    close: bool = False  # close the connection after this answer
    length: int | None = None  # a Content-Length to announce instead of the body's own

    def bytes(self) -> tuple[bytes, bytes, bytes]:
        """(status line, headers with the blank line, body)."""
        if self.raw is not None:
            return self.raw, b"", b""
        length = len(self.body) if self.length is None else self.length
        lines = [*self.headers, ("Content-Length", str(length))]
        if self.close:
            lines.append(("Connection", "close"))
        head = "".join(f"{name}: {value}\r\n" for name, value in lines) + "\r\n"
        return f"HTTP/1.1 {self.status} Status\r\n".encode(), head.encode("latin-1"), self.body


Script = Callable[[Request], Reply]


@dataclass(frozen=True)
class Exchange:
    """A request and what was answered to it."""

    request: Request
    reply: Reply


class _Connection(socketserver.StreamRequestHandler):
    server: _Server

    def setup(self) -> None:
        if self.server.tls is not None:
            self.request.settimeout(10)
            self.request = self.server.tls.wrap_socket(self.request, server_side=True)
            self.request.settimeout(None)
        super().setup()

    def handle(self) -> None:
        with contextlib.suppress(OSError, ValueError, ssl.SSLError):
            while not self.server.stopping.is_set():
                request = self._read_request()
                if request is None:
                    return
                reply = self.server.peer.answer(request)
                if not self._write(request, reply) or reply.close or reply.raw is not None:
                    return

    def _read_request(self) -> Request | None:
        line = self.rfile.readline(65537)
        if not line.strip():
            return None
        method, target, _ = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while (header := self.rfile.readline(65537)) not in (b"\r\n", b"\n", b""):
            name, _, value = header.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = min(int(headers.get("content-length", "0")), MAX_BODY_BYTES)
        body = self.rfile.read(length)
        return Request(method, target, headers, body, time.monotonic())

    def _write(self, request: Request, reply: Reply) -> bool:
        self.server.peer.record(request, reply)
        parts = reply.bytes()
        cut = STAGES.index(reply.trickle_from) if reply.trickle_from else len(parts)
        self.wfile.write(b"".join(parts[:cut]))
        self.wfile.flush()
        for byte in b"".join(parts[cut:]):
            if self.server.stopping.wait(reply.trickle_seconds):
                return False
            self.wfile.write(bytes((byte,)))
            self.wfile.flush()
        return True


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, peer: Peer, tls: ssl.SSLContext | None) -> None:
        self.peer = peer
        self.tls = tls
        self.stopping = threading.Event()
        super().__init__(("127.0.0.1", 0), _Connection)

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hung up or failed its handshake is part of the game, not a server error."""


@dataclass
class Peer:
    """A scripted server; `script` may be replaced at any time, `exchanges` lists what happened."""

    script: Script
    tls: ssl.SSLContext | None = None
    exchanges: list[Exchange] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = _Server(self, self.tls)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True

    def __enter__(self) -> Peer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    def answer(self, request: Request) -> Reply:
        return self.script(request)

    def record(self, request: Request, reply: Reply) -> None:
        with self._lock:
            self.exchanges.append(Exchange(request, reply))

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return [exchange.request for exchange in self.exchanges]


class SilentListener:
    """Accepts connections and never says a word: a TLS handshake or an answer that never comes."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> SilentListener:
        self._socket.settimeout(0.05)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        for connection in self._accepted:
            connection.close()
        self._socket.close()

    @property
    def port(self) -> int:
        return int(self._socket.getsockname()[1])

    @property
    def connections(self) -> int:
        return len(self._accepted)

    def _accept(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                self._accepted.append(self._socket.accept()[0])
