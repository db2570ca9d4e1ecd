"""A cluster that stalls (connected, never answering) must not hold clients back: past
limits.backendMaxInFlight its writes go to its backlog, counted, and writes keep being answered by
the healthy cluster at once."""

from __future__ import annotations

import re
import time

import pytest

from conftest import Stack
from fake_backend import FakeBackend
from resp import RawConn

pytestmark = pytest.mark.proxy_only


def proxy_info(conn: RawConn) -> dict[str, dict[str, str]]:
    text = conn.call("INFO", "proxy").decode()
    clusters = {}
    for line in text.splitlines():
        m = re.match(r"cluster_\d+:(.*)", line)
        if m:
            fields = dict(kv.split("=", 1) for kv in m.group(1).split(","))
            clusters[fields["name"]] = fields
    return clusters


def test_stalled_remote_overflows_into_its_backlog_and_never_slows_writes(stack: Stack):
    local = stack.redis_server()
    stalled = FakeBackend(["silent"])
    try:
        m = stack.metacluster(
            [], workers=1, limits={"backendMaxInFlight": 8},
            timeouts={"requestMs": 60000, "connectMs": 1000},
            clusters=[{"name": "dc-a", "local": True, "redis": [f"127.0.0.1:{local.port}"]},
                      {"name": "dc-b", "redis": [f"127.0.0.1:{stalled.port}"]}])
        c = RawConn(m.port, timeout=10)
        try:
            writes = 200
            slowest = 0.0
            for i in range(writes):
                t0 = time.monotonic()
                assert c.call("SET", f"k{i}", str(i)) == b"OK"
                slowest = max(slowest, time.monotonic() - t0)
            assert slowest < 0.5, f"a write took {slowest:.3f}s although the local cluster answered"
            info = proxy_info(c)
            # The stalled connection holds its bound (minus the proxy's own probe and COMMAND request,
            # which it never answered either); everything past it went to the backlog, counted.
            missed = int(info["dc-b"]["missed_writes"])
            assert writes - 8 <= missed <= writes, info["dc-b"]
            assert int(info["dc-b"]["backlog"]) == missed, info["dc-b"]
            assert int(info["dc-a"]["missed_writes"]) == 0, info["dc-a"]
            assert c.call("GET", "k199") == b"199"
        finally:
            c.close()
    finally:
        stalled.stop()
