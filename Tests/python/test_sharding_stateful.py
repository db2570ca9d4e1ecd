"""Transactions, WATCH and blocking commands on sharded clusters (two servers per cluster): keys
that live together work, keys spread over servers are refused with CROSSSHARD, and what a
blocking pop takes is removed on every cluster."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import redis

from conftest import DIRECT, sharded_cluster, wait_until

pytestmark = pytest.mark.skipif(DIRECT, reason="sharding is the proxy's")


def test_stateful_commands_on_sharded_clusters(stack):
    rs = [stack.redis_server() for _ in range(4)]
    clusters = [sharded_cluster("dc-a", local=True, redis=[rs[0].port, rs[1].port]),
                sharded_cluster("dc-b", redis=[rs[2].port, rs[3].port])]
    m = stack.sharded(clusters)
    c = redis.Redis(port=m.port, protocol=2, socket_timeout=10)
    directs = [redis.Redis(port=r.port) for r in rs]

    def server(tag: str) -> int:
        c.set("{%s}probe" % tag, 1)
        # dc-a's server that holds it (the write may have been answered by dc-b first)
        return wait_until(lambda: [i + 1 for i in (0, 1) if directs[i].exists("{%s}probe" % tag)], 5,
                          f"the probe of {tag} on dc-a")[0]

    # Varied tags: short tags alike ("t0", "t1" ...) land on one server more often than not.
    tags = [uuid.uuid4().hex for _ in range(40)]
    x = tags[0]
    y = next(t for t in tags[1:] if server(t) != server(x))

    p = c.pipeline(transaction=True)
    p.set("{u}:a", 1)
    p.incr("{u}:b")
    assert p.execute() == [True, 1]
    p = c.pipeline(transaction=True)
    p.set("{%s}a" % x, 1)
    p.set("{%s}b" % y, 1)
    with pytest.raises(redis.exceptions.ResponseError, match="CROSSSHARD|EXECABORT"):
        p.execute()
    with c.pipeline() as w:
        w.watch("{u}:a", "{u}:b")
        w.multi()
        w.incr("{u}:b")
        assert w.execute() == [2]
    with pytest.raises(redis.exceptions.ResponseError, match="CROSSSHARD"):
        c.execute_command("WATCH", "{%s}1" % x, "{%s}2" % y)
    with pytest.raises(redis.exceptions.ResponseError, match="CROSSSHARD"):
        c.blpop(["{%s}1" % x, "{%s}2" % y], 1)

    got: list = []
    blocked = redis.Redis(port=m.port, socket_timeout=10)
    t = threading.Thread(target=lambda: got.append(blocked.blpop(["{q}1", "{q}2"], 5)))
    t.start()
    wait_until(lambda: any(int(d.info("clients")["blocked_clients"]) for d in directs[:2]), 5, "the BLPOP blocked")
    c.rpush("{q}2", "e")
    t.join(10)
    assert got == [(b"{q}2", b"e")]
    wait_until(lambda: sum(d.llen("{q}2") for d in directs) == 0, 5, "the element gone from every cluster")
    assert sum(d.get("{u}:b") == b"2" for d in directs) == 2
