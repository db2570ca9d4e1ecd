"""redis-cli through the proxy, compared with redis-cli against redis-server itself."""

from __future__ import annotations

import shutil
import subprocess

import pytest

REDIS_CLI = shutil.which("redis-cli") or "redis-cli"


def cli(port: int, *args: str, stdin: bytes | None = None, resp3: bool = False) -> subprocess.CompletedProcess:
    cmd = [REDIS_CLI, "-h", "127.0.0.1", "-p", str(port)]
    if resp3:
        cmd.append("-3")
    cmd += list(args)
    if stdin is None:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    return subprocess.run(cmd, input=stdin, capture_output=True, timeout=30)


def same_cli(proxy, ref, *args: str, stdin: bytes | None = None, resp3: bool = False) -> subprocess.CompletedProcess:
    p = cli(proxy.port, *args, stdin=stdin, resp3=resp3)
    r = cli(ref.port, *args, stdin=stdin, resp3=resp3)
    label = f"redis-cli {'-3 ' if resp3 else ''}{' '.join(args)}"
    assert (p.returncode, p.stdout, p.stderr) == (r.returncode, r.stdout, r.stderr), (
        f"{label}\nproxy: rc={p.returncode} out={p.stdout!r:.2000} err={p.stderr!r:.500}\n"
        f"redis: rc={r.returncode} out={r.stdout!r:.2000} err={r.stderr!r:.500}")
    return p


def test_ping(proxy, ref):
    p = same_cli(proxy, ref, "ping")
    assert p.stdout.strip() == b"PONG"


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_set_get(proxy, ref, resp3):
    same_cli(proxy, ref, "set", "k", "v", resp3=resp3)
    p = same_cli(proxy, ref, "get", "k", resp3=resp3)
    assert p.stdout.strip() == b"v"
    same_cli(proxy, ref, "get", "missing", resp3=resp3)
    same_cli(proxy, ref, "incr", "k", resp3=resp3)  # an error reply, printed by redis-cli


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_aggregate_types(proxy, ref, resp3):
    for args in (("hset", "h", "a", "1", "b", "2"), ("hgetall", "h"),
                 ("sadd", "s", "30", "10", "20"), ("smembers", "s"),  # intset: ordered on every server
                 ("zadd", "z", "1.5", "m", "2", "n"), ("zrange", "z", "0", "-1", "withscores"),
                 ("zscore", "z", "m"), ("rpush", "l", "a", "", "c"), ("lrange", "l", "0", "-1"),
                 ("mget", "h", "nope"), ("exists", "h", "s", "nope")):
        same_cli(proxy, ref, *args, resp3=resp3)


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_interactive_startup_sends_command_docs(proxy, ref, resp3):
    """With commands on stdin redis-cli runs its REPL, which first sends COMMAND DOCS
    (a reply nested 12 deep) to build its hints, then the commands."""
    script = b"ping\nset a b\nget a\nhset h f v\nhgetall h\nget nope\n"
    p = same_cli(proxy, ref, stdin=script, resp3=resp3)
    assert b"PONG" in p.stdout


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_command_docs(proxy, ref, resp3):
    p = same_cli(proxy, ref, "command", "docs", "get", "set", resp3=resp3)
    assert b"summary" in p.stdout


def test_pipe_mode(proxy, ref):
    """`redis-cli --pipe` (mass insertion) streams raw RESP and ends with an ECHO marker."""
    from resp import encode

    data = b"".join(encode("SET", f"key:{i}", f"value:{i}") for i in range(10000))
    data += encode("INCR", "key:1")  # one error reply
    p = cli(proxy.port, "--pipe", stdin=data)
    r = cli(ref.port, "--pipe", stdin=data)
    for res, who in ((r, "redis"), (p, "proxy")):
        assert b"errors: 1, replies: 10001" in res.stdout, (who, res.stdout + res.stderr)
    assert p.returncode == r.returncode
    assert cli(proxy.port, "get", "key:9999").stdout.strip() == b"value:9999"
