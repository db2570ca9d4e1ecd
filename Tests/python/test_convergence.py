"""No write lost (issue #7's done-when): a remote cluster that goes away while clients write a mix of
SET, INCR, LPUSH, HSET, DEL, EXPIRE and memcached set/delete/incr/append holds exactly what the local
cluster holds, key for key, within 10 s of its return — also when the proxy itself is killed with
SIGKILL meanwhile, and, with `durability: "disk"`, when the proxy is killed while the remote is up.

The remote redis is really stopped and started again (with an append-only file, so it keeps what it
had); the remote memcached is cut off the network by a relay (memcached cannot restart with its
data), which resets the connections with writes in flight just as a crash would. Writes in flight
at the cut have unknown outcomes: the safe ones are replayed, the others repaired (DUMP/RESTORE,
mg/ms) from the local cluster."""

from __future__ import annotations

import random
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

from conftest import Metacluster, Stack, wait_until
from partition_relay import PartitionRelay

REDIS_KEYS = 40
MC_KEYS = 40


def redis_state(port: int) -> dict:
    import redis
    r = redis.Redis(port=port)
    state = {}
    for key in r.keys("*"):
        kind = r.type(key)
        if kind == b"string":
            value: Any = r.get(key)
        elif kind == b"list":
            value = r.lrange(key, 0, -1)
        elif kind == b"hash":
            value = r.hgetall(key)
        else:
            value = kind
        # Expiry set by EXPIRE 1000: both have one (a second apart at most) or neither.
        ttl = r.ttl(key)
        state[key] = (kind, value, ttl > 0)
    return state


def mc_state(port: int) -> dict:
    from pymemcache.client.base import Client
    c = Client(("127.0.0.1", port))
    try:
        got = c.get_many([f"m{i}" for i in range(MC_KEYS)] + [f"c{i}" for i in range(MC_KEYS)])
        return {k: v for k, v in got.items()}
    finally:
        c.close()


class Writers:
    """Redis and memcached clients writing a random mix through the proxy until stopped: redis in
    pipelines of 20 (so many writes are in flight when the remote goes away), memcached one at a
    time with replies and, on a second connection, with noreply. Every reply is checked to be a
    success (the local cluster answers). Each key has one writer: writes from two connections to one
    key have no order the clusters must agree on."""

    def __init__(self, m: Metacluster, seed: int):
        self.m = m
        self.rng = random.Random(seed)
        self.stopping = threading.Event()
        self.errors: list[str] = []
        self.counts = {"redis": 0, "memcached": 0}
        self.threads = [threading.Thread(target=self._redis, daemon=True),
                        threading.Thread(target=self._memcached, args=(False,), daemon=True),
                        threading.Thread(target=self._memcached, args=(True,), daemon=True)]

    def start(self) -> "Writers":
        for t in self.threads:
            t.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(20)
        assert not self.errors, self.errors[:5]

    def _redis(self) -> None:
        import redis
        client = redis.Redis(port=self.m.port, socket_timeout=10)
        rng = random.Random(self.rng.random())
        r = client.pipeline(transaction=False)
        ops: list[Callable[[int], Any]] = [
            lambda i: r.set(f"s{i}", rng.randrange(1000)),
            lambda i: r.incr(f"n{i}"),
            lambda i: r.lpush(f"l{i}", rng.randrange(1000)),
            lambda i: r.hset(f"h{i}", f"f{rng.randrange(4)}", rng.randrange(1000)),
            lambda i: r.delete(rng.choice(["s", "n", "l", "h"]) + str(i)),
            lambda i: r.expire(rng.choice(["s", "n", "l", "h"]) + str(i), 1000),
        ]
        while not self.stopping.is_set():
            try:
                for _ in range(20):
                    rng.choice(ops)(rng.randrange(REDIS_KEYS))
                replies = r.execute(raise_on_error=False)
                failed = [x for x in replies if isinstance(x, Exception)]
                assert not failed, failed[:3]
                self.counts["redis"] += len(replies)
            except Exception as e:  # noqa: BLE001 - every failure is reported
                self.errors.append(f"redis: {e!r}")
                return

    def _memcached(self, noreply: bool) -> None:
        from pymemcache.client.base import Client
        c = Client(("127.0.0.1", self.m.mc_port), timeout=10)
        rng = random.Random(self.rng.random())
        half = MC_KEYS // 2
        while not self.stopping.is_set():
            i = rng.randrange(half) + (half if noreply else 0)
            op = rng.randrange(5)
            try:
                if op == 0:
                    assert c.set(f"m{i}", str(rng.randrange(1000)), noreply=noreply)
                elif op == 1:
                    c.delete(f"m{i}", noreply=noreply)
                elif op == 2:
                    if c.incr(f"c{i}", 1, noreply=noreply) is None and not noreply:
                        c.set(f"c{i}", "0", noreply=False)
                elif op == 3:
                    c.append(f"m{i}", "x", noreply=noreply)
                else:
                    c.set(f"c{i}", str(rng.randrange(100)), expire=1000, noreply=noreply)
                self.counts["memcached"] += 1
            except Exception as e:  # noqa: BLE001
                self.errors.append(f"memcached: {e!r}")
                return


class Remote:
    """dc-b: a redis-server with an append-only file (stopped and started for real) and a memcached
    behind a partition relay."""

    def __init__(self, stack: Stack):
        self.redis = stack.redis_server(extra=("--appendonly", "yes", "--appendfsync", "always"))
        self.memcached = stack.memcached_server()
        self.relay = PartitionRelay(self.memcached.port)

    def go_away(self) -> None:
        self.relay.cut()
        self.redis.stop()

    def come_back(self) -> None:
        self.redis.start()
        self.relay.heal()


def start_proxy(stack: Stack, local_redis: int, local_mc: int, remote: Remote, backlog: Optional[dict] = None) -> Metacluster:
    clusters = [
        {"name": "dc-a", "local": True, "redis": [f"127.0.0.1:{local_redis}"], "memcached": [f"127.0.0.1:{local_mc}"]},
        {"name": "dc-b", "redis": [f"127.0.0.1:{remote.redis.port}"], "memcached": [f"127.0.0.1:{remote.relay.port}"]},
    ]
    extra = {"backlog": backlog} if backlog else None
    return stack.metacluster([], clusters=clusters, memcached=True, workers=2, admin=True, config_extra=extra,
                             timeouts={"requestMs": 1000, "reconnectMinMs": 20, "reconnectMaxMs": 300})


def converged(local_redis: int, local_mc: int, remote: Remote) -> bool:
    try:
        return (redis_state(remote.redis.port) == redis_state(local_redis)
                and mc_state(remote.memcached.port) == mc_state(local_mc))
    except Exception:  # noqa: BLE001 - the remote may still be starting
        return False


def differences(local: dict, remote: dict) -> list:
    return [(k, local.get(k), remote.get(k)) for k in sorted(set(local) | set(remote)) if local.get(k) != remote.get(k)]


def assert_converges(local_redis: int, local_mc: int, remote: Remote, m: Optional[Metacluster] = None) -> None:
    returned = time.monotonic()
    try:
        wait_until(lambda: converged(local_redis, local_mc, remote), 10,
                   "the remote cluster holding exactly what the local cluster holds")
    except AssertionError:
        report = {"redis": differences(redis_state(local_redis), redis_state(remote.redis.port))[:5],
                  "memcached": differences(mc_state(local_mc), mc_state(remote.memcached.port))[:5]}
        if m is not None and m.running:
            mt = m.metrics()
            report["metrics"] = {(n[12:], c): mt.sum(n, cluster=c) for c in ("dc-a", "dc-b") for n in (
                "metacluster_missed_writes_total", "metacluster_unknown_outcome_writes_total",
                "metacluster_repaired_keys_total", "metacluster_replayed_writes_total", "metacluster_backlog_entries")}
        raise AssertionError(f"not converged within 10 s: {report}")
    assert time.monotonic() - returned < 10.5
    # Not an empty success: the mix left data of every kind behind.
    kinds = {v[0] for v in redis_state(local_redis).values()}
    assert {b"string", b"list", b"hash"} <= kinds, kinds
    assert len(mc_state(local_mc)) > MC_KEYS // 4


def test_a_remote_that_goes_away_mid_traffic_converges_exactly(stack: Stack):
    local_redis = stack.redis_server()
    local_mc = stack.memcached_server()
    remote = Remote(stack)
    m = start_proxy(stack, local_redis.port, local_mc.port, remote)
    writers = Writers(m, seed=7).start()
    time.sleep(1.5)
    remote.go_away()
    time.sleep(1.5)
    remote.come_back()
    time.sleep(1.0)
    writers.stop()
    assert writers.counts["redis"] > 200 and writers.counts["memcached"] > 200, writers.counts
    assert_converges(local_redis.port, local_mc.port, remote, m)
    metrics = m.metrics()
    assert metrics.sum("metacluster_missed_writes_total", cluster="dc-b") > 0
    assert metrics.sum("metacluster_dropped_writes_total") == 0


def test_the_same_with_the_proxy_killed_while_the_remote_is_away(stack: Stack, tmp_path: Path):
    local_redis = stack.redis_server()
    local_mc = stack.memcached_server()
    remote = Remote(stack)
    backlog = {"dir": str(tmp_path / "backlog")}
    m = start_proxy(stack, local_redis.port, local_mc.port, remote, backlog)
    writers = Writers(m, seed=11).start()
    time.sleep(1.5)
    remote.go_away()
    time.sleep(1.5)
    writers.stop()
    m.proc.send_signal(signal.SIGKILL)
    m.proc.wait()
    m.checked = True
    m2 = start_proxy(stack, local_redis.port, local_mc.port, remote, backlog)
    assert m2.wait_log("backlog recovered from disk", timeout=5)
    remote.come_back()
    assert_converges(local_redis.port, local_mc.port, remote, m2)


def test_durability_disk_loses_no_remote_write_when_the_proxy_is_killed(stack: Stack, tmp_path: Path):
    local_redis = stack.redis_server()
    local_mc = stack.memcached_server()
    remote = Remote(stack)
    backlog = {"dir": str(tmp_path / "backlog"), "durability": "disk"}
    m = start_proxy(stack, local_redis.port, local_mc.port, remote, backlog)
    writers = Writers(m, seed=13).start()
    time.sleep(2.0)
    # Killed with the remote up: the writes in flight to it, or not yet sent, are in the journal.
    m.proc.send_signal(signal.SIGKILL)
    m.proc.wait()
    m.checked = True
    writers.stopping.set()
    for t in writers.threads:
        t.join(20)
    # The clients saw the connection die; whatever they were told succeeded is on the local cluster.
    m2 = start_proxy(stack, local_redis.port, local_mc.port, remote, backlog)
    assert_converges(local_redis.port, local_mc.port, remote, m2)
