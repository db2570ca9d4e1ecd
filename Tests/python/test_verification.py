"""Sampled read verification (issue #6), end to end: clusters dc-a (local) and dc-b (and dc-c) of
one redis-server and one memcached each, behind metacluster with `verify.sampleRate`; keys are
changed on dc-b's servers directly, behind the proxy's back, to make the clusters disagree.

What is shown here, for redis and memcached:
- sampleRate 1: every read answered by dc-a is checked against dc-b (verified_reads_total
  {cluster="dc-a", against="dc-b"} grows by the number of reads) and agreeing clusters give no
  mismatch, also for RESP3 replies (doubles, nested arrays) and for the same error reply from both
  (a verification error by the documented rule, never a mismatch);
- reads whose reply differs by design (INFO, TIME, SRANDMEMBER; HGETALL and SMEMBERS, whose order
  is the server's) are no mismatch;
- a key changed on dc-b: one read gives exactly one mismatch, a log line "read verification
  mismatch" with the key and both clusters, verifyMismatches in /status; the client still gets
  dc-a's value; a key missing on dc-b is a mismatch too;
- memcached compares value and flags, not cas: the same value and flags set again on dc-b (a new
  cas) is no mismatch, other flags are;
- sampleRate 0: no verification read at all (dc-b gets no request for reads); the default rate
  (0.01) verifies about 1 read in 100;
- with three clusters the cluster checked against is random among the healthy others;
- verification never delays a reply, and with maxInFlight 1 a burst of pipelined reads is mostly
  skipped (verify_skipped_total), every read either verified or skipped.
"""

from __future__ import annotations

import time
from typing import Any, Optional

import pytest

from conftest import DualClusters, Metrics, kill9, wait_until
from mcproto import line, storage
from resp import Error, encode_many

pytestmark = pytest.mark.proxy_only

PUBLISH_S = 2.0


def verify(rate: float, **more: Any) -> dict:
    return {"verify": {"sampleRate": rate, **more}}


def counter(m: Metrics, name: str, protocol: str, cluster: str = "dc-a", against: str = "dc-b") -> float:
    return m.value(name, default=0.0, protocol=protocol, cluster=cluster, against=against)


def verified(d: DualClusters, protocol: str, cluster: str = "dc-a", against: str = "dc-b") -> float:
    return counter(d.proxy.metrics(), "metacluster_verified_reads_total", protocol, cluster, against)


def mismatches(d: DualClusters, protocol: str, cluster: str = "dc-a", against: str = "dc-b") -> float:
    return counter(d.proxy.metrics(), "metacluster_verify_mismatches_total", protocol, cluster, against)


def errors(d: DualClusters, protocol: str) -> float:
    return d.proxy.metrics().sum("metacluster_verify_errors_total", protocol=protocol)


def skipped(d: DualClusters, protocol: str) -> float:
    return d.proxy.metrics().value("metacluster_verify_skipped_total", default=0.0, protocol=protocol)


def total(m: Metrics, name: str, protocol: str) -> float:
    return m.sum(name, protocol=protocol)


def wait_value(fn: Any, want: float, what: str, timeout: float = PUBLISH_S) -> None:
    last: list = [None]

    def ok() -> bool:
        last[0] = fn()
        return last[0] == want

    try:
        wait_until(ok, timeout, what)
    except AssertionError:
        raise AssertionError(f"{what}: {last[0]} (expected {want})") from None


def status_cluster(d: DualClusters, protocol: str, name: str) -> dict:
    st = d.proxy.status()
    view = next(p for p in st["protocols"] if p["name"] == protocol)
    return next(c for c in view["clusters"] if c["name"] == name)


def mc_get(conn: Any, key: str, cmd: str = "get") -> Optional[tuple[bytes, int]]:
    r = conn.cmd(cmd, key)
    assert r.line == b"END", f"{cmd} {key} answered {r!r}"
    return (r.items[0].value, r.items[0].flags) if r.items else None


# ----------------------------------------------------------------------------
# redis
# ----------------------------------------------------------------------------

def test_redis_reads_verified_and_mismatch_detected(dual_clusters):
    d = dual_clusters(config_extra=verify(1.0))
    c = d.redis_client()
    n = 12
    c.send(encode_many(("SET", f"v:{i}", f"value-{i}") for i in range(n)))
    assert [c.read_reply()[1] for _ in range(n)] == [b"OK"] * n
    assert c.call("RPUSH", "v:list", "a", "b") == 2
    d.settle_redis(c)
    base = verified(d, "redis")
    assert mismatches(d, "redis") == 0

    for i in range(n):
        assert c.call("GET", f"v:{i}") == f"value-{i}".encode()
    assert c.call("GET", "v:missing") is None  # missing on both: agreement
    assert c.call("LRANGE", "v:list", 0, -1) == [b"a", b"b"]
    reads = n + 2
    wait_value(lambda: verified(d, "redis") - base, reads, "verified_reads_total{redis,dc-a,dc-b} growth")
    # the same error reply from both: checked (a verification error by the documented rule, or a
    # verified read), never a mismatch
    errors_before = errors(d, "redis")
    wrong = c.call("GET", "v:list")
    assert isinstance(wrong, Error) and b"WRONGTYPE" in wrong.message
    wait_value(lambda: verified(d, "redis") - base + errors(d, "redis") - errors_before, reads + 1,
               "the WRONGTYPE read checked")
    time.sleep(0.3)
    assert mismatches(d, "redis") == 0, "agreeing clusters gave a mismatch"
    errors_before = errors(d, "redis")
    assert verified(d, "redis", "dc-b", "dc-a") == 0, "dc-b answered no read"

    # dc-b changed behind the proxy's back: one read, one mismatch, the client gets dc-a's value
    mark = d.proxy.log_mark()
    assert d.rdirect[1].set("v:3", "changed-on-dc-b") is True
    assert c.call("GET", "v:3") == b"value-3"
    wait_value(lambda: mismatches(d, "redis"), 1, "verify_mismatches_total{redis,dc-a,dc-b}")
    logged = d.proxy.wait_log("read verification mismatch", "v:3", since=mark, timeout=2)
    assert "dc-a" in logged and "dc-b" in logged, f"the log line names both clusters: {logged}"
    st = status_cluster(d, "redis", "dc-a")
    assert st["verifyMismatches"] == 1 and st["verifiedReads"] >= reads, st
    assert status_cluster(d, "redis", "dc-b")["verifyMismatches"] == 0

    # missing on dc-b only: a mismatch too
    assert d.rdirect[1].delete("v:5") == 1
    assert c.call("GET", "v:5") == b"value-5"
    wait_value(lambda: mismatches(d, "redis"), 2, "verify_mismatches_total after a key missing on dc-b")
    assert mismatches(d, "memcached") == 0
    # the other keys still agree
    for i in (0, 1, 2):
        assert c.call("GET", f"v:{i}") == f"value-{i}".encode()
    time.sleep(0.3)
    assert mismatches(d, "redis") == 2
    assert errors(d, "redis") == errors_before, "reads of string keys failed to verify"


def test_redis_resp3_replies_verified_without_false_mismatches(dual_clusters):
    """The verification read must be compared in the client's protocol: a RESP3 client's maps and
    doubles are no mismatch when both clusters hold the same data."""
    d = dual_clusters(config_extra=verify(1.0))
    c3 = d.redis_py(protocol=3)
    assert c3.hset("h", mapping={"f1": "v1", "f2": "v2", "n": 3}) == 3
    assert c3.zadd("z", {"a": 1.5, "b": 2.25}) == 2
    assert c3.sadd("s", "x") == 1
    d.settle_redis(d.redis_client())
    base = verified(d, "redis")
    # replies in a fixed order (HGETALL and SMEMBERS are not sampled: their order is the server's)
    assert c3.hget("h", "f1") == b"v1"
    assert c3.hmget("h", ["f2", "n", "nope"]) == [b"v2", b"3", None]
    assert c3.zscore("z", "b") == 2.25  # a RESP3 double
    assert [tuple(x) for x in c3.zrange("z", 0, -1, withscores=True)] == [(b"a", 1.5), (b"b", 2.25)]
    assert c3.zmscore("z", ["a", "b", "c"]) == [1.5, 2.25, None]
    assert c3.sismember("s", "x") in (1, True)
    # and some that are not sampled, which must not count as mismatches either
    assert c3.hgetall("h") == {b"f1": b"v1", b"f2": b"v2", b"n": b"3"}
    assert c3.smembers("s") == {b"x"}
    wait_until(lambda: verified(d, "redis") - base >= 6, PUBLISH_S, "the RESP3 reads verified")
    time.sleep(0.3)
    assert mismatches(d, "redis") == 0, "RESP3 replies of identical data counted as mismatches"


def test_reads_whose_answer_differs_by_design_are_no_mismatch(dual_clusters):
    """Beyond the letter of the contract: reads whose reply legitimately differs from one server to
    the next (INFO of another server, TIME, a random member) must not count as mismatches, or
    every INFO would log a warning at sampleRate 1. Whether they are skipped or compared in some
    other way is the proxy's choice; only false mismatches fail here."""
    d = dual_clusters(config_extra=verify(1.0))
    c = d.redis_client()
    assert c.call("SADD", "s", *[f"m{i}" for i in range(50)]) == 50
    d.settle_redis(c)
    mark = d.proxy.log_mark()
    for _ in range(5):
        assert isinstance(c.call("INFO", "server"), bytes)
        assert isinstance(c.call("INFO"), bytes)
        assert isinstance(c.call("TIME"), list)
        assert isinstance(c.call("SRANDMEMBER", "s"), bytes)
        time.sleep(0.01)
    time.sleep(0.5)
    assert mismatches(d, "redis") == 0, (
        "INFO / TIME / SRANDMEMBER replies counted as mismatches:\n" + d.proxy.log_since(mark)[-3000:])


# ----------------------------------------------------------------------------
# memcached
# ----------------------------------------------------------------------------

def test_memcached_value_and_flags_compared_not_cas(dual_clusters):
    d = dual_clusters(config_extra=verify(1.0))
    c = d.mc_client()
    n = 8
    c.send(b"".join(storage("set", f"m:{i}", f"value-{i}".encode(), flags=5) for i in range(n)))
    assert [c.read_reply().line for _ in range(n)] == [b"STORED"] * n
    d.settle_mc(c)
    base = verified(d, "memcached")

    for i in range(n):
        assert mc_get(c, f"m:{i}", "gets" if i % 2 else "get") == (f"value-{i}".encode(), 5)
    assert mc_get(c, "m:missing") is None
    wait_value(lambda: verified(d, "memcached") - base, n + 1, "verified_reads_total{memcached,dc-a,dc-b} growth")
    time.sleep(0.3)
    assert mismatches(d, "memcached") == 0

    # the same value and flags again on dc-b: a new cas there, no mismatch
    cas_before = d.mdirect[1].get_item("m:1").cas
    assert d.mdirect[1].set("m:1", b"value-1", flags=5) == b"STORED"
    assert d.mdirect[1].get_item("m:1").cas != cas_before
    got = c.cmd("gets", "m:1")
    assert got.items and (got.items[0].value, got.items[0].flags) == (b"value-1", 5)
    wait_value(lambda: verified(d, "memcached") - base, n + 2, "the gets after a cas change verified")
    time.sleep(0.3)
    assert mismatches(d, "memcached") == 0, "a different cas alone counted as a mismatch"

    # other flags on dc-b: a mismatch; the client gets dc-a's item
    mark = d.proxy.log_mark()
    assert d.mdirect[1].set("m:2", b"value-2", flags=7) == b"STORED"
    assert mc_get(c, "m:2") == (b"value-2", 5)
    wait_value(lambda: mismatches(d, "memcached"), 1, "verify_mismatches_total{memcached,dc-a,dc-b} after other flags")
    logged = d.proxy.wait_log("read verification mismatch", "m:2", since=mark, timeout=2)
    assert "dc-a" in logged and "dc-b" in logged, logged
    assert status_cluster(d, "memcached", "dc-a")["verifyMismatches"] == 1

    # another value on dc-b: a mismatch
    assert d.mdirect[1].set("m:3", b"other", flags=5) == b"STORED"
    assert mc_get(c, "m:3", "gets") == (b"value-3", 5)
    wait_value(lambda: mismatches(d, "memcached"), 2, "verify_mismatches_total after another value")
    assert mismatches(d, "redis") == 0
    assert d.proxy.metrics().sum("metacluster_verify_errors_total") == 0


# ----------------------------------------------------------------------------
# the sample rate
# ----------------------------------------------------------------------------

def test_sample_rate_zero_verifies_nothing(dual_clusters):
    d = dual_clusters(config_extra=verify(0.0))
    r, m = d.redis_client(), d.mc_client()
    assert r.call("SET", "k", "v") == b"OK"
    assert m.set("k", b"v") == b"STORED"
    d.settle_redis(r)
    d.settle_mc(m)
    assert d.rdirect[1].set("k", "different") is True  # would be a mismatch if checked
    assert d.mdirect[1].set("k", b"different") == b"STORED"
    time.sleep(0.3)
    before = d.proxy.metrics()
    r.send(encode_many(("GET", "k") for _ in range(200)))
    assert [r.read_reply()[1] for _ in range(200)] == [b"v"] * 200
    m.send(line("get", "k") * 200)
    assert [m.read_reply().items[0].value for _ in range(200)] == [b"v"] * 200
    time.sleep(0.5)
    after = d.proxy.metrics()
    for p in ("redis", "memcached"):
        assert total(after, "metacluster_verified_reads_total", p) == 0
        assert total(after, "metacluster_verify_mismatches_total", p) == 0
        assert total(after, "metacluster_verify_skipped_total", p) == 0
        grew = (after.value("metacluster_requests_total", protocol=p, cluster="dc-b")
                - before.value("metacluster_requests_total", protocol=p, cluster="dc-b"))
        assert grew == 0, f"{p}: dc-b got {grew} requests for reads with sampleRate 0"


def test_default_sample_rate_verifies_about_one_read_in_a_hundred(dual_clusters):
    d = dual_clusters(start=False)
    d.proxy.config.pop("verify", None)  # the harness writes sampleRate 0 unless told: no key at all here
    d.proxy.start()
    r = d.redis_client()
    assert r.call("SET", "k", "v") == b"OK"
    d.settle_redis(r)
    reads = 2000
    for _ in range(reads // 500):
        r.send(encode_many(("GET", "k") for _ in range(500)))
        assert [r.read_reply()[1] for _ in range(500)] == [b"v"] * 500
    time.sleep(0.5)
    m = d.proxy.metrics()
    n = total(m, "metacluster_verified_reads_total", "redis") + total(m, "metacluster_verify_skipped_total", "redis")
    # binomial(2000, 0.01): mean 20, P(n = 0) ~ 2e-9, P(n > 60) negligible
    assert 1 <= n <= 60, f"{n} of {reads} reads sampled for verification at the default rate 0.01"
    assert total(m, "metacluster_verify_mismatches_total", "redis") == 0


def test_verification_picks_a_random_healthy_other_cluster(dual_clusters):
    d = dual_clusters(n=3, config_extra=verify(1.0, maxInFlight=1000))  # none skipped
    r = d.redis_client()
    assert r.call("SET", "k", "v") == b"OK"
    d.settle_redis(r)
    reads = 120
    r.send(encode_many(("GET", "k") for _ in range(reads)))
    assert [r.read_reply()[1] for _ in range(reads)] == [b"v"] * reads

    def split() -> Any:
        m = d.proxy.metrics()
        b = counter(m, "metacluster_verified_reads_total", "redis", "dc-a", "dc-b")
        c = counter(m, "metacluster_verified_reads_total", "redis", "dc-a", "dc-c")
        return (b, c) if b + c == reads else None

    b, c = wait_until(split, PUBLISH_S, f"{reads} verified reads against dc-b and dc-c")
    assert b >= 20 and c >= 20, f"against dc-b {b}, dc-c {c}: not a random choice"
    assert counter(d.proxy.metrics(), "metacluster_verified_reads_total", "redis", "dc-a", "dc-a") == 0

    # dc-c down: only dc-b is checked against
    kill9(d.redis_servers[2])
    wait_until(lambda: d.proxy.metrics().value("metacluster_cluster_up", protocol="redis", cluster="dc-c") == 0,
               5, "dc-c down")
    time.sleep(0.3)
    before = d.proxy.metrics()
    r.send(encode_many(("GET", "k") for _ in range(60)))
    assert [r.read_reply()[1] for _ in range(60)] == [b"v"] * 60
    wait_value(lambda: verified(d, "redis", "dc-a", "dc-b")
               - counter(before, "metacluster_verified_reads_total", "redis", "dc-a", "dc-b"), 60,
               "60 more reads verified against dc-b")
    m = d.proxy.metrics()
    assert (counter(m, "metacluster_verified_reads_total", "redis", "dc-a", "dc-c")
            == counter(before, "metacluster_verified_reads_total", "redis", "dc-a", "dc-c")), "checked against a down cluster"
    assert total(m, "metacluster_verify_errors_total", "redis") == total(before, "metacluster_verify_errors_total", "redis")


# ----------------------------------------------------------------------------
# cost: no delay for the client, bounded work
# ----------------------------------------------------------------------------

def test_verification_does_not_delay_replies(dual_clusters):
    d = dual_clusters(config_extra=verify(1.0), relays={1: 0.2})  # dc-b 0.2 s away each way
    r, m = d.redis_client(), d.mc_client()
    assert r.call("SET", "k", "v") == b"OK"
    assert m.set("k", b"v") == b"STORED"
    d.settle_redis(r)
    d.settle_mc(m)
    base = {p: verified(d, p) for p in ("redis", "memcached")}
    slowest = 0.0
    for _ in range(10):
        t0 = time.monotonic()
        assert r.call("GET", "k") == b"v"
        assert m.get("k") == b"v"
        slowest = max(slowest, time.monotonic() - t0)
    assert slowest < 0.15, f"a read took {slowest * 1000:.0f} ms: the client waited for the verification"
    for p in ("redis", "memcached"):
        wait_until(lambda p=p: verified(d, p) - base[p] + skipped(d, p) >= 10, 5, f"{p} reads verified or skipped")
    assert d.proxy.metrics().sum("metacluster_verify_mismatches_total") == 0


@pytest.mark.parametrize("protocol", ["redis", "memcached"])
def test_max_in_flight_skips_verifications(dual_clusters, protocol):
    d = dual_clusters(config_extra=verify(1.0, maxInFlight=1), relays={1: 0.05})
    reads = 300
    if protocol == "redis":
        c = d.redis_client()
        assert c.call("SET", "k", "v") == b"OK"
        d.settle_redis(c)
        c.send(encode_many(("GET", "k") for _ in range(reads)))
        assert [c.read_reply()[1] for _ in range(reads)] == [b"v"] * reads
    else:
        c = d.mc_client()
        assert c.set("k", b"v") == b"STORED"
        d.settle_mc(c)
        c.send(line("get", "k") * reads)
        assert [c.read_reply().items[0].value for _ in range(reads)] == [b"v"] * reads

    def accounted() -> Any:
        m = d.proxy.metrics()
        v = total(m, "metacluster_verified_reads_total", protocol)
        e = total(m, "metacluster_verify_errors_total", protocol)
        s = m.value("metacluster_verify_skipped_total", default=0.0, protocol=protocol)
        return (v, e, s) if v + e + s == reads else None

    try:
        v, e, s = wait_until(accounted, 5, f"all {reads} sampled reads verified or skipped")
    except AssertionError:
        m = d.proxy.metrics()
        raise AssertionError(
            f"verified {total(m, 'metacluster_verified_reads_total', protocol)}, errors "
            f"{total(m, 'metacluster_verify_errors_total', protocol)}, skipped "
            f"{m.value('metacluster_verify_skipped_total', default=0.0, protocol=protocol)}: not {reads} in all") from None
    assert s >= reads / 2, f"maxInFlight 1 with dc-b 50 ms away: only {s} of {reads} pipelined reads skipped"
    assert v >= 1 and e == 0, (v, e, s)
    other = "memcached" if protocol == "redis" else "redis"
    assert skipped(d, other) == 0
