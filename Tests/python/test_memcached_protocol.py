"""The memcached text and meta protocols over raw sockets (issue #4): every command with its
options, quiet mode and mn, base64 keys, opaque tokens, noreply, the error answers, and 1000
pipelined requests compared byte for byte with a separate memcached.

The expectations are memcached 1.6's exact replies: METACLUSTER_TARGET=direct runs this file
against memcached itself. Where the proxy answers for itself (version, stats) or differs by design
(control characters in keys, the binary protocol, clusters that are down), the test says so and is
marked proxy_only or checks the target's kind. Tests marked `clusters` run through a one-cluster and
a three-cluster proxy: the client must not see the fan-out.
"""

from __future__ import annotations

import random
import re
import signal
import struct
import threading
import time
from typing import Any

import pytest

from conftest import McEndpoint, Stack
from mcproto import McConn, b64, line, meta_set, resync, storage

LARGE = 1024 * 1024 - 1024


@pytest.fixture(params=[1, pytest.param(3, marks=pytest.mark.proxy_only)], ids=["1-cluster", "3-clusters"])
def mcx(request, stack: Stack) -> McEndpoint:
    """The endpoint under test with one cluster, and (proxy only) with three."""
    return stack.mc_endpoint(clusters=request.param)


@pytest.fixture
def conn(mcx: McEndpoint) -> McConn:
    return mcx.raw()


def send_all(conn: McConn, *requests: bytes) -> None:
    conn.send(b"".join(requests))


def lines(conn: McConn, n: int) -> list[bytes]:
    return [conn.read_reply().raw for _ in range(n)]


# ----------------------------------------------------------------------------
# text protocol: storage and retrieval
# ----------------------------------------------------------------------------

def test_set_and_get(conn: McConn):
    assert conn.call(storage("set", "k", b"abc", flags=5)).raw == b"STORED\r\n"
    assert conn.cmd("get", "k").raw == b"VALUE k 5 3\r\nabc\r\nEND\r\n"
    assert conn.call(storage("set", "k", b"", flags=0)).raw == b"STORED\r\n"
    assert conn.cmd("get", "k").raw == b"VALUE k 0 0\r\n\r\nEND\r\n"
    assert conn.cmd("get", "missing").raw == b"END\r\n"
    # a 250-byte key is allowed
    k250 = "k" * 250
    assert conn.call(storage("set", k250, b"long key")).raw == b"STORED\r\n"
    assert conn.cmd("get", k250).raw == f"VALUE {k250} 0 8\r\nlong key\r\nEND\r\n".encode()


def test_multi_key_get_and_gets(conn: McConn):
    for i in range(5):
        assert conn.set(f"m{i}", b"v%d" % i, flags=i) == b"STORED"
    r = conn.cmd("get", "m0", "nope", "m3", "m1", "m3")
    assert r.raw == (b"VALUE m0 0 2\r\nv0\r\nVALUE m3 3 2\r\nv3\r\nVALUE m1 1 2\r\nv1\r\n"
                     b"VALUE m3 3 2\r\nv3\r\nEND\r\n")
    r = conn.cmd("gets", "m2", "m4", "nope")
    assert [(i.key, i.flags, i.value) for i in r.items] == [(b"m2", 2, b"v2"), (b"m4", 4, b"v4")]
    cas = [i.cas for i in r.items]
    assert all(isinstance(c, int) and c > 0 for c in cas) and cas[0] != cas[1], cas
    # the cas unique is the one mg reports
    assert conn.cmd("mg", "m2", "c").raw == b"HD c%d\r\n" % cas[0]
    # 100 keys in one request
    keys = [f"many:{i}" for i in range(100)]
    send_all(conn, *(storage("set", k, k.encode()) for k in keys))
    assert all(r.raw == b"STORED\r\n" for r in conn.read_replies(100))
    r = conn.cmd("get", *keys)
    assert r.line == b"END" and [i.key for i in r.items] == [k.encode() for k in keys]
    assert all(i.value == i.key for i in r.items)


def test_add_replace_append_prepend(conn: McConn):
    assert conn.call(storage("add", "a", b"1", flags=3)).raw == b"STORED\r\n"
    assert conn.call(storage("add", "a", b"2")).raw == b"NOT_STORED\r\n"
    assert conn.call(storage("replace", "nope", b"x")).raw == b"NOT_STORED\r\n"
    assert conn.call(storage("replace", "a", b"r", flags=9)).raw == b"STORED\r\n"
    assert conn.cmd("get", "a").raw == b"VALUE a 9 1\r\nr\r\nEND\r\n"
    # append/prepend keep the item's flags and expiry, whatever the request says
    assert conn.call(storage("append", "a", b">>", flags=1, exptime=100)).raw == b"STORED\r\n"
    assert conn.call(storage("prepend", "a", b"<<", flags=2, exptime=100)).raw == b"STORED\r\n"
    assert conn.cmd("mg", "a", "v", "f", "t").raw == b"VA 5 f9 t-1\r\n<<r>>\r\n"
    assert conn.call(storage("append", "nope", b"x")).raw == b"NOT_STORED\r\n"
    assert conn.call(storage("prepend", "nope", b"x")).raw == b"NOT_STORED\r\n"
    assert conn.cmd("get", "nope").raw == b"END\r\n"


def test_cas(conn: McConn):
    assert conn.set("c", b"one", flags=1) == b"STORED"
    token = conn.get_item("c").cas
    assert conn.call(storage("cas", "c", b"two", flags=2, exptime=0, cas=token)).raw == b"STORED\r\n"
    assert conn.cmd("get", "c").raw == b"VALUE c 2 3\r\ntwo\r\nEND\r\n"
    assert conn.call(storage("cas", "c", b"three", cas=token)).raw == b"EXISTS\r\n"
    assert conn.cmd("get", "c").raw == b"VALUE c 2 3\r\ntwo\r\nEND\r\n"
    assert conn.call(storage("cas", "nope", b"x", cas=token)).raw == b"NOT_FOUND\r\n"
    new = conn.get_item("c").cas
    assert new != token
    assert conn.call(storage("cas", "c", b"four", cas=new, noreply=True) + line("get", "c")).raw == (
        b"VALUE c 0 4\r\nfour\r\nEND\r\n")


def test_delete(conn: McConn):
    conn.set("d", b"x")
    assert conn.cmd("delete", "d").raw == b"DELETED\r\n"
    assert conn.cmd("delete", "d").raw == b"NOT_FOUND\r\n"
    conn.set("d", b"x")
    assert conn.cmd("delete", "d", "0").raw == b"DELETED\r\n"  # the legacy zero time is accepted
    assert conn.cmd("delete", "d", "5").line.startswith(b"CLIENT_ERROR bad command line format")
    conn.set("d", b"x")
    assert conn.call(line("delete", "d", "noreply") + line("get", "d")).raw == b"END\r\n"


def test_incr_decr(conn: McConn):
    assert conn.cmd("incr", "n", "1").raw == b"NOT_FOUND\r\n"
    assert conn.cmd("decr", "n", "1").raw == b"NOT_FOUND\r\n"
    conn.set("n", b"100", flags=7)
    assert conn.cmd("incr", "n", "5").raw == b"105\r\n"
    assert conn.cmd("decr", "n", "6").raw == b"99\r\n"
    # memcached keeps the length and pads with a space; flags are kept
    assert conn.cmd("get", "n").raw == b"VALUE n 7 3\r\n99 \r\nEND\r\n"
    assert conn.cmd("decr", "n", "1000").raw == b"0\r\n"  # decr floors at 0
    conn.set("n", b"18446744073709551615")
    assert conn.cmd("incr", "n", "2").raw == b"1\r\n"  # incr wraps at 2^64
    assert conn.cmd("incr", "n", "18446744073709551614").raw == b"18446744073709551615\r\n"
    conn.set("s", b"abc")
    assert conn.cmd("incr", "s", "1").raw == b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
    assert conn.cmd("incr", "n", "-1").raw == b"CLIENT_ERROR invalid numeric delta argument\r\n"
    assert conn.cmd("incr", "n", "abc").raw == b"CLIENT_ERROR invalid numeric delta argument\r\n"
    conn.set("n", b"1")
    send_all(conn, line("incr", "n", "10", "noreply"), line("decr", "n", "3", "noreply"))
    assert conn.cmd("get", "n").raw == b"VALUE n 0 2\r\n8 \r\nEND\r\n"


def test_touch_gat_gats(conn: McConn):
    conn.set("t", b"v", flags=4)
    assert conn.ttl("t") == -1
    assert conn.cmd("touch", "t", "100").raw == b"TOUCHED\r\n"
    assert 99 <= conn.ttl("t") <= 100
    assert conn.cmd("touch", "nope", "100").raw == b"NOT_FOUND\r\n"
    assert conn.cmd("gat", "200", "t", "nope", "t").raw == b"VALUE t 4 1\r\nv\r\nVALUE t 4 1\r\nv\r\nEND\r\n"
    assert 199 <= conn.ttl("t") <= 200
    cas = conn.get_item("t").cas
    assert conn.cmd("gats", "300", "t").raw == b"VALUE t 4 1 %d\r\nv\r\nEND\r\n" % cas
    assert 299 <= conn.ttl("t") <= 300
    assert conn.cmd("gat", "100", "nope").raw == b"END\r\n"
    # exptime 0 makes the item permanent again; noreply touch
    assert conn.call(line("touch", "t", "0", "noreply") + line("mg", "t", "t")).raw == b"HD t-1\r\n"
    assert conn.cmd("touch", "t", "abc").raw == b"CLIENT_ERROR invalid exptime argument\r\n"
    assert conn.cmd("gat", "abc", "t").raw == b"CLIENT_ERROR invalid exptime argument\r\n"


def test_expiry(conn: McConn):
    conn.set("e2", b"v", exptime=2)
    conn.set("keep", b"v")
    assert conn.get("e2") == b"v"
    deadline = time.monotonic() + 5
    while conn.get("e2") is not None:
        assert time.monotonic() < deadline, "a 2-second item still there after 5 s"
        time.sleep(0.1)
    assert conn.get("keep") == b"v"
    # a negative exptime expires at once
    assert conn.set("neg", b"v", exptime=-1) == b"STORED"
    assert conn.get("neg") is None


def test_noreply_pipeline(conn: McConn):
    """Every noreply form in one write: the only reply is the final get's."""
    conn.set("cas", b"c")
    token = conn.get_item("cas").cas
    conn.set("del", b"x")
    conn.set("rep", b"old")
    conn.set("num", b"10")
    conn.set("tch", b"x")
    send_all(conn,
             storage("set", "s", b"set", flags=1, noreply=True),
             storage("add", "s", b"ignored", noreply=True),  # NOT_STORED, silently
             storage("add", "a", b"add", noreply=True),
             storage("replace", "rep", b"new", noreply=True),
             storage("replace", "nope", b"x", noreply=True),
             storage("append", "s", b"+app", noreply=True),
             storage("prepend", "s", b"pre+", noreply=True),
             storage("cas", "cas", b"swapped", cas=token, noreply=True),
             storage("cas", "cas", b"stale", cas=token, noreply=True),  # EXISTS, silently
             line("delete", "del", "noreply"),
             line("delete", "nope", "noreply"),
             line("incr", "num", "5", "noreply"),
             line("decr", "num", "2", "noreply"),
             line("incr", "nope", "1", "noreply"),
             line("touch", "tch", "500", "noreply"),
             line("verbosity", "1", "noreply"),
             line("get", "s", "a", "rep", "nope", "cas", "del", "num"))
    r = conn.read_reply()
    assert r.raw == (b"VALUE s 1 11\r\npre+set+app\r\nVALUE a 0 3\r\nadd\r\nVALUE rep 0 3\r\nnew\r\n"
                     b"VALUE cas 0 7\r\nswapped\r\nVALUE num 0 2\r\n13\r\nEND\r\n")
    assert 499 <= conn.ttl("tch") <= 500
    assert conn.read_available(0.2) == b"", "a noreply command was answered"


@pytest.mark.parametrize("request_", [
    line("incr", "str", "1", "noreply"),  # CLIENT_ERROR cannot increment or decrement non-numeric value
    line("incr", "num", "abc", "noreply"),  # CLIENT_ERROR invalid numeric delta argument
    line("touch", "num", "abc", "noreply"),  # CLIENT_ERROR invalid exptime argument
    line("delete", "num", "5", "noreply"),  # CLIENT_ERROR bad command line format.  Usage: ...
    line("set", "k", "abc", "0", "2", "noreply") + b"mn\r\n",  # CLIENT_ERROR bad command line format
], ids=["incr-non-numeric", "incr-bad-delta", "touch-bad-exptime", "delete-time", "set-bad-flags"])
def test_noreply_hides_errors_too(conn: McConn, request_: bytes):
    """memcached 1.6 answers nothing at all to a noreply command, not even a CLIENT_ERROR: a client
    that sent noreply does not read a reply, and an error line would be taken as the answer to its
    next request."""
    conn.set("str", b"abc")
    conn.set("num", b"5")
    conn.send(request_)
    assert set(resync(conn)) <= {b"MN"}  # (the data block of the bad set, read as a command)
    assert conn.get("str") == b"abc" and conn.get("num") == b"5" and conn.get("k") is None


def test_version_verbosity_quit(mcx: McEndpoint, conn: McConn):
    r = conn.cmd("version")
    if mcx.kind == "proxy":
        assert re.fullmatch(rb"VERSION 1\.6\.0-metacluster-\S+", r.line), r
    else:
        assert re.fullmatch(rb"VERSION 1\.6\.\d+", r.line), r
    assert conn.cmd("verbosity", "1").raw == b"OK\r\n"
    assert conn.cmd("verbosity").raw == b"ERROR\r\n"
    assert conn.cmd("verbosity", "abc").raw == b"CLIENT_ERROR bad command line format\r\n"
    assert conn.cmd("verbosity", "0").raw == b"OK\r\n"
    assert conn.call(line("verbosity", "1", "noreply") + line("mn")).raw == b"MN\r\n"
    # quit closes without a reply; what was pipelined before it is answered first
    conn.set("q", b"v")
    conn.send(line("get", "q") + line("quit") + line("get", "q"))
    data, closed = conn.read_until_closed(5)
    assert closed and data == b"VALUE q 0 1\r\nv\r\nEND\r\n", (data, closed)


def test_stats(mcx: McEndpoint, conn: McConn):
    assert conn.cmd("stats", "noreply").raw == b"ERROR\r\n"
    before = conn.stats()
    for name in ("pid", "uptime", "time", "version", "curr_connections", "total_connections", "cmd_get", "cmd_set"):
        assert name in before, f"stats lacks {name}: {sorted(before)}"
        if name != "version":
            assert re.fullmatch(r"\d+", before[name]), (name, before[name])
    assert abs(int(before["time"]) - time.time()) <= 2
    version = conn.cmd("version").line[len(b"VERSION "):].decode()
    assert before["version"] == version
    assert int(before["pid"]) == mcx.server.proc.pid
    others = [McConn(mcx.port) for _ in range(2)]
    try:
        for o in others:
            assert o.cmd("mn").raw == b"MN\r\n"
        for i in range(3):
            conn.set(f"st{i}", b"x")
        for i in range(5):
            conn.get(f"st{i % 4}")
        after = conn.stats()
    finally:
        for o in others:
            o.close()
    assert int(after["cmd_set"]) - int(before["cmd_set"]) == 3
    assert int(after["cmd_get"]) - int(before["cmd_get"]) == 5
    assert int(after["curr_connections"]) - int(before["curr_connections"]) == 2
    assert int(after["total_connections"]) - int(before["total_connections"]) >= 2
    assert int(after["uptime"]) >= int(before["uptime"])
    if mcx.kind == "proxy":
        names = [f"dc-{chr(ord('a') + i)}" for i in range(len(mcx.backends))]
        for n in names:
            assert any(n in k or n in v for k, v in after.items()), f"no stats line for cluster {n}: {after}"


# ----------------------------------------------------------------------------
# meta protocol
# ----------------------------------------------------------------------------

def test_meta_get_flags(conn: McConn):
    assert conn.call(meta_set("mk", b"hi", "T0", "F5")).raw == b"HD\r\n"
    cas = conn.get_item("mk").cas
    assert conn.cmd("mg", "mk", "v", "k", "t", "f", "c", "s", "O123").raw == (
        b"VA 2 kmk t-1 f5 c%d s2 O123\r\nhi\r\n" % cas)
    # return flags come in the order asked
    assert conn.cmd("mg", "mk", "s", "v", "f").raw == b"VA 2 s2 f5\r\nhi\r\n"
    assert conn.cmd("mg", "mk").raw == b"HD\r\n"
    assert conn.cmd("mg", "mk", "f", "s").raw == b"HD f5 s2\r\n"
    assert conn.cmd("mg", "missing", "v").raw == b"EN\r\n"
    assert conn.cmd("mg", "missing").raw == b"EN\r\n"
    # T touches (t reports the TTL before the touch), then t shows the new one
    assert conn.call(meta_set("tt", b"x", "T100")).raw == b"HD\r\n"
    assert conn.cmd("mg", "tt", "t", "v", "T200").raw == b"VA 1 t100\r\nx\r\n"
    assert conn.cmd("mg", "tt", "t").raw == b"HD t200\r\n"
    assert conn.cmd("mg", "mk", "v", "v").raw == b"CLIENT_ERROR duplicate flag\r\n"
    assert conn.cmd("mg", "mk", "zz").raw == b"CLIENT_ERROR invalid flag\r\n"


def test_meta_set_modes_and_flags(conn: McConn):
    assert conn.call(meta_set("s", b"base", "F3", "T0")).raw == b"HD\r\n"
    assert conn.call(meta_set("s", b">", "MA")).raw == b"HD\r\n"
    assert conn.call(meta_set("s", b"<", "MP")).raw == b"HD\r\n"
    assert conn.cmd("mg", "s", "v", "f").raw == b"VA 6 f3\r\n<base>\r\n"
    assert conn.call(meta_set("s", b"no", "ME")).raw == b"NS\r\n"  # add: exists
    assert conn.call(meta_set("new", b"yes", "ME")).raw == b"HD\r\n"
    assert conn.call(meta_set("none", b"x", "MR")).raw == b"NS\r\n"  # replace: missing
    assert conn.call(meta_set("new", b"r", "MR", "F1")).raw == b"HD\r\n"
    assert conn.call(meta_set("none", b"x", "MA")).raw == b"NS\r\n"
    assert conn.call(meta_set("new", b"set", "MS")).raw == b"HD\r\n"
    assert conn.cmd("mg", "new", "v", "f").raw == b"VA 3 f0\r\nset\r\n"
    # compare and swap, returning the new cas; k, O and c on ms
    cas = conn.get_item("new").cas
    r = conn.call(meta_set("new", b"swapped", f"C{cas}", "c", "k", "O77"))
    assert r.code == b"HD" and r.mflags["k"] == "new" and r.mflags["O"] == "77", r
    new_cas = int(r.mflags["c"])
    assert new_cas != cas and conn.get_item("new").cas == new_cas
    assert conn.call(meta_set("new", b"stale", f"C{cas}")).raw == b"EX\r\n"
    assert conn.call(meta_set("none", b"x", "C5")).raw == b"NF\r\n"
    assert conn.get("new") == b"swapped"
    # TTL and client flags
    assert conn.call(meta_set("ttl", b"x", "T300", "F4294967295")).raw == b"HD\r\n"
    assert conn.cmd("mg", "ttl", "t", "f").raw == b"HD t300 f4294967295\r\n"
    # I (invalidate) with a cas lower than the item's marks it stale rather than failing
    assert conn.call(meta_set("new", b"inv", "I")).raw == b"HD\r\n"
    assert conn.get("new") == b"inv"
    assert conn.call(meta_set("s", b"x", "Z")).raw == b"CLIENT_ERROR invalid flag\r\n"
    assert conn.cmd("mn").raw == b"MN\r\n"  # the data block after the bad flag was swallowed


def test_meta_delete(conn: McConn):
    conn.set("d", b"x")
    assert conn.cmd("md", "d").raw == b"HD\r\n"
    assert conn.cmd("md", "d").raw == b"NF\r\n"
    assert conn.cmd("md", "d", "O5", "k").raw == b"NF O5 kd\r\n"
    conn.set("d", b"x")
    assert conn.cmd("md", "d", "C1").raw == b"EX\r\n"
    cas = conn.get_item("d").cas
    assert conn.cmd("md", "d", f"C{cas}", "k", "O6").raw == b"HD kd O6\r\n"
    assert conn.get("d") is None
    # I + T: invalidate, the item stays for T seconds, marked stale (X) with a win (W) token
    conn.set("d", b"x")
    assert conn.cmd("md", "d", "I", "T30").raw == b"HD\r\n"
    r = conn.cmd("mg", "d", "v", "t")
    assert r.code == b"VA" and r.value == b"x" and r.tokens[2:] == [b"t30", b"X", b"W"], r


def test_meta_arithmetic(conn: McConn):
    assert conn.cmd("ma", "cnt").raw == b"NF\r\n"
    assert conn.cmd("ma", "cnt", "N0", "J5", "v").raw == b"VA 1\r\n5\r\n"  # created with J
    assert conn.cmd("ma", "cnt", "D10", "v").raw == b"VA 2\r\n15\r\n"
    assert conn.cmd("ma", "cnt", "MD", "D3", "v").raw == b"VA 2\r\n12\r\n"
    assert conn.cmd("ma", "cnt", "M-", "D100", "v").raw == b"VA 1\r\n0\r\n"
    assert conn.cmd("ma", "cnt", "MI", "v", "t").raw == b"VA 1 t-1\r\n1\r\n"
    assert conn.cmd("ma", "cnt", "M+", "O9", "k").raw == b"HD O9 kcnt\r\n"
    assert conn.cmd("ma", "cnt", "D1", "T100").raw == b"HD\r\n"
    assert 99 <= conn.ttl("cnt") <= 100
    r = conn.cmd("ma", "cnt", "c", "v")
    assert r.code == b"VA" and r.value == b"4" and int(r.mflags["c"]) == conn.get_item("cnt").cas
    conn.set("str", b"abc")
    assert conn.cmd("ma", "str").raw == b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
    assert conn.cmd("ma", "wrap", "N0", "J18446744073709551615", "v").raw == b"VA 20\r\n18446744073709551615\r\n"
    assert conn.cmd("ma", "wrap", "v").raw == b"VA 1\r\n0\r\n"


def test_meta_noop_and_debug(conn: McConn):
    assert conn.cmd("mn").raw == b"MN\r\n"
    conn.set("dbg", b"12345")
    r = conn.cmd("me", "dbg")
    assert r.line.startswith(b"ME dbg ") and b"exp=-1" in r.line and b"size=" in r.line, r
    assert conn.cmd("me", "missing").raw == b"EN\r\n"


def test_base64_keys(conn: McConn):
    key = b"bin\x00key\xff with spaces\r\n"
    enc = b64(key)
    assert conn.call(meta_set(enc, b"val", "b", "F2")).raw == b"HD\r\n"
    assert conn.cmd("mg", enc, "b", "v", "k", "f").raw == b"VA 3 k" + enc + b" b f2\r\nval\r\n"
    assert conn.cmd("ma", b64("ctr"), "b", "N0", "J1", "v").raw == b"VA 1\r\n1\r\n"
    # a base64 key is the same item as its decoded text key
    assert conn.cmd("get", "ctr").raw == b"VALUE ctr 0 1\r\n1\r\nEND\r\n"
    conn.set("plain", b"p")
    assert conn.cmd("mg", b64("plain"), "b", "v").raw == b"VA 1\r\np\r\n"
    assert conn.call(line("md", enc, "b", "q") + line("mn")).raw == b"MN\r\n"  # HD is quiet
    assert conn.cmd("mg", enc, "b", "v").raw == b"EN\r\n"
    assert conn.cmd("mg", "!!!!", "b", "v").raw == b"CLIENT_ERROR error decoding key\r\n"


def test_opaque_tokens(conn: McConn):
    send_all(conn, meta_set("o", b"x", "O1"), line("mg", "o", "v", "O2"), line("mg", "nope", "v", "O3"),
             line("ma", "o2", "N0", "J7", "O4"), line("md", "o", "O5"), line("md", "o", "O6"),
             meta_set("o", b"x", "ME", "O7"), meta_set("o", b"y", "ME", "O8"), line("mn"))
    assert b"".join(r.raw for r in conn.read_until(b"MN")) == (
        b"HD O1\r\nVA 1 O2\r\nx\r\nEN O3\r\nHD O4\r\nHD O5\r\nNF O6\r\nHD O7\r\nNS O8\r\nMN\r\n")


def test_quiet_mode_and_mn(conn: McConn):
    """q hides the uninteresting replies (HD for writes, EN for reads); mn marks the end."""
    send_all(conn, *(meta_set(f"q{i}", b"v%d" % i, "q") for i in range(20)), line("mn"))
    assert conn.read_reply().raw == b"MN\r\n"
    assert conn.read_available(0.1) == b""
    assert conn.cmd("get", "q0", "q19").raw == b"VALUE q0 0 2\r\nv0\r\nVALUE q19 0 3\r\nv19\r\nEND\r\n"
    # quiet reads: hits shown, misses hidden
    send_all(conn, line("mg", "q1", "v", "q", "k", "O1"), line("mg", "nope", "v", "q", "O2"),
             line("mg", "q2", "q"), line("mn"))
    assert b"".join(r.raw for r in conn.read_until(b"MN")) == b"VA 2 kq1 O1\r\nv1\r\nHD\r\nMN\r\n"
    # quiet writes that fail are shown
    send_all(conn, meta_set("q3", b"x", "q", "ME", "O3"), meta_set("nope", b"x", "q", "MR"),
             meta_set("q4", b"x", "q", "C1"), meta_set("q5", b"ok", "q"), line("mn"))
    assert b"".join(r.raw for r in conn.read_until(b"MN")) == b"NS O3\r\nNS\r\nEX\r\nMN\r\n"
    # quiet deletes: HD hidden, NF and EX shown (memcached 1.6)
    send_all(conn, line("md", "q6", "q"), line("md", "nope", "q", "O7"), line("md", "q7", "q", "C1"), line("mn"))
    assert b"".join(r.raw for r in conn.read_until(b"MN")) == b"NF O7\r\nEX\r\nMN\r\n"
    assert conn.get("q6") is None and conn.get("q7") == b"v7"
    # quiet arithmetic: success hidden, NF and errors shown
    conn.set("n", b"5")
    send_all(conn, line("ma", "n", "q"), line("ma", "n", "q", "v"), line("ma", "nope", "q"),
             line("ma", "q8", "q"), line("mn"))
    assert b"".join(r.raw for r in conn.read_until(b"MN")) == (
        b"NF\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\nMN\r\n")
    assert conn.get("n") == b"7"
    # an error inside a quiet pipeline is shown, and what follows still runs
    send_all(conn, meta_set("e1", b"x", "q"), line("ms", "e2", "2", "q") + b"xxx\r\n", meta_set("e3", b"y", "q"),
             line("mn"))
    replies = [r.line for r in conn.read_until(b"MN")]
    assert replies[0] == b"CLIENT_ERROR bad data chunk" and replies[-1] == b"MN", replies
    assert set(replies[1:-1]) <= {b"ERROR"}, replies
    assert conn.get("e1") == b"x" and conn.get("e3") == b"y" and conn.get("e2") is None


def test_meta_and_text_on_one_connection(conn: McConn):
    send_all(conn, storage("set", "mix", b"t", flags=1), line("mg", "mix", "v", "f"),
             meta_set("mix", b"m", "F2"), line("get", "mix"), line("ma", "c", "N0", "J1"), line("incr", "c", "1"),
             line("mn"))
    assert b"".join(r.raw for r in conn.read_until(b"MN")) == (
        b"STORED\r\nVA 1 f1\r\nt\r\nHD\r\nVALUE mix 2 1\r\nm\r\nEND\r\nHD\r\n2\r\nMN\r\n")


# ----------------------------------------------------------------------------
# pipelining
# ----------------------------------------------------------------------------

def mixed_requests(n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    keys = [f"p{i}" for i in range(25)]
    out = []
    for _ in range(n):
        k = rng.choice(keys)
        v = rng.randbytes(rng.choice((0, 1, 10, 100, 3000))).replace(b"\r\n", b"\n\r")
        num = str(rng.randint(0, 50)).encode()
        out.append(rng.choice([
            lambda: storage("set", k, v, flags=rng.randint(0, 9)),
            lambda: storage("set", k, num),
            lambda: storage("add", k, v),
            lambda: storage("replace", k, v, flags=3),
            lambda: storage("append", k, b"+a"),
            lambda: storage("prepend", k, b"p+"),
            lambda: storage("set", k, num, noreply=True),
            lambda: line("get", k),
            lambda: line("get", *rng.sample(keys, 5)),
            lambda: line("delete", k),
            lambda: line("incr", k, rng.randint(0, 9)),
            lambda: line("decr", k, rng.randint(0, 9)),
            lambda: line("touch", k, 0),
            lambda: line("mg", k, "v", "f", "s", "k", "t"),
            lambda: line("mg", k, "q", "v", "O9"),
            lambda: meta_set(k, v, "F7"),
            lambda: meta_set(k, num, "q"),
            lambda: meta_set(k, v, "ME"),
            lambda: line("md", k, "q"),
            lambda: line("md", k),
            lambda: line("ma", k, "N0", "J3", "v"),
            lambda: line("ma", k, "MD", "q"),
            lambda: line("mn"),
            lambda: line("nonsense", k),
        ])())
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_1000_mixed_requests_in_one_write(mcx: McEndpoint, mc_ref: McEndpoint, seed: int):
    """The same 1000 requests, sent in one write, answered byte for byte like a fresh memcached."""
    end = b"VALUE __end__ 0 3\r\nEND\r\nEND\r\n"
    payload = b"".join(mixed_requests(1000, seed)) + storage("set", "__end__", b"END") + line("get", "__end__")
    answers = []
    for ep in (mcx, mc_ref):
        c = ep.raw(timeout=30)
        # one write, from a thread: replies are read while it is still going (about 600 KB)
        writer = threading.Thread(target=c.send, args=(payload,))
        writer.start()
        replies = []
        while not replies or replies[-1] != end:
            replies.append(c.read_reply().raw)
        writer.join(30)
        answers.append(replies)
    got, want = answers
    for i, (a, b) in enumerate(zip(got, want)):
        assert a == b, f"reply #{i}: {a[:200]!r} != memcached's {b[:200]!r}"
    assert len(got) == len(want)
    assert len(want) > 800  # quiet and noreply requests have no reply


# ----------------------------------------------------------------------------
# values and limits
# ----------------------------------------------------------------------------

def test_large_values(conn: McConn):
    rng = random.Random(3)
    value = rng.randbytes(LARGE)
    assert conn.call(storage("set", "big", value, flags=1)).raw == b"STORED\r\n"
    r = conn.cmd("get", "big")
    assert r.items and r.items[0].value == value
    r = conn.cmd("mg", "big", "v", "s")
    assert r.value == value and r.mflags["s"] == str(LARGE)
    assert conn.call(meta_set("big2", value, "T0")).raw == b"HD\r\n"
    assert conn.cmd("get", "big2").items[0].value == value


@pytest.mark.parametrize("size", [1024 * 1024 + 1, 2 * 1024 * 1024])
def test_value_over_the_limit(conn: McConn, size: int):
    """Over 1 MiB: SERVER_ERROR object too large for cache, the data is skipped, and the requests
    pipelined behind it are answered."""
    conn.set("other", b"fine")
    send_all(conn, storage("set", "huge", b"x" * size), line("get", "other"),
             meta_set("huge2", b"y" * size, "T0"), line("get", "huge", "huge2", "other"))
    assert conn.read_reply().raw == b"SERVER_ERROR object too large for cache\r\n"
    assert conn.read_reply().raw == b"VALUE other 0 4\r\nfine\r\nEND\r\n"
    assert conn.read_reply().raw == b"SERVER_ERROR object too large for cache\r\n"
    assert conn.read_reply().raw == b"VALUE other 0 4\r\nfine\r\nEND\r\n"
    assert conn.cmd("mn").raw == b"MN\r\n"


@pytest.mark.proxy_only
def test_max_value_bytes_is_configurable(stack: Stack):
    ep = stack.mc_endpoint(limits={"maxValueBytes": 1000})
    c = ep.raw()
    assert c.call(storage("set", "k", b"x" * 1000)).raw == b"STORED\r\n"
    assert c.call(storage("set", "k2", b"x" * 1001)).raw == b"SERVER_ERROR object too large for cache\r\n"
    assert c.call(meta_set("k3", b"x" * 1001)).raw == b"SERVER_ERROR object too large for cache\r\n"
    assert c.cmd("get", "k", "k2", "k3").raw == b"VALUE k 0 1000\r\n" + b"x" * 1000 + b"\r\nEND\r\n"
    # nothing of the refused value reached the backend
    assert McConn(ep.backend.port).cmd("get", "k2", "k3").raw == b"END\r\n"


# ----------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------

def test_unknown_command(conn: McConn):
    assert conn.cmd("foo").raw == b"ERROR\r\n"
    assert conn.cmd("foo", "bar", "baz").raw == b"ERROR\r\n"
    assert conn.cmd("GET", "k").raw == b"ERROR\r\n"  # commands are case-sensitive
    assert conn.cmd("get").raw == b"ERROR\r\n"  # no key: memcached says ERROR, not CLIENT_ERROR
    assert conn.cmd("mn").raw == b"MN\r\n"


# A malformed storage line whose length is readable is followed by a 2-byte block "mn": memcached
# reads it as a command (MN), a proxy may skip it; either is fine.
MALFORMED = [
    ("set", line("set", "k", "0", "0", "abc")),
    ("set-negative-length", line("set", "k", "0", "0", "-1")),
    ("set-flags", line("set", "k", "abc", "0", "2") + b"mn\r\n"),
    ("set-exptime", line("set", "k", "0", "abc", "2") + b"mn\r\n"),
    ("cas-token", line("cas", "k", "0", "0", "2", "abc") + b"mn\r\n"),
    ("ms-flag", line("ms", "k", "2", "Fabc") + b"mn\r\n"),
    ("verbosity-level", line("verbosity", "abc")),
    ("delete-time", line("delete", "k", "5")),
    ("incr-delta", line("incr", "k", "-1")),
    ("touch-exptime", line("touch", "k", "abc")),
    ("ms-length", line("ms", "k", "abc")),
    ("ms-no-length", line("ms", "k")),
    ("mg-no-key-flags", line("mg", "k", "zz")),
    ("me-no-key", line("me")),
]


@pytest.mark.parametrize("request_", [m[1] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_line(conn: McConn, request_: bytes):
    r = conn.call(request_)
    assert r.code == b"CLIENT_ERROR", r
    # the connection is still usable
    assert set(resync(conn)) <= {b"MN"}
    assert conn.set("after", b"ok") == b"STORED" and conn.get("after") == b"ok"
    assert conn.get("k") is None


KEY251 = "k" * 251


@pytest.mark.parametrize("request_", [
    line("get", KEY251), line("get", "a", KEY251, "b"), line("gets", KEY251), line("gat", "10", KEY251),
    line("delete", KEY251), line("incr", KEY251, "1"), line("touch", KEY251, "1"),
    line("mg", KEY251, "v"), line("md", KEY251), line("ma", KEY251),
], ids=["get", "get-many", "gets", "gat", "delete", "incr", "touch", "mg", "md", "ma"])
def test_key_over_250_bytes(conn: McConn, request_: bytes):
    assert conn.call(request_).raw == b"CLIENT_ERROR bad command line format\r\n"
    assert conn.cmd("mn").raw == b"MN\r\n"


@pytest.mark.parametrize("request_", [storage("set", KEY251, b"mn"), meta_set(KEY251, b"mn")], ids=["set", "ms"])
def test_storage_with_a_key_over_250_bytes(conn: McConn, request_: bytes):
    conn.send(request_)
    assert conn.read_reply().raw == b"CLIENT_ERROR bad command line format\r\n"
    # memcached then reads the data block as a command line (here: mn); the proxy may skip it
    assert set(resync(conn)) <= {b"MN"}
    assert conn.cmd("get", KEY251[:250]).raw == b"END\r\n"


@pytest.mark.proxy_only
@pytest.mark.parametrize("key", [b"a\x01b", b"tab\tkey", b"del\x7f", b"nul\x00"], ids=["ctrl-a", "tab", "del", "nul"])
def test_key_with_control_characters(mc: McEndpoint, key: bytes):
    """The proxy refuses keys with control characters (memcached 1.6 stores them)."""
    conn = mc.raw()
    assert conn.call(b"get " + key + b"\r\n").code == b"CLIENT_ERROR"
    assert conn.call(b"mg " + key + b" v\r\n").code == b"CLIENT_ERROR"
    conn.send(b"set " + key + b" 0 0 2\r\nmn\r\n")
    assert conn.read_reply().code == b"CLIENT_ERROR"
    assert set(resync(conn)) <= {b"MN"}
    assert McConn(mc.backend.port).cmd("stats").stats["curr_items"] == "0", "the key reached the backend"


@pytest.mark.parametrize("data", [b"ab\r\n", b"abcdefgh\r\n", b"a\r\r\n", b"a\n\r\n"], ids=["longer", "much-longer", "cr", "lf"])
def test_bad_data_chunk(conn: McConn, data: bytes):
    conn.set("k", b"old")
    conn.send(line("set", "k", "0", "0", "1") + data)
    assert conn.read_reply().raw == b"CLIENT_ERROR bad data chunk\r\n"
    # memcached parses the rest of the bad block as a command line (ERROR); then it is in sync
    assert set(resync(conn)) <= {b"ERROR"}
    assert conn.get("k") == b"old", "a bad data block must not be stored"
    assert conn.set("k", b"new") == b"STORED" and conn.get("k") == b"new"


def test_bad_data_chunk_affects_only_that_client(mcx: McEndpoint):
    """One client sends broken data blocks while another runs a pipeline: the other's replies are
    all right, and so is the broken client's state afterwards."""
    bad, good = mcx.raw(), mcx.raw()
    errors: list[Any] = []

    def breaker() -> None:
        try:
            for i in range(50):
                bad.send(line("set", f"bad{i}", "0", "0", "2") + b"abcd\r\n")
                assert bad.read_reply().raw == b"CLIENT_ERROR bad data chunk\r\n"
                assert set(resync(bad)) <= {b"ERROR"}
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=breaker)
    t.start()
    for round_ in range(20):
        send_all(good, *(storage("set", f"g{i}", b"r%d-%d" % (round_, i)) for i in range(20)),
                 line("get", *[f"g{i}" for i in range(20)]))
        assert all(r.raw == b"STORED\r\n" for r in good.read_replies(20))
        got = good.read_reply().values()
        assert got == {f"g{i}".encode(): b"r%d-%d" % (round_, i) for i in range(20)}
    t.join(30)
    assert not errors, errors
    assert good.cmd("get", *[f"bad{i}" for i in range(50)]).raw == b"END\r\n"


@pytest.mark.proxy_only
def test_binary_protocol_client_is_refused(mc: McEndpoint):
    """A binary-protocol request (magic 0x80) gets a binary response with status 0x0081 (unknown
    command) and the connection is closed. memcached 1.6 itself still speaks the binary protocol."""
    conn = mc.raw()
    key = b"k"
    header = struct.pack(">BBHBBHIIQ", 0x80, 0x00, len(key), 0, 0, 0, len(key), 0xDEADBEEF, 0)
    conn.send(header + key)
    data, closed = conn.read_until_closed(5)
    assert closed, f"the connection stayed open after {data!r}"
    assert len(data) >= 24, data
    magic, opcode, _keylen, _extras, _dtype, status, bodylen, _opaque, _cas = struct.unpack(">BBHBBHIIQ", data[:24])
    assert magic == 0x81 and status == 0x0081, data[:24].hex()
    assert len(data) == 24 + bodylen, data
    # the proxy is fine for everyone else
    assert mc.raw().cmd("mn").raw == b"MN\r\n"


@pytest.mark.proxy_only
def test_no_cluster_reachable(stack: Stack):
    ep = stack.mc_endpoint(timeouts={"connectMs": 300, "requestMs": 1000, "reconnectMinMs": 50,
                                     "reconnectMaxMs": 200})
    c = ep.raw()
    assert c.set("k", b"v") == b"STORED"
    port = ep.backend.port
    ep.backend.proc.send_signal(signal.SIGKILL)
    ep.backend.proc.wait(5)
    for phase in ("at once", "later"):
        for request_ in (line("get", "k"), storage("set", "k", b"x"), line("mg", "k", "v"), meta_set("k", b"x"),
                         line("delete", "k"), line("incr", "k", "1")):
            t0 = time.monotonic()
            r = c.call(request_)
            assert r.code == b"SERVER_ERROR", f"{phase}: {request_!r} answered {r!r}"
            assert time.monotonic() - t0 < 3
        assert c.cmd("version").code == b"VERSION"
        time.sleep(0.5)
    stack.memcached_server(port=port)
    deadline = time.monotonic() + 10
    while c.set("k", b"back") != b"STORED":
        assert time.monotonic() < deadline, "not served 10 s after the backend returned"
        time.sleep(0.05)
    assert c.get("k") == b"back"
