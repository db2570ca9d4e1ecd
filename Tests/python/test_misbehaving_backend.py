"""A backend that sends garbage or resets in the middle of a reply fails only the requests in flight
on that connection; the proxy reconnects and serves the next requests, and never goes down."""

from __future__ import annotations

import time

import pytest

from conftest import Stack
from fake_backend import FakeBackend
from resp import Error, RawConn, encode

pytestmark = pytest.mark.proxy_only


def served_again(conn: RawConn, timeout: float = 10.0) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = conn.call("GET", "k")
        if not isinstance(reply, Error):
            return reply
        time.sleep(0.05)
    raise AssertionError("the proxy did not serve again after the backend recovered")


@pytest.mark.parametrize("misbehaviour, reason", [
    ("garbage", "invalid reply"),
    ("reset-mid-reply", "unavailable"),
])
def test_misbehaving_backend_fails_only_requests_in_flight(stack: Stack, misbehaviour: str, reason: str):
    fake = FakeBackend([misbehaviour, "ok"])
    try:
        m = stack.metacluster([fake.port], workers=1,
                              timeouts={"reconnectMinMs": 20, "reconnectMaxMs": 100})
        bystander = RawConn(m.port, timeout=10)
        victim = RawConn(m.port, timeout=10)
        try:
            assert bystander.call("PING") == b"PONG"
            # Three requests in one pipeline: all are in flight when the backend breaks.
            victim.send(encode("GET", "a") + encode("GET", "b") + encode("GET", "c"))
            replies = [victim.read_reply()[1] for _ in range(3)]
            for r in replies:
                assert isinstance(r, Error), f"expected an error for a request in flight, got {r!r}"
                assert reason in str(r), f"error should say {reason!r}: {r}"
            # Requests after the failure go over a new connection once it is up: same clients, no errors.
            assert served_again(victim) == b"value"
            assert bystander.call("GET", "k") == b"value"
            assert victim.call("SET", "k", "v") == b"OK"
            assert m.running, "a misbehaving backend must never take the proxy down"
            # The broken connection got the pipeline in order (a resetting fake stops reading after
            # the first); everything later went over a new connection.
            seen = [args[1] for args in fake.connections[0] if args[0].upper() not in (b"PING", b"COMMAND")]
            assert seen and seen == [b"a", b"b", b"c"][:len(seen)], seen
            assert len(fake.connections) >= 2
        finally:
            bystander.close()
            victim.close()
    finally:
        fake.stop()


def test_silent_backend_times_out_requests_then_recovers(stack: Stack):
    fake = FakeBackend(["silent", "ok"])
    try:
        m = stack.metacluster([fake.port], workers=1,
                              timeouts={"requestMs": 300, "reconnectMinMs": 20, "reconnectMaxMs": 100})
        c = RawConn(m.port, timeout=10)
        try:
            t0 = time.monotonic()
            reply = c.call("GET", "k")
            took = time.monotonic() - t0
            assert isinstance(reply, Error) and "no reply within" in str(reply), reply
            assert 0.25 <= took < 2.0, f"timed out after {took:.2f}s with requestMs 300"
            assert served_again(c) == b"value"
        finally:
            c.close()
    finally:
        fake.stop()
