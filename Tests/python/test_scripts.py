"""Scripts and functions through the redis front end (issue #9), end to end: three real
redis-server processes as the clusters dc-a (local), dc-b and dc-c behind the release binary, and
each server read with a redis-py client of its own; a sharded variant with two servers per cluster.

What is shown here, over redis-py's default protocol (RESP3) and RESP2:
- SCRIPT LOAD answers Redis's SHA-1 and reaches every cluster; EVALSHA runs everywhere and every
  cluster ends identical; redis-py Script objects (EVALSHA, NOSCRIPT, SCRIPT LOAD, EVALSHA) work;
- EVAL_RO / EVALSHA_RO are reads; a read-only script that writes is refused and changes nothing;
- FUNCTION LOAD / FCALL / FCALL_RO / FUNCTION DUMP / RESTORE / DELETE / FLUSH on every cluster;
- SCRIPT FLUSH reaches every cluster, and the proxy forgets the scripts too;
- NOSCRIPT repair: a cluster that lost its scripts (SCRIPT FLUSH sent to it directly, as a restart
  would) is given the script again by the proxy, EVALSHA succeeds (also under writeAck "all"), and
  the clusters stay identical; a script the proxy never saw stays a rejected write on that cluster;
  EVALSHA_RO is repaired on the cluster it reads from; a script learned from EVAL is repaired too;
- sharded clusters: SCRIPT LOAD and FUNCTION LOAD reach every server, EVALSHA / FCALL with a key
  run on the key's server only, and the repair goes to that server.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any, Optional

import pytest
import redis

from conftest import Stack, kill9, sharded_cluster, scattered_key, wait_until
from resp import RawConn

pytestmark = pytest.mark.proxy_only

NAMES = ["dc-a", "dc-b", "dc-c"]
FAST_TIMEOUTS = {"requestMs": 2000, "connectMs": 300, "reconnectMinMs": 50, "reconnectMaxMs": 300}
FAST_HEALTH = {"failureLimit": 1, "probeIntervalMs": 100}
BARRIER = "__barrier__"
PROTOCOLS = [pytest.param(None, id="resp3-default"), pytest.param(2, id="resp2")]

INCR_BY = "redis.call('INCRBY', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[1])"
GET = "return redis.call('GET', KEYS[1])"
LIBRARY = """#!lua name=scriptlib
redis.register_function('lib_incr', function(keys, args) return redis.call('INCRBY', keys[1], args[1]) end)
redis.register_function{function_name='lib_get', callback=function(keys, args) return redis.call('GET', keys[1]) end,
                        flags={'no-writes'}}
"""


def sha1(body: str) -> str:
    return hashlib.sha1(body.encode()).hexdigest()


def unique(body: str) -> str:
    """`body` with a comment that makes its digest new: no server or proxy cache knows it yet."""
    return f"{body} -- {uuid.uuid4().hex}"


def direct(port: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, protocol=2, socket_timeout=10, socket_connect_timeout=5)


def contents(d: redis.Redis) -> dict:
    """Every key but the barrier, with its DUMP."""
    return {k: d.dump(k) for k in sorted(d.keys("*")) if k != BARRIER.encode()}


def functions(d: redis.Redis) -> list:
    """The names of the function libraries FUNCTION LIST names (RESP2 flat pairs or RESP3 maps)."""
    return sorted((lib if isinstance(lib, dict) else dict(zip(lib[::2], lib[1::2])))[b"library_name"]
                  for lib in d.function_list())


class Setup:
    """dc-a (local), dc-b, dc-c of one redis-server each, the proxy in front, direct clients."""

    def __init__(self, stack: Stack, write_ack: Optional[str] = None):
        self.stack = stack
        self.servers = [stack.redis_server() for _ in range(3)]
        extra: dict[str, Any] = {"health": FAST_HEALTH}
        if write_ack:
            extra["writeAck"] = write_ack
        self.proxy = stack.clusters([s.port for s in self.servers], workers=1, timeouts=FAST_TIMEOUTS,
                                    config_extra=extra)
        self._clients: list[Any] = []
        self.directs = [self._keep(direct(s.port)) for s in self.servers]

    def _keep(self, c: Any) -> Any:
        self._clients.append(c)
        return c

    def client(self, protocol: Optional[int]) -> redis.Redis:
        args: dict[str, Any] = dict(host="127.0.0.1", port=self.proxy.port, socket_timeout=20, socket_connect_timeout=5)
        if protocol is not None:
            args["protocol"] = protocol
        return self._keep(redis.Redis(**args))

    def settle(self, client: redis.Redis) -> None:
        """Every cluster applied what `client` wrote before: a later write through it arrived."""
        token = uuid.uuid4().hex
        assert client.set(BARRIER, token) is True
        for i, d in enumerate(self.directs):
            wait_until(lambda d=d: d.get(BARRIER) == token.encode(), 10, f"the barrier write on {NAMES[i]}")

    def assert_identical(self, client: redis.Redis) -> dict:
        self.settle(client)
        first = contents(self.directs[0])
        for i, d in enumerate(self.directs[1:], 1):
            assert contents(d) == first, f"{NAMES[i]} differs from dc-a"
        return first

    def proxy_info(self) -> dict:
        """INFO proxy's per-cluster fields, by cluster name."""
        text = self._keep(RawConn(self.proxy.port, timeout=10)).call("INFO", "proxy").decode()
        out: dict[str, dict] = {}
        for line in text.splitlines():
            if line.startswith("cluster_"):
                fields = dict(item.split("=", 1) for item in line.partition(":")[2].split(","))
                out[fields["name"]] = fields
        return out

    def restart(self, i: int) -> None:
        """Kills cluster i's server (-9) and starts a new, empty one on its port."""
        kill9(self.servers[i])
        wait_until(lambda: self.proxy_info()[NAMES[i]]["state"] == "down", 3, f"{NAMES[i]} marked down")

    def start_again(self, i: int) -> None:
        self.servers[i] = self.stack.redis_server(port=self.servers[i].port)
        self.directs[i] = self._keep(direct(self.servers[i].port))

    def close(self) -> None:
        for c in self._clients:
            c.close()


@pytest.fixture
def setup(stack: Stack):
    made: list[Setup] = []

    def make(**kw: Any) -> Setup:
        made.append(Setup(stack, **kw))
        return made[-1]

    yield make
    for s in made:
        s.close()


# ----------------------------------------------------------------------------
# forwarding
# ----------------------------------------------------------------------------

@pytest.mark.covers("SCRIPT LOAD", "EVALSHA", "SCRIPT EXISTS")
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_script_load_then_evalsha_on_every_cluster(setup, protocol):
    s = setup()
    c = s.client(protocol)
    body = unique(INCR_BY)
    sha = c.script_load(body)
    assert sha == sha1(body)
    assert [d.script_exists(sha) for d in s.directs] == [[True]] * 3
    assert c.script_exists(sha, "0" * 40) == [True, False]
    for i in range(1, 6):
        assert c.evalsha(sha, 1, "counter", 10) == str(10 * i).encode()
    assert s.assert_identical(c)[b"counter"] is not None
    assert all(d.get("counter") == b"50" for d in s.directs)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_register_script_falls_back_to_load(setup, protocol):
    s = setup()
    c = s.client(protocol)
    script = c.register_script(unique(INCR_BY))
    # The first call gets NOSCRIPT from every cluster (nobody knows it), loads it, and runs it.
    assert script(keys=["k"], args=[3]) == b"3"
    assert script(keys=["k"], args=[4]) == b"7"
    assert [d.script_exists(script.sha) for d in s.directs] == [[True]] * 3
    # In a pipeline: redis-py checks SCRIPT EXISTS and loads what is missing first.
    pipe = c.pipeline(transaction=False)
    script(keys=["k"], args=[1], client=pipe)
    pipe.get("k")
    assert pipe.execute() == [b"8", b"8"]
    s.assert_identical(c)
    assert s.directs[2].get("k") == b"8"


@pytest.mark.covers("EVAL_RO", "EVALSHA_RO")
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_read_only_scripts(setup, protocol):
    s = setup()
    c = s.client(protocol)
    assert c.set("ro", "value") is True
    assert c.eval_ro(GET, 1, "ro") == b"value"
    sha = c.script_load(GET)
    assert c.evalsha_ro(sha, 1, "ro") == b"value"
    with pytest.raises(redis.ResponseError, match="(?i)write"):
        c.eval_ro("return redis.call('SET', KEYS[1], 'changed')", 1, "ro")
    s.settle(c)
    assert [d.get("ro") for d in s.directs] == [b"value"] * 3


@pytest.mark.covers("FUNCTION LOAD", "FCALL", "FCALL_RO", "FUNCTION DUMP", "FUNCTION DELETE", "FUNCTION RESTORE", "FUNCTION FLUSH", "FUNCTION LIST")
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_functions_on_every_cluster(setup, protocol):
    s = setup()
    c = s.client(protocol)
    assert c.function_load(LIBRARY) in (b"scriptlib", "scriptlib")
    assert [functions(d) for d in s.directs] == [[b"scriptlib"]] * 3
    assert functions(c) == [b"scriptlib"]
    assert c.fcall("lib_incr", 1, "fk", 5) == 5
    assert c.fcall("lib_incr", 1, "fk", 2) == 7
    assert c.fcall_ro("lib_get", 1, "fk") == b"7"
    s.assert_identical(c)
    assert s.directs[1].get("fk") == b"7"

    dump = c.function_dump()
    assert c.function_delete("scriptlib") is True
    s.settle(c)
    assert [functions(d) for d in s.directs] == [[]] * 3
    assert c.function_restore(dump) is True
    s.settle(c)
    assert [functions(d) for d in s.directs] == [[b"scriptlib"]] * 3
    assert c.function_flush() is True
    s.settle(c)
    assert [functions(d) for d in s.directs] == [[]] * 3
    with pytest.raises(redis.ResponseError, match="(?i)function not found"):
        c.fcall("lib_incr", 1, "fk", 1)


@pytest.mark.covers("SCRIPT FLUSH")
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_script_flush_reaches_every_cluster_and_the_proxy(setup, protocol):
    s = setup()
    c = s.client(protocol)
    body = unique(INCR_BY)
    sha = c.script_load(body)
    assert c.script_flush() is True
    s.settle(c)
    assert [d.script_exists(sha) for d in s.directs] == [[False]] * 3
    # The proxy forgot the body too: no cluster is given the flushed script back.
    with pytest.raises(redis.exceptions.NoScriptError):
        c.evalsha(sha, 1, "flushed", 1)
    s.settle(c)
    assert [d.script_exists(sha) for d in s.directs] == [[False]] * 3
    assert [d.exists("flushed") for d in s.directs] == [0] * 3


# ----------------------------------------------------------------------------
# NOSCRIPT repair
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("write_ack", ["first", "all"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_cluster_that_lost_its_scripts_is_repaired(setup, protocol, write_ack):
    s = setup(write_ack=write_ack)
    c = s.client(protocol)
    sha = c.script_load(unique(INCR_BY))
    assert c.evalsha(sha, 1, "repaired", 1) == b"1"
    s.settle(c)
    # dc-b restarts, as far as scripts go: its cache is empty.
    assert s.directs[1].script_flush() is True
    assert s.directs[1].script_exists(sha) == [False]
    # Under "all" the client's answer needs dc-b's success: the repaired reply is what counts.
    assert c.evalsha(sha, 1, "repaired", 1) == b"2"
    assert c.evalsha(sha, 1, "repaired", 1) == b"3"
    s.assert_identical(c)
    assert [d.get("repaired") for d in s.directs] == [b"3"] * 3
    assert s.directs[1].script_exists(sha) == [True]
    info = s.proxy_info()
    assert [info[n]["rejected_writes"] for n in NAMES] == ["0"] * 3
    assert [info[n]["divergent_replies"] for n in NAMES] == ["0"] * 3


@pytest.mark.covers("EVAL", "EVALSHA")
def test_a_script_learned_from_eval_is_repaired(setup):
    s = setup()
    c = s.client(2)
    body = unique(INCR_BY)
    assert c.eval(body, 1, "from-eval", 5) == b"5"
    s.settle(c)
    assert s.directs[2].script_flush() is True
    assert c.evalsha(sha1(body), 1, "from-eval", 5) == b"10"
    s.assert_identical(c)
    assert s.directs[2].get("from-eval") == b"10"
    assert s.directs[2].script_exists(sha1(body)) == [True]


def test_a_script_the_proxy_never_saw_stays_a_rejected_write(setup):
    s = setup()
    c = s.client(2)
    body = unique(INCR_BY)
    for d in s.directs:
        assert d.script_load(body) == sha1(body)
    assert s.directs[1].script_flush() is True
    # dc-a answers ("first"); dc-b's NOSCRIPT is its answer: a rejected write, its data behind.
    assert c.evalsha(sha1(body), 1, "unknown", 1) == b"1"
    s.settle(c)
    assert [d.get("unknown") for d in s.directs] == [b"1", None, b"1"]
    assert s.directs[1].script_exists(sha1(body)) == [False]
    assert s.proxy_info()["dc-b"]["rejected_writes"] == "1"


def test_writes_kept_for_a_restarting_cluster_carry_their_script(setup):
    s = setup()
    c = s.client(2)
    sha = c.script_load(unique(INCR_BY))
    s.settle(c)
    # dc-c goes down: its EVALSHAs wait in its backlog, each behind the script's load, and the
    # new, empty server that comes back on its port gets both.
    s.restart(2)
    for i in range(1, 4):
        assert c.evalsha(sha, 1, "offline", 1) == str(i).encode()
    s.start_again(2)
    wait_until(lambda: (lambda x: x["state"] == "up" and x["backlog"] == "0")(s.proxy_info()["dc-c"]), 10,
               "dc-c's backlog replayed")
    s.assert_identical(c)
    assert s.directs[2].get("offline") == b"3"
    assert s.directs[2].script_exists(sha) == [True]
    # Each EVALSHA and its script load were kept; nothing was refused on replay.
    info = s.proxy_info()["dc-c"]
    assert (info["missed_writes"], info["rejected_writes"]) == ("6", "0")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_evalsha_ro_is_repaired_where_it_reads(setup, protocol):
    s = setup()
    c = s.client(protocol)
    assert c.set("ro-key", "v") is True
    sha = c.script_load(unique(GET))
    s.settle(c)
    # Reads go to the local cluster, dc-a: it lost the script.
    assert s.directs[0].script_flush() is True
    assert c.evalsha_ro(sha, 1, "ro-key") == b"v"
    assert s.directs[0].script_exists(sha) == [True]


# ----------------------------------------------------------------------------
# sharded clusters
# ----------------------------------------------------------------------------

def test_sharded_scripts_route_by_key_and_load_everywhere(stack: Stack):
    servers = [stack.redis_servers(2) for _ in range(2)]
    clusters = [sharded_cluster(f"dc-{'ab'[i]}", local=(i == 0), redis=[x.port for x in servers[i]])
                for i in range(2)]
    proxy = stack.sharded(clusters, timeouts=FAST_TIMEOUTS, config_extra={"health": FAST_HEALTH})
    directs = [[direct(x.port) for x in cluster] for cluster in servers]
    c = redis.Redis(host="127.0.0.1", port=proxy.port, socket_timeout=20, socket_connect_timeout=5)
    try:
        sha = c.script_load(unique(INCR_BY))
        assert [[d.script_exists(sha) for d in cluster] for cluster in directs] == [[[True]] * 2] * 2
        assert c.function_load(LIBRARY) in (b"scriptlib", "scriptlib")
        assert [[functions(d) for d in cluster] for cluster in directs] == [[[b"scriptlib"]] * 2] * 2

        keys = [scattered_key("s", i) for i in range(12)]
        for k in keys:
            assert c.evalsha(sha, 1, k, 2) == b"2"
            assert c.fcall("lib_incr", 1, k, 1) == 3

        def owners(cluster: int) -> list[int]:
            return [[d.exists(k) for d in directs[cluster]].index(1) for k in keys]

        # Each key lives on exactly one server of each cluster, and both servers hold some.
        def placed() -> bool:
            return all(sum(d.exists(k) for d in directs[cl]) == 1 and directs[cl][owners(cl)[i]].get(k) == b"3"
                       for cl in range(2) for i, k in enumerate(keys))

        wait_until(placed, 10, "every key on one server of each cluster")
        assert set(owners(0)) == {0, 1} and set(owners(1)) == {0, 1}

        # The key's server in dc-b lost its scripts: the repair goes to that server.
        k = keys[0]
        owner = directs[1][owners(1)[0]]
        assert owner.script_flush() is True
        assert c.evalsha(sha, 1, k, 10) == b"13"
        wait_until(lambda: owner.get(k) == b"13", 10, "the repaired EVALSHA on dc-b")
        assert owner.script_exists(sha) == [True]
        assert directs[0][owners(0)[0]].get(k) == b"13"

        assert c.script_flush() is True
        wait_until(lambda: all(d.script_exists(sha) == [False] for cl in directs for d in cl), 10,
                   "SCRIPT FLUSH on every server")
    finally:
        c.close()
        for cluster in directs:
            for d in cluster:
                d.close()
