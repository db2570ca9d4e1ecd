"""Three clusters behind metacluster for the stateful-redis tests (issue #9: transactions, pub/sub,
blocking commands).

ThreeClusters starts dc-a (local), dc-b and dc-c, one redis-server each, and metacluster "A" in
front of them; `port_b` starts a second metacluster "B" over the SAME three servers with dc-b
local (a client of another datacenter). Every server is also read directly.

With METACLUSTER_TARGET=direct there is one redis-server and no proxy: A and B are that server,
and the comparison of the backends is trivially true. What is left to check is the tests'
expectations against real Redis semantics (replies, wake-ups, timeouts, WATCH aborts).

Clients come in the two settings every test runs with: redis-py 8's default (RESP3:
protocol=None) and protocol=2; raw connections (resp.RawConn) say HELLO 3 for the default.
"""

from __future__ import annotations

import uuid
from typing import Any, Optional

import redis

from cluster_compare import BARRIER, assert_identical
from conftest import DIRECT, Metacluster, RedisServer, Stack, wait_until
from resp import Push, RawConn

FAST_TIMEOUTS = {"requestMs": 1000, "connectMs": 300, "reconnectMinMs": 50, "reconnectMaxMs": 300}
FAST_HEALTH = {"failureLimit": 1, "probeIntervalMs": 100}
NAMES = ["dc-a", "dc-b", "dc-c"]

# redis-py 8's default (HELLO 3) and RESP2
PROTOCOLS = [None, 2]
PROTO_IDS = ["default-resp3", "resp2"]


def call(conn: RawConn, *args: Any) -> tuple[Any, list[Push]]:
    """One command on a raw connection: (its reply, the push messages that arrived before it)."""
    from resp import encode

    conn.send(encode(*args))
    pushes = []
    while True:
        value = conn.read_reply()[1]
        if not isinstance(value, Push):
            return value, pushes
        pushes.append(value)


class ThreeClusters:
    """dc-a (local), dc-b, dc-c and metacluster A in front of them (or one redis-server, direct).

    `delays` puts a DelayRelay of that many seconds in front of cluster i's server (proxy only)."""

    def __init__(self, stack: Stack, *, delays: Optional[dict[int, float]] = None,
                 timeouts: Optional[dict] = None, config_extra: Optional[dict] = None):
        self.stack = stack
        self.relays: list[Any] = []
        self._conns: list[Any] = []
        self._proxy_b: Optional[Metacluster] = None
        self.timeouts = dict(timeouts or FAST_TIMEOUTS)
        self.extra: dict[str, Any] = {"health": dict(FAST_HEALTH), **(config_extra or {})}
        if DIRECT:
            self.servers: list[RedisServer] = [stack.redis_server()]
            self.names = ["direct"]
            self.ports = [self.servers[0].port]
            self.proxy_a: Optional[Metacluster] = None
            self.port_a = self.servers[0].port
        else:
            self.servers = [stack.redis_server() for _ in NAMES]
            self.names = list(NAMES)
            self.ports = [s.port for s in self.servers]
            if delays:
                from delay_relay import DelayRelay

                for i, delay in delays.items():
                    relay = DelayRelay(self.servers[i].port, delay)
                    self.relays.append(relay)
                    self.ports[i] = relay.port
            self.proxy_a = stack.metacluster([], clusters=self.cluster_list(local=0), timeouts=self.timeouts,
                                             config_extra=self.extra)
            assert self.proxy_a.port is not None
            self.port_a = self.proxy_a.port
        self.alive = [True] * len(self.servers)
        self.directs = [self._direct(s) for s in self.servers]

    def cluster_list(self, local: int) -> list[dict]:
        """The clusters' config entries, with cluster `local` the local one."""
        return [{"name": n, "local": i == local, "redis": [f"127.0.0.1:{p}"]}
                for i, (n, p) in enumerate(zip(self.names, self.ports))]

    @property
    def port_b(self) -> int:
        """Metacluster B (dc-b local, same servers), started on first use; direct: the server."""
        if DIRECT:
            return self.servers[0].port
        if self._proxy_b is None:
            self._proxy_b = self.stack.metacluster([], clusters=self.cluster_list(local=1), timeouts=self.timeouts,
                                                   config_extra=self.extra)
        assert self._proxy_b.port is not None
        return self._proxy_b.port

    def _port(self, via: str) -> int:
        return {"a": self.port_a, "b": self.port_b}[via]

    def _direct(self, server: RedisServer) -> redis.Redis:
        return self._keep(redis.Redis(host="127.0.0.1", port=server.port, protocol=2, socket_timeout=10,
                                      socket_connect_timeout=5))

    def _keep(self, c: Any) -> Any:
        self._conns.append(c)
        return c

    # -- clients -----------------------------------------------------------------
    def client(self, protocol: Optional[int], via: str = "a", **kw: Any) -> redis.Redis:
        """A redis-py client of proxy A or B; protocol None is redis-py's default (RESP3)."""
        args: dict[str, Any] = dict(host="127.0.0.1", port=self._port(via), socket_timeout=20,
                                    socket_connect_timeout=5)
        if protocol is not None:
            args["protocol"] = protocol
        args.update(kw)
        return self._keep(redis.Redis(**args))

    def raw(self, protocol: Optional[int], via: str = "a", timeout: float = 10.0) -> RawConn:
        """A raw connection to proxy A or B that said HELLO 3 unless protocol is 2."""
        conn = self._keep(RawConn(self._port(via), timeout=timeout))
        if protocol != 2:
            hello = conn.call("HELLO", "3")
            assert isinstance(hello, list) and (b"proto", 3) in hello, f"HELLO 3 answered {hello!r}"
        return conn

    @property
    def local(self) -> redis.Redis:
        """dc-a's redis-server, read and written directly."""
        return self.directs[0]

    def live_directs(self) -> list[redis.Redis]:
        return [d for d, up in zip(self.directs, self.alive) if up]

    def live_names(self) -> list[str]:
        return [n for n, up in zip(self.names, self.alive) if up]

    # -- failures ------------------------------------------------------------------
    def stop(self, i: int) -> None:
        """Stops cluster i's redis-server (SIGTERM: it closes its clients' connections)."""
        self.servers[i].stop()
        self.alive[i] = False

    def kill(self, i: int) -> None:
        """SIGKILLs cluster i's redis-server."""
        from conftest import kill9

        kill9(self.servers[i])
        self.alive[i] = False

    # -- convergence -----------------------------------------------------------------
    def settle(self, *clients: Any, timeout: float = 10.0) -> None:
        """Waits until every live server applied everything each client wrote before: a marker
        written through the same client arrives after its earlier writes on every cluster (the
        proxy keeps each client's writes in order)."""
        for client in clients:
            token = uuid.uuid4().hex
            if isinstance(client, RawConn):
                reply, _ = call(client, "SET", BARRIER, token)
                assert reply == b"OK", f"the barrier SET answered {reply!r}"
            else:
                assert client.set(BARRIER, token) is True
            for d, name in zip(self.live_directs(), self.live_names()):
                wait_until(lambda d=d: d.get(BARRIER) == token.encode(), timeout, f"the barrier on {name}")

    def assert_identical(self, *clients: Any, expiry_tolerance_ms: int = 5) -> dict:
        """Settles through each client, then asserts every live server holds identical data;
        returns dc-a's (or the first live server's) snapshot."""
        self.settle(*clients)
        return assert_identical(self.live_directs(), self.live_names(), expiry_tolerance_ms=expiry_tolerance_ms)

    def close(self) -> None:
        for c in self._conns:
            try:
                c.close()
            except Exception:
                pass
        for r in self.relays:
            r.stop()
