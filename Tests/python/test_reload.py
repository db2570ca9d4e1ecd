"""Hot reload (issue #6), end to end: SIGHUP or POST /reload makes metacluster read its config file
again. Clusters of one redis-server and one memcached each; the config file is rewritten in place
(the Metacluster helper's write_config) while clients stay connected.

What is shown here, for redis and memcached:
- a cluster added: within about 2 s a write through a connection opened before the reload reaches
  the new cluster's servers, and every later one does; /status and /metrics show the reload;
- a broken file (invalid JSON, a schema error, an empty file), by POST /reload (409) or SIGHUP: a
  log line "configuration reload rejected" with the reason, lastReload.applied false,
  reloads_total{result="rejected"}, and nothing changes: writes still reach every cluster;
- a cluster removed: later writes no longer reach it, the connections stay open;
- `listen` and `workers` changes are rejected with a message saying they need a restart, and the
  listeners stay as they were;
- a server added to a cluster: the keys written after the reload are spread over both servers;
- other settings (writeAck, verify) take effect;
- clients writing without pause through a series of reloads get no error and no disconnect.
"""

from __future__ import annotations

import json
import threading
import time


import pytest

from conftest import DualClusters, free_port, port_accepts, scattered_key, wait_until
from mcproto import McConn, storage
from resp import RawConn, encode_many

pytestmark = pytest.mark.proxy_only

RELOAD_S = 2.5  # "within about 2 s"
REJECTED = "configuration reload rejected"


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------

def cluster_names(d: DualClusters, protocol: str) -> list[str]:
    view = next(p for p in d.proxy.status()["protocols"] if p["name"] == protocol)
    return [c["name"] for c in view["clusters"]]


def reloads(d: DualClusters, result: str) -> float:
    return d.proxy.metrics().value("metacluster_reloads_total", default=0.0, result=result)


def last_reload(d: DualClusters) -> dict:
    lr = d.proxy.status()["lastReload"]
    assert isinstance(lr, dict), f"lastReload is {lr!r} after a reload"
    return lr


def wait_reaches(d: DualClusters, r: RawConn, m: McConn, i: int, prefix: str) -> None:
    """Writes new keys through r and m until one reaches cluster i's servers (within RELOAD_S)."""
    written: list[str] = []

    def reached() -> bool:
        key = f"{prefix}{len(written)}"
        written.append(key)
        assert r.call("SET", key, "v") == b"OK"
        assert m.set(key, b"v") == b"STORED"
        time.sleep(0.05)
        return (d.rdirect[i].exists(*written) > 0) and any(d.mdirect[i].get(k) is not None for k in written[-3:])

    t0 = time.monotonic()
    try:
        wait_until(reached, RELOAD_S, f"a write through an old connection on {d.names[i]}", interval=0)
    except AssertionError:
        raise AssertionError(f"no write reached {d.names[i]} within {RELOAD_S}s of the reload ({len(written)} tried)\n"
                             + d.proxy.describe()) from None
    assert time.monotonic() - t0 < RELOAD_S + 0.5


def absent_after_write(d: DualClusters, r: RawConn, m: McConn, i: int, key: str) -> None:
    """A write through r and m reaches the clusters still configured but not cluster i."""
    assert r.call("SET", key, "v") == b"OK"
    assert m.set(key, b"v") == b"STORED"
    keep = [j for j in range(len(d.names)) if j != i and d.names[j] in cluster_names(d, "redis")]
    d.settle_redis(r, which=keep)
    d.settle_mc(m, which=keep)
    time.sleep(0.3)
    assert d.rdirect[i].get(key) is None, f"{key} reached {d.names[i]}'s redis-server after its removal"
    assert d.mdirect[i].get(key) is None, f"{key} reached {d.names[i]}'s memcached after its removal"


def alive(r: RawConn, m: McConn) -> None:
    assert r.call("PING") == b"PONG", "the redis client's connection did not survive the reload"
    assert m.cmd("version").code == b"VERSION", "the memcached client's connection did not survive the reload"


# ----------------------------------------------------------------------------
# a cluster added, then removed
# ----------------------------------------------------------------------------

def test_sighup_adds_a_cluster_for_connected_clients(dual_clusters):
    d = dual_clusters(n=2, configured=1)
    r, m = d.redis_client(), d.mc_client()
    assert r.call("SET", "before", "1") == b"OK"
    assert m.set("before", b"1") == b"STORED"
    d.settle_redis(r, which=[0])
    d.settle_mc(m, which=[0])
    assert cluster_names(d, "redis") == ["dc-a"] and d.proxy.status()["lastReload"] is None
    assert d.rdirect[1].get("before") is None

    mark = d.proxy.log_mark()
    d.proxy.write_config(d.config_for([d.cluster(0), d.cluster(1)]))
    d.proxy.sighup()
    wait_reaches(d, r, m, 1, "after:")
    # every later write through the same connections reaches both
    d.settle_redis(r)
    d.settle_mc(m)
    alive(r, m)
    assert d.proxy.running

    lr = last_reload(d)
    assert lr["applied"] is True and abs(lr["atUnixSeconds"] - time.time()) < 30, lr
    assert cluster_names(d, "redis") == ["dc-a", "dc-b"] and cluster_names(d, "memcached") == ["dc-a", "dc-b"]
    assert reloads(d, "applied") == 1 and reloads(d, "rejected") == 0
    assert REJECTED not in d.proxy.log_since(mark)
    # reads stay local; the new cluster is ranked second once measured
    assert r.call("GET", "before") == b"1"
    wait_until(lambda: next(p for p in d.proxy.status()["protocols"] if p["name"] == "redis")["readOrder"]
               == ["dc-a", "dc-b"], 3, "dc-b in the read order")


def test_post_reload_removes_a_cluster(dual_clusters):
    d = dual_clusters(n=2)
    r, m = d.redis_client(), d.mc_client()
    d.settle_redis(r)
    d.settle_mc(m)

    d.proxy.write_config(d.config_for([d.cluster(0)]))
    resp = d.proxy.post_reload()
    assert resp.status == 200, f"POST /reload answered {resp.status}: {resp.text}"
    assert resp.text.strip(), "the reply to POST /reload carries a message"
    assert last_reload(d)["applied"] is True
    assert cluster_names(d, "redis") == ["dc-a"] and cluster_names(d, "memcached") == ["dc-a"]
    absent_after_write(d, r, m, 1, "after-removal")
    alive(r, m)
    assert r.call("GET", "after-removal") == b"v"
    assert m.get("after-removal") == b"v"


def test_server_added_to_a_cluster(stack, dual_clusters):
    d = dual_clusters(n=2)
    extra_redis = stack.redis_server()
    extra_mc = stack.memcached_server()
    r, m = d.redis_client(), d.mc_client()
    d.settle_redis(r)
    d.settle_mc(m)

    grown = d.cluster(0, redis_ports=[d.redis_ports[0], extra_redis.port], mc_ports=[d.mc_ports[0], extra_mc.port])
    d.proxy.write_config(d.config_for([grown, d.cluster(1)]))
    resp = d.proxy.post_reload()
    assert resp.status == 200, resp.text
    assert next(c for c in next(p for p in d.proxy.status()["protocols"] if p["name"] == "redis")["clusters"]
                if c["name"] == "dc-a")["servers"] == 2

    import redis as redis_py

    new_r = redis_py.Redis(host="127.0.0.1", port=extra_redis.port, protocol=2, socket_timeout=10)
    new_m = McConn(extra_mc.port)
    try:
        keys = [scattered_key("grow:", i) for i in range(60)]
        r.send(encode_many(("SET", k, f"v-{k}") for k in keys))
        assert [r.read_reply()[1] for _ in keys] == [b"OK"] * len(keys)
        m.send(b"".join(storage("set", k, f"v-{k}".encode()) for k in keys))
        assert [m.read_reply().line for _ in keys] == [b"STORED"] * len(keys)
        time.sleep(0.5)  # no barrier key is sure to land on a given shard: give the writes time
        on_new = [k for k in keys if new_r.exists(k)]
        on_old = [k for k in keys if d.rdirect[0].exists(k)]
        assert on_new and on_old, f"keys not spread over dc-a's two redis-servers: {len(on_old)} old, {len(on_new)} new"
        assert not set(on_new) & set(on_old), f"keys on both of dc-a's servers: {sorted(set(on_new) & set(on_old))[:5]}"
        assert len(on_new) + len(on_old) == len(keys)
        mc_new = [k for k in keys if new_m.get(k) is not None]
        mc_old = [k for k in keys if d.mdirect[0].get(k) is not None]
        assert mc_new and mc_old and len(mc_new) + len(mc_old) == len(keys), (len(mc_old), len(mc_new))
        # dc-b (one server) got them all; reads through the proxy find each where it was put
        wait_until(lambda: d.rdirect[1].exists(*keys) == len(keys), 3, "every key on dc-b")
        r.send(encode_many(("GET", k) for k in keys))
        assert [r.read_reply()[1] for _ in keys] == [f"v-{k}".encode() for k in keys]
        assert all(m.get(k) == f"v-{k}".encode() for k in keys)
        alive(r, m)
    finally:
        new_r.close()
        new_m.close()


# ----------------------------------------------------------------------------
# rejected reloads
# ----------------------------------------------------------------------------

def broken_configs(d: DualClusters) -> list[tuple[str, str, str]]:
    """(what, file text, a word the reason should contain) for files that must be rejected."""
    bad_ack = d.config_for(d.proxy.config["clusters"], writeAck="sometimes")
    no_servers = d.config_for([{"name": "dc-a", "local": True, "redis": []}, d.cluster(1)])
    return [
        ("invalid JSON", '{"listen": {"redis": ', ""),
        ("a schema error", json.dumps(bad_ack, indent=2), "writeAck"),
        ("a cluster without servers", json.dumps(no_servers, indent=2), "clusters"),
        ("an empty file", "", ""),
    ]


def test_broken_files_are_rejected_and_change_nothing(dual_clusters):
    d = dual_clusters(n=2)
    r, m = d.redis_client(), d.mc_client()
    d.settle_redis(r)
    d.settle_mc(m)
    good = d.proxy.config
    before = d.proxy.status()

    for n, (what, text, word) in enumerate(broken_configs(d), start=1):
        mark = d.proxy.log_mark()
        d.proxy.write_config(text=text)
        resp = d.proxy.post_reload()
        assert resp.status == 409, f"{what}: POST /reload answered {resp.status}: {resp.text}"
        assert resp.text.strip(), f"{what}: no message in the 409"
        if word:
            assert word in resp.text, f"{what}: the message does not name {word!r}: {resp.text}"
        logged = d.proxy.wait_log(REJECTED, since=mark, timeout=2)
        if word:
            assert word in d.proxy.log_since(mark), f"{what}: the log does not give the reason: {logged}"
        lr = last_reload(d)
        assert lr["applied"] is False and lr["message"], lr
        assert reloads(d, "rejected") == n
        # nothing changed: every cluster still gets the writes of the same connections
        st = d.proxy.status()
        assert st["writeAck"] == before["writeAck"]
        assert cluster_names(d, "redis") == ["dc-a", "dc-b"]
        d.settle_redis(r)
        d.settle_mc(m)
        alive(r, m)
    assert reloads(d, "applied") == 0

    # by SIGHUP: the same, and the process lives on (SIGHUP's default action would end it)
    mark = d.proxy.log_mark()
    d.proxy.write_config(text="not json at all")
    d.proxy.sighup()
    d.proxy.wait_log(REJECTED, since=mark, timeout=RELOAD_S)
    assert d.proxy.running
    assert last_reload(d)["applied"] is False
    d.settle_redis(r)
    d.settle_mc(m)

    # the good file again
    d.proxy.write_config(good)
    resp = d.proxy.post_reload()
    assert resp.status == 200, resp.text
    assert last_reload(d)["applied"] is True
    assert reloads(d, "applied") == 1


def test_listen_and_workers_changes_need_a_restart(dual_clusters):
    d = dual_clusters(n=2)
    r, m = d.redis_client(), d.mc_client()

    new_port = free_port()
    listen = dict(d.proxy.config["listen"])
    changes = [
        ("listen.redis", d.config_for(d.proxy.config["clusters"], listen={**listen, "redis": f"127.0.0.1:{new_port}"})),
        ("listen.admin", d.config_for(d.proxy.config["clusters"], listen={**listen, "admin": f"127.0.0.1:{new_port}"})),
        ("listen without memcached", d.config_for(d.proxy.config["clusters"],
                                                  listen={k: v for k, v in listen.items() if k != "memcached"})),
        ("workers", d.config_for(d.proxy.config["clusters"], workers=d.proxy.config["workers"] + 1)),
    ]
    good = d.proxy.config
    for what, config in changes:
        mark = d.proxy.log_mark()
        d.proxy.write_config(text=json.dumps(config, indent=2))
        resp = d.proxy.post_reload()
        assert resp.status == 409, f"{what}: POST /reload answered {resp.status}: {resp.text}"
        assert "restart" in resp.text.lower(), f"{what}: the message does not say a restart is needed: {resp.text}"
        line = d.proxy.wait_log(REJECTED, since=mark, timeout=2)
        assert "restart" in d.proxy.log_since(mark).lower(), line
        assert last_reload(d)["applied"] is False
        assert not port_accepts(new_port), f"{what}: something listens on the new port"
        alive(r, m)
        assert d.redis_client().call("PING") == b"PONG"
        assert d.mc_client().cmd("version").code == b"VERSION"
    d.proxy.write_config(good)
    assert d.proxy.post_reload().status == 200


# ----------------------------------------------------------------------------
# other settings
# ----------------------------------------------------------------------------

def test_reload_applies_write_ack_and_verification(dual_clusters):
    d = dual_clusters(n=2, config_extra={"verify": {"sampleRate": 0.0}})
    r = d.redis_client()
    assert r.call("SET", "k", "v") == b"OK"
    d.settle_redis(r)
    assert d.proxy.status()["writeAck"] == "first"
    r.send(encode_many(("GET", "k") for _ in range(50)))
    assert [r.read_reply()[1] for _ in range(50)] == [b"v"] * 50
    time.sleep(0.3)
    assert d.proxy.metrics().sum("metacluster_verified_reads_total") == 0

    d.proxy.write_config(d.config_for(d.proxy.config["clusters"], writeAck="all",
                                      verify={"sampleRate": 1.0, "maxInFlight": 1000}))
    d.proxy.sighup()
    wait_until(lambda: d.proxy.status()["writeAck"] == "all", RELOAD_S, "writeAck all after the reload")
    r.send(encode_many(("GET", "k") for _ in range(50)))
    assert [r.read_reply()[1] for _ in range(50)] == [b"v"] * 50
    wait_until(lambda: d.proxy.metrics().sum("metacluster_verified_reads_total", protocol="redis") == 50, 2,
               "the 50 reads after the reload verified")
    alive(r, d.mc_client())


# ----------------------------------------------------------------------------
# reloads under load
# ----------------------------------------------------------------------------

def test_clients_writing_through_reloads_see_no_error(dual_clusters):
    d = dual_clusters(n=2)
    r, m = d.redis_client(), d.mc_client()
    d.settle_redis(r)
    d.settle_mc(m)
    stop = threading.Event()
    problems: list[str] = []
    counts = {"redis": 0, "memcached": 0}

    def redis_writer() -> None:
        i = 0
        try:
            while not stop.is_set():
                r.send(encode_many(("SET", f"load:{i + j}", "v") for j in range(20)))
                replies = [r.read_reply()[1] for _ in range(20)]
                if replies != [b"OK"] * 20:
                    problems.append(f"redis: {[x for x in replies if x != b'OK'][:3]}")
                    return
                i += 20
                counts["redis"] = i
        except Exception as e:  # noqa: BLE001 - reported below
            problems.append(f"redis: {type(e).__name__}: {e}")

    def mc_writer() -> None:
        i = 0
        try:
            while not stop.is_set():
                m.send(b"".join(storage("set", f"load:{i + j}", b"v") for j in range(20)))
                replies = [m.read_reply().line for _ in range(20)]
                if replies != [b"STORED"] * 20:
                    problems.append(f"memcached: {[x for x in replies if x != b'STORED'][:3]}")
                    return
                i += 20
                counts["memcached"] = i
        except Exception as e:  # noqa: BLE001
            problems.append(f"memcached: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=redis_writer, daemon=True), threading.Thread(target=mc_writer, daemon=True)]
    for t in threads:
        t.start()
    try:
        both = d.config_for([d.cluster(0), d.cluster(1)])
        only_a = d.config_for([d.cluster(0)])
        for n in range(6):
            d.proxy.write_config(only_a if n % 2 == 0 else both)
            if n % 3 == 0:
                d.proxy.sighup()
                time.sleep(0.4)
            else:
                resp = d.proxy.post_reload()
                assert resp.status == 200, f"reload #{n}: {resp.status} {resp.text}"
                time.sleep(0.2)
            assert not problems, problems
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert not problems, problems
    assert counts["redis"] > 0 and counts["memcached"] > 0, counts
    assert d.proxy.running
    # the last config has both clusters: the same connections reach both
    wait_until(lambda: last_reload(d)["applied"] and cluster_names(d, "redis") == ["dc-a", "dc-b"], RELOAD_S,
               "the last reload applied")
    d.settle_redis(r)
    d.settle_mc(m)
    alive(r, m)
    assert reloads(d, "rejected") == 0
