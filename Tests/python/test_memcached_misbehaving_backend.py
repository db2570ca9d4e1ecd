"""A memcached backend that sends garbage, resets in the middle of a reply, or falls silent fails
only the requests in flight on that connection; the proxy reconnects, serves the next requests and
other clients, and never goes down. A misbehaving remote cluster is invisible to clients."""

from __future__ import annotations

import time

import pytest

from conftest import Stack
from fake_memcached import FakeMemcached
from mcproto import McConn, Reply, line, storage

pytestmark = pytest.mark.proxy_only

FAST = {"reconnectMinMs": 20, "reconnectMaxMs": 100}


def value_reply(key: str) -> bytes:
    return b"VALUE %s 0 5\r\nvalue\r\nEND\r\n" % key.encode()


def served_again(conn: McConn, key: str = "k", timeout: float = 10.0) -> Reply:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = conn.cmd("get", key)
        if not reply.is_error:
            return reply
        time.sleep(0.05)
    raise AssertionError("the proxy did not serve again after the backend recovered")


@pytest.mark.parametrize("mode", ["garbage", "reset-mid-reply"])
def test_misbehaving_backend_fails_only_requests_in_flight(stack: Stack, mode: str):
    fake = FakeMemcached(mode)
    try:
        m = stack.mc_clusters([fake.port], workers=1, timeouts=FAST)
        bystander = McConn(m.mc_port)
        victim = McConn(m.mc_port)
        try:
            assert bystander.cmd("get", "k").raw == value_reply("k")
            keys = ["bad:a", "bad:b", "bad:c"]
            victim.send(b"".join(line("get", k) for k in keys))
            replies = victim.read_replies(3)
            assert replies[0].code == b"SERVER_ERROR", f"the request that broke the backend got {replies[0]!r}"
            broken = fake.misbehaved_on[0]
            # a request the broken connection received (or never got to read) fails; one sent over a
            # new connection is answered
            for k, r in zip(keys, replies):
                on_new = any([b"get", k.encode()] in fake.requests(i)
                             for i in range(len(fake.connections)) if i != broken)
                if on_new:
                    assert r.raw == value_reply(k), f"{k}: sent over a new connection, answered {r!r}"
                else:
                    assert r.code == b"SERVER_ERROR", f"{k}: in flight on the broken connection, answered {r!r}"
            assert served_again(victim).raw == value_reply("k")
            assert bystander.cmd("get", "k2").raw == value_reply("k2")
            assert victim.call(storage("set", "k", b"v")).raw == b"STORED\r\n"
            assert victim.cmd("mg", "k", "v").raw == b"VA 5\r\nvalue\r\n"
            assert m.running, "a misbehaving backend must never take the proxy down"
            assert len(fake.connections) >= 2
        finally:
            bystander.close()
            victim.close()
    finally:
        fake.stop()


def test_silent_backend_times_out_requests_then_recovers(stack: Stack):
    fake = FakeMemcached("silent")
    try:
        m = stack.mc_clusters([fake.port], workers=1, timeouts={"requestMs": 300, **FAST})
        c = McConn(m.mc_port)
        other = McConn(m.mc_port)
        try:
            assert c.cmd("get", "k").raw == value_reply("k")
            t0 = time.monotonic()
            reply = c.cmd("get", "bad:1")
            took = time.monotonic() - t0
            assert reply.code == b"SERVER_ERROR", reply
            assert 0.25 <= took < 2.0, f"timed out after {took:.2f}s with requestMs 300"
            assert served_again(c).raw == value_reply("k")
            assert other.cmd("get", "x").raw == value_reply("x")
            assert m.running
        finally:
            c.close()
            other.close()
    finally:
        fake.stop()


@pytest.mark.parametrize("mode", ["garbage", "reset-mid-reply", "silent"])
def test_misbehaving_remote_cluster_is_invisible_to_clients(stack: Stack, mode: str):
    """dc-a is a real memcached, dc-b a fake that breaks on the first `bad:` key: writes are answered
    by dc-a (writeAck first), reads come from dc-a, and no client sees an error."""
    local = stack.memcached_server()
    fake = FakeMemcached(mode, times=1000)
    try:
        m = stack.mc_clusters([local.port, fake.port], workers=1,
                              timeouts={"requestMs": 500, "connectMs": 300, **FAST},
                              config_extra={"health": {"failureLimit": 1, "probeIntervalMs": 100}})
        c = McConn(m.mc_port)
        try:
            for i in range(30):
                assert c.call(storage("set", f"bad:{i}", b"v%d" % i)).raw == b"STORED\r\n", i
                assert c.cmd("get", f"bad:{i}").raw == b"VALUE bad:%d 0 %d\r\nv%d\r\nEND\r\n" % (
                    i, len(b"v%d" % i), i)
            direct = McConn(local.port)
            assert direct.cmd("get", "bad:29").raw == b"VALUE bad:29 0 3\r\nv29\r\nEND\r\n"
            direct.close()
            assert fake.misbehaved_on, "the fake was never asked anything"
            assert m.running
        finally:
            c.close()
    finally:
        fake.stop()
