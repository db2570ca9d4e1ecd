"""Sharding inside a cluster: key placement, end to end against twemproxy (nutcracker) and pylibmc.

A cluster listing several servers spreads the keys over them exactly as a twemproxy pool with the
same server list, distribution, hash and hash tag does; `libmemcached_ketama` spreads them as
pylibmc's `behaviors={"ketama": True}` does. A cache filled through either can be taken over by
metacluster without losing a key, and the other way round.

What is shown here:
- keys written through a nutcracker memcached pool (ketama + fnv1a_64, ketama + md5, weights and
  named servers, modula + murmur with the protocol's object form, every twemproxy hash) are all
  found through metacluster, one get at a time and in one multi-get, and writing them again
  through metacluster leaves exactly one copy, on the server nutcracker chose;
- the same for a nutcracker `redis: true` pool (GET, MGET, hash tags including their edge cases);
- keys written by pylibmc with ketama are all found with `"distribution": "libmemcached_ketama"`;
- keys written through metacluster (two clusters sharded differently) are all found through
  nutcracker pools configured like each cluster.

With METACLUSTER_TARGET=direct a second nutcracker pool with the same options stands in for
metacluster (tests that need the binary are skipped): that checks the harness and the expected
placement against twemproxy itself.
"""

from __future__ import annotations

from typing import Any, Optional

import pytest

from conftest import (DIRECT, McShards, RedisShards, Stack, scattered_key, server_entry, sharded_cluster)
from mcproto import McConn, line, storage
from resp import RawConn, encode_many

N_KEYS = 500

# twemproxy's hash names (the config's `hash` values)
ALL_HASHES = ["one_at_a_time", "md5", "crc16", "crc32", "crc32a", "fnv1_64", "fnv1a_64", "fnv1_32",
              "fnv1a_32", "hsieh", "murmur", "jenkins"]


# ----------------------------------------------------------------------------
# keys and values
# ----------------------------------------------------------------------------

def mc_keys(n: int = N_KEYS) -> list[str]:
    """Sequential keys (key:1, key:2, ...), scattered ones (which surely reach every server), keys
    with braces (memcached hashes the whole key by default), and UTF-8 keys (bytes >= 0x80:
    several twemproxy hashes read the key as signed chars)."""
    keys = []
    for i in range(n):
        if i % 10 == 3:
            keys.append(f"{{grp{i % 7}}}:item:{i}")
        elif i % 25 == 7:
            keys.append(f"ключ:{i}")
        elif i % 25 == 11:
            keys.append(f"clé-é:{i}")
        elif i % 2:
            keys.append(scattered_key("key:", i))
        else:
            keys.append(f"key:{i}")
    return keys


# keys on which hash-tag handling differs: an empty tag hashes the whole key, only the first
# opening character counts, an unclosed tag hashes the whole key
TAG_EDGE_CASES = ["{}x{y}", "x{}", "a{b", "a}b{c}", "{a}{b}", "{{a}}", "{a}", "a", "{}", "}{", "{ }", "{user1000}.following",
                  "{user1000}.followers", "foo{}{bar}", "foo{{bar}}zap", "foo{bar}{zap}"]


def redis_keys(tag: str = "{}", n: int = N_KEYS) -> list[str]:
    """Sequential and scattered keys, keys with a hash tag (made with the pool's tag characters),
    the edge cases of hash tags (written with the tag characters), and UTF-8 keys."""
    keys = []
    for i in range(n):
        if i % 10 == 3:
            keys.append(f"{tag[0]}grp{i % 7}{tag[1]}:item:{i}")
        elif i % 25 == 7:
            keys.append(f"ключ:{i}")
        elif i % 2:
            keys.append(scattered_key("key:", i))
        else:
            keys.append(f"key:{i}")
    keys += [k.replace("{", tag[0]).replace("}", tag[1]) for k in TAG_EDGE_CASES]
    return keys


def value_of(key: str, generation: int = 0) -> bytes:
    return f"v{generation}:{key}".encode()


def flags_of(key: str) -> int:
    return sum(key.encode()) % 1000


# ----------------------------------------------------------------------------
# writing and reading memcached
# ----------------------------------------------------------------------------

def mc_write(port: int, keys: list[str], generation: int = 0, flags: Optional[dict] = None) -> None:
    """Sets every key (flags: flags_of(key), or flags[key]), pipelined."""
    with McConn(port) as c:
        c.send(b"".join(storage("set", k, value_of(k, generation), flags=(flags or {}).get(k, flags_of(k)))
                        for k in keys))
        replies = [c.read_reply().line for _ in keys]
    bad = [(k, r) for k, r in zip(keys, replies) if r != b"STORED"]
    assert not bad, f"{len(bad)} sets not stored through :{port}, e.g. {bad[:5]}"


def mc_read_all(port: int, keys: list[str], generation: int = 0, what: str = "") -> None:
    """Every key reads back with its value and flags: one get per key (pipelined), all keys in one
    multi-get, and gets in chunks of 50."""
    want = {k.encode(): (value_of(k, generation), flags_of(k)) for k in keys}
    with McConn(port) as c:
        c.send(b"".join(line("get", k) for k in keys))
        single = {}
        for k in keys:
            r = c.read_reply()
            assert r.line == b"END", f"{what}: get {k!r} answered {r!r}"
            single[k.encode()] = (r.items[0].value, r.items[0].flags) if r.items else None
        wrong = {k: (single[k], v) for k, v in want.items() if single[k] != v}
        assert not wrong, (f"{what}: {len(wrong)} of {len(keys)} keys read wrong one at a time, "
                           f"e.g. (got, want) {dict(list(wrong.items())[:5])}")

        r = c.cmd("get", *keys)
        assert r.line == b"END", f"{what}: multi-get answered {r!r}"
        got = [(it.key, (it.value, it.flags)) for it in r.items]
        assert got == [(k.encode(), want[k.encode()]) for k in keys], (
            f"{what}: multi-get of {len(keys)} keys returned {len(got)} items; "
            f"missing e.g. {[k for k in keys if k.encode() not in dict(got)][:5]}")

        for i in range(0, len(keys), 50):
            chunk = keys[i:i + 50]
            r = c.cmd("gets", *chunk)
            assert [(it.key, (it.value, it.flags)) for it in r.items] == [(k.encode(), want[k.encode()]) for k in chunk], (
                f"{what}: gets of keys #{i}..#{i + len(chunk) - 1} answered {r!r}")


# ----------------------------------------------------------------------------
# writing and reading redis
# ----------------------------------------------------------------------------

def redis_write(port: int, keys: list[str], generation: int = 0) -> None:
    with RawConn(port) as c:
        c.send(encode_many(("SET", k, value_of(k, generation)) for k in keys))
        replies = [c.read_reply()[1] for _ in keys]
    bad = [(k, r) for k, r in zip(keys, replies) if r != b"OK"]
    assert not bad, f"{len(bad)} SETs failed through :{port}, e.g. {bad[:5]}"


def redis_read_all(port: int, keys: list[str], generation: int = 0, what: str = "",
                   resp3: bool = True) -> None:
    """Every key reads back with its value: GET per key (pipelined), one MGET of every key, and
    MGETs of 37 keys (RESP2, and RESP3 after HELLO 3 unless resp3=False: nutcracker has no HELLO)."""
    want = [value_of(k, generation) for k in keys]
    for hello in ((None, "3") if resp3 else (None,)):
        with RawConn(port) as c:
            if hello:
                c.call("HELLO", hello)
            c.send(encode_many(("GET", k) for k in keys))
            got = [c.read_reply()[1] for _ in keys]
            wrong = [(k, g) for k, g, w in zip(keys, got, want) if g != w]
            assert not wrong, (f"{what}: {len(wrong)} of {len(keys)} keys read wrong with GET "
                               f"(RESP{hello or 2}), e.g. {wrong[:5]}")
            got = c.call("MGET", *keys)
            assert got == want, (f"{what}: MGET of {len(keys)} keys (RESP{hello or 2}): "
                                 f"{sum(g != w for g, w in zip(got or [], want))} wrong, e.g. "
                                 f"{[(k, g) for k, g, w in zip(keys, got or [], want) if g != w][:5]}")
            for i in range(0, len(keys), 37):
                assert c.call("MGET", *keys[i:i + 37]) == want[i:i + 37], f"{what}: MGET of keys #{i}.."


# ----------------------------------------------------------------------------
# the endpoint that reads the pool's servers back
# ----------------------------------------------------------------------------

def reader(stack: Stack, kind: str, cluster: dict, twem: dict, servers: list) -> int:
    """The port to read through: metacluster with this one cluster; with METACLUSTER_TARGET=direct
    a second nutcracker pool with the same options (placement by definition)."""
    if DIRECT:
        return stack.nutcracker(servers, redis=(kind == "redis"), **twem).port
    m = stack.sharded([cluster], redis=(kind == "redis"), memcached=(kind == "memcached"))
    return m.port if kind == "redis" else m.mc_port


def entries(ports: list[int], weights: Optional[tuple] = None, names: Optional[tuple] = None,
            form: str = "string") -> list:
    if weights is None and names is None and form == "string":
        return [f"127.0.0.1:{p}" for p in ports]
    return [server_entry(p, weight=(weights[i] if weights else None), name=(names[i] if names else None), form=form)
            for i, p in enumerate(ports)]


def assert_spread(shards: Any, keys: list, what: str, every_server: bool = True) -> dict[int, int]:
    """Every key on exactly one server, and (every_server) every server holds some."""
    spread = shards.spread(0, keys)
    assert sum(spread.values()) == len(keys), f"{what}: keys on no server: spread {spread}"
    if every_server:
        assert all(n > 0 for n in spread.values()), f"{what}: a server got no key: spread {spread}"
    return spread


def assert_rewritten_in_place(shards: Any, keys: list, homes: dict, generation: int, what: str) -> None:
    """After writing every key again through the endpoint under test: still exactly one copy of
    each, on the server the reference chose, holding the new value."""
    now = shards.homes(0, keys)
    moved = {k: (homes[k], now[k]) for k in keys if now[k] != homes[k]}
    assert not moved, (f"{what}: {len(moved)} keys were written to another server than the reference's, "
                       f"e.g. (reference, now) {dict(list(moved.items())[:5])}")
    values = shards.values(0, keys)
    stale = [k for k in keys if values[k] != value_of(k, generation)]
    assert not stale, f"{what}: {len(stale)} keys not rewritten, e.g. {stale[:5]}"


# ----------------------------------------------------------------------------
# (a) a nutcracker memcached pool, taken over by metacluster
# ----------------------------------------------------------------------------

MC_VARIANTS = {
    # metacluster's defaults are twemproxy's: no options in the config at all
    "defaults": dict(twem=dict(distribution="ketama", hash="fnv1a_64"), options=None),
    "ketama-md5": dict(twem=dict(distribution="ketama", hash="md5"),
                       options={"distribution": "ketama", "hash": "md5"}),
    # named servers: the names, not the addresses, are hashed onto the ring; weights scale the points
    "weights-names": dict(twem=dict(distribution="ketama", hash="fnv1a_64"),
                          options={"distribution": "ketama", "hash": "fnv1a_64"},
                          weights=(1, 2, 3), names=("alpha", "beta", "gamma")),
    "weight1-names": dict(twem=dict(distribution="ketama", hash="fnv1a_64"), options=None,
                          weights=(1, 1, 1), names=("cache-1", "cache-2", "cache-3")),
    # the options in the protocol's object form, cluster level left empty
    "modula-murmur-object-form": dict(twem=dict(distribution="modula", hash="murmur"),
                                      memcached_options={"distribution": "modula", "hash": "murmur"}),
    "modula-weights-crc32a": dict(twem=dict(distribution="modula", hash="crc32a"),
                                  options={"distribution": "modula", "hash": "crc32a"}, weights=(2, 1, 3)),
}


def run_mc_takeover(stack: Stack, v: dict, keys: list[str], every_server: bool = True) -> None:
    servers = stack.memcached_servers(3)
    ports = [s.port for s in servers]
    server_list = entries(ports, v.get("weights"), v.get("names"), v.get("form", "string"))
    shards = McShards([servers])
    try:
        nut = stack.nutcracker(server_list, redis=False, **v["twem"])
        mc_write(nut.port, keys)
        mc_read_all(nut.port, keys, what="nutcracker itself")  # the harness
        assert_spread(shards, keys, "nutcracker's placement", every_server)
        homes = shards.homes(0, keys)
        nut.stop()

        cluster = sharded_cluster("dc-a", local=True, memcached=server_list, options=v.get("options"),
                                  memcached_options=v.get("memcached_options"))
        port = reader(stack, "memcached", cluster, v["twem"], server_list)
        mc_read_all(port, keys, what="metacluster")
        # written again through metacluster: the same server, no second copy
        mc_write(port, keys, generation=1)
        assert_rewritten_in_place(shards, keys, homes, 1, "metacluster")
        mc_read_all(port, keys, generation=1, what="metacluster, after rewriting")
    finally:
        shards.close()


@pytest.mark.parametrize("variant", list(MC_VARIANTS))
def test_memcached_keys_written_through_nutcracker_are_found(stack, variant):
    run_mc_takeover(stack, MC_VARIANTS[variant], mc_keys())


@pytest.mark.parametrize("distribution", ["ketama", "modula"])
@pytest.mark.parametrize("hash_name", ALL_HASHES)
def test_memcached_every_twemproxy_hash_places_keys_as_nutcracker(stack, hash_name, distribution):
    """Each of twemproxy's hash functions, with ketama and modula, on 300 keys (UTF-8 ones
    included). twemproxy's crc16 and crc32 return 16 and 15 bits: on a ketama ring (32 bits) every
    key then falls before the first point, so one server gets them all, and so must it here."""
    v = dict(twem=dict(distribution=distribution, hash=hash_name),
             options={"distribution": distribution, "hash": hash_name})
    run_mc_takeover(stack, v, mc_keys(300),
                    every_server=not (distribution == "ketama" and hash_name in ("crc16", "crc32")))


# ----------------------------------------------------------------------------
# (b) a nutcracker redis pool, taken over by metacluster
# ----------------------------------------------------------------------------

REDIS_VARIANTS = {
    # metacluster's defaults for redis: ketama, fnv1a_64, hashTag "{}"
    "defaults": dict(twem=dict(distribution="ketama", hash="fnv1a_64", hash_tag="{}"), options=None),
    "objects-weights-names-md5": dict(twem=dict(distribution="ketama", hash="md5", hash_tag="{}"),
                                      options={"distribution": "ketama", "hash": "md5"},
                                      weights=(3, 1, 2), names=("r-one", "r-two", "r-three"), form="object"),
    "modula-crc32a-brackets-object-form": dict(twem=dict(distribution="modula", hash="crc32a", hash_tag="[]"),
                                               redis_options={"distribution": "modula", "hash": "crc32a",
                                                              "hashTag": "[]"}, tag="[]"),
    # hashTag "" turns hash tags off: keys with braces are hashed whole
    "no-hash-tag-one_at_a_time": dict(twem=dict(distribution="ketama", hash="one_at_a_time"),
                                      options={"hash": "one_at_a_time", "hashTag": ""}),
    # cluster-level options, overridden in the protocol's object form
    "object-form-overrides-cluster": dict(twem=dict(distribution="ketama", hash="jenkins", hash_tag="{}"),
                                          options={"distribution": "modula", "hash": "crc16"},
                                          redis_options={"distribution": "ketama", "hash": "jenkins"}),
}


@pytest.mark.parametrize("variant", list(REDIS_VARIANTS))
def test_redis_keys_written_through_nutcracker_are_found(stack, variant):
    v = REDIS_VARIANTS[variant]
    tag = v.get("tag", "{}")
    keys = redis_keys(tag)
    servers = stack.redis_servers(3)
    ports = [s.port for s in servers]
    server_list = entries(ports, v.get("weights"), v.get("names"), v.get("form", "string"))
    shards = RedisShards([servers])
    try:
        nut = stack.nutcracker(server_list, redis=True, **v["twem"])
        redis_write(nut.port, keys)
        with RawConn(nut.port) as c:  # the harness: nutcracker reads its own keys back
            assert c.call("MGET", *keys) == [value_of(k) for k in keys]
        assert_spread(shards, keys, "nutcracker's placement")
        homes = shards.homes(0, keys)
        if "hash_tag" in v["twem"]:
            # keys sharing a hash tag share a server (else the pool's hash_tag did not apply)
            for g in range(7):
                prefix = f"{tag[0]}grp{g}{tag[1]}:"
                assert len({homes[k] for k in keys if k.startswith(prefix)}) == 1, prefix
        nut.stop()

        cluster = sharded_cluster("dc-a", local=True, redis=server_list, options=v.get("options"),
                                  redis_options=v.get("redis_options"))
        port = reader(stack, "redis", cluster, v["twem"], server_list)
        redis_read_all(port, keys, what="metacluster", resp3=not DIRECT)
        redis_write(port, keys, generation=1)
        assert_rewritten_in_place(shards, keys, homes, 1, "metacluster")
        redis_read_all(port, keys, generation=1, what="metacluster, after rewriting", resp3=not DIRECT)
    finally:
        shards.close()


# ----------------------------------------------------------------------------
# (c) pylibmc with ketama, taken over by metacluster
# ----------------------------------------------------------------------------

# pylibmc's `hash` behaviour -> metacluster's options. libmemcached (1.0.16 in the pylibmc wheel)
# with MEMCACHED_BEHAVIOR_KETAMA (unweighted): 100 points per server, each the client's hash of
# "host:port-<i>", and the key hashed with the same function; "default" is Jenkins'
# one-at-a-time. (Checked against pylibmc 1.6.3 with a model of that continuum: 500 of 500 keys.)
PYLIBMC_VARIANTS = {
    "default": {"distribution": "libmemcached_ketama", "hash": "one_at_a_time"},
    "md5": {"distribution": "libmemcached_ketama", "hash": "md5"},
}


@pytest.mark.proxy_only
@pytest.mark.parametrize("pylibmc_hash", list(PYLIBMC_VARIANTS))
def test_pylibmc_ketama_keys_are_found(stack, pylibmc_hash):
    import pylibmc

    keys = mc_keys()
    servers = stack.memcached_servers(3)
    addresses = [f"127.0.0.1:{s.port}" for s in servers]
    shards = McShards([servers])
    client = pylibmc.Client(addresses, behaviors={"ketama": True, "hash": pylibmc_hash})
    try:
        for k in keys:
            assert client.set(k, value_of(k)), k
        assert client.get_multi(keys) == {k: value_of(k) for k in keys}  # the harness
        client.disconnect_all()
        assert_spread(shards, keys, "pylibmc's placement")
        homes = shards.homes(0, keys)
        flags = {k: shards.items(0, homes[k], [k])[0][1] for k in keys}  # pylibmc's own flags for bytes

        m = stack.sharded([sharded_cluster("dc-a", local=True, memcached=addresses,
                                           options=PYLIBMC_VARIANTS[pylibmc_hash])],
                          redis=False, memcached=True)
        with McConn(m.mc_port) as c:
            r = c.cmd("get", *keys)
            got = {it.key.decode(): (it.value, it.flags) for it in r.items}
            missing = [k for k in keys if k not in got]
            assert not missing, f"{len(missing)} of {len(keys)} pylibmc keys not found, e.g. {missing[:5]}"
            assert got == {k: (value_of(k), flags[k]) for k in keys}
            c.send(b"".join(line("get", k) for k in keys))
            assert [c.read_reply().items[0].value for _ in keys] == [value_of(k) for k in keys]
        mc_write(m.mc_port, keys, generation=1, flags=flags)  # pylibmc reads its own flags only
        assert_rewritten_in_place(shards, keys, homes, 1, "metacluster")
        # and pylibmc finds what metacluster wrote
        client = pylibmc.Client(addresses, behaviors={"ketama": True, "hash": pylibmc_hash})
        assert client.get_multi(keys) == {k: value_of(k, 1) for k in keys}
    finally:
        client.disconnect_all()
        shards.close()


# ----------------------------------------------------------------------------
# (d) written through metacluster, read through nutcracker
# ----------------------------------------------------------------------------

# two clusters sharded differently; each translates to a nutcracker pool
CLUSTER_LAYOUTS = [
    dict(name="dc-a", options=None, weights=None, names=None,
         twem=dict(distribution="ketama", hash="fnv1a_64")),
    dict(name="dc-b", options={"distribution": "modula", "hash": "hsieh"}, weights=(1, 2, 1),
         names=("b1", "b2", "b3"), twem=dict(distribution="modula", hash="hsieh")),
]


@pytest.mark.proxy_only
@pytest.mark.parametrize("kind", ["memcached", "redis"])
def test_writes_through_metacluster_are_where_nutcracker_reads(stack, kind):
    keys = mc_keys() if kind == "memcached" else redis_keys()
    make = stack.memcached_servers if kind == "memcached" else stack.redis_servers
    servers = [make(3) for _ in CLUSTER_LAYOUTS]
    lists = [entries([s.port for s in servers[i]], lay["weights"], lay["names"])
             for i, lay in enumerate(CLUSTER_LAYOUTS)]
    clusters = [sharded_cluster(lay["name"], local=(i == 0), options=lay["options"], **{kind: lists[i]})
                for i, lay in enumerate(CLUSTER_LAYOUTS)]
    shards = (McShards if kind == "memcached" else RedisShards)(servers)
    try:
        m = stack.sharded(clusters, redis=(kind == "redis"), memcached=(kind == "memcached"))
        port = m.mc_port if kind == "memcached" else m.port
        (mc_write if kind == "memcached" else redis_write)(port, keys)
        with (McConn(port) if kind == "memcached" else RawConn(port)) as c:
            shards.settle(c)
        for i, lay in enumerate(CLUSTER_LAYOUTS):
            spread = shards.spread(i, keys)
            assert sum(spread.values()) == len(keys) and all(spread.values()), f"{lay['name']}: spread {spread}"
            twem = dict(lay["twem"])
            if kind == "redis":
                twem["hash_tag"] = "{}"
            nut = stack.nutcracker(lists[i], redis=(kind == "redis"), **twem)
            if kind == "memcached":
                mc_read_all(nut.port, keys, what=f"nutcracker over {lay['name']}")
            else:
                redis_read_all(nut.port, keys, what=f"nutcracker over {lay['name']}", resp3=False)
            nut.stop()
    finally:
        shards.close()
