"""A backlog that reaches its bound (issue #7, part 5): the cluster is marked as needing a resync,
loudly (log, /metrics, /status), the backlog refuses every later write until it drains, and what
it held is still replayed in order."""

from __future__ import annotations

import time

from conftest import Stack, wait_until


def test_a_full_backlog_marks_the_cluster_for_resync(stack: Stack):
    import redis
    local = stack.redis_server()
    remote = stack.redis_server()
    remote.stop()
    m = stack.clusters([local.port, remote.port], workers=1, admin=True,
                       timeouts={"reconnectMinMs": 20, "reconnectMaxMs": 200},
                       config_extra={"backlog": {"maxEntries": 5}})
    c = redis.Redis(port=m.port)
    for i in range(5):
        c.set(f"k{i}", i)
    time.sleep(1.1)
    status = m.status()
    dcb = next(cl for p in status["protocols"] for cl in p["clusters"] if cl["name"] == "dc-b")
    assert dcb["needsResync"] is False and dcb["backlog"] == 5
    assert dcb["backlogOldestSeconds"] >= 1
    for i in range(5, 8):
        c.set(f"k{i}", i)
    assert m.wait_log("backlog full: cluster has lost writes and needs a resync", timeout=3)
    metrics = m.metrics()
    assert metrics.value("metacluster_cluster_needs_resync", protocol="redis", cluster="dc-b") == 1
    assert metrics.value("metacluster_cluster_needs_resync", protocol="redis", cluster="dc-a") == 0
    assert metrics.value("metacluster_dropped_writes_total", protocol="redis", cluster="dc-b") == 3
    assert metrics.value("metacluster_backlog_oldest_seconds", protocol="redis", cluster="dc-b") >= 1
    status = m.status()
    dcb = next(cl for p in status["protocols"] for cl in p["clusters"] if cl["name"] == "dc-b")
    assert dcb["needsResync"] is True and dcb["droppedWrites"] == 3
    # What was held is replayed in order once the server is back; the refused writes are not.
    remote.start()
    r = redis.Redis(port=remote.port)
    wait_until(lambda: r.dbsize() == 5, 10, "the five held writes replayed")
    time.sleep(0.3)
    assert sorted(r.keys()) == [f"k{i}".encode() for i in range(5)]
    assert m.status()["protocols"][0]["clusters"][1]["needsResync"] is True
