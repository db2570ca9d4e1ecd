"""A backend that is down, dies, stalls or comes back: clients get prompt errors, never a hang,
and service resumes after the reconnect back-off."""

from __future__ import annotations

import signal
import time

import pytest

from conftest import Endpoint, Stack, free_port
from resp import Error, RawConn, encode

pytestmark = pytest.mark.proxy_only


def timed_reply(conn: RawConn, *args):
    t0 = time.monotonic()
    value = conn.call(*args)
    return value, time.monotonic() - t0


def wait_until_served(conn: RawConn, timeout: float = 15.0) -> float:
    """Poll SET through the proxy until it succeeds; return how long it took."""
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout:
        last = conn.call("SET", "probe", "1")
        if last == b"OK":
            return time.monotonic() - t0
        assert isinstance(last, Error), f"unexpected reply while waiting for the backend: {last!r}"
        time.sleep(0.1)
    raise AssertionError(f"backend not used again within {timeout}s; last reply {last}")


def test_backend_down_gives_prompt_unavailable_error_then_recovers(stack: Stack):
    port = free_port()  # nothing listens here
    m = stack.metacluster([port], timeouts={"reconnectMinMs": 50, "reconnectMaxMs": 500})
    c = RawConn(m.port, timeout=10)
    try:
        for cmd in (("GET", "k"), ("SET", "k", "v"), ("INCR", "n")):
            value, took = timed_reply(c, *cmd)
            assert isinstance(value, Error), f"{cmd}: expected an error, got {value!r}"
            assert "unavailable" in str(value).lower(), f"{cmd}: error should say unavailable: {value}"
            assert str(value).startswith("ERR") or str(value).split()[0].isupper()
            assert took < 2.0, f"{cmd}: error took {took:.2f}s"
        # a pipeline gets one error per command, in order, promptly
        t0 = time.monotonic()
        c.send(encode("GET", "a") * 20)
        replies = [c.read_reply()[1] for _ in range(20)]
        assert all(isinstance(r, Error) for r in replies)
        assert time.monotonic() - t0 < 2.0

        stack.redis_server(port=port)
        took = wait_until_served(c)  # the same client connection works once the backend is up
        assert c.call("GET", "probe") == b"1"
        assert took < 10
    finally:
        c.close()


def test_backend_dies_and_comes_back(stack: Stack):
    backend = stack.redis_server()
    m = stack.metacluster([backend.port], timeouts={"reconnectMinMs": 50, "reconnectMaxMs": 500})
    c = RawConn(m.port, timeout=10)
    assert c.call("SET", "k", "v") == b"OK"
    backend.stop()
    for i in range(3):
        value, took = timed_reply(c, "GET", "k")
        assert isinstance(value, Error), f"expected an error while the backend is down, got {value!r}"
        assert took < 2.0, f"error took {took:.2f}s"
    value, _ = timed_reply(c, "GET", "k")
    assert "unavailable" in str(value).lower(), value
    stack.redis_server(port=backend.port)
    wait_until_served(c)
    assert c.call("GET", "probe") == b"1"
    # and a new client too
    d = RawConn(m.port)
    assert d.call("GET", "probe") == b"1"
    c.close()
    d.close()


def test_backend_killed_with_requests_in_flight(stack: Stack):
    """Requests outstanding on a backend connection that resets get errors, not silence."""
    backend = stack.redis_server()
    m = stack.metacluster([backend.port], timeouts={"requestMs": 10000})
    c = RawConn(m.port, timeout=10)
    assert c.call("SET", "k", "v") == b"OK"
    admin = RawConn(backend.port)
    assert admin.call("CLIENT", "PAUSE", "5000", "ALL") == b"OK"
    c.send(encode("GET", "k") * 10)
    time.sleep(0.3)
    backend.proc.send_signal(signal.SIGKILL)
    backend.proc.wait(5)
    t0 = time.monotonic()
    replies = [c.read_reply()[1] for _ in range(10)]
    assert all(isinstance(r, Error) for r in replies), replies
    assert time.monotonic() - t0 < 2.0
    admin.close()
    # the proxy is still alive and answers (with an error) at once
    value, took = timed_reply(c, "GET", "k")
    assert isinstance(value, Error) and took < 2.0
    c.close()


def test_request_timeout(stack: Stack):
    """A backend that stops answering: the request fails after timeouts.requestMs, and the
    proxy serves again once the backend answers."""
    backend = stack.redis_server()
    m = stack.metacluster([backend.port], timeouts={"requestMs": 500, "reconnectMinMs": 50, "reconnectMaxMs": 500})
    c = RawConn(m.port, timeout=15)
    assert c.call("SET", "k", "v") == b"OK"
    admin = RawConn(backend.port)
    assert admin.call("CLIENT", "PAUSE", "3000", "ALL") == b"OK"
    value, took = timed_reply(c, "GET", "k")
    assert isinstance(value, Error), f"expected a timeout error, got {value!r}"
    assert 0.3 < took < 2.5, f"timeout error after {took:.2f}s with requestMs=500"
    time.sleep(3.0)
    wait_until_served(c)
    assert c.call("GET", "k") == b"v"
    admin.close()
    c.close()


def test_other_clients_unaffected_by_recovery(stack: Stack):
    backend = stack.redis_server()
    m = stack.metacluster([backend.port])
    ep = Endpoint(m.port, "proxy", server=m, backend=backend)
    stack.endpoints.append(ep)
    clients = [ep.client(protocol=p) for p in (2, 3)]
    for c in clients:
        assert c.set("x", "1") is True
    backend.stop()
    stack.redis_server(port=backend.port)
    raw = ep.raw()
    wait_until_served(raw)
    for c in clients:  # redis-py reconnects or reuses; either way the next commands work
        deadline = time.monotonic() + 10
        while True:
            try:
                assert c.set("x", "2") is True
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert c.get("x") == b"2"
