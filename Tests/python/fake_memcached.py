"""A scripted fake memcached backend, for misbehaviour a real memcached will not do on demand:
garbage replies, a reset in the middle of a reply, silence.

It answers like a tiny memcached ("ok"): get/gets -> `VALUE <key> 0 5 value` for every key, mg ->
`VA 5 value` (or HD), storage commands -> STORED / HD (the data block is read), delete -> DELETED,
incr/decr -> 1, touch -> TOUCHED, version -> VERSION 1.6.18, mn -> MN, anything else -> ERROR.
noreply and q are honoured for writes.

The first request naming a key that starts with `trigger` (by default "bad") switches the
connection it arrived on to `mode`, once per fake (`times`):
  - "garbage": that request and every later one on the connection is answered with a line that is
    no memcached reply;
  - "reset-mid-reply": half a VALUE reply, then a TCP reset (SO_LINGER 0);
  - "silent": no reply to it or to anything after it on that connection.
Other connections, and requests before the trigger, are answered normally, so the proxy's own
probes and other clients' requests are unaffected. Every request is recorded, per connection.
"""

from __future__ import annotations

import socket
import struct
import threading
from typing import Optional

STORAGE = {b"set", b"add", b"replace", b"append", b"prepend", b"cas"}


def _read_request(buf: bytearray) -> Optional[tuple[list[bytes], Optional[bytes], int]]:
    """(tokens, data block or None, bytes used) of one request at the start of buf, or None."""
    end = buf.find(b"\n")
    if end < 0:
        return None
    ln = bytes(buf[:end]).rstrip(b"\r")
    tokens = ln.split()
    pos = end + 1
    if not tokens:
        return [], None, pos
    name = tokens[0]
    size: Optional[int] = None
    if name in STORAGE and len(tokens) >= 5 and tokens[4].isdigit():
        size = int(tokens[4])
    elif name == b"ms" and len(tokens) >= 3 and tokens[2].isdigit():
        size = int(tokens[2])
    if size is None:
        return tokens, None, pos
    if len(buf) < pos + size + 2:
        return None
    return tokens, bytes(buf[pos:pos + size]), pos + size + 2


def _keys(tokens: list[bytes]) -> list[bytes]:
    if not tokens:
        return []
    name = tokens[0]
    if name in (b"get", b"gets"):
        return tokens[1:]
    if name in (b"gat", b"gats"):
        return tokens[2:]
    if len(tokens) >= 2 and name not in (b"version", b"mn", b"verbosity", b"stats", b"flush_all", b"quit"):
        return tokens[1:2]
    return []


def _ok_reply(tokens: list[bytes]) -> bytes:
    if not tokens:
        return b"ERROR\r\n"
    name = tokens[0]
    quiet = b"noreply" in tokens or (name in (b"ms", b"md", b"ma") and b"q" in tokens[2:])
    if name in (b"get", b"gets", b"gat", b"gats"):
        cas = b" 1" if name.endswith(b"s") else b""
        return b"".join(b"VALUE %s 0 5%s\r\nvalue\r\n" % (k, cas) for k in _keys(tokens)) + b"END\r\n"
    if name == b"mg":
        return b"VA 5\r\nvalue\r\n" if b"v" in tokens[2:] else b"HD\r\n"
    if name == b"version":
        return b"VERSION 1.6.18\r\n"
    if name == b"mn":
        return b"MN\r\n"
    if name == b"verbosity" or name == b"flush_all":
        return b"" if quiet else b"OK\r\n"
    if name == b"stats":
        return b"STAT pid 1\r\nEND\r\n"
    if quiet:
        return b""
    if name in STORAGE:
        return b"STORED\r\n"
    if name in (b"ms", b"md", b"ma"):
        return b"HD\r\n"
    if name == b"delete":
        return b"DELETED\r\n"
    if name in (b"incr", b"decr"):
        return b"1\r\n"
    if name == b"touch":
        return b"TOUCHED\r\n"
    return b"ERROR\r\n"


class FakeMemcached:
    def __init__(self, mode: str, trigger: bytes = b"bad", times: int = 1):
        assert mode in ("ok", "garbage", "reset-mid-reply", "silent"), mode
        self.mode = mode
        self.trigger = trigger
        self.times_left = times
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections: list[list[list[bytes]]] = []
        self.misbehaved_on: list[int] = []  # connection indexes that were switched
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
            threading.Thread(target=self._serve, args=(conn, index), daemon=True).start()

    def _triggered(self, tokens: list[bytes], index: int) -> bool:
        if self.mode == "ok" or not any(k.startswith(self.trigger) for k in _keys(tokens)):
            return False
        with self.lock:
            if self.times_left <= 0:
                return False
            self.times_left -= 1
            self.misbehaved_on.append(index)
            return True

    def _serve(self, conn: socket.socket, index: int) -> None:
        buf = bytearray()
        broken = False
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
                    tokens, _block, used = parsed
                    del buf[:used]
                    with self.lock:
                        self.connections[index].append(tokens)
                    if not broken and self._triggered(tokens, index):
                        broken = True
                        if self.mode == "reset-mid-reply":
                            conn.sendall(b"VALUE %s 0 100\r\nonly part of the value" % _keys(tokens)[0])
                            # SO_LINGER 0: close sends a RST, as a crashing server's kernel would.
                            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                            conn.close()
                            return
                    if broken:
                        if self.mode == "garbage":
                            conn.sendall(b"?this is not a memcached reply\r\n")
                        continue  # silent
                    reply = _ok_reply(tokens)
                    if reply:
                        conn.sendall(reply)
        except OSError:
            return
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def requests(self, index: int) -> list[list[bytes]]:
        with self.lock:
            return list(self.connections[index])

    def stop(self) -> None:
        self.stopped = True
        self.sock.close()
