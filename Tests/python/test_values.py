"""Values: every byte value, CR LF inside, empty, and 16 MB, in both protocols."""

from __future__ import annotations

import random

import pytest

from conftest import assert_same
from resp import encode

ALL_BYTES = bytes(range(256))
TRICKY = [
    ALL_BYTES,
    ALL_BYTES[::-1] * 17,
    b"\r\n",
    b"\r\n\r\n$-1\r\n*1\r\n$3\r\nfoo\r\n",  # looks like RESP
    b"\r",
    b"\n",
    b"\x00",
    b"-ERR not an error\r\n",
    b"+OK\r\n",
    b"%1\r\n_\r\n",
    b"",
]
KEYS = [b"plain", b"key with spaces", b"k\r\ney", b"\x00\xff\x00", bytes(range(1, 64)), b"*1\r\n$1\r\nx\r\n"]

PROTOCOLS = [2, 3]
IDS = ["resp2", "resp3"]


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=IDS)
def test_binary_values_and_keys(proxy, ref, protocol):
    out = []
    for ep in (proxy, ref):
        r = ep.client(protocol=protocol)
        res = []
        for i, v in enumerate(TRICKY):
            for k in KEYS:
                key = k + str(i).encode()
                res.append(r.set(key, v))
                res.append(r.get(key))
                res.append(r.strlen(key))
        res.append(r.hset(b"h\r\n", mapping={k: v for k, v in zip(KEYS, TRICKY)}))
        res.append(r.hgetall(b"h\r\n"))
        res.append(r.rpush(b"l", *TRICKY))
        res.append(r.lrange(b"l", 0, -1))
        res.append(r.mget([k + b"0" for k in KEYS]))
        out.append(res)
    assert_same(out[0], out[1], "binary values")
    assert out[0][1] == ALL_BYTES
    assert out[0][-2] == TRICKY


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=IDS)
def test_empty_values(proxy, ref, protocol):
    out = []
    for ep in (proxy, ref):
        r = ep.client(protocol=protocol)
        res = [r.set("e", b""), r.get("e"), r.strlen("e"), r.exists("e"), r.append("e", b""),
               r.hset("he", b"", b""), r.hgetall("he"), r.rpush("le", b"", b""), r.lrange("le", 0, -1),
               r.mset({"e1": b"", "e2": b""}), r.mget("e1", "e2", "e3"), r.set(b"", b"empty key"), r.get(b"")]
        out.append(res)
    assert_same(out[0], out[1], "empty values")
    assert out[0][1] == b"" and out[0][10] == [b"", b"", None]


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=IDS)
def test_16mb_values(proxy, ref, protocol):
    size = 16 * 1024 * 1024
    rng = random.Random(protocol)
    value = rng.randbytes(size - 3) + b"\r\n\x00"
    for ep in (proxy, ref):
        r = ep.client(protocol=protocol)
        assert r.set("big", value) is True
        got = r.get("big")
        assert got is not None and len(got) == size and got == value, f"{ep.kind}: 16 MB value corrupted"
        assert r.strlen("big") == size
        # a pipeline of big values and small commands around them keeps its order
        pipe = r.pipeline(transaction=False)
        pipe.set("a", "1")
        pipe.set("big2", value[::-1])
        pipe.get("a")
        pipe.get("big2")
        pipe.get("big")
        pipe.incr("a")
        res = pipe.execute()
        assert res[0] is True and res[1] is True and res[2] == b"1"
        assert res[3] == value[::-1] and res[4] == value and res[5] == 2
        # the connection is still healthy
        assert r.get("a") == b"2"


@pytest.mark.parametrize("hello3", [False, True], ids=IDS)
def test_binary_values_byte_exact(proxy, ref, hello3):
    cmds = []
    for i, v in enumerate(TRICKY):
        cmds += [("SET", f"b{i}", v), ("GET", f"b{i}"), ("APPEND", f"b{i}", v), ("GETRANGE", f"b{i}", "0", "-1")]
    cmds += [("SET", "m", ALL_BYTES * 4096), ("GET", "m")]  # 1 MB
    payload = b"".join(encode(*c) for c in cmds)
    out = []
    for ep in (proxy, ref):
        c = ep.raw(timeout=30)
        if hello3:
            c.send(encode("HELLO", "3"))
            c.read_reply()
        c.send(payload)
        out.append(c.read_raw(len(cmds)))
    assert_same(out[0], out[1], "binary byte-exact")
    assert out[0][1] == b"$256\r\n" + ALL_BYTES + b"\r\n"
