"""Sharding inside a cluster: one shard of the local cluster dies, end to end.

Two clusters, dc-a (local) and dc-b, of three servers each (redis-server, and in the second test
memcached) behind metacluster. One server of dc-a is killed with SIGKILL.

What is shown here, for both protocols:
- every key still reads through the proxy: the dead shard's keys from dc-b, the others still from
  dc-a (shown by changing keys on dc-b behind the proxy's back: a live shard's key keeps dc-a's
  value, a dead shard's key answers dc-b's), one key at a time and in one multi-key read across
  every shard;
- writes during the outage, to keys of the dead shard and of live shards, succeed for the client;
  dc-a's live shards get theirs directly, during the outage;
- the killed server restarted empty on the same port gets, within 10 s, the writes made for its
  keys during the outage (replayed), and only those; no key ends up on two shards.
"""

from __future__ import annotations

import time
from typing import Any, Optional

import pytest

from conftest import McShards, RedisShards, Stack, closing_factory, kill9, scattered_key, sharded_cluster, wait_until
from mcproto import McConn, line, meta_set, storage
from resp import Error, RawConn, encode_many

pytestmark = pytest.mark.proxy_only

FAST_TIMEOUTS = {"requestMs": 1000, "connectMs": 300, "reconnectMinMs": 50, "reconnectMaxMs": 300}
FAST_HEALTH = {"failureLimit": 1, "probeIntervalMs": 100}
N_KEYS = 300
DETECTION_S = 5.0  # reads of the dead shard's keys may fail until the proxy noticed
REPLAY_S = 10.0


# ----------------------------------------------------------------------------
# one client API over both protocols
# ----------------------------------------------------------------------------

class RedisClient:
    kind = "redis"

    def __init__(self, port: int):
        self.conn = RawConn(port, timeout=10)

    def set_many(self, items: dict[str, bytes]) -> list[Any]:
        self.conn.send(encode_many(("SET", k, v) for k, v in items.items()))
        return [self.conn.read_reply()[1] for _ in items]

    def set_batch(self, items: dict[str, bytes]) -> Any:
        """One multi-key write (MSET)."""
        return self.conn.call("MSET", *[x for kv in items.items() for x in kv])

    def get_many(self, keys: list[str]) -> list[Any]:
        """Each key's value (None: missing; an Error: failed), one GET per key, pipelined."""
        self.conn.send(encode_many(("GET", k) for k in keys))
        return [self.conn.read_reply()[1] for _ in keys]

    def multi_get(self, keys: list[str]) -> Any:
        """One multi-key read (MGET): a list of values, or an Error."""
        return self.conn.call("MGET", *keys)

    def delete_many(self, keys: list[str]) -> list[Any]:
        self.conn.send(encode_many(("DEL", k) for k in keys))
        return [self.conn.read_reply()[1] for _ in keys]

    STORED: Any = b"OK"
    DELETED: Any = 1

    def close(self) -> None:
        self.conn.close()


class McClient:
    kind = "memcached"

    def __init__(self, port: int):
        self.conn = McConn(port, timeout=10)

    def set_many(self, items: dict[str, bytes]) -> list[Any]:
        self.conn.send(b"".join(storage("set", k, v) for k, v in items.items()))
        return [self.conn.read_reply().line for _ in items]

    def set_batch(self, items: dict[str, bytes]) -> Any:
        """One batch of quiet meta sets: only MN is answered when every set succeeded."""
        self.conn.send(b"".join(meta_set(k, v, "q") for k, v in items.items()) + line("mn"))
        replies = self.conn.read_until(b"MN")
        return b"OK" if [r.raw for r in replies] == [b"MN\r\n"] else replies

    def get_many(self, keys: list[str]) -> list[Any]:
        self.conn.send(b"".join(line("get", k) for k in keys))
        out = []
        for _ in keys:
            r = self.conn.read_reply()
            out.append(Error(r.line) if r.line != b"END" else (r.items[0].value if r.items else None))
        return out

    def multi_get(self, keys: list[str]) -> Any:
        r = self.conn.cmd("get", *keys)
        if r.line != b"END":
            return Error(r.line)
        got = {it.key.decode(): it.value for it in r.items}
        order = [it.key.decode() for it in r.items]
        if order != [k for k in keys if k in got]:
            return Error(b"VALUE blocks out of order: " + repr(order[:10]).encode())
        return [got.get(k) for k in keys]

    def delete_many(self, keys: list[str]) -> list[Any]:
        self.conn.send(b"".join(line("delete", k) for k in keys))
        return [self.conn.read_reply().line for _ in keys]

    STORED: Any = b"STORED"
    DELETED: Any = b"DELETED"

    def close(self) -> None:
        self.conn.close()


class Setup:
    def __init__(self, stack: Stack, kind: str):
        self.stack = stack
        self.kind = kind
        make = stack.redis_servers if kind == "redis" else stack.memcached_servers
        self.servers = [make(3) for _ in range(2)]
        clusters = [sharded_cluster(f"dc-{'ab'[i]}", local=(i == 0), **{kind: [s.port for s in self.servers[i]]})
                    for i in range(2)]
        self.proxy = stack.sharded(clusters, redis=(kind == "redis"), memcached=(kind == "memcached"),
                                   timeouts=FAST_TIMEOUTS, config_extra={"health": FAST_HEALTH})
        self.shards = (RedisShards if kind == "redis" else McShards)(self.servers)
        self.servers = self.shards.servers  # restart() replaces a server there
        port = self.proxy.port if kind == "redis" else self.proxy.mc_port
        self.client = (RedisClient if kind == "redis" else McClient)(port)

    def direct_set(self, c: int, s: int, key: str, value: bytes) -> None:
        d = self.shards.directs[c][s]
        assert (d.set(key, value) in (True, b"STORED")), f"direct set on {self.shards.label(c, s)}"

    def direct_value(self, c: int, s: int, key: str) -> Optional[bytes]:
        return self.shards.directs[c][s].get(key)

    def close(self) -> None:
        self.client.close()
        self.shards.close()


@pytest.fixture
def setups(stack: Stack):
    with closing_factory(lambda *args, **kw: Setup(stack, *args, **kw)) as make:
        yield make


def first_wrong(keys: list[str], got: Any, want: list[Any]) -> str:
    if not isinstance(got, list):
        return f"the whole read answered {got!r:.300}"
    if len(got) != len(want):
        return f"{len(got)} values for {len(want)} keys"
    wrong = [(k, g, w) for k, g, w in zip(keys, got, want) if g != w]
    return f"{len(wrong)} of {len(keys)} wrong, e.g. (key, got, want) {wrong[:5]}"


# ----------------------------------------------------------------------------
# the test, for both protocols
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["redis", "memcached"])
def test_local_shard_down_reads_fail_over_per_shard_and_writes_replay(setups, kind):
    s = setups(kind)
    c = s.client
    keys = [scattered_key("f:", i) for i in range(N_KEYS)]
    value = {k: f"v:{k}".encode() for k in keys}
    assert c.set_many(value) == [c.STORED] * N_KEYS
    s.shards.settle(c.conn)

    homes_a = s.shards.homes(0, keys)
    homes_b = s.shards.homes(1, keys)
    spread = s.shards.spread(0, keys)
    assert all(n >= 10 for n in spread.values()), f"dc-a's shards hold too few of the keys: {spread}"
    victim = max(spread, key=lambda sh: spread[sh])
    dead = [k for k in keys if homes_a[k] == victim]
    live = [k for k in keys if homes_a[k] != victim]
    victim_port = s.servers[0][victim].port
    kill9(s.servers[0][victim])

    # detection: reads of the dead shard's keys may fail for a moment, then come from dc-b
    t0 = time.monotonic()
    while True:
        got = c.get_many([dead[0]])[0]
        if got == value[dead[0]]:
            break
        assert isinstance(got, Error), f"{dead[0]!r} read {got!r} while its dc-a shard is down"
        assert time.monotonic() - t0 < DETECTION_S, f"reads of the dead shard still fail after {DETECTION_S}s: {got}"
        time.sleep(0.02)

    # every key reads, one at a time and all at once, with no error
    want = [value[k] for k in keys]
    got = c.get_many(keys)
    assert got == want, "single reads with a dc-a shard down: " + first_wrong(keys, got, want)
    got = c.multi_get(keys)
    assert got == want, "one multi-key read across every shard with a dc-a shard down: " + first_wrong(keys, got, want)

    # locally where possible: change keys on dc-b behind the proxy's back
    live_probe, dead_probe = live[:6], dead[:6]
    for k in live_probe + dead_probe:
        s.direct_set(1, homes_b[k], k, b"dc-b:" + k.encode())
    expect = {k: value[k] for k in live_probe}  # dc-a still answers for its live shards
    expect.update({k: b"dc-b:" + k.encode() for k in dead_probe})  # dc-b for the dead one
    probe = live_probe + dead_probe
    got = c.get_many(probe)
    assert got == [expect[k] for k in probe], "reads with a dc-a shard down: " + first_wrong(probe, got, [expect[k] for k in probe])
    mixed = [x for pair in zip(live_probe, dead_probe) for x in pair]
    got = c.multi_get(mixed)
    assert got == [expect[k] for k in mixed], "a multi-key read: " + first_wrong(mixed, got, [expect[k] for k in mixed])
    for k in probe:
        value[k] = expect[k]
    on_dc_b = {k: b"dc-b:" + k.encode() for k in live_probe}  # where dc-b now differs from dc-a

    # writes during the outage: overwrites on both sides, new keys, deletes; none fails
    dead_rest, live_rest = dead[6:], live[6:]
    assert len(dead_rest) >= 4 and len(live_rest) >= 4
    overwrite = dead_rest[: len(dead_rest) // 2] + live_rest[: len(live_rest) // 2]
    gone = dead_rest[-2:] + live_rest[-2:]
    news = {scattered_key("new:", j): f"n:{j}".encode() for j in range(100)}
    batch = {scattered_key("batch:", j): f"b:{j}".encode() for j in range(60)}
    rewritten = {k: f"w:{k}".encode() for k in overwrite}
    assert c.set_many(rewritten) == [c.STORED] * len(rewritten), "overwrites with a dc-a shard down"
    assert c.set_many(news) == [c.STORED] * len(news), "new keys with a dc-a shard down"
    assert c.set_batch(batch) == b"OK", "a multi-key write with a dc-a shard down"
    assert c.delete_many(gone) == [c.DELETED] * len(gone), "deletes with a dc-a shard down"
    value.update(rewritten)
    value.update(news)
    value.update(batch)
    for k in gone:
        value[k] = None
    everything = list(value)
    s.shards.settle(c.conn, skip=((0, victim),))

    # the client sees every write
    want = [value[k] for k in everything]
    got = c.multi_get(everything)
    assert got == want, "a multi-key read after the outage writes: " + first_wrong(everything, got, want)
    got = c.get_many(everything)
    assert got == want, "single reads after the outage writes: " + first_wrong(everything, got, want)

    # dc-a's live shards got theirs directly, now; the rest is the dead shard's
    new_keys = list(news) + list(batch)
    on_live = s.shards.homes(0, new_keys, allow_missing=True)  # the dead shard is skipped
    dead_new = [k for k in new_keys if k not in on_live]
    assert dead_new and len(dead_new) < len(new_keys), (
        f"of {len(new_keys)} new keys {len(dead_new)} are on no live dc-a shard: is dc-a sharded?")
    for k, sh in on_live.items():
        assert s.direct_value(0, sh, k) == value[k], f"{k!r} on {s.shards.label(0, sh)}"
    for k in live_rest[: len(live_rest) // 2]:
        assert s.direct_value(0, homes_a[k], k) == value[k], f"live-shard overwrite of {k!r} not on dc-a during the outage"
    for k in live_rest[-2:]:
        assert s.direct_value(0, homes_a[k], k) is None, f"live-shard delete of {k!r} not on dc-a during the outage"
    # and dc-b got everything
    want_b = {k: on_dc_b.get(k, v) for k, v in value.items() if v is not None}
    got_b = s.shards.values(1, list(want_b))
    assert got_b == want_b, "dc-b: " + first_wrong(list(want_b), [got_b.get(k) for k in want_b], list(want_b.values()))

    # the killed server back, empty, on the same port: its outage writes are replayed to it
    s.shards.restart(s.stack, 0, victim)
    assert s.servers[0][victim].port == victim_port
    owed = {k: value[k] for k in dead_rest[: len(dead_rest) // 2] + dead_new}

    def replayed() -> bool:
        got = s.shards.values(0, list(owed))
        return all(got.get(k) == v for k, v in owed.items())

    wait_until(replayed, REPLAY_S, f"the {len(owed)} outage writes for its keys on the restarted {s.shards.label(0, victim)}")
    for k in gone[:2]:
        assert s.direct_value(0, victim, k) is None, f"{k!r} was deleted during the outage"
    s.shards.settle(c.conn)
    # only its own keys, and every new key on exactly one shard of each cluster
    held = {k.decode() if isinstance(k, bytes) else k for k in victim_keys(s, victim)}
    assert held <= set(owed), f"the restarted shard holds keys not owed to it: {sorted(held - set(owed))[:10]}"
    assert set(s.shards.homes(0, new_keys)) == set(new_keys)
    assert set(s.shards.homes(1, new_keys)) == set(new_keys)

    # and it takes writes again
    k = dead[0]
    assert c.set_many({k: b"after"}) == [c.STORED]
    s.shards.settle(c.conn)
    assert s.direct_value(0, victim, k) == b"after"
    assert c.get_many([k]) == [b"after"]


def victim_keys(s: Setup, victim: int) -> set:
    """Every key on the restarted shard but the barrier keys."""
    if s.kind == "redis":
        return s.shards.keys(0, victim)
    from mcproto import metadump

    return {k for k in metadump(s.servers[0][victim].port) if not k.startswith(b"__barrier__")}
