"""A small, strict RESP2/RESP3 reader and command encoder for the end-to-end tests.

The tests compare the proxy's replies with redis-server's byte for byte, so the
reader returns each reply's exact bytes as well as a decoded value.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Any, Iterable


def encode(*args: Any) -> bytes:
    """Encode one command as a RESP multibulk frame."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def encode_many(commands: Iterable[Iterable[Any]]) -> bytes:
    return b"".join(encode(*c) for c in commands)


@dataclass
class Error:
    """An error reply (`-` or `!`)."""

    message: bytes

    def __str__(self) -> str:
        return self.message.decode("utf-8", "replace")


@dataclass
class Verbatim:
    format: bytes
    text: bytes


@dataclass
class Push:
    items: list


@dataclass
class Attributed:
    attributes: list
    value: Any


class Closed(Exception):
    """The peer closed the connection before a full reply arrived."""


class RawConn:
    """A raw TCP connection that reads whole RESP replies."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0

    # -- io ---------------------------------------------------------------
    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_chunked(self, data: bytes, sizes: Iterable[int], pause: float = 0.0) -> None:
        i = 0
        for n in sizes:
            if i >= len(data):
                break
            self.sock.sendall(data[i : i + n])
            i += n
            if pause:
                time.sleep(pause)
        if i < len(data):
            self.sock.sendall(data[i:])

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise Closed(bytes(self.buf[self.pos :]))
        self.buf += chunk

    def _line(self) -> bytes:
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos : i])
                self.pos = i + 2
                return line
            self._fill()

    def _exact(self, n: int) -> bytes:
        while len(self.buf) - self.pos < n + 2:
            self._fill()
        data = bytes(self.buf[self.pos : self.pos + n])
        if self.buf[self.pos + n : self.pos + n + 2] != b"\r\n":
            raise ValueError("bulk not terminated by CRLF")
        self.pos += n + 2
        return data

    # -- replies -------------------------------------------------------------
    def read_reply(self) -> tuple[bytes, Any]:
        """Read one reply; return (exact bytes, decoded value)."""
        if self.pos > (1 << 20):
            del self.buf[: self.pos]  # compact between replies only
            self.pos = 0
        start = self.pos
        value = self._value()
        raw = bytes(self.buf[start : self.pos])
        return raw, value

    def read_replies(self, n: int) -> list[tuple[bytes, Any]]:
        return [self.read_reply() for _ in range(n)]

    def read_raw(self, n: int = 1) -> list[bytes]:
        return [self.read_reply()[0] for _ in range(n)]

    def call(self, *args: Any) -> Any:
        self.send(encode(*args))
        return self.read_reply()[1]

    def call_raw(self, *args: Any) -> bytes:
        self.send(encode(*args))
        return self.read_reply()[0]

    def _value(self) -> Any:
        line = self._line()
        if not line:
            raise ValueError("empty reply line")
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest
        if t == b"-":
            return Error(rest)
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._value() for _ in range(n)]
        if t == b"_":
            return None
        if t == b",":
            return float(rest)
        if t == b"#":
            return rest == b"t"
        if t == b"(":
            return int(rest)
        if t == b"!":
            return Error(self._exact(int(rest)))
        if t == b"=":
            data = self._exact(int(rest))
            return Verbatim(data[:3], data[4:])
        if t == b"%":
            return [(self._value(), self._value()) for _ in range(int(rest))]
        if t == b"~":
            return [self._value() for _ in range(int(rest))]
        if t == b">":
            return Push([self._value() for _ in range(int(rest))])
        if t == b"|":
            attrs = [(self._value(), self._value()) for _ in range(int(rest))]
            return Attributed(attrs, self._value())
        raise ValueError(f"unknown RESP type byte {t!r} in {line!r}")

    # -- closing -----------------------------------------------------------
    def read_until_closed(self, timeout: float = 5.0) -> tuple[bytes, bool]:
        """Read everything until the peer closes; return (data, closed).

        `closed` is False when the peer kept the connection open past `timeout`.
        """
        data = bytearray(self.buf[self.pos :])
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

    def shutdown_write(self) -> None:
        self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "RawConn":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def map_get(pairs: list, key: bytes) -> Any:
    """Look a key up in a decoded RESP3 map or a RESP2 flat key/value array."""
    if pairs and isinstance(pairs[0], tuple):
        for k, v in pairs:
            if k == key:
                return v
        raise KeyError(key)
    for i in range(0, len(pairs) - 1, 2):
        if pairs[i] == key:
            return pairs[i + 1]
    raise KeyError(key)
