"""redis-py 8 through the proxy with RESP2, RESP3 and its default settings, compared with redis-server."""

from __future__ import annotations

import pytest
import redis

from conftest import assert_same, outcome, run_ops

# None = redis-py's own default (RESP3 in redis-py 8)
PROTOCOLS = [2, 3, None]
PROTO_IDS = ["resp2", "resp3", "default"]


def both(proxy, ref, protocol, ops, what):
    pc, rc = proxy.client(protocol=protocol), ref.client(protocol=protocol)
    got, want = run_ops(pc, ops), run_ops(rc, ops)
    assert_same(got, want, what)
    return got


def test_redis_py_is_version_8():
    assert redis.__version__.split(".")[0] == "8", redis.__version__


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=PROTO_IDS)
def test_negotiated_protocol(proxy, ref, protocol):
    """The client negotiates the protocol it asked for (HELLO 3 for RESP3, nothing for RESP2)."""
    results = []
    for ep in (proxy, ref):
        c = ep.client(protocol=protocol)
        assert c.ping() is True
        conn = c.connection_pool.get_connection()
        try:
            meta = conn.handshake_metadata
            results.append((conn.get_protocol(), type(conn._parser).__name__,
                            None if meta is None else meta.get(b"proto", meta.get("proto"))))
        finally:
            c.connection_pool.release(conn)
    assert results[0] == results[1], f"proxy {results[0]} != redis {results[1]}"
    if protocol == 2:
        assert results[0][2] is None  # no HELLO sent
    else:
        # redis-py 8's default is RESP3: it sent HELLO 3 and the proxy's reply said proto 3
        assert results[0][2] == 3, results[0]


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=PROTO_IDS)
def test_strings_and_counters(proxy, ref, protocol):
    ops = [
        lambda r: r.set("k", "v"),
        lambda r: r.get("k"),
        lambda r: r.set("k", "w", nx=True),
        lambda r: r.set("k", "w", get=True),
        lambda r: r.append("k", "xyz"),
        lambda r: r.strlen("k"),
        lambda r: r.getrange("k", 1, 2),
        lambda r: r.incr("n"),
        lambda r: r.incrby("n", 41),
        lambda r: r.decr("n"),
        lambda r: r.incrbyfloat("f", 1.25),
        lambda r: r.incrbyfloat("f", "2.5e2"),
        lambda r: r.get("n"),
        lambda r: r.mset({"a": "1", "b": "2", "c": ""}),
        lambda r: r.mget("a", "nope", "b", "c"),
        lambda r: r.exists("a", "b", "nope"),
        lambda r: r.delete("a", "nope"),
        lambda r: r.exists("a"),
        lambda r: r.type("b"),
        lambda r: r.getdel("b"),
        lambda r: r.echo("hello"),
    ]
    got = both(proxy, ref, protocol, ops, "strings")
    assert got[1] == b"v" and got[8] == 42


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=PROTO_IDS)
def test_null_replies(proxy, ref, protocol):
    ops = [
        lambda r: r.get("missing"),
        lambda r: r.hget("missing", "f"),
        lambda r: r.lpop("missing"),
        lambda r: r.lpop("missing", 3),  # null array
        lambda r: r.zscore("missing", "m"),
        lambda r: r.mget("missing", "missing2"),
        lambda r: r.getdel("missing"),
        lambda r: r.srandmember("missing"),
        lambda r: r.hgetall("missing"),
        lambda r: r.smembers("missing"),
    ]
    got = both(proxy, ref, protocol, ops, "null replies")
    assert got[0] is None and got[5] == [None, None]


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=PROTO_IDS)
def test_hashes_sets_sorted_sets_lists(proxy, ref, protocol):
    ops = [
        lambda r: r.hset("h", mapping={"a": "1", "b": "2", "bin\r\n": "\x00"}),
        lambda r: r.hgetall("h"),  # a RESP3 map
        lambda r: r.hget("h", "a"),
        lambda r: r.hmget("h", ["a", "nope", "b"]),
        lambda r: r.hincrby("h", "a", 5),
        lambda r: r.hincrbyfloat("h", "a", 0.5),
        lambda r: r.hlen("h"),
        lambda r: sorted(r.hkeys("h")),
        lambda r: r.hdel("h", "b"),
        lambda r: r.sadd("s", "x", "y", "z", "x"),
        lambda r: r.smembers("s"),  # a RESP3 set
        lambda r: r.sismember("s", "x"),
        lambda r: r.smismember("s", ["x", "q"]),
        lambda r: r.scard("s"),
        lambda r: r.srem("s", "y"),
        lambda r: r.zadd("z", {"a": 1.5, "b": -2, "c": 1e20, "d": 0.1}),
        lambda r: r.zrange("z", 0, -1, withscores=True),  # doubles in RESP3
        lambda r: r.zrange("z", 0, 1),
        lambda r: r.zrevrange("z", 0, 1, withscores=True),
        lambda r: r.zscore("z", "d"),
        lambda r: r.zincrby("z", 2.25, "a"),
        lambda r: r.zrank("z", "a"),
        lambda r: r.zcard("z"),
        lambda r: r.zpopmin("z"),
        lambda r: r.lpush("l", "a", "b", "c"),
        lambda r: r.rpush("l", "", "z"),
        lambda r: r.lrange("l", 0, -1),
        lambda r: r.llen("l"),
        lambda r: r.lindex("l", 1),
        lambda r: r.lpop("l", 2),
        lambda r: r.rpop("l"),
    ]
    got = both(proxy, ref, protocol, ops, "aggregates")
    assert got[1] == {b"a": b"1", b"b": b"2", b"bin\r\n": b"\x00"}
    assert got[10] == {b"x", b"y", b"z"}
    assert got[16][0][1] == -2.0


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=PROTO_IDS)
def test_expire_and_ttl(proxy, ref, protocol):
    ops = [
        lambda r: r.set("e", "1"),
        lambda r: r.ttl("e"),
        lambda r: r.expire("e", 1000),
        lambda r: r.ttl("e"),
        lambda r: r.persist("e"),
        lambda r: r.ttl("e"),
        lambda r: r.ttl("missing"),
        lambda r: r.set("px", "1", px=100000),
        lambda r: r.ttl("px"),
        lambda r: r.expire("missing", 10),
    ]
    got = both(proxy, ref, protocol, ops, "expire/ttl")
    assert got[3] == 1000 and got[6] == -2


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=PROTO_IDS)
def test_error_replies(proxy, ref, protocol):
    """Errors decided by redis-server reach the client as ResponseError with the server's message."""
    ops = [
        lambda r: r.set("str", "abc"),
        lambda r: r.incr("str"),
        lambda r: r.lpush("str", "x"),  # WRONGTYPE
        lambda r: r.hincrby("str", "f", 1),
        lambda r: r.incrbyfloat("str", 1),
        lambda r: r.execute_command("SET", "a", "b", "EX", "notanumber"),
        lambda r: r.execute_command("SET", "a", "b", "EX", "-1"),
        lambda r: r.zadd("z", {"m": "nan-ish"}),
        lambda r: r.get("str"),  # the connection still works afterwards
    ]
    got = both(proxy, ref, protocol, ops, "errors")
    assert got[1][0:2] == ("raised", "ResponseError"), got[1]
    assert got[2][1] == "ResponseError" and "WRONGTYPE" in got[2][2], got[2]
    assert got[-1] == b"abc"


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=PROTO_IDS)
def test_unknown_and_wrong_arity_commands_are_errors(proxy, protocol):
    r = proxy.client(protocol=protocol)
    with pytest.raises(redis.ResponseError):
        r.execute_command("NO-SUCH-COMMAND", "x")
    with pytest.raises(redis.ResponseError):
        r.execute_command("GET")
    assert r.set("after", "ok") is True and r.get("after") == b"ok"


@pytest.mark.covers("CLIENT SETNAME", "CLIENT GETNAME")
@pytest.mark.parametrize("protocol", PROTOCOLS, ids=PROTO_IDS)
def test_client_setname_getname(proxy, ref, protocol):
    r, d = proxy.client(protocol=protocol), ref.client(protocol=protocol)
    assert d.client_setname("e2e-name") is True
    result = outcome(lambda: r.client_setname("e2e-name"))
    if isinstance(result, tuple) and result[0] == "raised":
        pytest.skip(f"proxy does not support CLIENT SETNAME: {result[2]}")
    assert result is True
    name = r.client_getname()
    assert name == d.client_getname()
    assert name in ("e2e-name", b"e2e-name")
    # names are per client connection: another client does not see it
    other = proxy.client(protocol=protocol)
    assert other.client_getname() is None


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=PROTO_IDS)
def test_client_name_from_constructor(proxy, protocol):
    """redis-py sends CLIENT SETNAME on connect when given client_name; it must not break the connection."""
    r = proxy.client(protocol=protocol, client_name="from-ctor")
    try:
        r.ping()
    except redis.ConnectionError as e:
        if "Error setting client name" in str(e):
            pytest.skip("proxy does not support CLIENT SETNAME")
        raise
    assert r.get("missing") is None
    assert r.client_getname() in ("from-ctor", b"from-ctor")


def test_many_clients_interleaved(proxy):
    """Several connections at once, each seeing its own writes in order."""
    clients = [proxy.client(protocol=2 if i % 2 else 3) for i in range(20)]
    for round_ in range(20):
        for i, c in enumerate(clients):
            assert c.incr(f"ctr:{i}") == round_ + 1
            c.rpush(f"list:{i}", round_)
    for i, c in enumerate(clients):
        assert c.lrange(f"list:{i}", 0, -1) == [str(n).encode() for n in range(20)]
