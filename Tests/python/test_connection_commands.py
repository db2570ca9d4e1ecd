"""The connection commands the proxy answers from the client's own state (issue #9): CLIENT ID,
CLIENT INFO, CLIENT SETINFO, READONLY/READWRITE and RESET, over raw sockets, compared with what a
redis-server answers where the answers can match."""

from __future__ import annotations

import pytest

from conftest import DIRECT
from resp import Error, encode


@pytest.mark.covers("CLIENT ID", "CLIENT INFO", "CLIENT SETINFO")
def test_client_id_info_and_setinfo(proxy):
    c = proxy.raw()
    first = c.call("CLIENT", "ID")
    assert isinstance(first, int) and first > 0
    assert c.call("CLIENT", "ID") == first, "the id is the connection's, stable"
    other = proxy.raw()
    assert other.call("CLIENT", "ID") != first
    assert c.call("CLIENT", "SETINFO", "LIB-NAME", "metacluster-tests") == b"OK"
    assert c.call("CLIENT", "SETNAME", "conn-a") == b"OK"
    info = c.call("CLIENT", "INFO")
    text = info.decode() if isinstance(info, bytes) else str(info)
    assert f"id={first} " in text and " name=conn-a " in text and " db=0 " in text
    assert isinstance(c.call("CLIENT", "SETINFO", "LIB-NAME"), Error), "wrong arity"


@pytest.mark.covers("READONLY", "READWRITE")
def test_readonly_and_readwrite_answer_as_a_standalone_server(proxy, ref):
    for command in ("READONLY", "READWRITE"):
        got = proxy.raw().call_raw(command)
        want = ref.raw().call_raw(command)
        assert got == want, command


@pytest.mark.covers("RESET")
def test_reset_ends_transactions_subscriptions_and_the_protocol(proxy, ref):
    for ep in (proxy, ref):
        c = ep.raw()
        c.send(encode("HELLO", "3"))
        c.read_reply()
        assert c.call("MULTI") == b"OK"
        assert c.call("SET", "reset-k", "v") == b"QUEUED"
        assert c.call("RESET") == b"RESET"
        # The queued SET never ran, and the connection speaks RESP2 again.
        assert isinstance(c.call("EXEC"), Error)
        assert c.call_raw("GET", "reset-k") == b"$-1\r\n"
        c.send(encode("SUBSCRIBE", "reset-ch"))
        c.read_reply()
        assert c.call("RESET") == b"RESET"
        # Out of subscribed mode: an ordinary command works on a RESP2 connection.
        assert c.call("SET", "reset-k2", "v") == b"OK"
        assert c.call("GET", "reset-k2") == b"v"
        assert c.call("DEL", "reset-k2") == 1


@pytest.mark.skipif(DIRECT, reason="the proxy serves database 0 only")
@pytest.mark.covers("SELECT")
def test_select_other_databases_is_refused_clearly(proxy):
    c = proxy.raw()
    assert c.call("SELECT", "0") == b"OK"
    reply = c.call("SELECT", "3")
    assert isinstance(reply, Error) and b"database 0 only" in reply.message
