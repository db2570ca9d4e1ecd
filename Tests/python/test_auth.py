"""AUTH and ACL users (issue #9 item 1), end to end.

Clients of the redis listener (`requirepass`, `users`):
- before AUTH every command but AUTH, HELLO, QUIT and RESET gets `-NOAUTH Authentication
  required.`; HELLO without AUTH gets redis's long NOAUTH; the exact bytes are checked on raw
  sockets, and the same exchanges run against redis-server itself with METACLUSTER_TARGET=direct
  (started with the same requirepass and ACL user);
- a wrong password or unknown user gets WRONGPASS; the right one +OK, after which commands work,
  ACL WHOAMI answers the user and RESET goes back to needing AUTH;
- redis-py with its default protocol (HELLO 3 AUTH) and with protocol=2 (AUTH), with password
  alone and with username too;
- a reload picks up new passwords; a refused AUTH is counted and logged without the password.

The proxy on its backends (`clusters[].redisAuth`), against redis-servers run with --requirepass
or an ACL user: writes through RESP2 and RESP3 connections reach every cluster (read back from each
server with its own password), a restarted server is re-authenticated and gets its backlog; a wrong
backend password gives the client an error naming the server's WRONGPASS.

Every proxy is stopped at the end of its test and its whole stderr searched for each secret it was
given: none may appear.
"""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from conftest import DIRECT, METACLUSTER_BIN, Endpoint, Metacluster, Stack, wait_until
from resp import Error, encode, map_get

NOAUTH = b"-NOAUTH Authentication required.\r\n"
HELLO_NOAUTH = (b"-NOAUTH HELLO must be called with the client already authenticated, otherwise the "
                b"HELLO AUTH <user> <pass> option can be used to authenticate the client and "
                b"select the RESP protocol version at the same time\r\n")
WRONGPASS = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
NO_DEFAULT_PASSWORD = (b"-ERR AUTH <password> called without any password configured for the default user. "
                       b"Are you sure your configuration is correct?\r\n")


def secret(what: str) -> str:
    """A password no log line or reply could contain by accident."""
    return f"{what}-{uuid.uuid4().hex[:12]}"


def secured(stack: Stack, *, requirepass: str | None, users: list[tuple[str, str]], **kw) -> Endpoint:
    """The endpoint under test with these client passwords: the proxy configured with them in front
    of a plain redis-server, or (direct) a redis-server with the same requirepass and ACL users."""
    if DIRECT:
        extra: list[str] = []
        if requirepass:
            extra += ["--requirepass", requirepass]
        for user, password in users:
            extra += ["--user", user, "on", f">{password}", "~*", "&*", "+@all"]
        server = stack.redis_server(extra=tuple(extra))
        ep = Endpoint(server.port, "direct", server=server, backend=server)
    else:
        backend = stack.redis_server()
        config: dict = {}
        if requirepass:
            config["requirepass"] = requirepass
        if users:
            config["users"] = [{"user": u, "password": p} for u, p in users]
        m = stack.metacluster([backend.port], config_extra=config, **kw)
        ep = Endpoint(m.port, "proxy", server=m, backend=backend)
    stack.endpoints.append(ep)
    return ep


def stop_and_check_log(m: Metacluster, secrets: list[str]) -> str:
    """Stops the proxy (it must exit 0) and returns its whole stderr, which must hold no secret."""
    rc = m.stop()
    m.checked = True
    assert rc == 0, f"metacluster exited with {rc}\n{m.describe()}"
    log = m.stderr_text()
    for s in secrets:
        assert s not in log, f"the proxy's log holds the secret {s!r}:\n{log[-4000:]}"
    return log


def finish(ep: Endpoint, secrets: list[str]) -> None:
    if ep.kind == "proxy":
        ep.close_clients()
        stop_and_check_log(ep.server, secrets)


def whoami(c) -> bytes:
    return c.call_raw("ACL", "WHOAMI")


# ----------------------------------------------------------------------------
# clients: raw exchanges, byte for byte
# ----------------------------------------------------------------------------

def test_unauthenticated_commands_get_noauth(stack):
    cpw, apw = secret("client"), secret("alice")
    ep = secured(stack, requirepass=cpw, users=[("alice", apw)])
    c = ep.raw()
    for command in (("GET", "k"), ("SET", "k", "v"), ("PING",), ("SELECT", "0"), ("CLIENT", "ID"),
                    ("ACL", "WHOAMI"), ("INFO",), ("DEL", "k"), ("FLUSHALL",)):
        assert c.call_raw(*command) == NOAUTH, command
    # Inline commands are gated too, and a pipeline gets one NOAUTH per command.
    c.send(b"GET k\r\nPING\r\n" + encode("EXISTS", "k"))
    assert c.read_raw(3) == [NOAUTH] * 3
    assert c.call_raw("HELLO", "3") == HELLO_NOAUTH
    assert c.call_raw("HELLO") == HELLO_NOAUTH
    # Nothing was written on the way.
    assert ep.backend is not None
    assert redis.Redis(port=ep.backend.port, password=cpw if DIRECT else None).exists("k") == 0
    if not DIRECT:
        # redis answers an unknown command with "unknown command" before checking auth; the proxy
        # would forward it, so it is refused like any other.
        assert c.call_raw("NOSUCHCOMMAND", "x") == NOAUTH
    assert c.call_raw("QUIT") == b"+OK\r\n"
    finish(ep, [cpw, apw])


@pytest.mark.covers("AUTH")
def test_auth_outcomes(stack):
    cpw, apw = secret("client"), secret("alice")
    ep = secured(stack, requirepass=cpw, users=[("alice", apw)])
    c = ep.raw()
    assert c.call_raw("AUTH", "wrong") == WRONGPASS
    assert c.call_raw("AUTH", "default", "wrong") == WRONGPASS
    assert c.call_raw("AUTH", "alice", cpw) == WRONGPASS
    assert c.call_raw("AUTH", "nobody", apw) == WRONGPASS
    assert c.call_raw("AUTH", cpw + "x") == WRONGPASS
    assert c.call_raw("AUTH") == b"-ERR wrong number of arguments for 'auth' command\r\n"
    assert c.call_raw("AUTH", "alice", apw, "extra") == b"-ERR syntax error\r\n"
    assert c.call_raw("GET", "k") == NOAUTH
    assert c.call_raw("AUTH", cpw) == b"+OK\r\n"
    assert whoami(c) == b"$7\r\ndefault\r\n"
    assert c.call_raw("SET", "k", "v") == b"+OK\r\n"
    assert c.call_raw("GET", "k") == b"$1\r\nv\r\n"
    # Switching user; a failed attempt keeps the user it had.
    assert c.call_raw("AUTH", "alice", "wrong") == WRONGPASS
    assert whoami(c) == b"$7\r\ndefault\r\n"
    assert c.call_raw("AUTH", "alice", apw) == b"+OK\r\n"
    assert whoami(c) == b"$5\r\nalice\r\n"
    # RESET: back to the default user, which needs its password again.
    assert c.call_raw("RESET") == b"+RESET\r\n"
    assert c.call_raw("GET", "k") == NOAUTH
    assert c.call_raw("AUTH", "default", cpw) == b"+OK\r\n"
    assert c.call_raw("GET", "k") == b"$1\r\nv\r\n"
    # AUTH pipelined ahead of the commands that need it.
    d = ep.raw()
    d.send(encode("AUTH", "alice", apw) + encode("SET", "p", "1") + encode("INCR", "p") + b"GET p\r\n")
    assert d.read_raw(4) == [b"+OK\r\n", b"+OK\r\n", b":2\r\n", b"$1\r\n2\r\n"]
    finish(ep, [cpw, apw])


def test_hello_auth(stack):
    cpw, apw = secret("client"), secret("alice")
    ep = secured(stack, requirepass=cpw, users=[("alice", apw)])
    c = ep.raw()
    assert c.call_raw("HELLO", "3", "AUTH", "alice", "wrong") == WRONGPASS
    # Redis 7.0 checks AUTH as soon as it reads it, before the options after it.
    assert c.call_raw("HELLO", "3", "AUTH", "alice", "wrong", "SETNAME") == WRONGPASS
    assert c.call_raw("HELLO", "3", "SETNAME") == b"-ERR Syntax error in HELLO option 'SETNAME'\r\n"
    assert c.call_raw("GET", "k") == NOAUTH
    # ... and a bad option after a right password leaves the connection authenticated, in RESP2.
    assert c.call_raw("HELLO", "3", "AUTH", "alice", apw, "SETNAME", "a b") == (
        b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n")
    assert whoami(c) == b"$5\r\nalice\r\n"
    assert c.call_raw("GET", "missing") == b"$-1\r\n"
    assert c.call_raw("RESET") == b"+RESET\r\n"
    assert c.call_raw("GET", "k") == NOAUTH
    c.send(encode("HELLO", "3", "AUTH", "alice", apw, "SETNAME", "app"))
    raw, hello = c.read_reply()
    assert raw.startswith(b"%7\r\n"), raw
    assert map_get(hello, b"proto") == 3
    assert whoami(c) == b"$5\r\nalice\r\n"
    assert c.call_raw("CLIENT", "GETNAME") == b"$3\r\napp\r\n"
    assert c.call_raw("GET", "missing") == b"_\r\n"  # RESP3 null: the protocol switched
    # Already authenticated: HELLO needs no AUTH; HELLO 2 AUTH default switches user and protocol.
    assert c.call_raw("HELLO", "3").startswith(b"%7\r\n")
    raw = c.call_raw("HELLO", "2", "AUTH", "default", cpw)
    assert raw.startswith(b"*14\r\n"), raw
    assert whoami(c) == b"$7\r\ndefault\r\n"
    assert c.call_raw("GET", "missing") == b"$-1\r\n"
    finish(ep, [cpw, apw])


@pytest.mark.proxy_only
def test_acl_users_without_requirepass(stack):
    """Only ACL users configured: every client must authenticate (redis would let `default` in
    with nopass), and `default` cannot, having no password."""
    apw, bpw = secret("alice"), secret("bob")
    ep = secured(stack, requirepass=None, users=[("alice", apw), ("bob", bpw)])
    c = ep.raw()
    assert c.call_raw("PING") == NOAUTH
    assert c.call_raw("AUTH", apw) == NO_DEFAULT_PASSWORD
    assert c.call_raw("AUTH", "default", apw) == WRONGPASS
    assert c.call_raw("AUTH", "bob", apw) == WRONGPASS
    assert c.call_raw("AUTH", "bob", bpw) == b"+OK\r\n"
    assert whoami(c) == b"$3\r\nbob\r\n"
    assert c.call_raw("PING") == b"+PONG\r\n"
    finish(ep, [apw, bpw])


def test_without_passwords_auth_behaves_as_before(stack):
    ep = secured(stack, requirepass=None, users=[])
    c = ep.raw()
    assert c.call_raw("PING") == b"+PONG\r\n"
    assert whoami(c) == b"$7\r\ndefault\r\n"
    assert c.call_raw("AUTH", "whatever") == NO_DEFAULT_PASSWORD
    assert c.call_raw("AUTH", "default", "whatever") == b"+OK\r\n"
    assert c.call_raw("AUTH", "alice", "whatever") == WRONGPASS
    assert c.call_raw("RESET") == b"+RESET\r\n"
    assert c.call_raw("PING") == b"+PONG\r\n"


# ----------------------------------------------------------------------------
# clients: redis-py
# ----------------------------------------------------------------------------

@pytest.mark.covers("AUTH")
@pytest.mark.parametrize("protocol", [None, 2], ids=["default-protocol", "resp2"])
def test_redis_py(stack, protocol):
    cpw, apw = secret("client"), secret("alice")
    ep = secured(stack, requirepass=cpw, users=[("alice", apw)])
    as_default = ep.client(protocol=protocol, password=cpw)
    assert as_default.set("py", "1") is True
    assert as_default.incr("py") == 2
    assert as_default.acl_whoami() in ("default", b"default")
    as_alice = ep.client(protocol=protocol, username="alice", password=apw)
    assert as_alice.get("py") == b"2"
    assert as_alice.acl_whoami() in ("alice", b"alice")
    assert as_alice.hset("h", mapping={"a": "1"}) == 1 and as_alice.hgetall("h") == {b"a": b"1"}
    # Refused: no password, a wrong one, an unknown user.
    # (AuthenticationError is a ConnectionError, which redis-py would retry with back-off.)
    for kw in ({}, {"password": "wrong"}, {"username": "alice", "password": cpw}, {"username": "eve", "password": apw}):
        with pytest.raises(redis.AuthenticationError):
            ep.client(protocol=protocol, retry=Retry(NoBackoff(), 0), **kw).get("py")
    finish(ep, [cpw, apw])


# ----------------------------------------------------------------------------
# proxy only: counting and logging, reload
# ----------------------------------------------------------------------------

@pytest.mark.proxy_only
def test_failed_auth_is_counted_and_logged_without_the_password(stack):
    cpw, guess = secret("client"), secret("guess")
    ep = secured(stack, requirepass=cpw, users=[], admin=True)
    m = ep.server
    c = ep.raw()
    before = m.metrics().value("metacluster_auth_failures_total", default=0.0, listener="redis")
    mark = m.log_mark()
    assert c.call_raw("AUTH", guess) == WRONGPASS
    assert c.call_raw("AUTH", "mallory", guess) == WRONGPASS
    assert c.call_raw("HELLO", "3", "AUTH", "default", guess) == WRONGPASS
    assert c.call_raw("AUTH", cpw) == b"+OK\r\n"
    wait_until(lambda: m.metrics().value("metacluster_auth_failures_total", default=0.0, listener="redis") == before + 3,
               5, "metacluster_auth_failures_total{listener=redis} to grow by 3")
    line = m.wait_log("client authentication failed", "mallory", since=mark)
    assert "127.0.0.1" in line, line
    assert guess not in m.log_since(mark)
    # Nothing of the secrets in /status, /metrics or INFO either.
    shown = m.http("GET", "/status").text + m.metrics().text + c.call_raw("INFO").decode(errors="replace")
    assert cpw not in shown and guess not in shown
    finish(ep, [cpw, guess])


@pytest.mark.proxy_only
def test_reload_picks_up_new_passwords(stack):
    old, new, apw = secret("old"), secret("new"), secret("alice")
    ep = secured(stack, requirepass=old, users=[])
    m = ep.server
    before = ep.raw()
    assert before.call_raw("AUTH", old) == b"+OK\r\n"
    never = ep.raw()  # connected, never authenticated

    config = dict(m.config)
    config["requirepass"] = new
    config["users"] = [{"user": "alice", "password": apw}]
    mark = m.log_mark()
    m.write_config(config)
    m.sighup()
    m.wait_log("configuration reloaded", since=mark)

    c = ep.raw()
    assert c.call_raw("AUTH", old) == WRONGPASS
    assert c.call_raw("AUTH", new) == b"+OK\r\n"
    assert c.call_raw("AUTH", "alice", apw) == b"+OK\r\n"
    # Authenticated connections stay so, as with redis's CONFIG SET requirepass.
    assert before.call_raw("SET", "r", "1") == b"+OK\r\n"
    assert never.call_raw("GET", "r") == NOAUTH

    # Passwords removed: nobody needs AUTH any more.
    del config["requirepass"], config["users"]
    mark = m.log_mark()
    m.write_config(config)
    m.sighup()
    m.wait_log("configuration reloaded", since=mark)
    assert never.call_raw("GET", "r") == b"$1\r\n1\r\n"
    assert ep.raw().call_raw("AUTH", new) == NO_DEFAULT_PASSWORD
    finish(ep, [old, new, apw])


@pytest.mark.proxy_only
def test_config_check_reports_no_secret(tmp_path):
    pw = secret("bad")
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({
        "listen": {"redis": "127.0.0.1:6379"},
        "requirepass": pw,
        "users": [{"user": "default", "password": pw}, {"user": "a b", "password": pw}],
        "clusters": [{"name": "a", "redis": ["127.0.0.1:16379"], "redisAuth": {"password": pw, "usr": "x"}}],
    }))
    out = subprocess.run([str(METACLUSTER_BIN), "--config", str(path), "--check"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    text = out.stdout + out.stderr
    assert "users[0].user" in text and "users[1].user" in text and "clusters[0].redisAuth.usr" in text, text
    assert pw not in text


# ----------------------------------------------------------------------------
# proxy only: the backends' passwords
# ----------------------------------------------------------------------------

@pytest.mark.proxy_only
def test_backend_passwords_reach_every_cluster(stack):
    cpw = secret("client")
    pa, pb, pc, pc_default = secret("dc-a"), secret("dc-b"), secret("dc-c"), secret("dc-c-default")
    a = stack.redis_server(extra=("--requirepass", pa))
    b = stack.redis_server(extra=("--requirepass", pb))
    # dc-c: the proxy logs in as an ACL user, not as default.
    c_extra = ("--requirepass", pc_default, "--user", "proxy", "on", f">{pc}", "~*", "&*", "+@all")
    c = stack.redis_server(extra=c_extra)
    clusters = [
        {"name": "dc-a", "local": True, "redis": [f"127.0.0.1:{a.port}"], "redisAuth": {"password": pa}},
        {"name": "dc-b", "redis": [f"127.0.0.1:{b.port}"], "redisAuth": {"password": pb}},
        {"name": "dc-c", "redis": [f"127.0.0.1:{c.port}"], "redisAuth": {"user": "proxy", "password": pc}},
    ]
    m = stack.metacluster([], clusters=clusters, config_extra={"requirepass": cpw}, admin=True)
    direct = {
        "dc-a": redis.Redis(port=a.port, password=pa),
        "dc-b": redis.Redis(port=b.port, password=pb),
        "dc-c": redis.Redis(port=c.port, username="proxy", password=pc),
    }
    ep = Endpoint(m.port, "proxy", server=m)
    stack.endpoints.append(ep)
    # RESP2 connections authenticate with AUTH, RESP3 ones with HELLO 3 AUTH.
    for protocol in (2, 3):
        client = ep.client(protocol=protocol, password=cpw)
        for i in range(20):
            assert client.set(f"k{protocol}:{i}", f"v{i}") is True
        assert client.get(f"k{protocol}:19") == b"v19"
        assert client.incr(f"n{protocol}") == 1
    for name, server in direct.items():
        wait_until(lambda s=server: all(s.get(f"k{p}:{i}") == f"v{i}".encode() for p in (2, 3) for i in range(20))
                   and s.get("n2") == b"1" and s.get("n3") == b"1", 5, f"every write on {name}")
    # A client of the proxy does not learn the backends' password through CONFIG GET.
    for protocol in (2, 3):
        client = ep.client(protocol=protocol, password=cpw)
        got = client.config_get("requirepass")
        assert got == {"requirepass": "<redacted>"} or got == {b"requirepass": b"<redacted>"}, got
        assert "maxmemory" in {k.decode() if isinstance(k, bytes) else k for k in client.config_get("max*")}

    # A server restarted with the same password is authenticated again and gets what it missed.
    b.stop()
    client = ep.client(protocol=2, password=cpw)
    for i in range(10):
        assert client.set(f"late:{i}", i) is True
    b2 = stack.redis_server(port=b.port, extra=("--requirepass", pb))
    direct["dc-b"] = redis.Redis(port=b2.port, password=pb)
    wait_until(lambda: all(direct["dc-b"].get(f"late:{i}") == str(i).encode() for i in range(10)), 10,
               "the backlog replayed to the restarted dc-b")

    shown = m.http("GET", "/status").text + m.metrics().text + str(client.info())
    for s in (cpw, pa, pb, pc, pc_default):
        assert s not in shown
    ep.close_clients()
    stop_and_check_log(m, [cpw, pa, pb, pc, pc_default])


@pytest.mark.proxy_only
def test_wrong_backend_password_is_a_clear_error(stack):
    right, wrong = secret("right"), secret("wrong")
    server = stack.redis_server(extra=("--requirepass", right))
    clusters = [{"name": "dc-a", "local": True, "redis": [f"127.0.0.1:{server.port}"], "redisAuth": {"password": wrong}}]
    m = stack.metacluster([], clusters=clusters)
    ep = Endpoint(m.port, "proxy", server=m)
    stack.endpoints.append(ep)
    m.wait_log("backend connection failed", "server refused the handshake")
    for hello3 in (False, True):
        c = ep.raw()
        if hello3:
            assert c.call_raw("HELLO", "3").startswith(b"%7\r\n")
        for command in (("GET", "k"), ("SET", "k", "v")):
            reply = c.call(*command)
            assert isinstance(reply, Error), reply
            text = str(reply)
            assert text.startswith(f"ERR backend 127.0.0.1:{server.port} unavailable"), text
            assert "server refused the handshake" in text and "WRONGPASS" in text, text
            assert wrong not in text and right not in text
    # Both connection kinds were refused: AUTH (RESP2) and HELLO 3 AUTH (RESP3).
    m.wait_log("server refused the handshake", "variant=0")
    m.wait_log("server refused the handshake", "variant=1")
    assert redis.Redis(port=server.port, password=right).exists("k") == 0
    ep.close_clients()
    log = stop_and_check_log(m, [right, wrong])
    assert "WRONGPASS" in log
