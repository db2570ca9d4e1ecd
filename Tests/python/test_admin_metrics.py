"""The admin listener's Prometheus endpoint (issue #6), end to end: two clusters, dc-a (local) and
dc-b, each of one redis-server and one memcached, behind metacluster with `listen.admin`; every
scrape is parsed with prometheus_client's text parser.

What is shown here:
- /metrics is Prometheus text 0.0.4 that prometheus_client parses, with every family of the
  contract, of the right type, labelled per protocol and cluster;
- requests_total counts each request frame sent to a cluster: after N writes and M reads through
  the proxy (several connections, two worker loops) the deltas are N+M for dc-a and N for dc-b,
  per protocol, exactly (compared between two scrapes: the proxy's own COMMAND queries and
  whatever ran before are not part of the delta; per-loop tallies are published within 100 ms);
- the request duration histogram grows with them and is well formed;
- gauges: read rank 1 for dc-a and 2 for dc-b, backlog 0, cluster_up 1, a measured latency;
- dc-b's servers killed: cluster_up{dc-b} 0, servers_down 1, unranked; K writes per protocol add
  exactly K missed writes and a backlog, which is replayed (backlog 0 again) when they are back;
- metacluster_clients counts open client connections per listener;
- protocol_errors_total grows after a malformed request, per listener.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from conftest import DualClusters, Metrics, kill9, wait_until
from mcproto import line, storage
from resp import RawConn, encode_many

pytestmark = pytest.mark.proxy_only

PROTOCOLS = ("redis", "memcached")
CLUSTERS = ("dc-a", "dc-b")
NO_VERIFY = {"verify": {"sampleRate": 0.0}}  # verification reads would be requests to dc-b too
PUBLISH_S = 2.0  # per-loop tallies are published every <= 100 ms; allow for a loaded machine

COUNTERS = ["metacluster_requests_total", "metacluster_request_errors_total", "metacluster_missed_writes_total",
            "metacluster_dropped_writes_total", "metacluster_replayed_writes_total",
            "metacluster_divergent_replies_total", "metacluster_rejected_writes_total"]
GAUGES = ["metacluster_cluster_up", "metacluster_cluster_servers_down", "metacluster_cluster_read_rank",
          "metacluster_cluster_latency_seconds", "metacluster_backlog_entries"]
HISTOGRAM = "metacluster_request_duration_seconds"


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------

def per_cluster(m: Metrics, name: str) -> dict[tuple[str, str], float]:
    """{(protocol, cluster): value} of a per-cluster metric (0 where absent)."""
    return {(p, c): m.value(name, default=0.0, protocol=p, cluster=c) for p in PROTOCOLS for c in CLUSTERS}


def stable(proxy: Any, name: str = "metacluster_requests_total", quiet: float = 0.3, timeout: float = 5.0) -> Metrics:
    """A scrape after which `name` stayed the same for `quiet` seconds (nothing left to publish)."""
    deadline = time.monotonic() + timeout
    last = proxy.metrics()
    while True:
        time.sleep(quiet)
        now = proxy.metrics()
        if per_cluster(now, name) == per_cluster(last, name):
            return now
        assert time.monotonic() < deadline, f"{name} kept changing for {timeout}s without traffic"
        last = now


def wait_deltas(proxy: Any, name: str, base: Metrics, want: dict[tuple[str, str], float],
                timeout: float = PUBLISH_S) -> Metrics:
    """Waits until `name` grew by exactly `want` since `base` (pairs missing from want: any), then
    checks that it stays there (nothing counted twice, late)."""
    before = per_cluster(base, name)
    last: dict = {}

    def reached() -> Any:
        nonlocal last
        m = proxy.metrics()
        now = per_cluster(m, name)
        last = {k: now[k] - before[k] for k in want}
        return m if last == want else None

    try:
        m = wait_until(reached, timeout, f"{name} deltas {want}")
    except AssertionError:
        raise AssertionError(f"{name}: deltas since the first scrape are {last}, expected {want}\n"
                             + proxy.describe()) from None
    time.sleep(0.3)
    now = per_cluster(proxy.metrics(), name)
    later = {k: now[k] - before[k] for k in want}
    assert later == want, f"{name}: deltas went on to {later} after reaching {want}"
    return m


def redis_traffic(conns: list[RawConn], n_writes: int, n_reads: int, prefix: str) -> None:
    """n_writes SETs and then n_reads GETs of those keys, spread over the connections, pipelined."""
    for j, c in enumerate(conns):
        mine = [i for i in range(n_writes) if i % len(conns) == j]
        c.send(encode_many(("SET", f"{prefix}{i}", f"v{i}") for i in mine))
        assert [c.read_reply()[1] for _ in mine] == [b"OK"] * len(mine)
    for j, c in enumerate(conns):
        mine = [i for i in range(n_reads) if i % len(conns) == j]
        c.send(encode_many(("GET", f"{prefix}{i % n_writes}") for i in mine))
        assert [c.read_reply()[1] for _ in mine] == [f"v{i % n_writes}".encode() for i in mine]


def mc_traffic(conns: list[Any], n_writes: int, n_reads: int, prefix: str) -> None:
    for j, c in enumerate(conns):
        mine = [i for i in range(n_writes) if i % len(conns) == j]
        c.send(b"".join(storage("set", f"{prefix}{i}", f"v{i}".encode()) for i in mine))
        assert [c.read_reply().line for _ in mine] == [b"STORED"] * len(mine)
    for j, c in enumerate(conns):
        mine = [i for i in range(n_reads) if i % len(conns) == j]
        c.send(b"".join(line("get", f"{prefix}{i % n_writes}") for i in mine))
        got = [c.read_reply() for _ in mine]
        assert [r.items[0].value if r.items else None for r in got] == [f"v{i % n_writes}".encode() for i in mine]


def warm(d: DualClusters) -> tuple[RawConn, Any]:
    """A client per protocol that has written through the proxy and seen it reach every cluster."""
    r, m = d.redis_client(), d.mc_client()
    d.settle_redis(r)
    d.settle_mc(m)
    return r, m


# ----------------------------------------------------------------------------
# the exposition
# ----------------------------------------------------------------------------

def test_metrics_parse_with_every_family(dual_clusters):
    d = dual_clusters(config_extra=NO_VERIFY)
    warm(d)
    r = d.proxy.http("GET", "/metrics")
    assert r.status == 200, r
    ctype = r.headers.get("content-type", "")
    assert ctype.startswith("text/plain") and "version=0.0.4" in ctype, f"Content-Type {ctype!r}"
    m = Metrics(r.text)  # prometheus_client's parser: raises on anything it cannot read

    problems = []
    for name in COUNTERS + GAUGES + [HISTOGRAM + "_count", HISTOGRAM + "_sum", HISTOGRAM + "_bucket"]:
        for p in PROTOCOLS:
            for c in CLUSTERS:
                if not m.find(name, protocol=p, cluster=c):
                    problems.append(f"no {name}{{protocol={p},cluster={c}}}")
    for name in COUNTERS:
        if m.types.get(name) != "counter":
            problems.append(f"{name} has type {m.types.get(name)!r}, expected counter")
    for name in GAUGES + ["metacluster_clients", "metacluster_uptime_seconds"]:
        if m.types.get(name) != "gauge":
            problems.append(f"{name} has type {m.types.get(name)!r}, expected gauge")
    if m.types.get(HISTOGRAM + "_bucket") != "histogram":
        problems.append(f"{HISTOGRAM} has type {m.types.get(HISTOGRAM + '_bucket')!r}, expected histogram")
    for listener in ("redis", "memcached"):
        if not m.find("metacluster_clients", listener=listener):
            problems.append(f"no metacluster_clients{{listener={listener}}}")
    if not m.has("metacluster_uptime_seconds"):
        problems.append("no metacluster_uptime_seconds")
    # the families that may first appear when something happens have their documented types
    for name, kind in (("metacluster_verified_reads_total", "counter"), ("metacluster_verify_mismatches_total", "counter"),
                       ("metacluster_verify_errors_total", "counter"), ("metacluster_verify_skipped_total", "counter"),
                       ("metacluster_protocol_errors_total", "counter"), ("metacluster_reloads_total", "counter")):
        if m.has(name) and m.types.get(name) != kind:
            problems.append(f"{name} has type {m.types.get(name)!r}, expected {kind}")
    for labels, _ in m.find("metacluster_reloads_total"):
        if labels.get("result") not in ("applied", "rejected"):
            problems.append(f"metacluster_reloads_total with labels {labels}")
    # no sample has a protocol or cluster label outside the config
    for name, labels, _ in m.samples:
        if "protocol" in labels and labels["protocol"] not in PROTOCOLS:
            problems.append(f"{name}{labels}: unknown protocol")
        for key in ("cluster", "against"):
            if key in labels and labels[key] not in CLUSTERS:
                problems.append(f"{name}{labels}: unknown {key}")
    assert not problems, "\n".join(problems) + "\n---- /metrics ----\n" + r.text[:6000]
    assert m.value("metacluster_uptime_seconds") >= 0


# ----------------------------------------------------------------------------
# requests and the histogram
# ----------------------------------------------------------------------------

def test_request_counts_are_exact(dual_clusters):
    """N writes and M reads per protocol, over four connections per protocol and two loops."""
    n_writes, n_reads = 37, 23
    d = dual_clusters(config_extra=NO_VERIFY, workers=2)
    warm(d)
    rconns = [d.redis_client() for _ in range(4)]
    mconns = [d.mc_client() for _ in range(4)]
    # every connection (and so every loop) has been through the proxy once before the baseline:
    # whatever a loop asks its backends first (COMMAND metadata) is not in the deltas
    for c in rconns:
        assert c.call("PING") == b"PONG"
        assert c.call("GET", "warm") is None
    for c in mconns:
        assert c.cmd("version").code == b"VERSION"
        assert c.get("warm") is None
    base = stable(d.proxy)

    redis_traffic(rconns, n_writes, n_reads, "m:")
    mc_traffic(mconns, n_writes, n_reads, "m:")
    want = {(p, "dc-a"): float(n_writes + n_reads) for p in PROTOCOLS}
    want.update({(p, "dc-b"): float(n_writes) for p in PROTOCOLS})
    after = wait_deltas(d.proxy, "metacluster_requests_total", base, want)

    # the round-trip histogram: grew by at least the replies counted, and is well formed
    for p in PROTOCOLS:
        for c in CLUSTERS:
            grew = (after.value(HISTOGRAM + "_count", protocol=p, cluster=c)
                    - base.value(HISTOGRAM + "_count", protocol=p, cluster=c))
            assert grew >= want[(p, c)], f"{HISTOGRAM}_count{{{p},{c}}} grew by {grew}, fewer than {want[(p, c)]} replies"
            assert (after.value(HISTOGRAM + "_sum", protocol=p, cluster=c)
                    > base.value(HISTOGRAM + "_sum", protocol=p, cluster=c))
            buckets = sorted(((float(ls["le"]), v) for ls, v in after.find(HISTOGRAM + "_bucket", protocol=p, cluster=c)),
                             key=lambda b: b[0])
            assert len(buckets) >= 2 and buckets[-1][0] == float("inf"), buckets
            assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), f"buckets not cumulative: {buckets}"
            assert buckets[-1][1] == after.value(HISTOGRAM + "_count", protocol=p, cluster=c)
            # loopback round trips: most replies within 100 ms
            under = [v for le, v in buckets if le >= 0.1]
            assert under and under[0] >= 0.9 * buckets[-1][1], f"slow round trips on loopback? {buckets}"

    # nothing failed; the agreeing replies are no divergence
    for name in ("metacluster_request_errors_total", "metacluster_missed_writes_total",
                 "metacluster_divergent_replies_total", "metacluster_rejected_writes_total",
                 "metacluster_dropped_writes_total"):
        grew = {k: v - per_cluster(base, name)[k] for k, v in per_cluster(after, name).items()}
        assert all(v == 0 for v in grew.values()), f"{name} grew: {grew}"


def test_gauges_of_healthy_clusters(dual_clusters):
    d = dual_clusters(config_extra=NO_VERIFY)
    warm(d)

    def settled() -> Any:
        m = d.proxy.metrics()
        lat = per_cluster(m, "metacluster_cluster_latency_seconds")
        return m if all(v > 0 for v in lat.values()) else None

    m = wait_until(settled, 5, "a measured latency for every cluster and protocol")
    for p in PROTOCOLS:
        assert m.value("metacluster_cluster_read_rank", protocol=p, cluster="dc-a") == 1
        assert m.value("metacluster_cluster_read_rank", protocol=p, cluster="dc-b") == 2
        for c in CLUSTERS:
            assert m.value("metacluster_cluster_up", protocol=p, cluster=c) == 1
            assert m.value("metacluster_cluster_servers_down", protocol=p, cluster=c) == 0
            assert m.value("metacluster_backlog_entries", protocol=p, cluster=c) == 0
            lat = m.value("metacluster_cluster_latency_seconds", protocol=p, cluster=c)
            assert 0 < lat < 1, f"latency of {p}/{c} on loopback: {lat} s"
    up1 = m.value("metacluster_uptime_seconds")
    time.sleep(1.1)
    assert d.proxy.metrics().value("metacluster_uptime_seconds") >= up1 + 1


# ----------------------------------------------------------------------------
# a remote cluster down: missed writes and the backlog
# ----------------------------------------------------------------------------

def test_remote_down_counts_missed_writes_and_backlog(dual_clusters):
    k = 17
    d = dual_clusters(config_extra=NO_VERIFY)
    r, mc = warm(d)
    kill9(d.redis_servers[1])
    kill9(d.mc_servers[1])

    def down() -> Any:
        m = d.proxy.metrics()
        ok = all(m.value("metacluster_cluster_up", protocol=p, cluster="dc-b") == 0
                 and m.value("metacluster_cluster_servers_down", protocol=p, cluster="dc-b") == 1
                 and m.value("metacluster_cluster_up", protocol=p, cluster="dc-a") == 1 for p in PROTOCOLS)
        return m if ok else None

    base = wait_until(down, 5, "dc-b down for both protocols (cluster_up 0, servers_down 1)")
    base = stable(d.proxy, "metacluster_missed_writes_total")
    for p in PROTOCOLS:
        assert base.value("metacluster_cluster_read_rank", protocol=p, cluster="dc-b") == 0, "a down cluster is not ranked"
        assert base.value("metacluster_cluster_read_rank", protocol=p, cluster="dc-a") == 1

    r.send(encode_many(("SET", f"down:{i}", f"v{i}") for i in range(k)))
    assert [r.read_reply()[1] for _ in range(k)] == [b"OK"] * k
    mc.send(b"".join(storage("set", f"down:{i}", f"v{i}".encode()) for i in range(k)))
    assert [mc.read_reply().line for _ in range(k)] == [b"STORED"] * k
    missed = wait_deltas(d.proxy, "metacluster_missed_writes_total", base,
                         {(p, c): float(k if c == "dc-b" else 0) for p in PROTOCOLS for c in CLUSTERS})
    for p in PROTOCOLS:
        assert missed.value("metacluster_backlog_entries", protocol=p, cluster="dc-b") > 0
        assert missed.value("metacluster_backlog_entries", protocol=p, cluster="dc-a") == 0

    # back: the backlog is replayed and empties
    d.restart_redis(1)
    d.restart_mc(1)

    def replayed() -> Any:
        m = d.proxy.metrics()
        ok = all(m.value("metacluster_cluster_up", protocol=p, cluster="dc-b") == 1
                 and m.value("metacluster_backlog_entries", protocol=p, cluster="dc-b") == 0 for p in PROTOCOLS)
        return m if ok else None

    after = wait_until(replayed, 10, "dc-b up again with its backlog replayed")
    for p in PROTOCOLS:
        grew = (after.value("metacluster_replayed_writes_total", protocol=p, cluster="dc-b")
                - base.value("metacluster_replayed_writes_total", protocol=p, cluster="dc-b"))
        assert grew >= k, f"{p}: {grew} replayed writes for {k} missed"
        assert after.value("metacluster_cluster_read_rank", protocol=p, cluster="dc-b") == 2
    assert d.rdirect[1].get(f"down:{k - 1}") == f"v{k - 1}".encode()
    assert d.mdirect[1].get(f"down:{k - 1}") == f"v{k - 1}".encode()


# ----------------------------------------------------------------------------
# listeners: clients and protocol errors
# ----------------------------------------------------------------------------

def clients(proxy: Any, listener: str) -> float:
    return proxy.metrics().value("metacluster_clients", listener=listener)


def test_clients_gauge_counts_open_connections(dual_clusters):
    d = dual_clusters(config_extra=NO_VERIFY, workers=2)
    base = {"redis": clients(d.proxy, "redis"), "memcached": clients(d.proxy, "memcached")}
    rconns = [RawConn(d.proxy.port) for _ in range(3)]
    mconns = [d.mc_client() for _ in range(4)]
    try:
        for c in rconns:
            assert c.call("PING") == b"PONG"
        for c in mconns:
            assert c.cmd("version").code == b"VERSION"
        wait_until(lambda: clients(d.proxy, "redis") == base["redis"] + 3, PUBLISH_S, "3 more redis clients")
        wait_until(lambda: clients(d.proxy, "memcached") == base["memcached"] + 4, PUBLISH_S, "4 more memcached clients")
        for c in rconns[:2] + mconns[:3]:
            c.close()
        wait_until(lambda: clients(d.proxy, "redis") == base["redis"] + 1, PUBLISH_S, "2 redis clients gone")
        wait_until(lambda: clients(d.proxy, "memcached") == base["memcached"] + 1, PUBLISH_S,
                   "3 memcached clients gone")
    finally:
        for c in rconns + mconns:
            c.close()
    wait_until(lambda: clients(d.proxy, "redis") == base["redis"], PUBLISH_S, "every redis client gone")


def protocol_errors(proxy: Any, listener: str) -> float:
    return proxy.metrics().value("metacluster_protocol_errors_total", default=0.0, listener=listener)


def test_protocol_errors_counted_per_listener(dual_clusters):
    d = dual_clusters(config_extra=NO_VERIFY)
    base = {"redis": protocol_errors(d.proxy, "redis"), "memcached": protocol_errors(d.proxy, "memcached")}

    bad = RawConn(d.proxy.port)
    bad.send(b"*abc\r\n")
    data, closed = bad.read_until_closed(5)
    bad.close()
    assert data.startswith(b"-ERR Protocol error") and closed, (data, closed)
    wait_until(lambda: protocol_errors(d.proxy, "redis") == base["redis"] + 1, PUBLISH_S,
               "metacluster_protocol_errors_total{listener=redis} + 1")
    assert protocol_errors(d.proxy, "memcached") == base["memcached"]

    mc = d.mc_client()
    reply = mc.call(line("get", "k" * 300))  # a key over 250 bytes
    assert reply.code == b"CLIENT_ERROR", reply
    wait_until(lambda: protocol_errors(d.proxy, "memcached") >= base["memcached"] + 1, PUBLISH_S,
               "metacluster_protocol_errors_total{listener=memcached} to grow")
    assert protocol_errors(d.proxy, "redis") == base["redis"] + 1
    # the listeners still serve
    ok = d.redis_client()
    assert ok.call("SET", "after", "1") == b"OK"
    assert mc.set("after", b"1") == b"STORED"
    assert ok.call("GET", "after") == b"1"
