"""Pub/sub through metacluster (issue #9), end to end against three real redis-servers.

A subscriber connects to proxy A (dc-a local); the publisher to proxy B, a second metacluster over
the SAME three servers with dc-b local: a client in another datacenter. PUBLISH and SPUBLISH go to
every cluster and a subscription is held on one, so each message arrives exactly once.

What is shown here, with redis-py 8's default settings (RESP3) and with RESP2:
- 50 messages published through B arrive at A's subscriber once each, in order, no duplicates
  (stragglers are waited for); PSUBSCRIBE patterns; SSUBSCRIBE / SPUBLISH;
- the (P|S)UNSUBSCRIBE variants, one channel or all, with Redis's counts and frames, and the
  connection back in normal mode afterwards; redis-py's PubSub object (subscribe, psubscribe,
  ssubscribe, get_message, get_sharded_message, listen, unsubscribe all);
- PING in subscribed mode (RESP2 ['pong', ''], RESP3 +PONG); in RESP2 other commands are refused
  with Redis's error, in RESP3 they work while subscribed and their writes reach every cluster;
- failover: dc-a's redis-server stops under a subscriber; within seconds messages published
  through B reach the subscriber again on the same connection, which was never closed.

Every test ends with every backend holding identical data. With METACLUSTER_TARGET=direct the
tests run against one redis-server (A and B are that server), except the ones marked proxy_only.
"""

from __future__ import annotations

import select
import time
from typing import Any, Callable, Optional

import pytest

from conftest import Stack, closing_factory
from resp import Closed, Push, RawConn, encode
from three_clusters import PROTO_IDS, PROTOCOLS, ThreeClusters, call

protocols = pytest.mark.parametrize("protocol", PROTOCOLS, ids=PROTO_IDS)
GRACE_S = 0.3  # how long duplicates from another cluster are waited for


@pytest.fixture
def three(stack: Stack):
    with closing_factory(lambda **kw: ThreeClusters(stack, **kw)) as make:
        yield make


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------

def next_frame(conn: RawConn, timeout: float) -> Optional[list]:
    """The next pub/sub frame on a raw connection (a RESP2 array or a RESP3 push, as a list), or
    None when nothing arrived within `timeout`. The proxy closing the connection fails the test."""
    try:
        if conn.pos >= len(conn.buf):
            ready, _, _ = select.select([conn.sock], [], [], max(timeout, 0))
            if not ready:
                return None
        value = conn.read_reply()[1]
    except Closed:
        raise AssertionError("the subscriber's connection was closed") from None
    return value.items if isinstance(value, Push) else value


def frames(conn: RawConn, n: int, timeout: float = 5.0) -> list[list]:
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        f = next_frame(conn, deadline - time.monotonic())
        assert f is not None, f"{len(out)} of {n} frames within {timeout}s: {out!r}"
        out.append(f)
    return out


def frames_until(conn: RawConn, done: Callable[[list], bool], timeout: float = 5.0,
                 grace: float = GRACE_S) -> list[list]:
    """Frames until one satisfies `done`, then whatever else arrives within `grace`."""
    out: list[list] = []
    deadline = time.monotonic() + timeout
    while not out or not done(out[-1]):
        f = next_frame(conn, deadline - time.monotonic())
        assert f is not None, f"timed out after {timeout}s; frames so far {out!r:.800}"
        out.append(f)
    while (f := next_frame(conn, grace)) is not None:
        out.append(f)
    return out


def messages(p: Any, done: Callable[[list], bool], timeout: float = 5.0, grace: float = GRACE_S,
             get: Optional[Callable[[float], Any]] = None) -> list[dict]:
    """redis-py PubSub messages until `done(messages)`, then stragglers within `grace`."""
    get = get or (lambda t: p.get_message(timeout=t))
    out: list[dict] = []
    deadline = time.monotonic() + timeout
    while not done(out):
        left = deadline - time.monotonic()
        assert left > 0, f"timed out after {timeout}s; messages so far {out!r:.800}"
        m = get(left)
        if m is not None:
            out.append(m)
    end = time.monotonic() + grace
    while (left := end - time.monotonic()) > 0:
        m = get(left)
        if m is not None:
            out.append(m)
    return out


def msg(kind: str, channel: str, data: Any, pattern: Optional[str] = None) -> dict:
    return {"type": kind, "pattern": None if pattern is None else pattern.encode(), "channel": channel.encode(),
            "data": data.encode() if isinstance(data, str) else data}


# ----------------------------------------------------------------------------
# delivery exactly once
# ----------------------------------------------------------------------------

@pytest.mark.covers("SUBSCRIBE", "PUBLISH", "UNSUBSCRIBE")
@protocols
def test_messages_published_through_another_proxy_arrive_exactly_once(three, protocol):
    s = three()
    pub = s.client(protocol, via="b")
    p = s.client(protocol).pubsub()
    p.subscribe("ch")
    assert messages(p, lambda ms: ms, grace=0) == [msg("subscribe", "ch", 1)]
    sent = [f"m{i}" for i in range(50)]
    for m in sent:
        # the count is one cluster's subscribers: whichever cluster answered first
        assert isinstance(pub.publish("ch", m), int)
    got = messages(p, lambda ms: len(ms) >= len(sent))
    assert got == [msg("message", "ch", m) for m in sent], f"{len(got)} messages for {len(sent)} published"
    p.unsubscribe()
    assert messages(p, lambda ms: ms, grace=0) == [msg("unsubscribe", "ch", 0)]
    assert not p.subscribed
    p.close()
    s.assert_identical(pub)


@pytest.mark.covers("PSUBSCRIBE", "PUNSUBSCRIBE", "SUBSCRIBE", "PUBLISH")
@protocols
def test_pattern_subscriptions(three, protocol):
    s = three()
    pub = s.client(protocol, via="b")
    p = s.client(protocol).pubsub()
    p.psubscribe("news.*")
    assert messages(p, lambda ms: ms, grace=0) == [msg("psubscribe", "news.*", 1)]
    for channel, data in [("news.a", "1"), ("other.x", "2"), ("news.b", "3")]:
        pub.publish(channel, data)
    got = messages(p, lambda ms: len(ms) >= 2)
    assert got == [msg("pmessage", "news.a", "1", "news.*"), msg("pmessage", "news.b", "3", "news.*")]
    p.punsubscribe("news.*")
    assert messages(p, lambda ms: ms, grace=0) == [msg("punsubscribe", "news.*", 0)]
    # a marker channel shows what the pattern still receives: a message for news.c, published
    # before the marker to the same clusters, would arrive before it
    p.subscribe("marker")
    assert messages(p, lambda ms: ms, grace=0) == [msg("subscribe", "marker", 1)]
    pub.publish("news.c", "4")
    pub.publish("marker", "end")
    assert messages(p, lambda ms: ms) == [msg("message", "marker", "end")]
    p.close()
    s.assert_identical(pub)


@pytest.mark.covers("SSUBSCRIBE", "SPUBLISH", "SUNSUBSCRIBE")
@protocols
def test_sharded_subscriptions(three, protocol):
    s = three()
    pub = s.client(protocol, via="b")
    p = s.client(protocol).pubsub()

    def get(t: float) -> Any:
        return p.get_sharded_message(timeout=t)

    p.ssubscribe("shard-ch")
    assert messages(p, lambda ms: ms, grace=0, get=get) == [msg("ssubscribe", "shard-ch", 1)]
    sent = [f"s{i}" for i in range(20)]
    for m in sent:
        assert isinstance(pub.spublish("shard-ch", m), int)
    got = messages(p, lambda ms: len(ms) >= len(sent), get=get)
    assert got == [msg("smessage", "shard-ch", m) for m in sent]
    p.sunsubscribe()
    assert messages(p, lambda ms: ms, grace=0, get=get) == [msg("sunsubscribe", "shard-ch", 0)]
    assert not p.subscribed
    p.close()
    s.assert_identical(pub)


@pytest.mark.covers("SUBSCRIBE", "PSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "PUBLISH")
@protocols
def test_redis_py_listen_and_unsubscribe_all(three, protocol):
    s = three()
    pub = s.client(protocol, via="b")
    p = s.client(protocol).pubsub()
    p.subscribe("a", "b")
    p.psubscribe("p.*")
    stream = p.listen()
    confirmations = [next(stream) for _ in range(3)]
    assert confirmations == [msg("subscribe", "a", 1), msg("subscribe", "b", 2), msg("psubscribe", "p.*", 3)]
    for i in range(5):
        pub.publish("a", f"a{i}")
        pub.publish("p.x", f"p{i}")
    got = [next(stream) for _ in range(10)]
    want = []
    for i in range(5):
        want += [msg("message", "a", f"a{i}"), msg("pmessage", "p.x", f"p{i}", "p.*")]
    assert got == want
    p.unsubscribe()
    p.punsubscribe()
    left = [next(stream) for _ in range(3)]
    assert sorted((m["type"], m["channel"]) for m in left) == [
        ("punsubscribe", b"p.*"), ("unsubscribe", b"a"), ("unsubscribe", b"b")]
    assert [m["data"] for m in left if m["type"] == "unsubscribe"] == [2, 1]
    assert not p.subscribed
    p.close()
    s.assert_identical(pub)


@pytest.mark.covers("SUBSCRIBE", "UNSUBSCRIBE", "PSUBSCRIBE", "PUNSUBSCRIBE", "SSUBSCRIBE", "SUNSUBSCRIBE",
                    "PUBLISH")
@protocols
def test_unsubscribe_variants_frame_as_redis_does(three, protocol):
    s = three()
    pub = s.client(protocol, via="b")
    conn = s.raw(protocol)
    kind = ">" if protocol != 2 else "*"
    null = b"_\r\n" if protocol != 2 else b"$-1\r\n"

    def frame(verb: bytes, channel: Optional[bytes], count: int) -> bytes:
        ch = null if channel is None else b"$%d\r\n%s\r\n" % (len(channel), channel)
        return b"%s3\r\n$%d\r\n%s\r\n%s:%d\r\n" % (kind.encode(), len(verb), verb, ch, count)

    conn.send(encode("SUBSCRIBE", "a", "b", "c"))
    assert conn.read_raw(3) == [frame(b"subscribe", b"a", 1), frame(b"subscribe", b"b", 2),
                                frame(b"subscribe", b"c", 3)]
    assert conn.call_raw("PSUBSCRIBE", "p.*") == frame(b"psubscribe", b"p.*", 4)
    assert conn.call_raw("SSUBSCRIBE", "s1") == frame(b"ssubscribe", b"s1", 1)
    assert conn.call_raw("UNSUBSCRIBE", "a") == frame(b"unsubscribe", b"a", 3)
    # what is still subscribed: a message to "a", published before one to "b", would come first
    pub.publish("a", "gone")
    pub.publish("b", "here")
    assert frames_until(conn, lambda f: True, grace=0) == [[b"message", b"b", b"here"]]
    conn.send(encode("UNSUBSCRIBE"))  # all channels: each confirmed, in Redis's order
    rest = [conn.read_reply()[0] for _ in range(2)]
    assert rest in ([frame(b"unsubscribe", b"b", 2), frame(b"unsubscribe", b"c", 1)],
                    [frame(b"unsubscribe", b"c", 2), frame(b"unsubscribe", b"b", 1)]), rest
    assert conn.call_raw("PUNSUBSCRIBE") == frame(b"punsubscribe", b"p.*", 0)
    assert conn.call_raw("SUNSUBSCRIBE") == frame(b"sunsubscribe", b"s1", 0)
    # with nothing subscribed, each still answers, with a null channel
    assert conn.call_raw("UNSUBSCRIBE") == frame(b"unsubscribe", None, 0)
    assert conn.call_raw("PUNSUBSCRIBE") == frame(b"punsubscribe", None, 0)
    assert conn.call_raw("SUNSUBSCRIBE") == frame(b"sunsubscribe", None, 0)
    # back in normal mode, even in RESP2
    assert call(conn, "SET", "after", "1")[0] == b"OK"
    assert conn.call_raw("GET", "after") == b"$1\r\n1\r\n"
    snap = s.assert_identical(conn, pub)
    assert snap[b"after"][1] == b"1"


# ----------------------------------------------------------------------------
# subscribed mode
# ----------------------------------------------------------------------------

@pytest.mark.covers("PING (in subscribed mode)", "SUBSCRIBE", "PUBLISH")
@protocols
def test_ping_in_subscribed_mode(three, protocol):
    s = three()
    pub = s.client(protocol, via="b")
    conn = s.raw(protocol)
    conn.send(encode("SUBSCRIBE", "ch"))
    assert frames(conn, 1) == [[b"subscribe", b"ch", 1]]
    if protocol == 2:
        assert conn.call_raw("PING") == b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"
        assert conn.call_raw("PING", "hi") == b"*2\r\n$4\r\npong\r\n$2\r\nhi\r\n"
    else:
        assert conn.call_raw("PING") == b"+PONG\r\n"
        assert conn.call_raw("PING", "hi") == b"$2\r\nhi\r\n"
    pub.publish("ch", "still subscribed")
    assert frames_until(conn, lambda f: True) == [[b"message", b"ch", b"still subscribed"]]
    s.assert_identical(pub)


@pytest.mark.covers("SUBSCRIBE", "PUBLISH")
@protocols
def test_other_commands_in_subscribed_mode(three, protocol):
    """RESP2 allows only the pub/sub commands (Redis's error for the others); RESP3 runs any
    command on a subscribed connection, replies and pushes interleaved, and its writes still reach
    every cluster."""
    s = three()
    pub = s.client(protocol, via="b")
    conn = s.raw(protocol)
    conn.send(encode("SUBSCRIBE", "ch"))
    assert frames(conn, 1) == [[b"subscribe", b"ch", 1]]
    if protocol == 2:
        for args in [("GET", "k"), ("SET", "k", "v")]:
            assert conn.call_raw(*args) == (
                b"-ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
                b"are allowed in this context\r\n" % args[0].lower().encode())
        pub.publish("ch", "m1")
        assert frames_until(conn, lambda f: True) == [[b"message", b"ch", b"m1"]]
        s.settle(pub)
        assert all(d.exists("k") == 0 for d in s.directs), "a refused SET ran"
        s.assert_identical(pub)
        return
    pub.publish("ch", "m1")
    assert frames_until(conn, lambda f: True, grace=0) == [[b"message", b"ch", b"m1"]]
    reply, pushes = call(conn, "SET", "k", "v")
    assert reply == b"OK" and pushes == []
    # a message published meanwhile arrives as a push, before or after the reply
    pub.publish("ch", "m2")
    reply, pushes = call(conn, "GET", "k")
    assert reply == b"v"
    later = [] if pushes else frames(conn, 1)
    assert [p.items for p in pushes] + later == [[b"message", b"ch", b"m2"]]
    assert next_frame(conn, GRACE_S) is None, "a message arrived twice"
    reply, _ = call(conn, "HSET", "h", "f", "1")
    assert reply == 1
    snap = s.assert_identical(conn, pub)  # the barrier goes through the subscribed connection
    assert snap[b"k"][1] == b"v" and snap[b"h"][1] == [(b"f", b"1")]


# ----------------------------------------------------------------------------
# failover
# ----------------------------------------------------------------------------

@pytest.mark.proxy_only
@pytest.mark.covers("SUBSCRIBE", "PSUBSCRIBE", "PUBLISH")
@protocols
def test_subscriber_survives_the_local_cluster_stopping(three, protocol):
    s = three()
    pub = s.client(protocol, via="b")
    conn = s.raw(protocol)
    conn.send(encode("SUBSCRIBE", "ch") + encode("PSUBSCRIBE", "pat.*"))
    assert frames(conn, 2) == [[b"subscribe", b"ch", 1], [b"psubscribe", b"pat.*", 2]]
    pub.publish("ch", "before")
    assert frames_until(conn, lambda f: True, grace=0) == [[b"message", b"ch", b"before"]]

    s.stop(0)  # dc-a's redis-server closes the subscription's backend connection
    # Messages published while proxy A moves the subscription to another cluster may be lost:
    # pub/sub is fire-and-forget, and a message that reaches dc-b and dc-c before the new
    # SUBSCRIBE has no subscriber there. So probes are published until one arrives on each
    # subscription.
    deadline = time.monotonic() + 5.0
    seen: list[list] = []
    i = 0
    while {f[0] for f in seen} != {b"message", b"pmessage"}:
        assert time.monotonic() < deadline, f"within 5 s of dc-a stopping the subscriber got only {seen!r:.500}"
        assert isinstance(pub.publish("ch", f"probe-{i}"), int)
        assert isinstance(pub.publish("pat.probe", f"probe-{i}"), int)
        i += 1
        while (f := next_frame(conn, 0.1)) is not None:
            seen.append(f)
    # from now on every message arrives exactly once, on channel and pattern subscriptions alike
    for j in range(20):
        pub.publish("ch", f"after-{j}")
        pub.publish("pat.x", f"after-{j}")
    seen += frames_until(conn, lambda f: f == [b"pmessage", b"pat.*", b"pat.x", b"after-19"])
    probes = [tuple(f) for f in seen if f[-1].startswith(b"probe-")]
    assert len(probes) == len(set(probes)), f"a probe arrived twice: {probes}"
    # each subscription's messages in publishing order, once each
    after_ch = [f for f in seen if f[0] == b"message" and f[-1].startswith(b"after-")]
    after_pat = [f for f in seen if f[0] == b"pmessage" and f[-1].startswith(b"after-")]
    assert after_ch == [[b"message", b"ch", f"after-{j}".encode()] for j in range(20)], after_ch
    assert after_pat == [[b"pmessage", b"pat.*", b"pat.x", f"after-{j}".encode()] for j in range(20)], after_pat
    assert not [f for f in seen if f[0] not in (b"message", b"pmessage")], seen
    # the same connection, still subscribed
    ping = conn.call_raw("PING")
    assert ping == (b"*2\r\n$4\r\npong\r\n$0\r\n\r\n" if protocol == 2 else b"+PONG\r\n"), ping
    s.assert_identical(pub)
