"""Malformed input: the offending connection gets `-ERR Protocol error: ...` and is closed;
a client connected throughout keeps getting correct answers (checked around every case)."""

from __future__ import annotations

import itertools
import socket
import struct
import time

import pytest

from conftest import DIRECT, Endpoint, Stack
from resp import RawConn, encode

LIMITS = {"maxBulkBytes": 536870912, "maxMultibulkLength": 1048576, "maxInlineBytes": 65536}

PROTO = "protocol-error"     # reply starts with -ERR Protocol error, then the proxy closes
ERROR = "error-reply"        # some error reply (e.g. an unknown command made of garbage)
TRUNC = "truncated"          # half-close after a partial frame: nothing or a protocol error, then closed
ABORT = "abort"              # partial frame, then the client resets the connection

# (id, payload, expectation, redis-server does the same)
CASES = [
    ("count-not-a-number", b"*abc\r\n", PROTO, True),
    ("count-trailing-junk", b"*1x\r\n", PROTO, True),
    ("count-binary-garbage", b"*\x8f\x00\xc3garbage\xff\r\n", PROTO, False),  # redis stops at the NUL and waits
    ("count-negative", b"*-5\r\n", PROTO, False),  # redis ignores non-positive counts silently; the issue asks for an error
    ("count-over-limit", b"*2000000\r\n", PROTO, False),  # over maxMultibulkLength; redis waits for data
    ("count-line-too-long", b"*" + b"1" * 70000, PROTO, True),
    ("bulk-length-not-a-number", b"*1\r\n$xyz\r\n", PROTO, True),
    ("bulk-length-empty", b"*1\r\n$\r\n", PROTO, True),
    ("bulk-length-negative", b"*1\r\n$-5\r\n", PROTO, True),
    ("null-bulk-in-request", b"*2\r\n$3\r\nGET\r\n$-1\r\n", PROTO, True),
    ("bulk-declared-1GB", b"*1\r\n$1073741824\r\n", PROTO, True),
    ("bulk-over-512MB", b"*1\r\n$536870913\r\n", PROTO, True),
    ("element-is-simple-string", b"*1\r\n+PING\r\n", PROTO, True),
    ("element-is-integer", b"*2\r\n$3\r\nGET\r\n:1\r\n", PROTO, True),
    ("element-is-array", b"*2\r\n$3\r\nGET\r\n*1\r\n$1\r\nk\r\n", PROTO, True),
    ("bulk-longer-than-declared", b"*1\r\n$2\r\nPING\r\n", PROTO, False),  # redis does not check the CRLF
    ("bulk-missing-crlf", b"*1\r\n$4\r\nPINGxx", PROTO, False),
    ("inline-unbalanced-quotes", b'SET "abc\r\n', PROTO, True),
    ("inline-too-long", b"A" * 70000, PROTO, True),
    ("error-after-valid-command", encode("GET", "k") + b"*abc\r\n", PROTO, True),
    ("error-after-pipeline", encode("SET", "k", "v") * 50 + encode("GET", "k") + b"*1\r\n$xyz\r\n", PROTO, True),
    ("garbage-inline-bytes", b"\x01\x02\xfe\xff garbage\r\n", ERROR, True),  # an inline "command": unknown
    ("truncated-count", b"*", TRUNC, True),
    ("truncated-after-count", b"*3\r\n", TRUNC, True),
    ("truncated-in-bulk-length", b"*2\r\n$3\r\nGET\r\n$1", TRUNC, True),
    ("truncated-in-bulk-data", b"*2\r\n$3\r\nGET\r\n$10\r\nabc", TRUNC, True),
    ("truncated-before-crlf", b"*1\r\n$4\r\nPING", TRUNC, True),
    ("truncated-inline", b"PIN", TRUNC, True),
    ("truncated-after-valid", encode("SET", "k", "v") + b"*2\r\n$3\r\nGET", TRUNC, True),
    ("abort-in-bulk-data", b"*2\r\n$3\r\nSET\r\n$100000\r\n" + b"x" * 5000, ABORT, True),
    ("abort-in-pipeline", encode("INCR", "n") * 1000 + b"*2\r\n$4\r\nINCR", ABORT, True),
]


@pytest.fixture(scope="module")
def battery(module_stack: Stack):
    proxy = module_stack.proxy_endpoint(limits=LIMITS)
    observer = RawConn(proxy.port)
    proxy._clients.append(observer)
    observer_py = proxy.client(protocol=3)
    return proxy, observer, observer_py


_tokens = itertools.count(1)


def check_observer(battery, when: str) -> None:
    proxy, observer, observer_py = battery
    token = f"tok-{next(_tokens)}"
    assert observer.call("SET", "observer", token) == b"OK", when
    assert observer.call("GET", "observer") == token.encode(), when
    assert observer_py.get("observer") == token.encode(), when
    if proxy.kind == "proxy":
        assert proxy.server.running, f"metacluster died {when}\n" + proxy.server.describe()


def expect_protocol_error(port: int, payload: bytes, timeout: float = 5.0) -> bytes:
    c = RawConn(port, timeout=timeout)
    try:
        try:
            c.send(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed while we were still writing: what was sent back is still readable
        data, closed = c.read_until_closed(timeout)
    finally:
        c.close()
    assert b"-ERR Protocol error" in data, f"no protocol error for {payload[:60]!r}: got {data[:300]!r}"
    tail = data[data.index(b"-ERR Protocol error"):]
    assert tail.endswith(b"\r\n") and tail.count(b"\r\n") == 1, f"protocol error must be the last reply: {data[-300:]!r}"
    assert closed, f"connection not closed after the protocol error for {payload[:60]!r}"
    return data


@pytest.mark.parametrize("name,payload,kind,redis_same", CASES, ids=[c[0] for c in CASES])
def test_malformed_input(battery, name, payload, kind, redis_same):
    proxy, observer, _ = battery
    if DIRECT and not redis_same:
        pytest.skip("redis-server itself behaves differently here; the proxy is stricter")
    check_observer(battery, f"before {name}")
    if kind == PROTO:
        data = expect_protocol_error(proxy.port, payload)
        prefix = data[: data.index(b"-ERR Protocol error")]
        if name.startswith("error-after"):
            assert prefix, "replies to the valid commands before the bad frame must arrive first"
        else:
            assert prefix == b"", f"unexpected replies before the error: {prefix[:200]!r}"
    elif kind == ERROR:
        c = RawConn(proxy.port, timeout=5)
        c.send(payload)
        data, _closed = c.read_until_closed(2.0)
        c.close()
        assert data.startswith(b"-"), f"expected an error reply, got {data[:200]!r}"
    elif kind == TRUNC:
        c = RawConn(proxy.port, timeout=5)
        c.send(payload)
        check_observer(battery, f"while {name} is pending")
        c.shutdown_write()
        data, closed = c.read_until_closed(5.0)
        c.close()
        assert closed, "the proxy must close a half-closed connection"
        rest = data
        if name == "truncated-after-valid":
            assert rest.startswith(b"+OK\r\n"), f"the complete command before the partial one must be answered: {data!r}"
            rest = rest[len(b"+OK\r\n"):]
        assert rest == b"" or rest.startswith(b"-ERR Protocol error"), f"unexpected reply: {data[:300]!r}"
    elif kind == ABORT:
        s = socket.create_connection(("127.0.0.1", proxy.port))
        s.sendall(payload)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    check_observer(battery, f"after {name}")


def test_empty_multibulk_is_ignored_like_redis(battery):
    """`*0` is an empty request; Redis skips it, and so does the proxy."""
    proxy, *_ = battery
    c = RawConn(proxy.port, timeout=5)
    c.send(b"*0\r\n*0\r\n" + encode("ECHO", "after"))
    assert c.read_reply()[0] == b"$5\r\nafter\r\n"
    c.close()
    check_observer(battery, "after empty multibulks")


def test_null_multibulk_is_ignored_or_a_protocol_error(battery):
    """`*-1` (a null array) as a request: Redis skips it; a stricter proxy may call it a protocol
    error. Either way the stream stays in step: never a reply to something else."""
    proxy, *_ = battery
    c = RawConn(proxy.port, timeout=5)
    c.send(b"*-1\r\n" + encode("ECHO", "after"))
    data, closed = c.read_until_closed(1.0)
    c.close()
    assert data == b"$5\r\nafter\r\n" or (data.startswith(b"-ERR Protocol error") and closed), data
    check_observer(battery, "after a null multibulk")


def test_many_bad_clients_at_once(battery):
    proxy, *_ = battery
    conns = []
    for i, (name, payload, kind, redis_same) in enumerate(CASES * 3):
        if kind != PROTO or (DIRECT and not redis_same):
            continue
        c = RawConn(proxy.port, timeout=10)
        c.send(payload)
        conns.append(c)
    check_observer(battery, "with many bad clients")
    for c in conns:
        data, closed = c.read_until_closed(10)
        c.close()
        assert b"-ERR Protocol error" in data and closed
    check_observer(battery, "after many bad clients")


def test_stalled_partial_frame_does_not_block_others(battery):
    proxy, *_ = battery
    c = RawConn(proxy.port, timeout=5)
    c.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\nabc")
    for _ in range(5):
        check_observer(battery, "while a frame is stalled")
        time.sleep(0.05)
    c.send(b"defghij\r\n")
    assert c.read_reply()[0] == b"+OK\r\n"
    assert c.call("GET", "k") == b"abcdefghij"
    c.close()


@pytest.mark.proxy_only
def test_declared_large_bulk_is_not_preallocated(battery):
    """A client declaring a 500 MB bulk (under the limit) and sending nothing must not make the
    proxy resident in memory by that much."""
    proxy, *_ = battery
    conns = []
    for _ in range(4):
        c = RawConn(proxy.port)
        c.send(b"*2\r\n$3\r\nGET\r\n$500000000\r\nxyz")
        conns.append(c)
    time.sleep(0.3)
    check_observer(battery, "with declared large bulks pending")
    rss_kb = _rss_kb(proxy.server.proc.pid)
    for c in conns:
        c.close()
    assert rss_kb < 512 * 1024, f"proxy resident size {rss_kb} kB with 4 x 500 MB declared bulks pending"


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@pytest.mark.proxy_only
def test_client_that_never_reads_is_disconnected(stack: Stack):
    """Per-client output limit: a client pipelining big GETs without reading is cut off,
    instead of the proxy buffering without bound; others keep working."""
    backend = stack.redis_server()
    m = stack.metacluster([backend.port], limits={"clientOutputLimitBytes": 4 * 1024 * 1024})
    ep = Endpoint(m.port, "proxy", server=m, backend=backend)
    stack.endpoints.append(ep)
    observer = ep.raw()
    value = b"v" * 100_000
    assert observer.call("SET", "big", value) == b"OK"

    hog = socket.create_connection(("127.0.0.1", m.port))
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    request = encode("GET", "big") * 100
    sent = 0
    cut_off = False
    deadline = time.monotonic() + 20
    hog.settimeout(2)
    try:
        while sent < 2000 and time.monotonic() < deadline:  # up to 200 MB of replies, never read
            hog.sendall(request)
            sent += 100
    except (BrokenPipeError, ConnectionResetError):
        cut_off = True
    except socket.timeout:
        pass  # the proxy stopped reading from us (back-pressure); it still has to cut us off
    assert observer.call("GET", "missing") is None
    # Still not reading: the requests the kernel buffered for the proxy keep coming, and their
    # replies cannot go out, so the proxy must reach the limit without the hog's help. (Reading
    # right away would let a proxy that fell behind the sender deliver everything within the limit.)
    m.wait_log("client output limit reached", timeout=20)
    # read whatever is queued: the proxy must have closed the connection well before 200 MB
    total = 0
    hog.settimeout(10)
    try:
        while True:
            chunk = hog.recv(1 << 20)
            if not chunk:
                cut_off = True
                break
            total += len(chunk)
    except ConnectionResetError:
        cut_off = True
    except socket.timeout:
        pass
    hog.close()
    assert cut_off, "a client that never reads was not disconnected"
    assert total < sent * len(value), "all replies were delivered: no output limit applied"
    assert observer.call("GET", "big") == value
