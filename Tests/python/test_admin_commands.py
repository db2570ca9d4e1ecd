"""Administrative commands through the proxy (docs/configuration.md, allowCommands; docs/redis-commands.md,
Stateful commands):

- refused by default, each with its reason and, when the config may allow it, the allowCommands hint;
  nothing reaches a backend;
- allowed ones run on every server of every cluster: CONFIG SET (checked with CONFIG GET on each
  backend), FLUSHALL/FLUSHDB (replicated writes), SAVE, BGSAVE, DEBUG, CLIENT KILL, REPLICAOF,
  SLAVEOF, SHUTDOWN; a backend's error reply comes back as is; a cluster that is down is named in
  the reply and never gets the command later;
- allowFlush is an alias of listing FLUSHALL and FLUSHDB (and allows nothing else);
- a reload applies a new list; a list naming MONITOR (or any command that can never be allowed) is
  rejected by config validation, naming the entry.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest
import redis

from conftest import METACLUSTER_BIN, RedisServer, Stack, kill9, wait_until
from resp import Error, RawConn, encode

pytestmark = pytest.mark.proxy_only

NAMES = ["dc-a", "dc-b", "dc-c"]
FAST = {"timeouts": {"requestMs": 2000, "connectMs": 300, "reconnectMinMs": 50, "reconnectMaxMs": 300},
        "health": {"failureLimit": 1, "probeIntervalMs": 100}}
ADMIN_HINT = "in allowCommands in the config to run it on every cluster)"


def direct(server: RedisServer) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=server.port, protocol=2, socket_timeout=10, socket_connect_timeout=5)


def setup(stack: Stack, n: int, allow=None, **extra):
    servers = stack.redis_servers(n)
    config = dict(FAST)
    if allow is not None:
        config["allowCommands"] = allow
    config.update(extra)
    proxy = stack.clusters([s.port for s in servers], config_extra=config)
    return servers, proxy


def proxy_raw(proxy) -> RawConn:
    return RawConn(proxy.port)


def error_text(value) -> str:
    assert isinstance(value, Error), f"expected an error reply, got {value!r}"
    return str(value)


# ----------------------------------------------------------------------------
# refused by default
# ----------------------------------------------------------------------------

FLUSH_REFUSAL = "is disabled: it would empty every cluster; list it in allowCommands (or set allowFlush) in the config"
REFUSED = [
    (("FLUSHALL",), "ERR FLUSHALL " + FLUSH_REFUSAL),
    (("FLUSHDB",), "ERR FLUSHDB " + FLUSH_REFUSAL),
    (("CONFIG", "SET", "maxmemory-policy", "allkeys-lru"),
     "ERR administrative command: run it on the backend directly (or list CONFIG SET " + ADMIN_HINT),
    (("SHUTDOWN", "NOSAVE"), "ERR administrative command: run it on the backend directly (or list SHUTDOWN " + ADMIN_HINT),
    (("DEBUG", "SET-ACTIVE-EXPIRE", "0"), "ERR debugging command: run it on the backend directly (or list DEBUG " + ADMIN_HINT),
    (("CLIENT", "KILL", "ID", "1"), "ERR client administration refused: the backends see metacluster's shared connections, "
                                    "not its clients; run it on the backend directly (or list CLIENT KILL " + ADMIN_HINT),
    (("SLAVEOF", "127.0.0.1", "1"), "ERR replication command refused: metacluster replicates between clusters itself; "
                                    "manage backend replication on the backends directly (or list SLAVEOF " + ADMIN_HINT),
    (("REPLICAOF", "127.0.0.1", "1"), "ERR replication command refused: metacluster replicates between clusters itself; "
                                      "manage backend replication on the backends directly (or list REPLICAOF " + ADMIN_HINT),
    (("SAVE",), "ERR administrative command: run it on the backend directly (or list SAVE " + ADMIN_HINT),
    (("BGSAVE",), "ERR administrative command: run it on the backend directly (or list BGSAVE " + ADMIN_HINT),
    # never allowed: no hint
    (("MONITOR",), "ERR MONITOR is not supported through metacluster: it turns the connection into a stream of "
                   "one backend's traffic; run it on the backend directly"),
    (("CLIENT", "TRACKING", "ON"), "ERR client-side caching (CLIENT TRACKING and related) is not supported through "
                                   "metacluster: invalidations would arrive on shared backend connections"),
]


def test_admin_commands_are_refused_by_default_with_their_reason(stack: Stack):
    servers, proxy = setup(stack, 2)
    r = proxy_raw(proxy)
    assert r.call("SET", "kept", "v") == b"OK"
    # One pipeline: every refusal answers in order, and the connection goes on.
    r.send(b"".join(encode(*args) for args, _ in REFUSED) + encode("GET", "kept"))
    replies = [r.read_reply()[1] for _ in range(len(REFUSED) + 1)]
    for (args, want), got in zip(REFUSED, replies):
        assert error_text(got) == want, f"{' '.join(args)}: {got!r}"
    assert replies[-1] == b"v"
    # Nothing reached a backend: the data, the config and the servers are as they were.
    for s in servers:
        d = direct(s)
        assert d.get("kept") == b"v", f"a refused flush reached :{s.port}"
        assert d.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
        assert d.info("replication")["role"] == "master"
        assert s.running


# ----------------------------------------------------------------------------
# allowed
# ----------------------------------------------------------------------------

@pytest.mark.covers("CONFIG SET", "CONFIG GET")
def test_allowed_config_set_reaches_every_cluster(stack: Stack):
    servers, proxy = setup(stack, 3, allow=["CONFIG SET"])
    r = proxy_raw(proxy)
    assert r.call("CONFIG", "SET", "maxmemory-policy", "allkeys-lru") == b"OK"
    for name, s in zip(NAMES, servers):
        assert direct(s).config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lru", name
    # CONFIG GET is a read: one cluster's (the local one's) answer.
    direct(servers[0]).config_set("maxmemory-samples", "7")
    assert r.call("CONFIG", "GET", "maxmemory-samples") == [b"maxmemory-samples", b"7"]
    # Only CONFIG SET was listed: CONFIG REWRITE stays refused.
    assert "(or list CONFIG REWRITE in allowCommands" in error_text(r.call("CONFIG", "REWRITE"))
    # A backend's own error comes back as it is.
    want = error_text(RawConn(servers[0].port).call("CONFIG", "SET", "maxmemory-policy", "bogus"))
    assert error_text(r.call("CONFIG", "SET", "maxmemory-policy", "bogus")) == want
    for s in servers:
        assert direct(s).config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lru"


def test_a_cluster_that_is_down_is_named_and_never_gets_the_command_later(stack: Stack):
    servers, proxy = setup(stack, 3, allow=["CONFIG"])
    r = proxy_raw(proxy)
    assert r.call("SET", "k", "1") == b"OK"
    port = servers[1].port
    kill9(servers[1])
    # Whether the proxy already saw dc-b go or loses the connection with the command on it, the
    # reply names dc-b.
    text = error_text(r.call("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"))
    assert text == ("ERR CONFIG SET: no answer from dc-b (down, or the connection was lost before a reply: "
                    "it may or may not have run there); the other clusters answered"), text
    for s in (servers[0], servers[2]):
        assert direct(s).config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lfu"
    # dc-b comes back: it gets the writes it missed, never the CONFIG SET.
    back = stack.redis_server(port=port)
    assert r.call("SET", "k", "2") == b"OK"
    wait_until(lambda: direct(back).get("k") == b"2", 10, "dc-b caught up")
    assert r.call("SET", "after", "x") == b"OK"
    wait_until(lambda: direct(back).get("after") == b"x", 10, "dc-b takes writes directly")
    time.sleep(0.3)
    assert direct(back).config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
    # Now every cluster is up again, an allowed command reaches all three.
    wait_until(lambda: r.call("CONFIG", "SET", "maxmemory-policy", "volatile-lru") == b"OK", 10, "CONFIG SET everywhere")
    for s in (servers[0], back, servers[2]):
        assert direct(s).config_get("maxmemory-policy")["maxmemory-policy"] == "volatile-lru"


@pytest.mark.covers("FLUSHALL", "FLUSHDB")
def test_allowed_flushall_and_flushdb_empty_every_cluster(stack: Stack):
    servers, proxy = setup(stack, 3, allow=["FLUSHALL", "FLUSHDB"])
    c = redis.Redis(host="127.0.0.1", port=proxy.port, protocol=2, socket_timeout=10)
    for flush in (c.flushall, c.flushdb):
        c.mset({f"k{i}": i for i in range(20)})
        for s in servers:
            wait_until(lambda: direct(s).dbsize() == 20, 5, f"writes on :{s.port}")
        assert flush() is True
        for name, s in zip(NAMES, servers):
            wait_until(lambda: direct(s).dbsize() == 0, 5, f"{flush.__name__} on {name}")
    # The flushes do not open the other administrative commands.
    with pytest.raises(redis.ResponseError, match="or list SAVE in allowCommands"):
        c.save()
    c.close()


def test_allow_flush_is_an_alias_of_listing_the_flushes(stack: Stack):
    servers, proxy = setup(stack, 2, allowFlush=True)
    r = proxy_raw(proxy)
    for flush in ("FLUSHALL", "FLUSHDB"):
        assert r.call("SET", "k", "v") == b"OK"
        for s in servers:
            wait_until(lambda: direct(s).exists("k"), 5, "k written")
        assert r.call(flush) == b"OK"
        for s in servers:
            wait_until(lambda: direct(s).dbsize() == 0, 5, f"{flush} on :{s.port}")
    assert "(or list CONFIG SET in allowCommands" in error_text(r.call("CONFIG", "SET", "maxmemory-policy", "allkeys-lru"))


@pytest.mark.covers("SAVE", "BGSAVE")
def test_allowed_save_and_bgsave_answer_and_persist_every_server(stack: Stack, tmp_path):
    servers = []
    for name in NAMES:
        # One directory per server: they would otherwise write the same dump.rdb.
        s = RedisServer(tmp_path / name)
        stack.redis.append(s)
        servers.append(s.start())
    proxy = stack.clusters([s.port for s in servers], config_extra={**FAST, "allowCommands": ["SAVE", "BGSAVE"]})
    r = proxy_raw(proxy)
    assert r.call("SET", "k", "v") == b"OK"
    for s in servers:
        wait_until(lambda: direct(s).exists("k"), 5, "k written")
    assert r.call("SAVE") == b"OK"
    for name, s in zip(NAMES, servers):
        assert direct(s).info("persistence")["rdb_changes_since_last_save"] == 0, name
        assert (tmp_path / name / "dump.rdb").exists(), name
    assert r.call("SET", "k2", "v") == b"OK"
    for s in servers:
        wait_until(lambda: direct(s).exists("k2"), 5, "k2 written")
    assert r.call("BGSAVE") == b"Background saving started"
    for name, s in zip(NAMES, servers):
        wait_until(lambda: direct(s).info("persistence")["rdb_bgsave_in_progress"] == 0, 10, f"BGSAVE on {name}")
        info = direct(s).info("persistence")
        assert info["rdb_last_bgsave_status"] == "ok" and info["rdb_changes_since_last_save"] == 0, (name, info)


@pytest.mark.covers("DEBUG", "CLIENT KILL", "SLAVEOF", "REPLICAOF")
def test_allowed_debug_client_kill_and_replication_commands(stack: Stack):
    servers, proxy = setup(stack, 2, allow=["DEBUG", "CLIENT KILL", "SLAVEOF", "REPLICAOF"])
    r = proxy_raw(proxy)
    assert r.call("DEBUG", "SET-ACTIVE-EXPIRE", "1") == b"OK"
    # Every server answers the same error: it comes back as a standalone server's would.
    want = error_text(RawConn(servers[0].port).call("CLIENT", "KILL", "127.0.0.1:1"))
    assert want == "ERR No such client"
    assert error_text(r.call("CLIENT", "KILL", "127.0.0.1:1")) == want
    # CLIENT KILL reaches every server: a client of dc-b's server, by its address there. The
    # servers' counts differ (dc-a has no such client): the reply is the local cluster's, 0.
    victim = direct(servers[1])
    addr = next(c["addr"] for c in victim.client_list() if c["cmd"] == "client|list")
    assert r.call("CLIENT", "KILL", "ADDR", addr) == 0
    wait_until(lambda: all(c["addr"] != addr for c in direct(servers[1]).client_list()), 5, "the client killed on dc-b")
    for cmd in ("REPLICAOF", "SLAVEOF"):
        assert r.call(cmd, "NO", "ONE") == b"OK"
    for s in servers:
        assert direct(s).info("replication")["role"] == "master"
    assert r.call("SET", "still", "works") == b"OK"


@pytest.mark.covers("SHUTDOWN")
def test_allowed_shutdown_stops_every_server(stack: Stack):
    servers, proxy = setup(stack, 2, allow=["SHUTDOWN"])
    r = proxy_raw(proxy)
    text = error_text(r.call("SHUTDOWN", "NOSAVE"))
    # A server that shuts down closes its connection without a reply.
    assert text == ("ERR SHUTDOWN: no answer from dc-a, dc-b (down, or the connection was lost before a reply: "
                    "it may or may not have run there); no cluster answered"), text
    for s in servers:
        wait_until(lambda: not s.running, 10, f"redis-server :{s.port} shut down")
    assert r.call("PING") == b"PONG"


def test_a_reload_applies_a_new_list(stack: Stack):
    servers = stack.redis_servers(2)
    proxy = stack.clusters([s.port for s in servers], config_extra=dict(FAST), admin=True)
    r = proxy_raw(proxy)
    assert "(or list CONFIG SET in allowCommands" in error_text(r.call("CONFIG", "SET", "maxmemory-policy", "allkeys-lru"))
    config = dict(proxy.config)
    config["allowCommands"] = ["CONFIG SET"]
    proxy.write_config(config)
    assert proxy.post_reload().status == 200
    wait_until(lambda: r.call("CONFIG", "SET", "maxmemory-policy", "allkeys-lru") == b"OK", 5, "CONFIG SET allowed")
    for s in servers:
        assert direct(s).config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lru"
    config = dict(proxy.config)
    config["allowCommands"] = ["MONITOR"]
    proxy.write_config(config)
    rejected = proxy.post_reload()
    assert rejected.status == 409 and "allowCommands[0]" in rejected.text and "MONITOR can never be allowed" in rejected.text
    assert r.call("CONFIG", "SET", "maxmemory-policy", "noeviction") == b"OK", "a rejected reload keeps the list in force"


@pytest.mark.parametrize("entry,reason", [
    ("MONITOR", "MONITOR can never be allowed: MONITOR is not supported through metacluster: it turns the connection "
                "into a stream of one backend's traffic"),
    ("CLUSTER", "CLUSTER can never be allowed: metacluster is not a Redis Cluster"),
    ("SCRIPT KILL", "SCRIPT KILL can never be allowed"),
    ("GET", "GET is not refused by metacluster; allowCommands lists only commands refused by default"),
    ("FROBNICATE", "unknown command FROBNICATE"),
])
def test_config_validation_rejects_entries_that_cannot_be_allowed(tmp_path, entry, reason):
    config = {"listen": {"redis": "127.0.0.1:6390"}, "clusters": [{"name": "dc-a", "redis": ["127.0.0.1:16379"]}],
              "allowCommands": ["SAVE", entry]}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    p = subprocess.run([str(METACLUSTER_BIN), "--config", str(path), "--check"], capture_output=True, text=True,
                       timeout=20, stdin=subprocess.DEVNULL)
    out = p.stdout + p.stderr
    assert p.returncode != 0, out
    assert "allowCommands[1]" in out and reason in out, out
