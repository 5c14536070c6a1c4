"""The local gateway's connections to its upstreams (sfn-results and the emulator)."""

from __future__ import annotations

import http.client
import select
import socket
import threading
import time


class Upstream:
    """One keep-alive HTTP/1.1 connection per gateway thread to one loopback server.

    A server may answer before it has read the whole request body (sfn-results answers 413 as
    soon as a declared length passes its limit) and close the connection. The body is written in
    pieces, watching the socket: once the upstream answers, or a write fails because it closed
    (EPIPE, ECONNRESET), whatever it answered is read and relayed, as API Gateway relays it.
    """

    PIECE = 256 * 1024

    def __init__(self, port: int):
        self.port = port
        self.local = threading.local()

    def send(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, timeout: float):
        head = [f"{method} {target} HTTP/1.1"] + [f"{name}: {value}" for name, value in headers]
        head.append(f"Content-Length: {len(body)}")
        request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        deadline = time.monotonic() + timeout
        for attempt in (1, 2):
            sock = getattr(self.local, "sock", None)
            reused = sock is not None
            if sock is None:
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.local.sock = None  # back only once this exchange ended cleanly
            try:
                complete = self.write(sock, request, body, deadline)
                sock.settimeout(max(deadline - time.monotonic(), 0.001))
                response = http.client.HTTPResponse(sock, method=method)
                try:
                    response.begin()
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                    # Closed without a word: a kept-alive connection the server had closed
                    # meanwhile. Once more on a new one (it never saw this request).
                    sock.close()
                    if attempt == 2 or not reused:
                        raise
                    continue
                data = response.read()
                if complete and not response.will_close:
                    self.local.sock = sock
                else:
                    sock.close()
                return response.status, response.getheaders(), data
            except BaseException:
                sock.close()
                raise
        raise AssertionError("unreachable")

    def write(self, sock: socket.socket, request: bytes, body: bytes, deadline: float) -> bool:
        """Writes the request; False when the upstream answered or closed before taking all of it."""
        data = memoryview(request + body) if len(body) <= self.PIECE else None
        pieces = [data] if data is not None else [memoryview(request), memoryview(body)]
        for piece in pieces:
            sent = 0
            while sent < len(piece):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("writing the request to the upstream timed out")
                readable, writable, _ = select.select([sock], [sock], [], left)
                if readable:
                    return False  # an early answer (or a close): read it
                if not writable:
                    continue
                try:
                    sent += sock.send(piece[sent:sent + self.PIECE])
                except (BrokenPipeError, ConnectionResetError):
                    return False  # it closed while we wrote: what it answered is still readable
        return True
