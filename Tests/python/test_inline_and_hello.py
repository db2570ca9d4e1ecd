"""Inline commands and HELLO, over raw sockets, compared with redis-server byte for byte."""

from __future__ import annotations

import pytest

from conftest import DIRECT, assert_same
from resp import Error, encode, map_get


def exchange(ep, payload: bytes, replies: int, hello3: bool = False) -> list[bytes]:
    c = ep.raw()
    if hello3:
        c.send(encode("HELLO", "3"))
        c.read_reply()
    c.send(payload)
    return c.read_raw(replies)


INLINE_CASES = [
    ("ping", b"PING\r\n", 1),
    ("set", b"SET a b\r\nGET a\r\n", 2),
    ("quoted", b'SET q "x y"\r\nGET q\r\n', 2),
    ("single quoted", b"SET s 'it s'\r\nSET t 'a \"b\" c'\r\nGET t\r\n", 3),
    ("escapes", b'SET e "\\x41\\r\\n\\t\\"z"\r\nGET e\r\nSTRLEN e\r\n', 3),
    ("lf only", b"PING\nSET lf 1\nGET lf\n", 3),
    ("extra spaces", b"   SET   sp    v   \r\nEXISTS  sp   nope\r\n", 2),
    ("empty lines are ignored", b"\r\n\r\nPING\r\n\n", 1),
    ("lower case", b"set lc 5\r\nincrby lc 10\r\nget lc\r\n", 3),
    ("mixed with multibulk", b"SET m1 v\r\n" + encode("GET", "m1") + b"GET m1\r\n" + encode("PING"), 4),
    ("error reply", b"SET i notanint\r\nINCR i\r\n", 2),
    ("null reply", b"GET never\r\nMGET never a\r\n", 2),
]


@pytest.mark.parametrize("hello3", [False, True], ids=["resp2", "resp3"])
@pytest.mark.parametrize("name,payload,replies", INLINE_CASES, ids=[c[0] for c in INLINE_CASES])
def test_inline(proxy, ref, name, payload, replies, hello3):
    got = exchange(proxy, payload, replies, hello3)
    want = exchange(ref, payload, replies, hello3)
    assert_same(got, want, f"inline {name}")


def test_inline_then_more_in_same_packet_byte_exact(proxy, ref):
    payload = b"PING\r\n" * 100 + b"SET a b\r\n" * 100 + b'SET q "x y"\r\n' + b"GET q\r\n"
    assert_same(exchange(proxy, payload, 202), exchange(ref, payload, 202), "inline burst")


# ---------------------------------------------------------------------------- HELLO


def hello(ep, *args) -> tuple[bytes, object]:
    c = ep.raw()
    c.send(encode("HELLO", *args))
    return c.read_reply()


@pytest.mark.covers("HELLO")
def test_hello_3_returns_map_with_proto_3(proxy):
    raw, value = hello(proxy, "3")
    assert raw.startswith(b"%"), raw
    assert map_get(value, b"proto") == 3
    for key in (b"server", b"version"):
        map_get(value, key)  # clients read these; present in Redis's reply


def test_hello_2_returns_array_with_proto_2(proxy):
    raw, value = hello(proxy, "2")
    assert raw.startswith(b"*"), raw
    assert map_get(value, b"proto") == 2


def test_hello_switches_reply_encoding_both_ways(proxy, ref):
    """After HELLO 3 the client's replies are RESP3 (null `_`, maps, doubles) and after HELLO 2 RESP2 again."""
    script = [("HSET", "h", "f", "v"), ("ZADD", "z", "1.5", "m"), ("HELLO", "3"), ("GET", "nope"),
              ("HGETALL", "h"), ("ZSCORE", "z", "m"), ("HELLO", "2"), ("GET", "nope"), ("HGETALL", "h"),
              ("ZSCORE", "z", "m"), ("HELLO", "3"), ("MGET", "nope", "h")]
    outs = []
    for ep in (proxy, ref):
        c = ep.raw()
        c.send(b"".join(encode(*s) for s in script))
        outs.append(c.read_raw(len(script)))
    skip_hello = [i for i, s in enumerate(script) if s[0] == "HELLO"]
    got = [r for i, r in enumerate(outs[0]) if i not in skip_hello]
    want = [r for i, r in enumerate(outs[1]) if i not in skip_hello]
    assert_same(got, want, "replies around HELLO")
    assert got[2] == b"_\r\n" and got[5] == b"$-1\r\n"


@pytest.mark.covers("HELLO", "CLIENT GETNAME")
def test_hello_3_setname(proxy, ref):
    raw, value = hello(proxy, "3", "SETNAME", "e2e-client")
    assert raw.startswith(b"%"), raw
    assert map_get(value, b"proto") == 3
    c = proxy.raw()
    c.send(encode("HELLO", "3", "SETNAME", "e2e-client"))
    c.read_reply()
    name = c.call("CLIENT", "GETNAME")
    if isinstance(name, Error) and not DIRECT:
        pytest.skip(f"proxy does not support CLIENT GETNAME: {name}")
    assert name == b"e2e-client"


def test_hello_3_auth_without_password_configured(proxy, ref):
    """Like Redis's nopass default user: any password for 'default' is accepted."""
    want_raw, want = hello(ref, "3", "AUTH", "default", "anything")
    assert not isinstance(want, Error)
    raw, value = hello(proxy, "3", "AUTH", "default", "anything")
    assert raw.startswith(b"%"), raw
    assert map_get(value, b"proto") == 3


def test_hello_3_auth_and_setname(proxy):
    raw, value = hello(proxy, "3", "AUTH", "default", "pw", "SETNAME", "n1")
    assert raw.startswith(b"%"), raw


@pytest.mark.parametrize("version", ["4", "1", "0", "-3"])
def test_hello_unsupported_version_is_noproto(proxy, ref, version):
    raw, _ = hello(proxy, version)
    want, _ = hello(ref, version)
    assert want.startswith(b"-NOPROTO") and raw.startswith(b"-NOPROTO"), (raw, want)


@pytest.mark.parametrize("args", [("abc",), ("3", "SETNAME"), ("3", "AUTH", "default"), ("3", "BOGUS")],
                         ids=["not-a-number", "setname-without-name", "auth-without-password", "unknown-option"])
def test_hello_bad_arguments_are_errors(proxy, ref, args):
    raw, _ = hello(proxy, *args)
    want, _ = hello(ref, *args)
    assert want.startswith(b"-") and raw.startswith(b"-"), (raw, want)
    # the connection stays usable and in RESP2
    c = proxy.raw()
    c.send(encode("HELLO", *args) + encode("GET", "nope"))
    c.read_reply()
    assert c.read_reply()[0] == b"$-1\r\n"


def test_redis_py_hello_via_execute_command(proxy, ref):
    got = proxy.client(protocol=3).execute_command("HELLO", "3")
    want = ref.client(protocol=3).execute_command("HELLO", "3")
    assert got[b"proto"] == want[b"proto"] == 3
