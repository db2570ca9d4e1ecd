"""Pipelining: replies come back complete, in request order, and equal to redis-server's."""

from __future__ import annotations

import random
import socket
import struct
import threading
import time

import pytest

from conftest import assert_same, normalize
from resp import RawConn, encode, encode_many


def command_mix(n: int, seed: int) -> list[tuple]:
    """A deterministic mix of reads, writes, nulls and errors whose replies redis decides."""
    rng = random.Random(seed)
    cmds: list[tuple] = []
    for i in range(n):
        k = rng.randrange(40)
        pick = rng.randrange(16)
        if pick == 0:
            cmds.append(("SET", f"s{k}", f"value-{i}-" + "x" * rng.randrange(200)))
        elif pick == 1:
            cmds.append(("GET", f"s{k}"))
        elif pick == 2:
            cmds.append(("INCR", f"c{k % 7}"))
        elif pick == 3:
            cmds.append(("INCR", f"s{k}"))  # often an error: not an integer / WRONGTYPE
        elif pick == 4:
            cmds.append(("LPUSH", f"l{k % 5}", f"e{i}"))
        elif pick == 5:
            cmds.append(("LRANGE", f"l{k % 5}", "0", "4"))
        elif pick == 6:
            cmds.append(("HSET", f"h{k % 3}", f"f{i % 9}", str(i)))
        elif pick == 7:
            cmds.append(("HGETALL", f"h{k % 3}"))
        elif pick == 8:
            cmds.append(("SADD", f"set{k % 3}", str(i % 50)))  # integers: intset, ordered
        elif pick == 9:
            cmds.append(("SMEMBERS", f"set{k % 3}"))
        elif pick == 10:
            cmds.append(("ZADD", f"z{k % 3}", f"{rng.uniform(-100, 100):.3f}", f"m{i % 20}"))
        elif pick == 11:
            cmds.append(("ZRANGE", f"z{k % 3}", "0", "-1", "WITHSCORES"))
        elif pick == 12:
            cmds.append(("MGET", f"s{k}", f"s{(k + 1) % 40}", "never-set"))
        elif pick == 13:
            cmds.append(("DEL", f"s{k}"))
        elif pick == 14:
            cmds.append(("EXISTS", f"s{k}", f"c{k % 7}"))
        else:
            cmds.append(("ZSCORE", f"z{k % 3}", f"m{k % 20}"))
    return cmds


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
def test_redis_py_pipeline_1000(proxy, ref, protocol):
    cmds = command_mix(1000, seed=protocol)
    results = []
    for ep in (proxy, ref):
        r = ep.client(protocol=protocol)
        pipe = r.pipeline(transaction=False)
        for c in cmds:
            pipe.execute_command(*c)
        results.append(normalize(pipe.execute(raise_on_error=False)))
    assert len(results[0]) == 1000
    assert_same(results[0], results[1], f"pipeline of 1000 (RESP{protocol})")
    assert any(isinstance(x, tuple) and x[0] == "raised" for x in results[0]), "the mix should contain errors"


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
def test_redis_py_pipelines_repeated(proxy, ref, protocol):
    """Many pipelines on one connection, each answered completely before the next."""
    out = []
    for ep in (proxy, ref):
        r = ep.client(protocol=protocol)
        res = []
        for batch in range(20):
            pipe = r.pipeline(transaction=False)
            for i in range(100):
                pipe.incr(f"ctr{i % 10}")
                pipe.get(f"ctr{(i + batch) % 10}")
            res.append(pipe.execute())
        out.append(res)
    assert_same(out[0], out[1], "repeated pipelines")


def _raw_pipeline(ep, payload: bytes, n: int, hello3: bool, chunks=None) -> list[bytes]:
    c = ep.raw(timeout=30)
    if hello3:
        c.send(encode("HELLO", "3"))
        c.read_reply()
    if chunks is None:
        c.send(payload)
    else:
        c.send_chunked(payload, chunks)
    return c.read_raw(n)


@pytest.mark.parametrize("hello3", [False, True], ids=["resp2", "resp3"])
def test_raw_pipeline_byte_exact(proxy, ref, hello3):
    """1000 commands in one write; every reply's bytes equal redis-server's (RESP3 relayed byte-exact)."""
    cmds = command_mix(1000, seed=10 + hello3)
    payload = encode_many(cmds)
    got = _raw_pipeline(proxy, payload, len(cmds), hello3)
    want = _raw_pipeline(ref, payload, len(cmds), hello3)
    assert_same(got, want, "raw pipeline")
    if hello3:
        assert any(r.startswith(b"%") for r in got) and any(r.startswith(b",") or r.startswith(b"_") for r in got)


@pytest.mark.parametrize("hello3", [False, True], ids=["resp2", "resp3"])
def test_raw_pipeline_split_at_odd_boundaries(proxy, ref, hello3):
    """The same pipeline written in 1..13 byte pieces: frames split everywhere."""
    cmds = command_mix(300, seed=20 + hello3)
    payload = encode_many(cmds)
    rng = random.Random(7)
    chunks = [rng.randrange(1, 14) for _ in range(len(payload))]
    got = _raw_pipeline(proxy, payload, len(cmds), hello3, chunks=chunks)
    want = _raw_pipeline(ref, payload, len(cmds), hello3)
    assert_same(got, want, "chunked pipeline")


def test_byte_at_a_time(proxy, ref):
    payload = encode("SET", "slow", "a\r\nb") + encode("GET", "slow") + b"PING\r\n" + encode("GET", "nope")
    c = proxy.raw()
    for i in range(len(payload)):
        c.send(payload[i:i + 1])
        time.sleep(0.001)
    got = c.read_raw(4)
    want = _raw_pipeline(ref, payload, 4, False)
    assert_same(got, want, "byte at a time")


def test_large_pipeline_with_slow_reader(proxy, ref):
    """50,000 GETs of a 1 KB value written at once while the client reads slowly at first:
    the proxy must not drop or reorder replies when the client's socket buffer is full."""
    value = bytes(range(256)) * 4
    n = 50000
    results = []
    for ep in (proxy, ref):
        c = ep.raw(timeout=60)
        c.send(encode("SET", "big", value))
        c.read_reply()
        payload = encode("GET", "big") * n
        t = threading.Thread(target=c.send, args=(payload,))
        t.start()
        time.sleep(0.5)  # let the output back up
        replies = c.read_raw(n)
        t.join()
        results.append((len(replies), set(replies)))
    assert results[0] == results[1] == (n, {b"$1024\r\n" + value + b"\r\n"})


def test_client_vanishing_mid_pipeline_does_not_disturb_others(proxy):
    """A client that resets its connection with thousands of replies outstanding must not
    break the shared backend connection: a second client keeps getting its own replies."""
    observer = proxy.raw()
    assert observer.call("SET", "obs", "1") == b"OK"
    for round_ in range(5):
        s = socket.create_connection(("127.0.0.1", proxy.port))
        s.sendall(encode_many([("INCR", "vanish")] * 5000 + [("GET", "obs")] * 5000))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST on close
        s.close()
        assert observer.call("INCR", "obs") == round_ + 2
        assert observer.call("GET", "obs") == str(round_ + 2).encode()
    # everything the vanished clients sent before resetting was either run or not: never half a reply
    n = int(observer.call("GET", "vanish") or 0)
    assert 0 <= n <= 25000
