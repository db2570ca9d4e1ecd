"""Blocking commands through metacluster (issue #9), end to end against three real redis-servers.

A blocked client holds a connection of its own to the local cluster, so the shared pipelined
connections keep serving everyone else; what the blocking command removes or moves is then
replicated to the other clusters as its effect, so every cluster ends identical.

What is shown here, with redis-py 8's default settings (RESP3) and with RESP2:
- BLPOP (timeout 0 and 5) woken by a push from another client, through the same proxy or through
  proxy B (dc-b local, same servers): the element is returned and removed on every cluster;
- BLPOP with nothing to pop answers null after its timeout (Redis's timeout semantics, also when
  the block outlasts the proxy's requestMs), while other clients' traffic keeps flowing;
- BRPOP, BRPOPLPUSH, BLMOVE, BLMPOP (COUNT 2), BZPOPMIN, BZPOPMAX, BZMPOP woken by a write;
  XREAD BLOCK and XREADGROUP BLOCK woken by XADD (the group's pending entry is on every cluster);
- WAIT 0 0 answers an integer (WAITAOF too, where the servers know it);
- a client that disconnects while blocked leaves no ghost to eat a later push;
- with the local cluster down, a blocking command falls back to another cluster or answers an
  error: it never hangs past its timeout.

"Blocked" is observed on the local backend itself (CLIENT LIST: flag b, the command's name), so a
wake-up is only sent once the block is in place and no test sleeps to guess it.

Every test ends with every backend holding identical data. With METACLUSTER_TARGET=direct the
tests run against one redis-server, except the ones marked proxy_only.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

import pytest
import redis

from conftest import Stack, closing_factory, outcome, wait_until
from resp import encode
from three_clusters import PROTO_IDS, PROTOCOLS, ThreeClusters

protocols = pytest.mark.parametrize("protocol", PROTOCOLS, ids=PROTO_IDS)


@pytest.fixture
def three(stack: Stack):
    with closing_factory(lambda **kw: ThreeClusters(stack, **kw)) as make:
        yield make


@pytest.fixture
def background():
    """background(fn) runs fn on a thread of its own and returns its Future."""
    pool = ThreadPoolExecutor(max_workers=4)
    yield lambda fn: pool.submit(fn)
    pool.shutdown(wait=False, cancel_futures=True)


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------

def blocked(d: redis.Redis, command: str) -> int:
    """How many of a server's clients are blocked in `command` (CLIENT LIST: flag b)."""
    return sum(1 for c in d.client_list() if "b" in c["flags"] and c["cmd"] == command)


def wait_blocked(s: ThreeClusters, command: str, *pending: Future, n: int = 1, timeout: float = 5.0) -> None:
    """Waits until `n` clients are blocked in `command` on the local cluster's server; a `pending`
    blocking call that answered meanwhile (a refusal, a wrong wake-up) fails the test at once."""
    def done() -> Any:
        return any(f.done() for f in pending) or blocked(s.local, command) >= n

    wait_until(done, timeout, f"{n} client(s) blocked in {command.upper()} on {s.names[0]}'s redis-server")
    for f in pending:
        assert not f.done(), f"the blocking {command.upper()} answered at once: {outcome(f.result)!r}"


def zpairs(pairs: Any) -> list[tuple[bytes, float]]:
    return [(m, float(score)) for m, score in pairs]


def stream_reply(reply: Any, key: bytes) -> list:
    """The entries for `key` of an XREAD/XREADGROUP reply (RESP2 list of [key, entries], or a map)."""
    if isinstance(reply, dict):
        entries = reply[key]
        return entries[0] if entries and isinstance(entries[0], list) else entries
    return dict((k, v) for k, v in reply)[key]


def woken(s: ThreeClusters, protocol: Any, background: Callable, command: str,
          blocking: Callable[[redis.Redis], Any], wake: Callable[[redis.Redis], Any]) -> tuple[Any, dict]:
    """Runs `blocking` on a client of proxy A until it blocks on dc-a, wakes it with `wake` on
    another client, and returns (the blocking command's result, the identical backends' snapshot)."""
    c = s.client(protocol)
    waker = s.client(protocol)
    future: Future = background(lambda: blocking(c))
    wait_blocked(s, command, future)
    wake(waker)
    result = future.result(timeout=5)
    return result, s.assert_identical(c, waker)


# ----------------------------------------------------------------------------
# BLPOP
# ----------------------------------------------------------------------------

@pytest.mark.covers("BLPOP")
@pytest.mark.parametrize("timeout,via", [(0, "a"), (5, "b")], ids=["timeout-0-same-proxy", "timeout-5-proxy-b"])
@protocols
def test_blpop_woken_by_a_push(three, background, protocol, timeout, via):
    s = three()
    c = s.client(protocol)
    pusher = s.client(protocol, via=via)
    future = background(lambda: c.blpop(["other", "q"], timeout=timeout))
    wait_blocked(s, "blpop", future)
    assert pusher.lpush("q", "job") == 1
    assert tuple(future.result(timeout=5)) == (b"q", b"job")
    snap = s.assert_identical(c, pusher)
    assert b"q" not in snap, f"the popped element is still there: {snap.get(b'q')}"


@pytest.mark.covers("BLPOP")
@protocols
def test_blpop_times_out_while_other_clients_are_served(three, background, protocol):
    s = three()
    c = s.client(protocol)
    other = s.client(protocol)
    start = time.monotonic()
    future = background(lambda: c.blpop(["empty"], timeout=1))
    wait_blocked(s, "blpop", future)
    for i in range(20):
        t0 = time.monotonic()
        assert other.set(f"k{i}", i) is True and other.get(f"k{i}") == str(i).encode()
        assert time.monotonic() - t0 < 0.5, "another client waited behind the blocked one"
    assert not future.done(), f"BLPOP answered {future.result()!r} before its timeout"
    assert future.result(timeout=5) is None
    elapsed = time.monotonic() - start
    # Redis's timeout semantics, not speed: null after about a second
    assert 0.9 <= elapsed <= 3.0, f"BLPOP 1 answered after {elapsed:.2f} s"
    snap = s.assert_identical(c, other)
    assert len(snap) == 20


@pytest.mark.covers("BLPOP")
@protocols
def test_blocks_outlast_the_request_timeout(three, background, protocol):
    """The proxy's requestMs (1000 here) bounds replies from a backend, not a blocked client's
    wait: BLPOP 2 answers null after 2 s, and BLPOP 0 woken after 1.3 s gets its element."""
    s = three()
    assert s.timeouts["requestMs"] == 1000
    c, forever, pusher = s.client(protocol), s.client(protocol), s.client(protocol)
    start = time.monotonic()
    two = background(lambda: c.blpop(["nothing"], timeout=2))
    zero = background(lambda: forever.blpop(["later"], timeout=0))
    wait_blocked(s, "blpop", two, zero, n=2)
    time.sleep(max(0.0, start + 1.3 - time.monotonic()))  # past requestMs on purpose
    assert not zero.done(), zero.result()
    assert pusher.rpush("later", "x") == 1
    assert tuple(zero.result(timeout=5)) == (b"later", b"x")
    assert two.result(timeout=5) is None
    elapsed = time.monotonic() - start
    assert 1.9 <= elapsed <= 4.0, f"BLPOP 2 answered after {elapsed:.2f} s"
    snap = s.assert_identical(c, forever, pusher)
    assert b"later" not in snap


# ----------------------------------------------------------------------------
# the other blocking pops and moves
# ----------------------------------------------------------------------------

@pytest.mark.covers("BRPOP")
@protocols
def test_brpop_woken_by_a_push(three, background, protocol):
    result, snap = woken(three(), protocol, background, "brpop",
                         lambda c: c.brpop(["l1", "l2"], timeout=0),
                         lambda w: w.rpush("l2", "a", "b"))
    assert tuple(result) == (b"l2", b"b")
    assert snap[b"l2"][1] == [b"a"]


@pytest.mark.covers("BRPOPLPUSH")
@protocols
def test_brpoplpush_woken_by_a_push(three, background, protocol):
    result, snap = woken(three(), protocol, background, "brpoplpush",
                         lambda c: c.brpoplpush("src", "dst", timeout=0),
                         lambda w: w.rpush("src", "x", "y"))
    assert result == b"y"
    assert snap[b"src"][1] == [b"x"] and snap[b"dst"][1] == [b"y"]


@pytest.mark.covers("BLMOVE")
@protocols
def test_blmove_woken_by_a_push(three, background, protocol):
    result, snap = woken(three(), protocol, background, "blmove",
                         lambda c: c.execute_command("BLMOVE", "src", "dst", "LEFT", "RIGHT", 0),
                         lambda w: w.rpush("src", "x", "y"))
    assert result == b"x"
    assert snap[b"src"][1] == [b"y"] and snap[b"dst"][1] == [b"x"]


@pytest.mark.covers("BLMPOP")
@protocols
def test_blmpop_count_2_woken_by_a_push(three, background, protocol):
    result, snap = woken(three(), protocol, background, "blmpop",
                         lambda c: c.execute_command("BLMPOP", 0, 2, "l1", "l2", "LEFT", "COUNT", 2),
                         lambda w: w.rpush("l2", "a", "b", "c"))
    assert list(result) == [b"l2", [b"a", b"b"]]
    assert snap[b"l2"][1] == [b"c"] and b"l1" not in snap


@pytest.mark.covers("BZPOPMIN")
@protocols
def test_bzpopmin_woken_by_zadd(three, background, protocol):
    result, snap = woken(three(), protocol, background, "bzpopmin",
                         lambda c: c.bzpopmin(["z"], timeout=0),
                         lambda w: w.zadd("z", {"c": 3, "a": 1, "b": 2}))
    assert (result[0], result[1], float(result[2])) == (b"z", b"a", 1.0)
    assert snap[b"z"][1] == [(b"b", 2.0), (b"c", 3.0)]


@pytest.mark.covers("BZPOPMAX")
@protocols
def test_bzpopmax_woken_by_zadd(three, background, protocol):
    result, snap = woken(three(), protocol, background, "bzpopmax",
                         lambda c: c.bzpopmax(["z"], timeout=0),
                         lambda w: w.zadd("z", {"c": 3, "a": 1, "b": 2}))
    assert (result[0], result[1], float(result[2])) == (b"z", b"c", 3.0)
    assert snap[b"z"][1] == [(b"a", 1.0), (b"b", 2.0)]


@pytest.mark.covers("BZMPOP")
@protocols
def test_bzmpop_woken_by_zadd(three, background, protocol):
    result, snap = woken(three(), protocol, background, "bzmpop",
                         lambda c: c.execute_command("BZMPOP", 0, 1, "z", "MIN", "COUNT", 2),
                         lambda w: w.zadd("z", {"c": 3, "a": 1, "b": 2}))
    assert result[0] == b"z" and zpairs(result[1]) == [(b"a", 1.0), (b"b", 2.0)]
    assert snap[b"z"][1] == [(b"c", 3.0)]


# ----------------------------------------------------------------------------
# streams
# ----------------------------------------------------------------------------

@pytest.mark.covers("XREAD BLOCK")
@protocols
def test_xread_block_woken_by_xadd(three, background, protocol):
    added: list[bytes] = []
    result, snap = woken(three(), protocol, background, "xread",
                         lambda c: c.xread({"s": "$"}, block=5000),
                         lambda w: added.append(w.xadd("s", {"f": "v"})))
    assert stream_reply(result, b"s") == [(added[0], {b"f": b"v"})]
    assert [i for i, _ in snap[b"s"][1]["entries"]] == added


@pytest.mark.covers("XREADGROUP BLOCK")
@protocols
def test_xreadgroup_block_woken_by_xadd_leaves_the_same_pending_entry_everywhere(three, background, protocol):
    s = three()
    c = s.client(protocol)
    waker = s.client(protocol)
    assert waker.xgroup_create("s", "g", "$", mkstream=True) is True
    s.settle(waker)  # the group exists on every cluster before a consumer reads from it
    future = background(lambda: c.xreadgroup("g", "alice", {"s": ">"}, block=5000))
    wait_blocked(s, "xreadgroup", future)
    # An explicit ID: XADD * is decided by the local cluster and reaches the others only after its
    # reply, so the XCLAIM that replicates the delivery could get there first and find no entry
    # (a documented race of blocking commands woken by a decided write; see redis-commands.md).
    entry_id = waker.xadd("s", {"f": "v"}, id="1700000000000-1")
    assert entry_id == b"1700000000000-1"
    assert stream_reply(future.result(timeout=5), b"s") == [(entry_id, {b"f": b"v"})]
    s.settle(c, waker)
    for d, name in zip(s.directs, s.names):
        summary = d.xpending("s", "g")
        assert summary == {"pending": 1, "min": entry_id, "max": entry_id,
                           "consumers": [{"name": b"alice", "pending": 1}]}, f"{name}: {summary}"
        entries = [(p["message_id"], p["consumer"], p["times_delivered"])
                   for p in d.xpending_range("s", "g", "-", "+", 10)]
        assert entries == [(entry_id, b"alice", 1)], f"{name}: {entries}"
    snap = s.assert_identical(c, waker)
    assert snap[b"s"][1]["groups"][0]["group"]["last-delivered-id"] == entry_id


# ----------------------------------------------------------------------------
# WAIT
# ----------------------------------------------------------------------------

@pytest.mark.covers("WAIT")
@protocols
def test_wait_answers_an_integer(three, protocol):
    s = three()
    c = s.client(protocol)
    assert c.set("k", "v") is True
    reply = c.execute_command("WAIT", 0, 0)
    assert isinstance(reply, int) and not isinstance(reply, bool) and reply >= 0, reply
    s.assert_identical(c)


@pytest.mark.covers("WAITAOF")
@protocols
def test_waitaof_answers_two_integers(three, protocol):
    s = three()
    try:
        s.local.execute_command("WAITAOF", 0, 0, 0)
    except redis.ResponseError as e:
        if "unknown command" not in str(e):
            raise
        pytest.skip("the backend redis-server has no WAITAOF (Redis 7.2+)")
    c = s.client(protocol)
    assert c.set("k", "v") is True
    reply = c.execute_command("WAITAOF", 0, 0, 0)
    assert isinstance(reply, list) and len(reply) == 2 and all(isinstance(n, int) and n >= 0 for n in reply), reply
    s.assert_identical(c)


# ----------------------------------------------------------------------------
# disconnects and failures
# ----------------------------------------------------------------------------

@pytest.mark.covers("BLPOP")
@protocols
def test_a_client_that_left_while_blocked_leaves_no_ghost(three, protocol):
    s = three()
    conn = s.raw(protocol)
    conn.send(encode("BLPOP", "q", 0))
    wait_blocked(s, "blpop")
    conn.close()
    # once the proxy noticed, nothing is blocked for the departed client on any cluster
    for d, name in zip(s.directs, s.names):
        wait_until(lambda d=d: blocked(d, "blpop") == 0, 5, f"the departed client's BLPOP released on {name}")
    pusher = s.client(protocol)
    assert pusher.rpush("q", "x") == 1
    snap = s.assert_identical(pusher)
    assert snap[b"q"][1] == [b"x"], f"a ghost BLPOP ate the element: {snap.get(b'q')}"


@pytest.mark.proxy_only
@pytest.mark.covers("BLPOP")
@protocols
def test_blocking_with_the_local_cluster_down_falls_back_or_errs(three, protocol):
    """With dc-a gone a blocking command is served by the next cluster of the read plan, or
    answered a clear error; either way promptly (never past its timeout), and never a closed or
    hung connection."""
    s = three()
    c = s.client(protocol, socket_timeout=10)
    # blocking commands work while dc-a is up (so an error below is about the outage)
    assert c.rpush("warm", "w") == 1
    assert tuple(c.blpop(["warm"], timeout=1)) == (b"warm", b"w")
    assert c.rpush("ready", "x") == 1
    s.settle(c)
    s.kill(0)
    remaining = [b"x"]  # what BLPOP ready may still pop
    for key in ("ready", "empty", "ready"):
        start = time.monotonic()
        try:
            result: Any = c.blpop([key], timeout=1)
        except redis.ResponseError as e:
            result = e
        elapsed = time.monotonic() - start
        assert elapsed < 3.0, f"BLPOP {key} 1 took {elapsed:.2f} s with the local cluster down"
        if isinstance(result, redis.ResponseError):
            assert str(result).strip(), "an empty error"
        elif key == "ready" and remaining:
            assert tuple(result) == (b"ready", remaining.pop()), result
        else:
            assert result is None and elapsed >= 0.9, (key, result, elapsed)
    snap = s.assert_identical(c)
    assert snap.get(b"ready", (b"none", []))[1] == remaining, snap
