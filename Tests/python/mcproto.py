"""A small, strict memcached text/meta protocol reader and request encoder for the end-to-end tests
(what resp.py is for redis).

One reply is read without knowing which command it answers:
  - `VALUE <key> <flags> <bytes> [<cas>]` blocks up to `END` (get, gets, gat, gats);
  - `STAT <name> <value>` lines up to `END` (stats);
  - `VA <size> <flags>*` followed by a data block (meta commands that return a value);
  - any other single line (STORED, HD, EN, MN, ERROR, CLIENT_ERROR ..., a number, ...).
Each reply keeps its exact bytes, so the proxy's answers can be compared with memcached's.
"""

from __future__ import annotations

import base64
import socket
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Optional, Union

Bytesish = Union[bytes, str, int]

META_CODES = (b"HD", b"VA", b"EN", b"NF", b"NS", b"EX", b"MN", b"ME")


def _b(x: Bytesish) -> bytes:
    if isinstance(x, bytes):
        return x
    if isinstance(x, int):
        return str(x).encode()
    return x.encode()


def line(*parts: Bytesish) -> bytes:
    """One command line: the parts joined by spaces, ending in CRLF."""
    return b" ".join(_b(p) for p in parts) + b"\r\n"


def block(value: bytes) -> bytes:
    return value + b"\r\n"


def storage(cmd: str, key: Bytesish, value: bytes, flags: int = 0, exptime: int = 0,
            cas: Optional[int] = None, noreply: bool = False) -> bytes:
    """set/add/replace/append/prepend/cas with its data block."""
    parts: list[Bytesish] = [cmd, key, flags, exptime, len(value)]
    if cas is not None:
        parts.append(cas)
    if noreply:
        parts.append("noreply")
    return line(*parts) + block(value)


def meta_set(key: Bytesish, value: bytes, *flags: Bytesish) -> bytes:
    return line("ms", key, len(value), *flags) + block(value)


def b64(key: Bytesish) -> bytes:
    return base64.b64encode(_b(key))


@dataclass
class Item:
    """One VALUE block of a retrieval reply."""

    key: bytes
    flags: int
    value: bytes
    cas: Optional[int] = None


@dataclass
class Reply:
    raw: bytes
    line: bytes  # the first line, or the closing END of a VALUE/STAT reply
    items: list[Item] = field(default_factory=list)
    stats: dict[str, str] = field(default_factory=dict)
    value: Optional[bytes] = None  # the data block of a meta VA reply

    @property
    def code(self) -> bytes:
        return self.line.split(b" ", 1)[0]

    @property
    def tokens(self) -> list[bytes]:
        return self.line.split(b" ")

    @property
    def mflags(self) -> dict[str, str]:
        """A meta reply's return flags: `VA 2 kfoo t-1 c5` -> {"k": "foo", "t": "-1", "c": "5"}."""
        toks = self.tokens[2:] if self.code == b"VA" else self.tokens[1:]
        return {t[:1].decode(): t[1:].decode() for t in toks if t}

    @property
    def is_error(self) -> bool:
        return self.code in (b"ERROR", b"CLIENT_ERROR", b"SERVER_ERROR")

    def values(self) -> dict[bytes, bytes]:
        return {it.key: it.value for it in self.items}

    def __repr__(self) -> str:
        return f"Reply({self.raw[:300]!r}{'...' if len(self.raw) > 300 else ''})"


class Closed(Exception):
    """The peer closed the connection before a full reply arrived."""


class McConn:
    """A raw TCP connection that reads whole memcached replies."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0):
        self.port = port
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0

    # -- io ---------------------------------------------------------------
    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise Closed(bytes(self.buf[self.pos:]))
        self.buf += chunk

    def read_line(self) -> bytes:
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                out = bytes(self.buf[self.pos:i])
                self.pos = i + 2
                return out
            self._fill()

    def _exact(self, n: int) -> bytes:
        while len(self.buf) - self.pos < n + 2:
            self._fill()
        data = bytes(self.buf[self.pos:self.pos + n])
        if self.buf[self.pos + n:self.pos + n + 2] != b"\r\n":
            raise ValueError(f"data block of {n} bytes not terminated by CRLF: "
                             f"{bytes(self.buf[self.pos + n:self.pos + n + 10])!r}")
        self.pos += n + 2
        return data

    # -- replies -------------------------------------------------------------
    def read_reply(self) -> Reply:
        if self.pos > (1 << 20):
            del self.buf[:self.pos]  # compact between replies only
            self.pos = 0
        start = self.pos
        first = self.read_line()
        if first.startswith(b"VALUE "):
            items = []
            ln = first
            while ln != b"END":
                if not ln.startswith(b"VALUE "):
                    raise ValueError(f"expected VALUE or END in a retrieval reply, got {ln!r}")
                toks = ln.split(b" ")
                if len(toks) not in (4, 5):
                    raise ValueError(f"malformed VALUE line {ln!r}")
                data = self._exact(int(toks[3]))
                items.append(Item(toks[1], int(toks[2]), data, int(toks[4]) if len(toks) == 5 else None))
                ln = self.read_line()
            return Reply(bytes(self.buf[start:self.pos]), ln, items=items)
        if first.startswith(b"STAT "):
            stats = {}
            ln = first
            while ln != b"END":
                if not ln.startswith(b"STAT "):
                    raise ValueError(f"expected STAT or END in a stats reply, got {ln!r}")
                _, name, value = (ln.split(b" ", 2) + [b""])[:3]
                stats[name.decode()] = value.decode(errors="replace")
                ln = self.read_line()
            return Reply(bytes(self.buf[start:self.pos]), ln, stats=stats)
        if first.startswith(b"VA "):
            size = int(first.split(b" ")[1])
            value = self._exact(size)
            return Reply(bytes(self.buf[start:self.pos]), first, value=value)
        return Reply(bytes(self.buf[start:self.pos]), first)

    def read_replies(self, n: int) -> list[Reply]:
        return [self.read_reply() for _ in range(n)]

    def read_until(self, code: bytes, limit: int = 100000) -> list[Reply]:
        """Replies up to and including the first whose code is `code` (e.g. b"MN")."""
        out = []
        for _ in range(limit):
            r = self.read_reply()
            out.append(r)
            if r.code == code:
                return out
        raise AssertionError(f"no {code!r} within {limit} replies")

    def call(self, data: bytes) -> Reply:
        """Send one request (already encoded) and read one reply."""
        self.send(data)
        return self.read_reply()

    def cmd(self, *parts: Bytesish) -> Reply:
        return self.call(line(*parts))

    def raw_line(self, *parts: Bytesish) -> bytes:
        return self.cmd(*parts).raw

    # -- common requests ------------------------------------------------------
    def set(self, key: Bytesish, value: bytes, flags: int = 0, exptime: int = 0) -> bytes:
        return self.call(storage("set", key, value, flags, exptime)).line

    def get(self, key: Bytesish) -> Optional[bytes]:
        r = self.cmd("get", key)
        if r.line != b"END":
            raise AssertionError(f"get {key!r} answered {r!r}")
        return r.items[0].value if r.items else None

    def get_item(self, key: Bytesish) -> Optional[Item]:
        r = self.cmd("gets", key)
        if r.line != b"END":
            raise AssertionError(f"gets {key!r} answered {r!r}")
        return r.items[0] if r.items else None

    def ttl(self, key: Bytesish) -> Optional[int]:
        """Seconds left (-1: never expires), from `mg key t`; None when the key is missing."""
        r = self.cmd("mg", key, "t")
        if r.code == b"EN":
            return None
        assert r.code == b"HD", f"mg {key!r} t answered {r!r}"
        return int(r.mflags["t"])

    def stats(self, *args: Bytesish) -> dict[str, str]:
        r = self.cmd("stats", *args)
        if r.line != b"END":
            raise AssertionError(f"stats answered {r!r}")
        return r.stats

    def read_until_closed(self, timeout: float = 5.0) -> tuple[bytes, bool]:
        """Read everything until the peer closes; return (data, closed)."""
        data = bytearray(self.buf[self.pos:])
        self.buf.clear()
        self.pos = 0
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return bytes(data), False
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return bytes(data), False
            except ConnectionResetError:
                return bytes(data), True
            if not chunk:
                return bytes(data), True
            data += chunk

    def read_available(self, wait: float = 0.3) -> bytes:
        """Whatever arrives within `wait` seconds (the connection stays open)."""
        data = bytearray(self.buf[self.pos:])
        self.buf.clear()
        self.pos = 0
        old = self.sock.gettimeout()
        deadline = time.monotonic() + wait
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.sock.settimeout(left)
                try:
                    chunk = self.sock.recv(65536)
                except socket.timeout:
                    break
                if not chunk:
                    break
                data += chunk
        finally:
            self.sock.settimeout(old)
        return bytes(data)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "McConn":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def resync(conn: McConn, limit: int = 20) -> list[bytes]:
    """After an error: sends `version` and reads up to its VERSION; returns the lines read before.

    memcached parses whatever follows a bad request as new command lines (ERROR, or the reply of
    a command the test sent as data); a proxy may skip such data instead. The caller checks them."""
    conn.send(b"version\r\n")
    before = []
    for _ in range(limit):
        r = conn.read_reply()
        if r.code == b"VERSION":
            return before
        before.append(r.line)
    raise AssertionError(f"no VERSION after {limit} replies: {before}")


def metadump(port: int, timeout: float = 10.0, rounds: int = 3) -> dict[bytes, int]:
    """Every key on the memcached at `port` with its absolute expiry (-1: none), from
    `lru_crawler metadump all` on a connection of its own (memcached refuses it pipelined).

    One crawl can miss an item that the LRU maintainer moves between queues while the crawler
    walks them, so the result is the union of `rounds` crawls."""
    out: dict[bytes, int] = {}
    for _ in range(rounds):
        out.update(_metadump_once(port, timeout))
    return out


def _metadump_once(port: int, timeout: float) -> dict[bytes, int]:
    with McConn(port, timeout=timeout) as c:
        c.send(b"lru_crawler metadump all\r\n")
        data = bytearray()
        while not (data.endswith(b"END\r\n") and (len(data) == 5 or data[-6:-5] == b"\n")):
            if data.startswith(b"BUSY") or data.startswith(b"ERROR"):
                raise AssertionError(f"metadump on :{port} answered {bytes(data)!r}")
            chunk = c.sock.recv(1 << 20)
            if not chunk:
                raise Closed(bytes(data))
            data += chunk
    out = {}
    for ln in bytes(data[:-5]).split(b"\n"):
        if not ln:
            continue
        fields = dict(f.split(b"=", 1) for f in ln.split(b" ") if b"=" in f)
        out[urllib.parse.unquote_to_bytes(fields[b"key"])] = int(fields[b"exp"])
    return out
