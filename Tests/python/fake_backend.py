"""A scripted fake redis backend, for misbehaviour a real redis-server will not do on demand:
garbage replies, a reset in the middle of a reply, silence.

Each accepted connection takes the next behaviour from the script (the last one repeats). In
"ok" mode it answers like a tiny redis: PING -> +PONG, HELLO -> a RESP3 map, GET -> "value",
anything else -> +OK. Every request it reads is recorded, per connection.
"""

from __future__ import annotations

import socket
import struct
import threading
from typing import Optional


def _read_request(buf: bytearray) -> Optional[tuple[list[bytes], int]]:
    """One multibulk request from the start of buf, or None when incomplete."""
    if not buf:
        return None
    if not buf.startswith(b"*"):
        raise ValueError(f"fake backend got a non-multibulk request: {bytes(buf[:40])!r}")
    end = buf.find(b"\r\n")
    if end < 0:
        return None
    count = int(buf[1:end])
    pos = end + 2
    args = []
    for _ in range(count):
        end = buf.find(b"\r\n", pos)
        if end < 0:
            return None
        size = int(buf[pos + 1:end])
        start = end + 2
        if len(buf) < start + size + 2:
            return None
        args.append(bytes(buf[start:start + size]))
        pos = start + size + 2
    return args, pos


class FakeBackend:
    def __init__(self, script: list[str]):
        self.script = list(script)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections: list[list[list[bytes]]] = []
        self.lock = threading.Lock()
        self.stopped = False
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                index = len(self.connections)
                self.connections.append([])
                mode = self.script[min(index, len(self.script) - 1)]
            threading.Thread(target=self._serve, args=(conn, mode, index), daemon=True).start()

    def _serve(self, conn: socket.socket, mode: str, index: int) -> None:
        buf = bytearray()
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                while True:
                    parsed = _read_request(buf)
                    if parsed is None:
                        break
                    args, used = parsed
                    del buf[:used]
                    with self.lock:
                        self.connections[index].append(args)
                    name = args[0].upper()
                    if mode == "silent":
                        continue
                    if name == b"HELLO":
                        conn.sendall(b"%1\r\n$5\r\nproto\r\n:3\r\n")
                        continue
                    if name in (b"PING", b"COMMAND") and mode != "silent":
                        # The proxy's own probes and metadata request pass; the misbehaviour is for
                        # client traffic.
                        conn.sendall(b"+PONG\r\n" if name == b"PING" else b"*0\r\n")
                        continue
                    if mode == "garbage":
                        conn.sendall(b"?this is not RESP\r\n")
                        continue
                    if mode == "reset-mid-reply":
                        conn.sendall(b"$100\r\nonly part of the value")
                        # SO_LINGER 0: close sends a RST, as a crashing server's kernel would.
                        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        conn.close()
                        return
                    if name == b"PING":
                        conn.sendall(b"+PONG\r\n")
                    elif name == b"GET":
                        conn.sendall(b"$5\r\nvalue\r\n")
                    else:
                        conn.sendall(b"+OK\r\n")
        except OSError:
            return
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def stop(self) -> None:
        self.stopped = True
        self.sock.close()
