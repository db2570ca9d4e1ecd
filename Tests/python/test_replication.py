"""Replication across clusters (issue #3), end to end: three real redis-server processes as the
clusters dc-a (local), dc-b and dc-c, the release binary in front of them, and the servers compared
directly with redis-py clients of their own.

What is shown here:
- writes reach every cluster and leave identical keys (DUMP per key, expiry instants);
- reads land on the local cluster while it is healthy (INFO commandstats on each server);
- read-your-writes inside one pipeline;
- the local cluster killed (-9) under load: no client errors once detected, reads move to the remote
  with the lowest measured latency (a DelayRelay slows the other);
- a remote killed under write load: no client errors, no slowdown, and missed_writes counts exactly
  the writes it did not get, which the backlog replays when it is back;
- each ack policy's latency and choice of reply, divergence and error answers;
- the backlog is replayed in the client's order, with new writes queued behind it;
- every cluster down: error replies, no crash, service again when the servers return;
- non-deterministic writes (SPOP, XADD *, relative expiries) replicate their effect, and are
  acknowledged per writeAck like any other write.
"""

from __future__ import annotations

import signal
import statistics
import threading
import time
import uuid
from typing import Any, Callable, Optional

import pytest
import redis

from conftest import Metacluster, RedisServer, Stack, closing_factory, wait_until
from delay_relay import DelayRelay
from resp import Error, RawConn, encode

pytestmark = pytest.mark.proxy_only

NAMES = ["dc-a", "dc-b", "dc-c"]
FAST_TIMEOUTS = {"requestMs": 1000, "connectMs": 300, "reconnectMinMs": 50, "reconnectMaxMs": 300}
FAST_HEALTH = {"failureLimit": 1, "probeIntervalMs": 100}
BARRIER = "__barrier__"


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------

def kill9(server: RedisServer) -> None:
    """SIGKILL one redis-server we started (by pid) and reap it."""
    assert server.proc is not None and server.proc.poll() is None
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(5)


def direct(server: RedisServer) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=server.port, protocol=2, socket_timeout=10,
                       socket_connect_timeout=5)


def parse_proxy_info(text: str) -> dict:
    """`INFO proxy` as {"read_order": [...], "write_ack": ..., "clusters": {name: {field: value}}}."""
    info: dict[str, Any] = {"clusters": {}}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(":")
        if key.startswith("cluster_"):
            fields: dict[str, Any] = {}
            for item in value.split(","):
                k, _, v = item.partition("=")
                fields[k] = int(v) if v.lstrip("-").isdigit() else v
            info["clusters"][fields["name"]] = fields
        elif key == "clusters":
            info["cluster_count"] = int(value)
        else:
            info[key] = value
    info["read_order"] = [n for n in info.get("read_order", "").split(",") if n]
    return info


class Setup:
    """Three redis-servers, optional delay relays in front of some, and the proxy in front of all."""

    def __init__(self, stack: Stack, write_ack: Optional[str] = "first",
                 delays: Optional[dict[int, float]] = None, timeouts: Optional[dict] = None,
                 health: Optional[dict] = None):
        self.stack = stack
        self.servers = [stack.redis_server() for _ in range(3)]
        self.relays: list[DelayRelay] = []
        ports = []
        for i, s in enumerate(self.servers):
            if delays and i in delays:
                relay = DelayRelay(s.port, delays[i])
                self.relays.append(relay)
                ports.append(relay.port)
            else:
                ports.append(s.port)
        extra: dict[str, Any] = {"health": dict(health or FAST_HEALTH)}
        if write_ack is not None:
            extra["writeAck"] = write_ack
        self.proxy: Metacluster = stack.clusters(ports, workers=1, timeouts=dict(timeouts or FAST_TIMEOUTS),
                                                 config_extra=extra)
        self._clients: list[Any] = []
        self.directs = [self._keep(direct(s)) for s in self.servers]
        self.info_conn = self._keep(RawConn(self.proxy.port, timeout=10))

    def _keep(self, c: Any) -> Any:
        self._clients.append(c)
        return c

    def client(self, protocol: int = 2, **kw: Any) -> redis.Redis:
        args = dict(host="127.0.0.1", port=self.proxy.port, protocol=protocol, socket_timeout=20,
                    socket_connect_timeout=5)
        args.update(kw)
        return self._keep(redis.Redis(**args))

    def raw(self, timeout: float = 10.0) -> RawConn:
        return self._keep(RawConn(self.proxy.port, timeout=timeout))

    def restart(self, i: int) -> None:
        """Starts a new, empty redis-server on dc-i's port (after it was killed)."""
        port = self.servers[i].port
        self.servers[i] = self.stack.redis_server(port=port)
        try:
            self.directs[i].close()
        except Exception:
            pass
        self.directs[i] = self._keep(direct(self.servers[i]))

    def info(self) -> dict:
        reply = self.info_conn.call("INFO", "proxy")
        assert isinstance(reply, bytes), f"INFO proxy answered {reply!r}"
        return parse_proxy_info(reply.decode())

    def cluster(self, name: str) -> dict:
        return self.info()["clusters"][name]

    def settle(self, client: Any, timeout: float = 10.0) -> None:
        """Waits until every server has applied everything `client` wrote before: a marker write
        through the same client arrives after them on every cluster (per-client order)."""
        token = uuid.uuid4().hex
        if isinstance(client, RawConn):
            assert client.call("SET", BARRIER, token) == b"OK"
        else:
            assert client.set(BARRIER, token) is True
        for i, d in enumerate(self.directs):
            wait_until(lambda d=d: d.get(BARRIER) == token.encode(), timeout, f"the barrier write on {NAMES[i]}")

    def reset_stats(self, which: tuple[int, ...] = (0, 1, 2)) -> None:
        for i in which:
            assert self.directs[i].config_resetstat() is True

    def calls(self, i: int, command: str) -> int:
        return int(self.directs[i].info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0))

    def wait_measured(self, timeout: float = 5.0) -> None:
        """Waits until the proxy has a latency for every cluster."""
        wait_until(lambda: all(isinstance(c["latency_us"], int) for c in self.info()["clusters"].values()),
                   timeout, "a measured latency for every cluster")

    def close(self) -> None:
        for c in self._clients:
            try:
                c.close()
            except Exception:
                pass
        for r in self.relays:
            r.stop()


@pytest.fixture
def setups(stack: Stack):
    with closing_factory(lambda *args, **kw: Setup(stack, *args, **kw)) as make:
        yield make


def keyspace(d: redis.Redis) -> set[bytes]:
    return {k for k in d.keys("*") if k != BARRIER.encode()}


def key_content(d: redis.Redis, key: bytes, kind: bytes) -> Any:
    """The value of a key independent of its encoding (hashtable encodings DUMP in a per-process
    random order, so those are compared by content)."""
    if kind == b"set":
        return sorted(d.smembers(key))
    if kind == b"hash":
        return sorted(d.hgetall(key).items())
    if kind == b"zset":
        return d.zrange(key, 0, -1, withscores=True)
    if kind == b"list":
        return d.lrange(key, 0, -1)
    if kind == b"string":
        return d.get(key)
    raise AssertionError(f"unexpected type {kind!r} for {key!r}")


def assert_identical(directs: list[redis.Redis], expiry_tolerance_ms: int = 5) -> set[bytes]:
    """Every server holds the same keys with the same values (DUMP without TTL, or content for
    hashtable encodings) and the same expiry instants (PEXPIRETIME within the tolerance)."""
    spaces = [keyspace(d) for d in directs]
    for i in (1, 2):
        assert spaces[i] == spaces[0], (
            f"keys differ: only on {NAMES[0]}: {sorted(spaces[0] - spaces[i])[:20]}, "
            f"only on {NAMES[i]}: {sorted(spaces[i] - spaces[0])[:20]}")
    for key in sorted(spaces[0]):
        kinds = [d.type(key) for d in directs]
        assert len(set(kinds)) == 1, f"{key!r}: types differ {kinds}"
        encodings = [d.object("encoding", key) for d in directs]
        assert len(set(encodings)) == 1, f"{key!r}: encodings differ {encodings}"
        if encodings[0] in (b"hashtable", "hashtable"):
            contents = [key_content(d, key, kinds[0]) for d in directs]
            for i in (1, 2):
                assert contents[i] == contents[0], f"{key!r}: content on {NAMES[i]} differs from {NAMES[0]}"
        else:
            dumps = [d.dump(key) for d in directs]
            for i in (1, 2):
                assert dumps[i] == dumps[0], (
                    f"{key!r}: DUMP on {NAMES[i]} differs from {NAMES[0]}: {dumps[i]!r:.200} != {dumps[0]!r:.200}")
        expiries = [int(d.execute_command("PEXPIRETIME", key)) for d in directs]
        if any(e < 0 for e in expiries):
            assert all(e == -1 for e in expiries), f"{key!r}: expiry on some servers only: {expiries}"
        else:
            spread = max(expiries) - min(expiries)
            assert spread <= expiry_tolerance_ms, (
                f"{key!r}: expiry instants differ by {spread} ms across servers: "
                + ", ".join(f"{n}={e}" for n, e in zip(NAMES, expiries)))
            pttls = [d.pttl(key) for d in directs]
            assert all(p > 0 for p in pttls), f"{key!r}: PTTL {pttls}"
    return spaces[0]


# ----------------------------------------------------------------------------
# 1. identical data on every cluster
# ----------------------------------------------------------------------------

ALL_BYTES = bytes(range(256))


def test_writes_leave_identical_keys_on_every_cluster(setups):
    s = setups()
    c = s.client(protocol=2)
    c3 = s.client(protocol=3)

    # strings, binary values, counters, appends, deletes
    for i in range(40):
        assert c.set(f"str:{i}", f"value-{i}" * (i + 1)) is True
    assert c.set("bin:all", ALL_BYTES) is True
    assert c.set(b"bin:key\x00\r\n\xff", ALL_BYTES[::-1] * 4) is True
    assert c.set("bin:crlf", b"a\r\nb\r\n\r\n") is True
    assert c.set("big", ALL_BYTES * 400) is True  # 100 KB
    assert c.setrange("bin:all", 100, b"\x00\xff\r\n") == 256
    for _ in range(25):
        c.incr("counter")
    assert c.incrby("counter", 1000) == 1025
    assert c.decr("counter") == 1024
    assert c.incrbyfloat("float", 1.5) == 1.5
    for i in range(10):
        c.append("appended", f"<{i}>")
    assert c.append("bin:append", ALL_BYTES) == 256
    assert c.delete("str:0", "str:1", "nonexistent") == 2
    assert c.getdel("str:2") is not None
    assert c.mset({"m:1": "one", "m:2": ALL_BYTES}) is True
    assert c.setnx("m:1", "ignored") is False
    assert c.rename("str:3", "renamed") is True

    # hashes: small (listpack) and large (hashtable)
    assert c.hset("h:small", mapping={"f1": "v1", "f2": ALL_BYTES, "n": 5}) == 3
    assert c.hincrby("h:small", "n", 10) == 15
    assert c.hdel("h:small", "f1") == 1
    assert c.hset("h:big", mapping={f"field-{i}": f"v{i}" for i in range(300)}) == 300
    assert c.hdel("h:big", "field-7", "field-8") == 2

    # lists
    assert c.rpush("l:1", *[f"e{i}" for i in range(20)], ALL_BYTES) == 21
    assert c.lpush("l:1", "head") == 22
    assert c.lpop("l:1") == b"head"
    assert c.rpop("l:1") == ALL_BYTES
    assert c.ltrim("l:1", 2, 15) is True
    assert c.lset("l:1", 0, "replaced") is True
    assert c.lmove("l:1", "l:2", "LEFT", "RIGHT") == b"replaced"
    assert c.rpush("l:big", *[f"item-{i}-" + "x" * 50 for i in range(500)]) == 500

    # sets: intset, listpack, hashtable
    assert c.sadd("s:ints", *range(30)) == 30
    assert c.srem("s:ints", 3, 4, 5) == 3
    assert c.sadd("s:small", "a", "b", "c", ALL_BYTES) == 4
    assert c.sadd("s:big", *[f"member-{i}" for i in range(400)]) == 400
    assert c.srem("s:big", "member-10") == 1
    assert c.smove("s:small", "s:ints", "a") is True

    # sorted sets: listpack and skiplist
    assert c.zadd("z:small", {"a": 1, "b": 2.5, "c": -3}) == 3
    assert c.zincrby("z:small", 10, "a") == 11.0
    assert c.zrem("z:small", "b") == 1
    assert c.zadd("z:big", {f"m{i}": i * 0.5 for i in range(300)}) == 300
    assert c.zremrangebyscore("z:big", 10, 20) > 0
    assert c.zpopmin("z:big", 2) == [(b"m0", 0.0), (b"m1", 0.5)]  # deterministic pops

    # a stream with explicit IDs (deterministic)
    for i in range(1, 11):
        assert c.xadd("x:explicit", {"n": i, "b": ALL_BYTES}, id=f"{i}-1") == f"{i}-1".encode()

    # expiries, relative and absolute
    assert c.set("e:set-ex", "v", ex=100) is True
    assert c.set("e:set-px", "v", px=200000) is True
    assert c.execute_command("SETEX", "e:setex", 300, "v") is True
    assert c.execute_command("PSETEX", "e:psetex", 400000, "v") is True
    assert c.set("e:expire", "v") is True
    assert c.expire("e:expire", 500) is True
    assert c.set("e:pexpire", "v") is True
    assert c.pexpire("e:pexpire", 600000) is True
    assert c.rpush("e:list", "a", "b") == 2
    assert c.expire("e:list", 700) is True
    assert c.set("e:expireat", "v") is True
    assert c.expireat("e:expireat", int(time.time()) + 800) is True
    assert c.set("e:getex", "v") is True
    assert c.getex("e:getex", ex=900) == b"v"
    assert c.set("e:persist", "v", ex=100) is True
    assert c.persist("e:persist") is True
    assert c.set("e:gone", "v", px=1) is True  # expires at once everywhere

    # a second client over RESP3 (other backend connections) writes its own keys
    for i in range(20):
        assert c3.set(f"resp3:{i}", ALL_BYTES[i:]) is True
    assert c3.hset("resp3:h", mapping={"a": 1, "b": 2}) == 2
    assert c3.expire("resp3:h", 1000) is True
    assert c3.incr("counter") == 1025

    s.settle(c)
    s.settle(c3)
    time.sleep(0.01)  # e:gone has expired everywhere
    keys = assert_identical(s.directs)

    # the data is what was written, not merely the same everywhere
    for d in s.directs:
        assert d.get("counter") == b"1025"
        assert d.get("bin:all") == ALL_BYTES[:100] + b"\x00\xff\r\n" + ALL_BYTES[104:]
        assert d.get(b"bin:key\x00\r\n\xff") == ALL_BYTES[::-1] * 4
        assert d.get("appended") == b"".join(f"<{i}>".encode() for i in range(10))
        assert d.get("big") == ALL_BYTES * 400
        assert d.exists("str:0", "str:1", "str:2", "str:3", "e:gone") == 0
        assert d.ttl("e:persist") == -1
        assert d.scard("s:big") == 399
    assert len(keys) >= 70, sorted(keys)
    # and reads through the proxy see it
    assert c.get("bin:all") == s.directs[1].get("bin:all")
    assert c.hgetall("h:small") == {b"f2": ALL_BYTES, b"n": b"15"}


# ----------------------------------------------------------------------------
# 2. reads stay local while the local cluster is healthy
# ----------------------------------------------------------------------------

def test_reads_land_on_the_local_cluster(setups):
    # The local cluster is made the *slowest* (10 ms each way), so a proxy that ranked reads by
    # latency alone would send them elsewhere; it must still get every read.
    s = setups(delays={0: 0.01})
    c = s.client(protocol=2)
    c3 = s.client(protocol=3)
    assert c.set("warm", "1") is True and c3.get("warm") in (b"1", None)
    s.wait_measured()
    time.sleep(0.3)  # a few probes: dc-a now measures slowest
    info = s.info()
    assert info["read_order"][0] == "dc-a", info
    assert info["clusters"]["dc-a"]["latency_us"] > info["clusters"]["dc-b"]["latency_us"], info
    s.settle(c)
    s.settle(c3)
    s.reset_stats()

    n = 150
    pipe = c.pipeline(transaction=False)
    for i in range(n):
        pipe.set(f"k:{i}", i)
    assert pipe.execute() == [True] * n
    pipe = c.pipeline(transaction=False)
    for i in range(n):
        pipe.get(f"k:{i}")
    assert pipe.execute() == [str(i).encode() for i in range(n)]
    # a RESP3 client's reads (other backend connections) too, one at a time
    m = 30
    for i in range(m):
        assert c3.set(f"r3:{i}", i) is True
        assert c3.get(f"r3:{i}") == str(i).encode()
    # other read commands
    assert c.mget("k:1", "k:2") == [b"1", b"2"]
    assert c.exists("k:1", "nope") == 1
    assert c.strlen("k:100") == 3

    for i in (1, 2):  # remotes get every write too, eventually
        wait_until(lambda i=i: s.calls(i, "set") >= n + m, 5, f"the writes on {NAMES[i]}")
    for i in range(3):
        assert s.calls(i, "set") == n + m, f"{NAMES[i]}: cmdstat_set"
    assert s.calls(0, "get") == n + m
    assert s.calls(0, "mget") == 1 and s.calls(0, "exists") == 1 and s.calls(0, "strlen") == 1
    for i in (1, 2):
        stats = s.directs[i].info("commandstats")
        reads = {k: v for k, v in stats.items() if k in ("cmdstat_get", "cmdstat_mget", "cmdstat_exists", "cmdstat_strlen")}
        assert reads == {}, f"{NAMES[i]} served reads while the local cluster was healthy: {reads}"


# ----------------------------------------------------------------------------
# 3. read-your-writes inside one pipeline
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
def test_read_your_writes_within_one_pipeline(setups, protocol):
    # The local cluster is slow (10 ms each way): under `first` a remote acknowledges each SET long
    # before the local has applied it, and the GET right behind it must still see it.
    s = setups(delays={0: 0.01})
    c = s.client(protocol=protocol)
    pipe = c.pipeline(transaction=False)
    for i in range(200):
        pipe.set("k", i)
        pipe.get("k")
        pipe.incr("ctr")
        pipe.get("ctr")
    replies = pipe.execute()
    assert len(replies) == 800
    for i in range(200):
        assert replies[4 * i] is True
        assert replies[4 * i + 1] == str(i).encode(), f"GET #{i} after SET k {i} saw {replies[4 * i + 1]!r}"
        assert replies[4 * i + 2] == i + 1
        assert replies[4 * i + 3] == str(i + 1).encode(), f"GET ctr #{i} saw {replies[4 * i + 3]!r}"


# ----------------------------------------------------------------------------
# 4. the local cluster dies under load
# ----------------------------------------------------------------------------

class PipelineLoad(threading.Thread):
    """Pipelines of SET k:n n / GET k:n through the proxy until stopped; records each batch's
    start time and any error or wrong reply."""

    def __init__(self, port: int, pairs: int = 20):
        super().__init__(daemon=True)
        self.conn = RawConn(port, timeout=10)
        self.pairs = pairs
        self.stopping = threading.Event()
        self.batches: list[tuple[float, list[str]]] = []
        self.crash: Optional[BaseException] = None
        self.n = 0

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                start = time.monotonic()
                keys = list(range(self.n, self.n + self.pairs))
                self.n += self.pairs
                self.conn.send(b"".join(encode("SET", f"k:{k}", k) + encode("GET", f"k:{k}") for k in keys))
                problems = []
                for k in keys:
                    set_reply = self.conn.read_reply()[1]
                    get_reply = self.conn.read_reply()[1]
                    if set_reply != b"OK":
                        problems.append(f"SET k:{k} -> {set_reply}")
                    if get_reply != str(k).encode():
                        problems.append(f"GET k:{k} -> {get_reply}")
                self.batches.append((start, problems))
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.crash = e
        finally:
            self.conn.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join(10)
        assert not self.is_alive(), "the load did not stop (a reply never came)"
        assert self.crash is None, f"the load failed: {self.crash!r}"


def test_local_cluster_killed_under_load_reads_move_to_fastest_remote(setups):
    s = setups(delays={1: 0.02})  # dc-b is 20 ms away each way, dc-c is near
    s.wait_measured()
    wait_until(lambda: s.info()["read_order"] == ["dc-a", "dc-c", "dc-b"], 5,
               "read order dc-a,dc-c,dc-b from measured latency")

    load = PipelineLoad(s.proxy.port)
    load.start()
    time.sleep(1.0)
    killed_at = time.monotonic()
    kill9(s.servers[0])
    wait_until(lambda: s.cluster("dc-a")["state"] == "down", 2, "dc-a marked down")
    time.sleep(2.0)
    s.reset_stats((1, 2))
    time.sleep(1.0)
    load.stop()
    assert s.proxy.running

    window = 2.0
    before = [p for t, p in load.batches if t < killed_at]
    after = [p for t, p in load.batches if t >= killed_at + window]
    in_window = [x for t, p in load.batches if killed_at <= t < killed_at + window for x in p]
    assert len(before) >= 5 and len(after) >= 10, f"too little load: {len(before)} before, {len(after)} after"
    assert all(not p for p in before), [p for p in before if p][:3]
    late = [x for p in after for x in p]
    assert not late, f"{len(late)} errors more than {window}s after the kill, first: {late[:5]}"
    # reads under load after detection went to dc-c, none to dc-b
    assert s.calls(2, "get") > 0
    assert s.calls(1, "get") == 0, "dc-b (slower) served reads while dc-c was healthy"

    info = s.info()
    assert info["read_order"][0] == "dc-c", info
    assert "dc-a" not in info["read_order"], info
    s.reset_stats((1, 2))
    c = s.client()
    n = 100
    for i in range(n):
        assert c.get(f"k:{i}") == str(i).encode()
    assert s.calls(2, "get") == n, "every read should land on dc-c, the fastest healthy cluster"
    assert s.calls(1, "get") == 0, "dc-b is slower than dc-c and must get no reads"
    print(f"errors in the {window}s after the kill: {len(in_window)}")


# ----------------------------------------------------------------------------
# 5. a remote dies under write load
# ----------------------------------------------------------------------------

class WriteLoad(threading.Thread):
    """Sequential SET w:n n through the proxy, timing each."""

    def __init__(self, client: redis.Redis):
        super().__init__(daemon=True)
        self.client = client
        self.stopping = threading.Event()
        self.samples: list[tuple[float, float]] = []  # (start, seconds)
        self.errors: list[str] = []
        self.crash: Optional[BaseException] = None

    def run(self) -> None:
        n = 0
        try:
            while not self.stopping.is_set():
                t0 = time.monotonic()
                try:
                    ok = self.client.set(f"w:{n}", n)
                    if ok is not True:
                        self.errors.append(f"SET w:{n} -> {ok!r}")
                except redis.RedisError as e:
                    self.errors.append(f"SET w:{n} -> {e}")
                self.samples.append((t0, time.monotonic() - t0))
                n += 1
        except BaseException as e:  # noqa: BLE001
            self.crash = e

    def stop(self) -> None:
        self.stopping.set()
        self.join(10)
        assert not self.is_alive(), "the write load did not stop"
        assert self.crash is None, f"the write load failed: {self.crash!r}"


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def test_remote_killed_under_write_load_counts_exactly_what_it_missed(setups):
    s = setups()
    c = s.client()
    load = WriteLoad(c)
    load.start()
    time.sleep(1.0)
    killed_at = time.monotonic()
    kill9(s.servers[2])
    time.sleep(1.5)
    load.stop()
    assert s.proxy.running

    assert not load.errors, f"{len(load.errors)} client errors, first: {load.errors[:5]}"
    before = [d for t, d in load.samples if t < killed_at]
    after = [d for t, d in load.samples if t >= killed_at]
    assert len(before) > 100 and len(after) > 100, (len(before), len(after))
    assert p99(before) < 0.1 and p99(after) < 0.1, (
        f"write latency p99 before {p99(before) * 1000:.1f} ms, after {p99(after) * 1000:.1f} ms")
    total_load = len(load.samples)

    info = wait_until(lambda: (lambda i: i if i["clusters"]["dc-c"]["state"] == "down" else None)(s.info()),
                      3, "dc-c marked down")
    assert info["read_order"] == ["dc-a", "dc-b"], info
    dc_c = info["clusters"]["dc-c"]
    missed_load = dc_c["missed_writes"]
    assert missed_load > 0 and dc_c["backlog"] == missed_load and dc_c["dropped_writes"] == 0, dc_c
    for name in ("dc-a", "dc-b"):
        other = info["clusters"][name]
        assert other["missed_writes"] == 0 and other["backlog"] == 0 and other["state"] == "up", other

    # W writes while dc-c is known to be down: each is missed by dc-c, exactly once
    w = 300
    pipe = c.pipeline(transaction=False)
    for i in range(w):
        pipe.set(f"d:{i}", f"down-{i}")
    assert pipe.execute() == [True] * w
    dc_c = s.cluster("dc-c")
    assert dc_c["missed_writes"] == missed_load + w, dc_c
    assert dc_c["backlog"] == missed_load + w, dc_c
    assert dc_c["replayed_writes"] == 0 and dc_c["dropped_writes"] == 0, dc_c

    # dc-c comes back empty: the backlog is replayed in full, and nothing else arrives
    s.restart(2)
    info = wait_until(lambda: (lambda i: i if i["clusters"]["dc-c"]["backlog"] == 0
                               and i["clusters"]["dc-c"]["state"] == "up"
                               and i["clusters"]["dc-c"]["replayed_writes"] >= missed_load + w else None)(s.info()),
                      10, "dc-c up with its backlog replayed")
    dc_c = info["clusters"]["dc-c"]
    assert dc_c["replayed_writes"] == dc_c["missed_writes"] == missed_load + w, dc_c
    assert dc_c["dropped_writes"] == 0, dc_c
    wait_until(lambda: s.info()["read_order"] == ["dc-a", "dc-b", "dc-c"]
               or s.info()["read_order"] == ["dc-a", "dc-c", "dc-b"], 3, "dc-c readable again")
    s.settle(c)  # new writes reach dc-c directly again
    assert s.cluster("dc-c")["missed_writes"] == missed_load + w

    held = s.directs[2]
    keys = keyspace(held)
    assert len(keys) == missed_load + w, f"dc-c holds {len(keys)} keys, missed {missed_load + w}"
    for i in range(w):
        assert held.get(f"d:{i}") == f"down-{i}".encode()
    # the load writes it missed are the last `missed_load` ones, in one contiguous run
    load_keys = sorted(int(k.split(b":")[1]) for k in keys if k.startswith(b"w:"))
    assert load_keys == list(range(total_load - missed_load, total_load)), (
        f"dc-c got back load writes {load_keys[:3]}..{load_keys[-3:]}, expected the last {missed_load} of {total_load}")
    for k in load_keys[:: max(1, len(load_keys) // 50)]:
        assert held.get(f"w:{k}") == str(k).encode()
    # dc-a and dc-b got everything directly
    for i in (0, 1):
        assert len(keyspace(s.directs[i])) == total_load + w


def test_backlog_replay_keeps_the_write_order(setups):
    """Writes keep coming while dc-c dies, is down, comes back and replays: dc-c must receive
    them in the client's order (replayed ones first, new ones behind them), checked on a list."""
    s = setups()
    c = s.client()
    stopping = threading.Event()
    state = {"sent": 0, "errors": []}

    def push() -> None:
        n = 0
        while not stopping.is_set():
            pipe = c.pipeline(transaction=False)
            for i in range(n, n + 10):
                pipe.rpush("seq", i)
            try:
                replies = pipe.execute(raise_on_error=False)
            except redis.RedisError as e:
                state["errors"].append(repr(e))
                return
            state["errors"] += [repr(r) for r in replies if not isinstance(r, int)]
            n += 10
            state["sent"] = n

    t = threading.Thread(target=push, daemon=True)
    t.start()
    time.sleep(0.5)
    kill9(s.servers[2])
    wait_until(lambda: s.cluster("dc-c")["state"] == "down", 3, "dc-c marked down")
    time.sleep(0.5)
    s.restart(2)
    wait_until(lambda: (lambda x: x["state"] == "up" and x["backlog"] == 0 and x["replayed_writes"] > 0)(s.cluster("dc-c")),
               10, "dc-c up with its backlog replayed")
    time.sleep(0.5)
    stopping.set()
    t.join(10)
    assert not t.is_alive()
    assert not state["errors"], state["errors"][:5]
    s.settle(c)

    n = state["sent"]
    for i in (0, 1):
        got = [int(x) for x in s.directs[i].lrange("seq", 0, -1)]
        assert got == list(range(n)), f"{NAMES[i]}: list is not 0..{n - 1} in order"
    tail = [int(x) for x in s.directs[2].lrange("seq", 0, -1)]
    assert tail, "dc-c got nothing back"
    first = tail[0]
    assert tail == list(range(first, n)), (
        f"dc-c's writes are out of order or have gaps: first {first}, "
        f"first break at #{next((j for j, v in enumerate(tail) if v != first + j), None)}")
    x = s.cluster("dc-c")
    # In-flight RPUSHes at the kill have an unknown outcome: their key is restored from dc-a instead.
    assert x["replayed_writes"] == x["missed_writes"] + x["repaired_keys"] and x["dropped_writes"] == 0, x
    assert x["missed_writes"] <= len(tail), x


# ----------------------------------------------------------------------------
# 6. ack policies
# ----------------------------------------------------------------------------

LOCAL_DELAY = 0.3  # each way: a request to dc-a takes at least 0.6 s
SLOW_TIMEOUTS = {"requestMs": 5000, "connectMs": 1000, "reconnectMinMs": 50, "reconnectMaxMs": 300}


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.monotonic()
    try:
        value = fn()
    except redis.RedisError as e:
        value = e
    return value, time.monotonic() - t0


def divergence(info: dict) -> dict[str, int]:
    return {n: info["clusters"][n]["divergent_replies"] for n in NAMES}


def rejections(info: dict) -> dict[str, int]:
    return {n: info["clusters"][n]["rejected_writes"] for n in NAMES}


# policy -> (SET answered fast, INCR answered from which clusters, error for a write failing on dc-c only)
POLICIES = {
    "first": dict(fast=True, incr_from={"dc-b", "dc-c"}, partial_fails=False),
    "local": dict(fast=False, incr_from={"dc-a"}, partial_fails=False),
    "majority": dict(fast=True, incr_from={"dc-b", "dc-c"}, partial_fails=False),
    "all": dict(fast=False, incr_from={"dc-a"}, partial_fails=True),
}


@pytest.mark.parametrize("policy", list(POLICIES))
def test_ack_policy_latency_and_reply_choice(setups, policy):
    want = POLICIES[policy]
    s = setups(write_ack=policy, delays={0: LOCAL_DELAY}, timeouts=SLOW_TIMEOUTS)
    assert s.info()["write_ack"] == policy
    c = s.client()
    assert c.set("warm", "1") is True  # connections up
    s.settle(c)

    # latency of a write: the local is 0.6 s away, the remotes next door
    times = []
    for i in range(3):
        value, took = timed(lambda i=i: c.set(f"k{i}", f"v{i}"))
        assert value is True, value
        times.append(took)
    if want["fast"]:
        assert max(times) < 0.2, f"{policy}: SET took {times} with two fast remotes"
    else:
        assert min(times) >= 2 * LOCAL_DELAY * 0.9, f"{policy}: SET took {times}, must wait for the slow local"
    s.settle(c)
    for d in s.directs:
        assert d.mget("k0", "k1", "k2") == [b"v0", b"v1", b"v2"]

    # which cluster's reply answers: a counter that differs on every server
    for d, v in zip(s.directs, (10, 20, 30)):
        d.set("n", v)
    before = divergence(s.info())
    value, _ = timed(lambda: c.incr("n"))
    replies = {"dc-a": 11, "dc-b": 21, "dc-c": 31}
    assert value in [replies[n] for n in want["incr_from"]], f"{policy}: INCR answered {value!r}"
    answered = next(n for n in NAMES if replies[n] == value)
    s.settle(c)
    after = wait_until(lambda: (lambda d: d if sum(d.values()) - sum(before.values()) >= 2 else None)(divergence(s.info())),
                       3, "the divergence to be counted")
    grew = {n: after[n] - before[n] for n in NAMES}
    assert grew == {n: (0 if n == answered else 1) for n in NAMES}, f"{policy}: divergent_replies grew {grew}"
    assert [d.get("n") for d in s.directs] == [b"11", b"21", b"31"]

    # a write that fails on dc-c only (WRONGTYPE there)
    for d in s.directs[:2]:
        d.set("p", 5)
    s.directs[2].rpush("p", "x")
    before_rej = rejections(s.info())
    value, took = timed(lambda: c.incr("p"))
    if want["partial_fails"]:
        assert isinstance(value, redis.ResponseError) and "WRONGTYPE" in str(value), f"{policy}: {value!r}"
        assert took < 2 * LOCAL_DELAY, f"{policy}: the error should come as soon as dc-c failed ({took:.2f}s)"
    else:
        assert value == 6, f"{policy}: INCR answered {value!r}"
    s.settle(c)
    if not want["partial_fails"]:
        after_rej = wait_until(lambda: (lambda r: r if r["dc-c"] > before_rej["dc-c"] else None)(rejections(s.info())),
                               3, "the rejection to be counted")
        assert {n: after_rej[n] - before_rej[n] for n in NAMES} == {"dc-a": 0, "dc-b": 0, "dc-c": 1}
    assert [d.get("p") for d in s.directs[:2]] == [b"6", b"6"]


@pytest.mark.parametrize("policy", list(POLICIES))
def test_write_failing_everywhere_gets_an_error(setups, policy):
    """The same write fails on every cluster, with a different error on the local one (answered
    last, 0.6 s away). `first` and `local` answer with the local's error; `majority` and `all`
    answer with an error as soon as the policy can no longer succeed."""
    s = setups(write_ack=policy, delays={0: LOCAL_DELAY}, timeouts=SLOW_TIMEOUTS)
    c = s.client()
    assert c.set("warm", "1") is True
    s.directs[0].set("x", "not a number")
    s.directs[1].rpush("x", "a list")
    s.directs[2].hset("x", "a", "hash")
    value, took = timed(lambda: c.incr("x"))
    assert isinstance(value, redis.ResponseError), f"{policy}: INCR answered {value!r}"
    if policy in ("first", "local"):
        assert "not an integer" in str(value), f"{policy}: expected dc-a's error, got {value}"
        assert took >= 2 * LOCAL_DELAY * 0.9
    else:
        assert "WRONGTYPE" in str(value), f"{policy}: expected a remote's (first) error, got {value}"
        assert took < 2 * LOCAL_DELAY, f"{policy}: error after {took:.2f}s"
    s.settle(c)
    assert s.directs[0].get("x") == b"not a number"
    assert s.proxy.running
    info = s.info()
    assert all(info["clusters"][n]["state"] == "up" for n in NAMES), info
    assert c.incr("other") == 1


# ----------------------------------------------------------------------------
# 7. every cluster down
# ----------------------------------------------------------------------------

def test_write_with_every_cluster_down_gets_an_error_and_proxy_recovers(setups):
    s = setups()
    c = s.raw()
    assert c.call("SET", "before", "1") == b"OK"
    s.settle(c)  # nothing in flight when the servers die: their data is simply gone
    local_port = s.servers[0].port
    for server in s.servers:
        kill9(server)

    # at once, before the proxy noticed, and after it marked everything down
    for phase in ("at once", "after detection"):
        value, took = (lambda t0: (c.call("SET", "k", phase), time.monotonic() - t0))(time.monotonic())
        assert isinstance(value, Error), f"{phase}: a write with every cluster down answered {value!r}"
        assert took < 2.0, f"{phase}: the error took {took:.2f}s"
        # `first` with every cluster failed answers with the local cluster's error
        assert f":{local_port} unavailable" in str(value), f"{phase}: not dc-a's error: {value}"
        value = c.call("GET", "k")
        assert isinstance(value, Error), f"{phase}: a read with every cluster down answered {value!r}"
        c.send(encode("SET", "p", "1") * 20 + encode("INCR", "ctr") * 20)
        replies = [c.read_reply()[1] for _ in range(40)]
        assert all(isinstance(r, Error) for r in replies), replies
        assert s.proxy.running, "the proxy died with every cluster down\n" + s.proxy.describe()
        if phase == "at once":
            wait_until(lambda: all(x["state"] == "down" for x in s.info()["clusters"].values()), 3,
                       "every cluster marked down")
    assert c.call("PING") == b"PONG"

    for i in range(3):
        s.restart(i)
    deadline = time.monotonic() + 10
    while True:
        value = c.call("SET", "after", "2")
        if value == b"OK":
            break
        assert isinstance(value, Error), value
        assert time.monotonic() < deadline, f"not served again 10 s after the servers returned: {value}"
        time.sleep(0.05)
    assert c.call("GET", "after") == b"2"
    wait_until(lambda: all(x["state"] == "up" and x["backlog"] == 0 for x in s.info()["clusters"].values()),
               10, "every cluster up with its backlog replayed")
    fresh = s.client()
    assert fresh.set("fresh", "3") is True and fresh.get("fresh") == b"3"
    s.settle(fresh)
    s.settle(c)
    # whatever the backlogs replayed, the clusters agree
    assert_identical(s.directs)
    assert s.proxy.running


# ----------------------------------------------------------------------------
# non-deterministic writes replicate their effect
# ----------------------------------------------------------------------------

def test_nondeterministic_writes_replicate_effects(setups):
    # dc-c is 50 ms away: a relative expiry or a server-chosen stream ID computed there on arrival
    # would differ from dc-a's and dc-b's by about that much.
    s = setups(delays={2: 0.05})
    c = s.client()
    assert c.set("warm", "1") is True
    s.settle(c)

    # SPOP: the members popped are decided once
    assert c.sadd("s", *[f"m{i}" for i in range(100)]) == 100
    popped: list[bytes] = []
    for _ in range(5):
        popped.append(c.spop("s"))
    for _ in range(3):
        popped.extend(c.spop("s", 7))
    assert len(set(popped)) == 26
    # XADD *: the ID is chosen once
    ids = [c.xadd("stream", {"n": i}) for i in range(20)]
    ids += [c.xadd("stream", {"n": "capped"}, maxlen=15, approximate=False)]
    # relative expiries become the same instant everywhere
    assert c.set("e:expire", "v") is True and c.expire("e:expire", 100) is True
    assert c.set("e:pexpire", "v") is True and c.pexpire("e:pexpire", 200000) is True
    assert c.set("e:set-ex", "v", ex=300) is True
    assert c.set("e:set-px", "v", px=400000) is True
    assert c.execute_command("SETEX", "e:setex", 500, "v") is True
    assert c.execute_command("PSETEX", "e:psetex", 600000, "v") is True
    assert c.set("e:getex", "v") is True and c.getex("e:getex", ex=700) == b"v"
    assert c.restore("e:restore", 800000, c.dump("warm")) in (True, b"OK")  # RESTORE with a relative ttl
    s.settle(c)

    problems = []
    members = [sorted(d.smembers("s")) for d in s.directs]
    if not (members[0] == members[1] == members[2]):
        problems.append("SPOP: set members differ: " + "; ".join(
            f"{n} has {len(m)} (not on dc-a: {sorted(set(m) - set(members[0]))[:5]})" for n, m in zip(NAMES, members)))
    for n, m in zip(NAMES, members):
        if set(popped) & set(m):
            problems.append(f"SPOP: {n} still holds popped members {sorted(set(popped) & set(m))[:5]}")
    streams = [[i for i, _ in d.xrange("stream")] for d in s.directs]
    if not (streams[0] == streams[1] == streams[2]):
        problems.append("XADD *: stream IDs differ: " + "; ".join(f"{n}: {st[:3]}..." for n, st in zip(NAMES, streams)))
    if streams[0] != ids[-15:]:
        problems.append(f"XADD *: dc-a's stream {streams[0][:3]}... is not the IDs the client got {ids[-15:][:3]}...")
    for key in ("e:expire", "e:pexpire", "e:set-ex", "e:set-px", "e:setex", "e:psetex", "e:getex", "e:restore"):
        at = [int(d.execute_command("PEXPIRETIME", key)) for d in s.directs]
        if max(at) - min(at) > 5:
            problems.append(f"{key}: expiry instants differ by {max(at) - min(at)} ms: "
                            + ", ".join(f"{n}={e}" for n, e in zip(NAMES, at)))
    assert not problems, "\n".join(problems)
    assert_identical(s.directs)


@pytest.mark.parametrize("policy", ["majority", "all"])
def test_decided_writes_honour_the_ack_policy(setups, policy):
    """Under `majority` and `all` a write is answered only once enough clusters applied it. Both
    remotes are 0.6 s away, so any such write takes at least 0.6 s; SPOP and XADD * must too."""
    s = setups(write_ack=policy, delays={1: LOCAL_DELAY, 2: LOCAL_DELAY}, timeouts=SLOW_TIMEOUTS)
    c = s.client()
    assert c.set("warm", "1") is True
    slow = 2 * LOCAL_DELAY * 0.9
    value, took = timed(lambda: c.sadd("s", *range(20)))
    assert value == 20 and took >= slow, (value, took)  # the plain write waits, as documented
    timings = {}
    value, timings["SPOP"] = timed(lambda: c.spop("s"))
    assert isinstance(value, bytes), value
    value, timings["XADD *"] = timed(lambda: c.xadd("stream", {"f": "v"}))
    assert isinstance(value, bytes), value
    early = {k: f"{t * 1000:.0f} ms" for k, t in timings.items() if t < slow}
    assert not early, (f"writeAck {policy}: answered before the remotes applied the effect: {early} "
                       f"(a plain write took >= {slow * 1000:.0f} ms)")
