"""Writes whose outcome is unknown (issue #7's policy): a write sent to a cluster whose connection
then fails before the reply may or may not have been applied there. Writes safe to repeat are kept
and replayed; INCR, APPEND, LPUSH and the like are not (applying them twice is as wrong as missing
them): they are counted in metacluster_unknown_outcome_writes_total and logged."""

from __future__ import annotations

import time

from conftest import Stack, wait_until
from fake_backend import FakeBackend
from resp import RawConn


def test_only_writes_safe_to_repeat_are_replayed_after_an_unknown_outcome(stack: Stack):
    local = stack.redis_server()
    # dc-b's first connection swallows every request (then times out); the next one answers.
    fake = FakeBackend(["silent", "ok"])
    try:
        m = stack.clusters([local.port, fake.port], workers=1, admin=True,
                           timeouts={"requestMs": 300, "reconnectMinMs": 20, "reconnectMaxMs": 100})
        c = RawConn(m.port, timeout=10)
        try:
            wait_until(lambda: len(fake.connections) >= 1, 5, "the proxy connected to dc-b")
            replies = [c.call(*cmd) for cmd in (
                ("SET", "s", "v"), ("INCR", "n"), ("APPEND", "a", "x"), ("LPUSH", "l", "1"), ("DEL", "d"))]
            assert replies == [b"OK", 1, 1, 1, 0], replies
            # The silent connection times out; dc-b comes back on its second connection and gets the
            # replay of what is safe to repeat, in order, and nothing else.
            wait_until(lambda: len(fake.connections) >= 2, 5, "dc-b reconnected")

            def replayed():
                names = [r[0].upper() for r in fake.connections[1] if r[0].upper() not in (b"PING", b"COMMAND", b"HELLO")]
                return names if len(names) >= 2 else None
            names = wait_until(replayed, 5, "the replay on dc-b's new connection")
            time.sleep(0.3)
            names = [r[0].upper() for r in fake.connections[1] if r[0].upper() not in (b"PING", b"COMMAND", b"HELLO")]
            assert names == [b"SET", b"DEL"], names

            metrics = wait_until(
                lambda: (lambda mt: mt if mt.value("metacluster_unknown_outcome_writes_total", 0,
                                                   protocol="redis", cluster="dc-b") >= 3 else None)(m.metrics()),
                3, "three unknown outcomes counted")
            assert metrics.value("metacluster_unknown_outcome_writes_total", protocol="redis", cluster="dc-b") == 3
            assert metrics.value("metacluster_unknown_outcome_writes_total", protocol="redis", cluster="dc-a") == 0
            assert metrics.value("metacluster_missed_writes_total", protocol="redis", cluster="dc-b") == 2
            assert m.wait_log("write with an unknown outcome not replayed", timeout=2)
            status = m.status()
            dcb = next(cl for p in status["protocols"] for cl in p["clusters"] if cl["name"] == "dc-b")
            assert dcb["unknownOutcomes"] == 3
        finally:
            c.close()
    finally:
        fake.stop()
