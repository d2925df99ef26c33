"""HTTP server plumbing for the local servers: 127.0.0.1, a free port, daemon threads, clean shutdown."""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import struct
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from cwotlp_local._tls import server_context, write_certificates
from cwotlp_local.faults import Fault

# A request body is never read past this many bytes (the servers are for tests, not for bulk uploads).
HARD_BODY_LIMIT = 256 * 1024 * 1024
# A connection that sends nothing for this long is dropped, so that no handler thread waits forever.
IDLE_TIMEOUT_SECONDS = 30.0


class BodyTooLarge(Exception):
    """The request body exceeds the limit."""


class BadRequestFraming(Exception):
    """The request body could not be read (bad Content-Length or chunked framing)."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = False

    def __init__(self, handler: type[BaseHTTPRequestHandler], owner: LocalServer) -> None:
        self.owner = owner
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Client disconnects, TLS handshake failures and resets are expected in fault tests; stay quiet.
        self.owner._note_server_error()


class LocalServer:
    """Runs a ThreadingHTTPServer on 127.0.0.1 and a free port in a daemon thread; a context manager."""

    handler_class: type[BaseHTTPRequestHandler]

    def __init__(self, tls: bool = False) -> None:
        """With tls, the server speaks HTTPS with a certificate of a throwaway CA (`ca_file`)."""
        self._tempdir: str | None = None
        self.ca_file: str | None = None
        self._tls_context: ssl.SSLContext | None = None
        if tls:
            self._tempdir = tempfile.mkdtemp(prefix=f"cwotlp-{type(self).__name__.lower()}-tls-")
            ca, cert, key = write_certificates(Path(self._tempdir))
            self.ca_file = str(ca)
            self._tls_context = server_context(cert, key)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self.server_errors = 0

    # lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("already started")
        server = _Server(self.handler_class, self)
        if self._tls_context is not None:
            server.socket = self._tls_context.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None
        server, self._server = self._server, None
        if server is None:
            return
        self.stopping.set()
        server.shutdown()
        server.server_close()
        with server.connections_lock:
            open_connections = list(server.connections)
        for conn in open_connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("not started")
        return int(self._server.server_address[1])

    @property
    def scheme(self) -> str:
        return "https" if self._tls_context is not None else "http"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def _note_server_error(self) -> None:
        with self._lock:
            self.server_errors += 1


class LocalHandler(BaseHTTPRequestHandler):
    """Request handler helpers: bounded body reading, responses with Content-Length, faults."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_SECONDS
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.connections_lock:
                self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        # Quiet: request lines could reveal more than intended and clutter test output.
        return

    # reading -----------------------------------------------------------------------------------------------
    def read_body(self, limit: int = HARD_BODY_LIMIT) -> bytes:
        """Reads the whole request body (Content-Length or chunked), at most `limit` bytes."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return b""
        try:
            length = int(length_header)
        except ValueError as e:
            raise BadRequestFraming(f"bad Content-Length {length_header!r}") from e
        if length < 0:
            raise BadRequestFraming("negative Content-Length")
        if length > limit:
            self.close_connection = True
            raise BodyTooLarge(f"{length} bytes")
        body = self.rfile.read(length)
        if len(body) != length:
            raise BadRequestFraming("body shorter than Content-Length")
        return body

    def _read_chunked(self, limit: int) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            if not line:
                raise BadRequestFraming("connection closed inside a chunked body")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError as e:
                raise BadRequestFraming("bad chunk size") from e
            if size == 0:
                # trailers, up to the empty line
                for _ in range(100):
                    if self.rfile.readline(8192) in (b"\r\n", b"\n", b""):
                        break
                return b"".join(parts)
            total += size
            if total > limit:
                self.close_connection = True
                raise BodyTooLarge(f"more than {limit} bytes")
            parts.append(self.rfile.read(size))
            self.rfile.readline(16)

    # answering ---------------------------------------------------------------------------------------------
    def respond(
        self,
        status: int,
        body: bytes = b"",
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def reset_connection(self) -> None:
        """Closes the connection with a TCP reset and no response at all."""
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.close()

    def apply_fault(self, fault: Fault, stopping: threading.Event) -> None:
        """Answers the current request as the fault says (the body has already been read)."""
        if fault.delay > 0:
            stopping.wait(fault.delay)
        if fault.reset:
            self.reset_connection()
            return
        headers = dict(fault.headers)
        content_type = headers.pop("Content-Type", None)
        if content_type is None and fault.body:
            content_type = "text/plain"
        self.respond(fault.status, fault.body, content_type, headers)
