"""Transactions through metacluster (issue #9), end to end against three real redis-servers.

What is shown here, with redis-py 8's default settings (RESP3) and with RESP2:
- MULTI queues in the proxy (+QUEUED), EXEC runs the block on the local cluster as one MULTI/EXEC
  and answers its EXEC reply; the other clusters receive the same block, non-deterministic commands
  as their effect (SPOP, XADD *, relative expiries), so every cluster ends identical;
- a queue-time error (wrong arity, a command Redis does not know) makes EXEC answer EXECABORT and
  nothing runs anywhere; an error inside EXEC leaves the other commands applied everywhere;
- DISCARD drops the queue; misuse (EXEC/DISCARD without MULTI, nested MULTI, WATCH inside MULTI)
  answers Redis's errors;
- WATCH: a block commits when nobody touched the watched key, and is aborted (null EXEC reply,
  redis-py's WatchError, nothing applied on any cluster) when another client changed it through
  the proxy, or directly on the local backend; UNWATCH and DISCARD forget the watches;
- optimistic locking works: 4 threads incrementing one counter with redis-py's transaction() end
  with the exact count on every cluster;
- SELECT 0 is accepted, another database refused (metacluster serves database 0 only).

Every test ends with every backend holding identical data. With METACLUSTER_TARGET=direct the
tests run against one redis-server (checking the expectations against Redis itself), except the
ones marked proxy_only.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import redis

from conftest import Stack, closing_factory, wait_until
from resp import Error, encode_many
from three_clusters import PROTO_IDS, PROTOCOLS, ThreeClusters, call

protocols = pytest.mark.parametrize("protocol", PROTOCOLS, ids=PROTO_IDS)


@pytest.fixture
def three(stack: Stack):
    with closing_factory(lambda **kw: ThreeClusters(stack, **kw)) as make:
        yield make


def null_exec(protocol: Any) -> bytes:
    """The EXEC reply of an aborted (WATCH) transaction: a null array, or RESP3's null."""
    return b"*-1\r\n" if protocol == 2 else b"_\r\n"


# ----------------------------------------------------------------------------
# MULTI / EXEC
# ----------------------------------------------------------------------------

@pytest.mark.covers("MULTI", "EXEC")
@protocols
def test_pipeline_transaction_runs_one_block_everywhere(three, protocol):
    s = three()
    c = s.client(protocol)
    assert c.set("n", "10") is True
    pipe = c.pipeline(transaction=True)
    pipe.incr("n").get("n").set("s", "v").rpush("l", "a", "b", "c").lpop("l")
    pipe.hset("h", mapping={"f": "1", "g": "2"}).hincrby("h", "f", 5).sadd("set", "x", "y")
    pipe.zadd("z", {"m": 2.5, "k": -1}).zincrby("z", 1, "k").delete("n-missing").get("s")
    got = pipe.execute()
    assert got == [11, b"11", True, 3, b"a", 2, 6, 2, 2, 0.0, 0, b"v"], got
    snap = s.assert_identical(c)
    assert snap[b"n"][:2] == (b"string", b"11")
    assert snap[b"l"][:2] == (b"list", [b"b", b"c"])
    assert snap[b"h"][:2] == (b"hash", [(b"f", b"6"), (b"g", b"2")])
    assert snap[b"z"][:2] == (b"zset", [(b"k", 0.0), (b"m", 2.5)])


@pytest.mark.covers("MULTI", "EXEC")
@protocols
def test_raw_multi_queues_until_exec(three, protocol):
    """Each command is answered +QUEUED and runs only at EXEC: another client does not see it
    before; EXEC answers the block's replies as Redis frames them."""
    s = three()
    conn = s.raw(protocol)
    other = s.client(protocol)
    assert call(conn, "MULTI")[0] == b"OK"
    assert conn.call_raw("SET", "q", "1") == b"+QUEUED\r\n"
    assert conn.call_raw("INCR", "counter") == b"+QUEUED\r\n"
    assert conn.call_raw("GET", "q") == b"+QUEUED\r\n"
    assert other.get("q") is None and other.get("counter") is None  # queued, not run
    assert conn.call_raw("EXEC") == b"*3\r\n+OK\r\n:1\r\n$1\r\n1\r\n"
    assert other.get("q") == b"1" and other.get("counter") == b"1"
    # a whole transaction written at once, as a pipelining client sends it
    conn.send(encode_many([("MULTI",), ("RPUSH", "l", "x", "y"), ("LLEN", "l"), ("INCRBY", "counter", 41),
                           ("EXEC",), ("GET", "counter")]))
    assert conn.read_raw(6) == [b"+OK\r\n", b"+QUEUED\r\n", b"+QUEUED\r\n", b"+QUEUED\r\n",
                                b"*3\r\n:2\r\n:2\r\n:42\r\n", b"$2\r\n42\r\n"]
    snap = s.assert_identical(conn, other)
    assert snap[b"l"][:2] == (b"list", [b"x", b"y"]) and snap[b"q"][:2] == (b"string", b"1")


@pytest.mark.covers("MULTI", "EXEC")
@protocols
def test_nondeterministic_commands_in_a_block_replicate_their_effect(three, protocol):
    """SPOP's members, XADD *'s ID and a relative expiry's instant are decided once (on the local
    cluster) and every cluster gets that effect. dc-c is 50 ms away, so a relative expiry applied
    there on arrival would be 50 ms later than dc-a's."""
    s = three(delays={2: 0.05})
    c = s.client(protocol)
    assert c.sadd("s", *[f"m{i}" for i in range(40)]) == 40
    assert c.set("e", "v") is True
    pipe = c.pipeline(transaction=True)
    pipe.spop("s").spop("s", 5).xadd("x", {"f": "1"}).xadd("x", {"f": "2"})
    pipe.expire("e", 100).set("px", "v", px=200_000).pexpire("s", 300_000).scard("s")
    one, five, id1, id2, expired, was_set, pexpired, left = pipe.execute()
    popped = {one, *five}
    assert len(popped) == 6 and left == 34 and expired is True and was_set is True and pexpired is True
    snap = s.assert_identical(c)
    assert not popped & set(snap[b"s"][1]), "popped members are still in the set"
    assert [i for i, _ in snap[b"x"][1]["entries"]] == [id1, id2]
    assert snap[b"e"][2] > 0 and snap[b"px"][2] > 0 and snap[b"s"][2] > 0


@pytest.mark.covers("MULTI", "EXEC")
@pytest.mark.parametrize("bad", [("SET", "only-a-key"), ("NOSUCHCOMMAND", "x")], ids=["wrong-arity", "unknown"])
@protocols
def test_queue_time_error_aborts_exec_everywhere(three, protocol, bad):
    s = three()
    conn = s.raw(protocol)
    assert call(conn, "MULTI")[0] == b"OK"
    assert call(conn, "SET", "before", "1")[0] == b"QUEUED"
    reply = call(conn, *bad)[0]
    # Redis rejects the command at once; metacluster may queue a command it cannot judge (an
    # unknown command is queued like a write) and learn of the error from Redis at EXEC.
    if isinstance(reply, Error):
        assert b"wrong number of arguments" in reply.message or b"unknown command" in reply.message, reply
    else:
        assert reply == b"QUEUED", reply
    assert call(conn, "RPUSH", "after", "1")[0] == b"QUEUED"
    aborted = call(conn, "EXEC")[0]
    assert isinstance(aborted, Error) and aborted.message.startswith(b"EXECABORT"), aborted
    assert call(conn, "SET", "outside", "1")[0] == b"OK"  # no longer in MULTI
    snap = s.assert_identical(conn)
    assert set(snap) == {b"outside"}, f"the aborted block ran: {sorted(snap)}"


@pytest.mark.covers("MULTI", "EXEC")
@protocols
def test_error_inside_exec_keeps_the_other_commands(three, protocol):
    s = three()
    conn = s.raw(protocol)
    c = s.client(protocol)
    assert call(conn, "SET", "text", "not a number")[0] == b"OK"
    conn.send(encode_many([("MULTI",), ("SET", "a", "1"), ("INCR", "text"), ("RPUSH", "l", "x"), ("EXEC",)]))
    assert conn.read_raw(5) == [b"+OK\r\n", b"+QUEUED\r\n", b"+QUEUED\r\n", b"+QUEUED\r\n",
                                b"*3\r\n+OK\r\n-ERR value is not an integer or out of range\r\n:1\r\n"]
    # the same through redis-py, which hands the error back in place
    pipe = c.pipeline(transaction=True)
    pipe.incr("a").lpush("text", "x").rpush("l", "y")
    got = pipe.execute(raise_on_error=False)
    assert got[0] == 2 and isinstance(got[1], redis.ResponseError) and "WRONGTYPE" in str(got[1]) and got[2] == 2
    snap = s.assert_identical(conn, c)
    assert snap[b"a"][1] == b"2" and snap[b"l"][1] == [b"x", b"y"] and snap[b"text"][1] == b"not a number"


@pytest.mark.covers("MULTI", "DISCARD")
@protocols
def test_discard_drops_the_queue(three, protocol):
    s = three()
    conn = s.raw(protocol)
    c = s.client(protocol)
    assert call(conn, "MULTI")[0] == b"OK"
    assert call(conn, "SET", "dropped", "1")[0] == b"QUEUED"
    assert call(conn, "INCR", "dropped-counter")[0] == b"QUEUED"
    assert conn.call_raw("DISCARD") == b"+OK\r\n"
    assert call(conn, "SET", "kept", "1")[0] == b"OK"  # runs at once again
    pipe = c.pipeline(transaction=True)
    pipe.set("also-dropped", "1")
    pipe.reset()  # redis-py never sends a block it was told to forget
    assert c.set("kept-too", "1") is True
    snap = s.assert_identical(conn, c)
    assert set(snap) == {b"kept", b"kept-too"}, sorted(snap)


@pytest.mark.covers("MULTI", "EXEC", "DISCARD", "WATCH")
@protocols
def test_transaction_misuse_answers_redis_errors(three, protocol):
    s = three()
    conn = s.raw(protocol)

    def error(*args: Any) -> bytes:
        reply = call(conn, *args)[0]
        assert isinstance(reply, Error), f"{args} answered {reply!r}"
        return reply.message

    assert b"EXEC without MULTI" in error("EXEC")
    assert b"DISCARD without MULTI" in error("DISCARD")
    assert call(conn, "MULTI")[0] == b"OK"
    assert call(conn, "SET", "k", "1")[0] == b"QUEUED"
    assert b"MULTI calls can not be nested" in error("MULTI")
    assert b"WATCH inside MULTI is not allowed" in error("WATCH", "k")
    assert conn.call_raw("EXEC") == b"*1\r\n+OK\r\n"  # neither error spoiled the block
    snap = s.assert_identical(conn)
    assert snap[b"k"][1] == b"1"


# ----------------------------------------------------------------------------
# WATCH / UNWATCH
# ----------------------------------------------------------------------------

@pytest.mark.covers("WATCH", "MULTI", "EXEC")
@protocols
def test_watch_commits_when_nobody_touched_the_key(three, protocol):
    s = three()
    conn = s.raw(protocol)
    c = s.client(protocol)
    assert c.set("k", "v0") is True
    assert conn.call_raw("WATCH", "k") == b"+OK\r\n"
    assert call(conn, "GET", "k")[0] == b"v0"
    assert call(conn, "MULTI")[0] == b"OK"
    assert call(conn, "SET", "k", "v1")[0] == b"QUEUED"
    assert conn.call_raw("EXEC") == b"*1\r\n+OK\r\n"

    # redis-py's transaction() helper: WATCH, read, MULTI, write, EXEC
    def append(pipe: Any) -> None:
        value = pipe.get("k")
        pipe.multi()
        pipe.set("k", value + b"+v2")

    assert c.transaction(append, "k") == [True]
    snap = s.assert_identical(conn, c)
    assert snap[b"k"][1] == b"v1+v2"


@pytest.mark.covers("WATCH", "MULTI", "EXEC")
@protocols
def test_watch_aborts_when_another_client_writes_through_the_proxy(three, protocol):
    s = three()
    conn = s.raw(protocol)
    c = s.client(protocol)
    other = s.client(protocol)
    assert other.set("k", "v0") is True
    assert call(conn, "WATCH", "k")[0] == b"OK"
    assert call(conn, "GET", "k")[0] == b"v0"
    assert other.set("k", "theirs") is True
    # the write is on the local cluster (whichever cluster answered it first) before EXEC is sent
    wait_until(lambda: s.local.get("k") == b"theirs", 5, "the other client's write on dc-a")
    assert call(conn, "MULTI")[0] == b"OK"
    assert call(conn, "SET", "k", "mine")[0] == b"QUEUED"
    assert call(conn, "SET", "side-effect", "1")[0] == b"QUEUED"
    assert conn.call_raw("EXEC") == null_exec(protocol)

    # the same with redis-py: WatchError, nothing applied
    with c.pipeline(transaction=True) as pipe:
        pipe.watch("k")
        assert pipe.get("k") == b"theirs"
        assert other.set("k", "theirs-again") is True
        wait_until(lambda: s.local.get("k") == b"theirs-again", 5, "the other client's write on dc-a")
        pipe.multi()
        pipe.set("k", "mine").set("side-effect", "2")
        with pytest.raises(redis.WatchError):
            pipe.execute()
    snap = s.assert_identical(conn, c, other)
    assert snap[b"k"][1] == b"theirs-again" and b"side-effect" not in snap, snap


@pytest.mark.covers("WATCH", "MULTI", "EXEC")
@protocols
def test_watch_aborts_on_a_write_directly_on_the_local_backend(three, protocol):
    s = three()
    conn = s.raw(protocol)
    assert call(conn, "SET", "k", "v0")[0] == b"OK"
    s.settle(conn)
    assert call(conn, "WATCH", "k")[0] == b"OK"
    assert s.local.set("k", "behind the proxy's back") is True
    assert call(conn, "MULTI")[0] == b"OK"
    assert call(conn, "SET", "k", "mine")[0] == b"QUEUED"
    assert call(conn, "SET", "side-effect", "1")[0] == b"QUEUED"
    assert conn.call_raw("EXEC") == null_exec(protocol)
    s.settle(conn)
    for d, name in zip(s.directs, s.names):
        assert d.exists("side-effect") == 0, f"the aborted block ran on {name}"
        assert d.get("k") in (b"v0", b"behind the proxy's back"), f"the aborted block ran on {name}"
    # make the clusters agree again (the direct write reached dc-a only)
    assert call(conn, "SET", "k", "final")[0] == b"OK"
    snap = s.assert_identical(conn)
    assert snap[b"k"][1] == b"final"


@pytest.mark.covers("WATCH", "UNWATCH", "MULTI", "EXEC", "DISCARD")
@protocols
def test_unwatch_and_discard_forget_the_watches(three, protocol):
    s = three()
    conn = s.raw(protocol)
    other = s.client(protocol)
    for n, forget in enumerate([("UNWATCH",), ("MULTI",)]):
        assert call(conn, "WATCH", "k")[0] == b"OK"
        assert call(conn, *forget)[0] == b"OK"
        if forget == ("MULTI",):
            assert conn.call_raw("DISCARD") == b"+OK\r\n"
        assert other.set("k", f"theirs-{n}") is True
        wait_until(lambda n=n: s.local.get("k") == f"theirs-{n}".encode(), 5, "the other client's write on dc-a")
        assert call(conn, "MULTI")[0] == b"OK"
        assert call(conn, "SET", "k", f"mine-{n}")[0] == b"QUEUED"
        assert conn.call_raw("EXEC") == b"*1\r\n+OK\r\n", f"after {forget[0]} the watch still held"
    assert conn.call_raw("UNWATCH") == b"+OK\r\n"  # without a WATCH, too
    snap = s.assert_identical(conn, other)
    assert snap[b"k"][1] == b"mine-1"


@pytest.mark.covers("WATCH", "MULTI", "EXEC")
@protocols
def test_optimistic_counter_from_four_threads_is_exact_everywhere(three, protocol):
    threads_n, rounds = 4, 25
    s = three()
    clients = [s.client(protocol) for _ in range(threads_n)]
    errors: list[BaseException] = []
    attempts = [0] * threads_n

    def work(t: int) -> None:
        def incr(pipe: Any) -> None:
            attempts[t] += 1
            value = int(pipe.get("counter") or 0)
            pipe.multi()
            pipe.set("counter", value + 1)

        try:
            for _ in range(rounds):
                clients[t].transaction(incr, "counter")
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads_n)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert not any(w.is_alive() for w in workers), "a worker hung"
    assert not errors, [f"{type(e).__name__}: {e}" for e in errors]
    snap = s.assert_identical(*clients)
    # a lost update would leave fewer; the retries (WatchError) are how there are none
    assert snap[b"counter"][1] == str(threads_n * rounds).encode(), (snap[b"counter"], f"attempts {attempts}")


# ----------------------------------------------------------------------------
# connection state
# ----------------------------------------------------------------------------

@pytest.mark.covers("SELECT")
@protocols
def test_select_0_is_accepted(three, protocol):
    s = three()
    conn = s.raw(protocol)
    assert conn.call_raw("SELECT", "0") == b"+OK\r\n"
    assert call(conn, "SET", "k", "v")[0] == b"OK"
    assert call(conn, "GET", "k")[0] == b"v"
    snap = s.assert_identical(conn)
    assert snap[b"k"][1] == b"v"


@pytest.mark.proxy_only
@pytest.mark.covers("SELECT")
@protocols
def test_select_another_database_is_refused(three, protocol):
    s = three()
    conn = s.raw(protocol)
    reply = call(conn, "SELECT", "1")[0]
    assert isinstance(reply, Error) and b"database 0" in reply.message, reply
    assert call(conn, "SET", "k", "v")[0] == b"OK"  # still database 0
    s.settle(conn)
    assert all(d.get("k") == b"v" for d in s.directs)
    s.assert_identical(conn)
