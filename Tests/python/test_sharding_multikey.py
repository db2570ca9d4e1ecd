"""Sharding inside a cluster: commands with several keys, end to end.

Two clusters, dc-a (local) and dc-b, of three redis-servers each behind metacluster, and one
standalone reference redis-server talked to directly: every command is sent identically to both,
and the replies must be identical, in order. The same for memcached (two clusters of three
memcached, one reference memcached).

What is shown here:
- random sequences of MSET / MGET / DEL / UNLINK / EXISTS / TOUCH (and SET / GET), with missing
  and duplicate keys, over redis-py RESP2 and RESP3 and raw pipelined RESP2 / RESP3: the same
  replies as redis-server, and afterwards every cluster holds exactly the reference's data, each
  key on one shard, and the keys span the shards;
- commands whose keys must live together (RENAME, SMOVE, SUNIONSTORE, MSETNX, EVAL) are refused
  with an error about hash tags when their keys are on different shards, change nothing, and work
  like redis-server's when the keys share a hash tag;
- DBSIZE, KEYS, SCAN (COUNT, MATCH), RANDOMKEY cover every shard; FLUSHDB (allowFlush) empties
  every shard of every cluster;
- memcached get / gets with many keys, duplicates and misses, and meta batches (mg ... q, mn),
  answer like memcached, in order.
"""

from __future__ import annotations

import random
import re
from typing import Any, Optional

import pytest
import redis

from conftest import (McShards, RedisShards, Stack, assert_same, closing_factory, normalize, outcome,
                      reference_contents, scattered_key, sharded_cluster, wait_until)
from mcproto import McConn, line, meta_set, metadump, storage
from resp import Error, RawConn, encode_many

pytestmark = pytest.mark.proxy_only

FAST_TIMEOUTS = {"requestMs": 2000, "connectMs": 300, "reconnectMinMs": 50, "reconnectMaxMs": 300}
FAST_HEALTH = {"failureLimit": 1, "probeIntervalMs": 100}

# The error a command whose keys are on different shards gets. The contract: it mentions hash tags.
# Today's wording: "-CROSSSHARD Keys in request don't hash to the same server in every cluster;
# RENAME needs all its keys on one server: give them one hash tag, e.g. {user1}:a and {user1}:b".
CROSS_SHARD_ERROR = re.compile(r"hash[ _-]?tags?", re.IGNORECASE)

# short sequential names (k0, k1, ...) as well as scattered ones, so that the keys surely span the shards
POOL = [f"k{i}" for i in range(8)] + [scattered_key("k", i) for i in range(8, 20)] + ["{t}:a", "{t}:b", "{t}:c",
                                                                                      "ключ", "k:ü"]
MISSING = ["missing:1", "missing:2", "nokey"]


# ----------------------------------------------------------------------------
# setup
# ----------------------------------------------------------------------------

class RedisSetup:
    """dc-a (local) and dc-b of three redis-servers each, metacluster in front, and a reference."""

    def __init__(self, stack: Stack, config_extra: Optional[dict] = None):
        self.servers = [stack.redis_servers(3) for _ in range(2)]
        clusters = [sharded_cluster(f"dc-{'ab'[i]}", local=(i == 0), redis=[s.port for s in self.servers[i]])
                    for i in range(2)]
        self.proxy = stack.sharded(clusters, timeouts=FAST_TIMEOUTS,
                                   config_extra={"health": FAST_HEALTH, **(config_extra or {})})
        self.reference = stack.redis_server()
        self.shards = RedisShards(self.servers)
        self._clients: list[Any] = []
        self.ref = self.ref_client()

    def _keep(self, c: Any) -> Any:
        self._clients.append(c)
        return c

    def client(self, protocol: int = 2) -> redis.Redis:
        return self._keep(redis.Redis(host="127.0.0.1", port=self.proxy.port, protocol=protocol, socket_timeout=20,
                                      socket_connect_timeout=5))

    def ref_client(self, protocol: int = 2) -> redis.Redis:
        return self._keep(redis.Redis(host="127.0.0.1", port=self.reference.port, protocol=protocol,
                                      socket_timeout=20, socket_connect_timeout=5))

    def raw(self) -> RawConn:
        return self._keep(RawConn(self.proxy.port))

    def raw_ref(self) -> RawConn:
        return self._keep(RawConn(self.reference.port))

    def settle(self, client: Any) -> None:
        """Everything `client` wrote before is on every shard; the reference gets the barrier keys too."""
        self.shards.settle(client, ref=self.ref)

    def assert_clusters_hold_reference(self) -> dict:
        want = reference_contents(self.ref)
        for c in range(2):
            got = self.shards.contents(c)
            if got != want:
                only_ref = sorted(set(want) - set(got))[:10]
                only_here = sorted(set(got) - set(want))[:10]
                differ = [k for k in want if k in got and got[k] != want[k]][:10]
                raise AssertionError(f"{self.shards.names[c]} differs from the reference: missing {only_ref}, "
                                     f"extra {only_here}, different {[(k, got[k], want[k]) for k in differ]}")
        return want

    def close(self) -> None:
        for c in self._clients:
            try:
                c.close()
            except Exception:
                pass
        self.shards.close()


@pytest.fixture
def redis_setup(stack: Stack):
    with closing_factory(lambda *args, **kw: RedisSetup(stack, *args, **kw)) as make:
        yield make


# ----------------------------------------------------------------------------
# random multi-key sequences
# ----------------------------------------------------------------------------

def random_value(rng: random.Random) -> bytes:
    kind = rng.random()
    if kind < 0.1:
        return b""
    if kind < 0.3:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 20)))
    return f"v{rng.randrange(1000)}".encode()


def random_keys(rng: random.Random, lo: int, hi: int, missing: bool = True) -> list[str]:
    """Between lo and hi keys, often with duplicates, sometimes missing ones."""
    n = rng.randint(lo, hi)
    pool = POOL + (MISSING if missing else [])
    keys = [rng.choice(pool) for _ in range(n)]
    if n > 1 and rng.random() < 0.4:
        keys.insert(rng.randrange(len(keys)), rng.choice(keys))  # a duplicate for sure
    return keys


def random_ops(seed: int, n: int) -> list[tuple]:
    rng = random.Random(seed)
    ops: list[tuple] = []
    # start from something: every pool key set once, in two MSETs
    ops.append(("MSET", *[x for k in POOL[: len(POOL) // 2] for x in (k, f"init:{k}")]))
    ops.append(("MSET", *[x for k in POOL[len(POOL) // 2:] for x in (k, f"init:{k}")]))
    for _ in range(n):
        r = rng.random()
        if r < 0.2:
            keys = random_keys(rng, 1, 8, missing=False)
            ops.append(("MSET", *[x for k in keys for x in (k, random_value(rng))]))
        elif r < 0.45:
            ops.append(("MGET", *random_keys(rng, 1, 12)))
        elif r < 0.55:
            ops.append(("DEL", *random_keys(rng, 1, 5)))
        elif r < 0.62:
            ops.append(("UNLINK", *random_keys(rng, 1, 5)))
        elif r < 0.75:
            ops.append(("EXISTS", *random_keys(rng, 1, 8)))
        elif r < 0.83:
            ops.append(("TOUCH", *random_keys(rng, 1, 8)))
        elif r < 0.92:
            ops.append(("SET", rng.choice(POOL), random_value(rng)))
        else:
            ops.append(("GET", rng.choice(POOL + MISSING)))
    # the classic shapes from the contract, at the end too
    ops += [("MSET", "k1", "1", "k2", "2", "k1", "3"), ("MGET", "k1", "k2", "k1", "missing:1"),
            ("DEL", "k1", "k1", "k2"), ("EXISTS", "k3", "k3"), ("EXISTS", "k1", "k1"), ("TOUCH", "k3", "k3", "nokey"),
            ("MGET", "k1", "k2", "k3", "k3"), ("UNLINK", "k4", "k4", "nokey", "k5")]
    return ops


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("client_kind", ["redis-py-resp2", "redis-py-resp3", "raw-resp2", "raw-resp3"])
def test_random_multikey_sequences_match_redis(redis_setup, client_kind, seed):
    s = redis_setup()
    ops = random_ops(seed * 100 + len(client_kind), 300)
    if client_kind.startswith("redis-py"):
        protocol = 3 if client_kind.endswith("3") else 2
        proxy_c, ref_c = s.client(protocol), s.ref_client(protocol)
        for i in range(0, len(ops), 50):  # one command at a time, compared in chunks
            chunk = ops[i:i + 50]
            got = [normalize(outcome(lambda op=op: proxy_c.execute_command(*op))) for op in chunk]
            want = [normalize(outcome(lambda op=op: ref_c.execute_command(*op))) for op in chunk]
            assert_same(got, want, f"{client_kind} ops #{i}..: {chunk!r:.300}")
        barrier_client: Any = proxy_c
    else:
        proxy_c, ref_c = s.raw(), s.raw_ref()
        if client_kind.endswith("3"):
            for c in (proxy_c, ref_c):
                reply = c.call("HELLO", "3")
                assert not isinstance(reply, Error), reply
        for i in range(0, len(ops), 25):  # pipelined: 25 commands sent at once
            chunk = ops[i:i + 25]
            for c in (proxy_c, ref_c):
                c.send(encode_many(chunk))
            got = proxy_c.read_raw(len(chunk))
            want = ref_c.read_raw(len(chunk))
            for j, (g, w) in enumerate(zip(got, want)):
                assert g == w, f"{client_kind} op #{i + j} {chunk[j]!r:.200}: proxy {g!r:.300} != redis {w!r:.300}"
        barrier_client = proxy_c

    s.settle(barrier_client)
    data = s.assert_clusters_hold_reference()
    assert len(data) >= 5, f"the sequence left only {sorted(data)} (a poor test)"
    # every pool key that exists: one MGET through the proxy spans several shards
    present = [k for k in POOL if s.ref.exists(k)]
    for c in range(2):
        spread = s.shards.spread(c, present)
        assert sum(1 for n in spread.values() if n) >= 2, (
            f"{s.shards.names[c]}: the pool keys all live on one shard: {spread}")
    mget = ["missing:1", *present, present[0], "nokey", *present[::-1]]
    check = s.client()
    assert check.mget(mget) == s.ref.mget(mget)


# ----------------------------------------------------------------------------
# commands whose keys must live together
# ----------------------------------------------------------------------------

def split_pair(s: RedisSetup) -> tuple[str, str, str]:
    """Three keys, the first two on different shards in both clusters (the third on either)."""
    candidates = [scattered_key("x:", i) for i in range(40)]
    c = s.client()
    pipe = c.pipeline(transaction=False)
    for k in candidates:
        pipe.set(k, "probe")
    assert pipe.execute() == [True] * len(candidates)
    s.settle(c)
    homes = [s.shards.homes(i, candidates) for i in range(2)]
    pipe = c.pipeline(transaction=False)
    for k in candidates:
        pipe.delete(k)
    assert pipe.execute() == [1] * len(candidates)
    s.settle(c)
    for a in candidates:
        for b in candidates:
            if all(h[a] != h[b] for h in homes):
                third = next(k for k in candidates if k not in (a, b))
                return a, b, third
    raise AssertionError(f"no two of {len(candidates)} keys are on different shards in both clusters: {homes}")


# (setup commands, the command) with placeholders A, B, C for the keys
TOGETHER = {
    "RENAME": ([("SET", "A", "a-value"), ("SET", "B", "b-value")], ("RENAME", "A", "B")),
    "SMOVE": ([("SADD", "A", "m1", "m2"), ("SADD", "B", "m3")], ("SMOVE", "A", "B", "m1")),
    "SUNIONSTORE": ([("SADD", "A", "m1"), ("SADD", "B", "m2", "m3"), ("SADD", "C", "m4")],
                    ("SUNIONSTORE", "C", "A", "B")),
    "MSETNX": ([("DEL", "A", "B")], ("MSETNX", "A", "1", "B", "2")),
    "EVAL": ([("SET", "A", "a-value"), ("SET", "B", "b-value")],
             ("EVAL", "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[2])", "2", "A", "B", "new")),
}


def substitute(cmd: tuple, names: dict[str, str]) -> tuple:
    return tuple(names.get(x, x) if isinstance(x, str) else x for x in cmd)


@pytest.mark.parametrize("command", list(TOGETHER))
def test_commands_across_shards_are_refused_with_a_hash_tag_error(redis_setup, command):
    s = redis_setup()
    a, b, c3 = split_pair(s)
    setup_cmds, cmd = TOGETHER[command]
    proxy_c = s.raw()
    ref_c = s.raw_ref()

    # across shards: refused, nothing changed anywhere
    names = {"A": a, "B": b, "C": c3}
    for op in setup_cmds:
        op = substitute(op, names)
        assert proxy_c.call_raw(*op) == ref_c.call_raw(*op), op
    reply = proxy_c.call(*substitute(cmd, names))
    assert isinstance(reply, Error), f"{command} across shards answered {reply!r}"
    assert CROSS_SHARD_ERROR.search(str(reply)), f"{command} across shards: error without 'hash tag': {reply}"
    assert proxy_c.call("PING") == b"PONG"  # the connection goes on
    s.settle(proxy_c)
    s.assert_clusters_hold_reference()

    # sharing a hash tag: as redis-server
    names = {"A": "{user}:a", "B": "{user}:b", "C": "{user}:c"}
    for op in setup_cmds + [cmd]:
        op = substitute(op, names)
        got, want = proxy_c.call_raw(*op), ref_c.call_raw(*op)
        assert got == want, f"{op!r:.200}: proxy {got!r} != redis {want!r}"
    s.settle(proxy_c)
    s.assert_clusters_hold_reference()
    for c in range(2):
        assert len(set(s.shards.homes(c, [k for k in names.values() if s.ref.exists(k)]).values())) == 1


def test_hash_tagged_multikey_commands_stay_on_one_shard(redis_setup):
    """Keys sharing a tag: every multi-key command works as redis-server's, and all of them live
    on one shard of each cluster."""
    s = redis_setup()
    p, r = s.raw(), s.raw_ref()
    ops = [("MSET", "{u1}:a", "1", "{u1}:b", "2", "{u1}:c", "3"), ("MSETNX", "{u1}:x", "9", "{u1}:y", "8"),
           ("MSETNX", "{u1}:x", "0", "{u1}:z", "0"), ("RENAME", "{u1}:a", "{u1}:renamed"),
           ("SADD", "{u1}:s1", "a", "b"), ("SADD", "{u1}:s2", "b", "c"), ("SUNIONSTORE", "{u1}:s3", "{u1}:s1", "{u1}:s2"),
           ("SINTERSTORE", "{u1}:s4", "{u1}:s1", "{u1}:s2"), ("SMOVE", "{u1}:s1", "{u1}:s2", "a"),
           ("RPUSH", "{u1}:l1", "x", "y"), ("LMOVE", "{u1}:l1", "{u1}:l2", "LEFT", "RIGHT"),
           ("EVAL", "return redis.call('MGET', KEYS[1], KEYS[2])", "2", "{u1}:b", "{u1}:c"),
           ("MGET", "{u1}:renamed", "{u1}:b", "{u1}:nope", "{u1}:x"), ("DEL", "{u1}:b", "{u1}:c", "{u1}:b")]
    for op in ops:
        got, want = p.call_raw(*op), r.call_raw(*op)
        assert got == want, f"{op!r:.200}: proxy {got!r} != redis {want!r}"
    s.settle(p)
    data = s.assert_clusters_hold_reference()
    tagged = [k for k in data if k.startswith(b"{u1}:")]
    assert len(tagged) >= 6, sorted(data)
    for c in range(2):
        assert len(set(s.shards.homes(c, tagged).values())) == 1


# ----------------------------------------------------------------------------
# keyspace commands
# ----------------------------------------------------------------------------

def scan_all(c: redis.Redis, match: Optional[str] = None, count: int = 5, limit: int = 10000) -> list[bytes]:
    args: list[Any] = []
    if match is not None:
        args += ["MATCH", match]
    args += ["COUNT", count]
    cursor: Any = 0
    out: list[bytes] = []
    for _ in range(limit):
        cursor, keys = c.execute_command("SCAN", cursor, *args)
        out += keys
        if int(cursor) == 0:
            return out
    raise AssertionError(f"SCAN did not finish within {limit} calls")


@pytest.mark.covers("FLUSHDB")
def test_keyspace_commands_cover_every_shard(redis_setup):
    s = redis_setup(config_extra={"allowFlush": True})
    c = s.client()
    c3 = s.client(protocol=3)
    for client in (c, s.ref):
        pipe = client.pipeline(transaction=False)
        for i in range(0, 150, 10):
            pipe.mset({scattered_key("k:", j): f"v{j}" for j in range(i, i + 10)})
        pipe.mset({f"{{tag}}:{j}": j for j in range(10)})
        pipe.mset({scattered_key("other:", j): j for j in range(20)})
        pipe.sadd("set:1", "a", "b")
        assert all(x for x in pipe.execute())
    s.settle(c)
    data = s.assert_clusters_hold_reference()
    for cl in range(2):
        spread = s.shards.spread(cl, list(data))
        assert all(spread.values()), f"{s.shards.names[cl]}: a shard holds none of the keys: {spread}"

    all_keys = set(s.ref.keys("*"))
    assert c.dbsize() == s.ref.dbsize() == len(all_keys)
    assert c3.dbsize() == len(all_keys)
    assert set(c.keys("*")) == all_keys
    assert set(c3.keys("*")) == all_keys
    assert sorted(c.keys("k:1*")) == sorted(s.ref.keys("k:1*"))
    assert c.keys("nothing:*") == []

    for match in ("k:*", "k:1?:*", "*a", None):
        got = scan_all(c, match=match)
        want = set(s.ref.keys(match or "*"))
        assert set(got) == want, (f"SCAN MATCH {match}: missing {sorted(want - set(got))[:10]}, "
                                  f"extra {sorted(set(got) - want)[:10]}")
    got3 = scan_all(c3, match="other:*", count=3)
    assert set(got3) == set(s.ref.keys("other:*"))
    assert set(c.scan_iter(match="{tag}:*", count=5)) == set(s.ref.keys("{tag}:*"))

    seen = set()
    for _ in range(60):
        k = c.randomkey()
        assert k in all_keys, f"RANDOMKEY answered {k!r}, not a key"
        seen.add(k)
    homes = s.shards.homes(0, sorted(seen))
    assert len(set(homes.values())) >= 2, f"60 RANDOMKEYs all came from one shard of dc-a: {homes}"

    # FLUSHDB empties every shard of every cluster
    assert c.flushdb() is True
    assert s.ref.flushdb() is True
    for cl in range(2):
        for sh in range(len(s.shards.servers[cl])):
            wait_until(lambda cl=cl, sh=sh: s.shards.directs[cl][sh].dbsize() == 0, 5,
                       f"{s.shards.label(cl, sh)} emptied by FLUSHDB")
    assert c.dbsize() == 0
    assert c.keys("*") == []
    assert scan_all(c) == []
    assert c.randomkey() is None
    assert c3.randomkey() is None
    assert s.raw().call_raw("RANDOMKEY") == s.raw_ref().call_raw("RANDOMKEY") == b"$-1\r\n"


# ----------------------------------------------------------------------------
# memcached: multi-gets and meta batches
# ----------------------------------------------------------------------------

MC_POOL = [f"m{i}" for i in range(20)] + [scattered_key("m", i) for i in range(20, 60)] + ["{t}:a", "{t}:b", "ключ", "clé"]
MC_MISSING = ["missing:1", "missing:2", "nokey"]


class McSetup:
    def __init__(self, stack: Stack):
        self.servers = [stack.memcached_servers(3) for _ in range(2)]
        clusters = [sharded_cluster(f"dc-{'ab'[i]}", local=(i == 0), memcached=[s.port for s in self.servers[i]])
                    for i in range(2)]
        self.proxy = stack.sharded(clusters, redis=False, memcached=True, timeouts=FAST_TIMEOUTS,
                                   config_extra={"health": FAST_HEALTH})
        self.reference = stack.memcached_server()
        self.shards = McShards(self.servers)
        self.conns: list[McConn] = []
        self.p = self.conn(self.proxy.mc_port)
        self.r = self.conn(self.reference.port)

    def conn(self, port: int) -> McConn:
        c = McConn(port)
        self.conns.append(c)
        return c

    def both(self, data: bytes, n: int = 1) -> tuple[list, list]:
        self.p.send(data)
        self.r.send(data)
        return self.p.read_replies(n), self.r.read_replies(n)

    def close(self) -> None:
        for c in self.conns:
            c.close()
        self.shards.close()


@pytest.fixture
def mc_setup(stack: Stack):
    s = McSetup(stack)
    yield s
    s.close()


def strip_cas(items: list) -> list:
    return [(it.key, it.flags, it.value) for it in items]


def test_memcached_multiget_and_meta_batches_match_memcached(mc_setup):
    s = mc_setup
    rng = random.Random(7)
    writes = b"".join(storage("set", k, f"val:{k}:{i}".encode() * (i % 4 + 1), flags=i % 5)
                      for i, k in enumerate(MC_POOL))
    got, want = s.both(writes, len(MC_POOL))
    assert [x.raw for x in got] == [x.raw for x in want] == [b"STORED\r\n"] * len(MC_POOL)
    s.shards.settle(s.p, ref=s.r)
    for c in range(2):
        spread = s.shards.spread(c, MC_POOL)
        assert sum(1 for n in spread.values() if n) == 3, f"{s.shards.names[c]}: spread {spread}"

    def random_mc_keys(lo: int, hi: int) -> list[str]:
        keys = [rng.choice(MC_POOL + MC_MISSING) for _ in range(rng.randint(lo, hi))]
        if len(keys) > 1:
            keys.insert(rng.randrange(len(keys)), rng.choice(keys))
        return keys

    # get: byte for byte, duplicates and misses included, in order
    lines = [["m0", "m1", "m0", "missing:1", "m2", "m0"], MC_POOL, MC_POOL[::-1] + MC_MISSING + MC_POOL[:10]]
    lines += [random_mc_keys(1, 80) for _ in range(30)]
    for keys in lines:
        got, want = s.both(line("get", *keys))
        assert got[0].raw == want[0].raw, f"get {keys[:10]}...: proxy {got[0]!r} != memcached {want[0]!r}"
    # pipelined gets
    batch = [random_mc_keys(1, 20) for _ in range(20)]
    got, want = s.both(b"".join(line("get", *k) for k in batch), len(batch))
    assert [x.raw for x in got] == [x.raw for x in want]
    # gets: the same VALUE blocks (cas values are each server's own)
    for keys in lines[:10]:
        got, want = s.both(line("gets", *keys))
        assert strip_cas(got[0].items) == strip_cas(want[0].items) and got[0].line == b"END", keys[:10]
        assert all(it.cas is not None for it in got[0].items)

    # meta batches: quiet mg, only hits answered, then MN
    def meta_batch(keys: list[str], flags: tuple) -> bytes:
        return b"".join(line("mg", k, *flags) for k in keys) + line("mn")

    for flags in (("v", "q"), ("k", "v", "f", "q"), ("s", "v", "q", "Oabc"), ("v",), ("k", "f", "t")):
        for keys in (MC_POOL[:20], ["m3", "missing:1", "m3", "nokey", "m4"], random_mc_keys(10, 60)):
            s.p.send(meta_batch(keys, flags))
            s.r.send(meta_batch(keys, flags))
            got = [x.raw for x in s.p.read_until(b"MN")]
            want = [x.raw for x in s.r.read_until(b"MN")]
            assert got == want, f"mg {flags} over {keys[:8]}...: proxy {got[:6]} != memcached {want[:6]}"

    # a batch mixing quiet writes and reads of the same keys across shards keeps its order
    mixed = b"".join(meta_set(f"m{i}", b"new%d" % i, "q") + line("mg", f"m{i}", "v", "q") + line("md", f"m{i + 1}", "q")
                     + line("mg", f"m{i + 1}", "v", "q") for i in range(0, 40, 3)) + line("mn")
    s.p.send(mixed)
    s.r.send(mixed)
    assert [x.raw for x in s.p.read_until(b"MN")] == [x.raw for x in s.r.read_until(b"MN")]

    # afterwards every cluster holds exactly the reference's items
    s.shards.settle(s.p, ref=s.r)
    ref_keys = sorted(k for k in metadump(s.reference.port) if not k.startswith(b"__barrier__"))
    want = {}
    s.r.send(b"".join(line("get", k) for k in ref_keys))
    for k in ref_keys:
        it = s.r.read_reply().items[0]
        want[k] = (it.value, it.flags)
    for c in range(2):
        got = s.shards.contents(c)
        assert got == want, (f"{s.shards.names[c]}: missing {sorted(set(want) - set(got))[:10]}, "
                             f"extra {sorted(set(got) - set(want))[:10]}, different "
                             f"{[k for k in want if k in got and got[k] != want[k]][:10]}")
