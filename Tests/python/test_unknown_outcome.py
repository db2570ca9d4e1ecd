"""Writes whose outcome is unknown (issue #7's policy): a write sent to a cluster whose connection
then fails before the reply may or may not have been applied there. Writes safe to repeat are kept
and replayed; INCR, APPEND, LPUSH and the like are not (applying them twice is as wrong as missing
them): their keys are repaired instead, with a RESTORE of the local cluster's copy put where the
write was (metacluster_repaired_keys_total). A write that cannot be repaired (no keys: PUBLISH) is
counted in metacluster_unknown_outcome_writes_total and logged."""

from __future__ import annotations

import time

import redis

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
                ("SET", "s", "v"), ("INCR", "n"), ("APPEND", "a", "x"), ("LPUSH", "l", "1"), ("PUBLISH", "ch", "m"),
                ("DEL", "d"))]
            assert replies == [b"OK", 1, 1, 1, 0, 0], replies
            # The silent connection times out; dc-b comes back on its second connection and gets the
            # replay of what is safe to repeat and a RESTORE for each key of the others, in order.
            wait_until(lambda: len(fake.connections) >= 2, 5, "dc-b reconnected")

            def replayed():
                names = [r[0].upper() for r in fake.connections[1] if r[0].upper() not in (b"PING", b"COMMAND", b"HELLO")]
                return names if len(names) >= 5 else None
            wait_until(replayed, 5, "the replay on dc-b's new connection")
            time.sleep(0.3)
            requests = [r for r in fake.connections[1] if r[0].upper() not in (b"PING", b"COMMAND", b"HELLO")]
            assert [r[0].upper() for r in requests] == [b"SET", b"RESTORE", b"RESTORE", b"RESTORE", b"DEL"], requests
            # RESTORE <key> <ttl> <the local cluster's DUMP> REPLACE
            restored = requests[1:4]
            assert [r[1] for r in restored] == [b"n", b"a", b"l"], restored
            local_redis = redis.Redis(port=local.port)
            assert [r[3] for r in restored] == [local_redis.dump(k) for k in ("n", "a", "l")]
            assert all(r[2] == b"0" and r[4].upper() == b"REPLACE" for r in restored), restored

            metrics = wait_until(
                lambda: (lambda mt: mt if mt.value("metacluster_repaired_keys_total", 0,
                                                   protocol="redis", cluster="dc-b") >= 3 else None)(m.metrics()),
                3, "three repaired keys counted")
            assert metrics.value("metacluster_repaired_keys_total", protocol="redis", cluster="dc-b") == 3
            assert metrics.value("metacluster_unknown_outcome_writes_total", protocol="redis", cluster="dc-b") == 1
            assert metrics.value("metacluster_unknown_outcome_writes_total", protocol="redis", cluster="dc-a") == 0
            assert metrics.value("metacluster_missed_writes_total", protocol="redis", cluster="dc-b") == 2
            assert m.wait_log("write with an unknown outcome not replayed", timeout=2)
            status = m.status()
            dcb = next(cl for p in status["protocols"] for cl in p["clusters"] if cl["name"] == "dc-b")
            assert dcb["unknownOutcomes"] == 1 and dcb["repairedKeys"] == 3
        finally:
            c.close()
    finally:
        fake.stop()
