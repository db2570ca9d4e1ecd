"""The binary's command line: --version, --check with good and bad configs."""

from __future__ import annotations

import json
import re
import subprocess
import time

import pytest

from conftest import METACLUSTER_BIN, REPO, free_port, port_accepts

pytestmark = pytest.mark.proxy_only


def run(*args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    if not METACLUSTER_BIN.exists():
        pytest.fail(f"metacluster binary not found at {METACLUSTER_BIN}")
    return subprocess.run([str(METACLUSTER_BIN), *args], capture_output=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, text=True, errors="replace")


def good_config() -> dict:
    return {
        "listen": {"redis": "127.0.0.1:6390"},
        "workers": 2,
        "clusters": [
            {"name": "dc-a", "local": True, "redis": ["127.0.0.1:16379"]},
            {"name": "dc-b", "redis": ["127.0.0.1:16380"]},
        ],
    }


def full_config() -> dict:
    """Every key of the documented shape."""
    return {
        "listen": {"redis": "127.0.0.1:6379", "memcached": "127.0.0.1:11211", "admin": "127.0.0.1:9121"},
        "workers": 2,
        "clusters": [
            {"name": "dc-a", "local": True, "redis": ["127.0.0.1:16379"], "memcached": ["127.0.0.1:11311"]},
            {"name": "dc-b", "redis": ["127.0.0.1:16380"], "memcached": ["127.0.0.1:11312"]},
            {"name": "dc-c", "redis": ["127.0.0.1:16381"], "memcached": ["127.0.0.1:11313"]},
        ],
        "timeouts": {"connectMs": 1000, "requestMs": 5000, "reconnectMinMs": 50, "reconnectMaxMs": 5000,
                     "shutdownMs": 10000},
        "limits": {"maxBulkBytes": 536870912, "maxMultibulkLength": 1048576, "maxInlineBytes": 65536,
                   "clientOutputLimitBytes": 268435456, "maxClientInFlight": 4096, "maxClients": 100000},
    }


def check(tmp_path, config, name="config.json") -> subprocess.CompletedProcess:
    path = tmp_path / name
    path.write_text(config if isinstance(config, str) else json.dumps(config))
    return run("--config", str(path), "--check")


def normalized(text: str) -> str:
    """`clusters[0].redis`, `clusters.0.redis` and `$.clusters[0].redis` all become clusters.0.redis."""
    return re.sub(r"\[(\d+)\]", r".\1", text)


def test_version():
    p = run("--version")
    assert p.returncode == 0, p.stderr
    assert re.search(r"\d+\.\d+", p.stdout + p.stderr), (p.stdout, p.stderr)


@pytest.mark.parametrize("make", [good_config, full_config], ids=["minimal", "every-key"])
def test_check_accepts_good_config(tmp_path, make):
    p = check(tmp_path, make())
    assert p.returncode == 0, f"--check rejected a good config:\n{p.stdout}\n{p.stderr}"


def test_check_accepts_the_example_config():
    example = REPO / "config.example.json"
    if not example.exists():
        pytest.fail("config.example.json is missing from the repository")
    p = run("--config", str(example), "--check")
    assert p.returncode == 0, f"{p.stdout}\n{p.stderr}"


def _bad(mutate):
    c = good_config()
    mutate(c)
    return c


BAD = [
    ("unknown-top-level-key", _bad(lambda c: c.update(bogus=1)), "bogus"),
    ("unknown-cluster-key", _bad(lambda c: c["clusters"][0].update(colour="red")), "clusters.0.colour"),
    ("listen-not-host-port", _bad(lambda c: c["listen"].update(redis="127.0.0.1:notaport")), "listen.redis"),
    ("listen-port-out-of-range", _bad(lambda c: c["listen"].update(redis="127.0.0.1:70000")), "listen.redis"),
    ("listen-missing-redis", _bad(lambda c: c.update(listen={})), "listen"),
    ("workers-zero", _bad(lambda c: c.update(workers=0)), "workers"),
    ("workers-string", _bad(lambda c: c.update(workers="two")), "workers"),
    ("no-clusters", _bad(lambda c: c.update(clusters=[])), "clusters"),
    ("cluster-without-redis", _bad(lambda c: c["clusters"][1].pop("redis")), "clusters.1"),
    ("cluster-bad-server", _bad(lambda c: c["clusters"][1].update(redis=["nohostport"])), "clusters.1.redis.0"),
    ("timeout-not-a-number", _bad(lambda c: c.update(timeouts={"connectMs": "fast"})), "timeouts.connectMs"),
    ("timeout-negative", _bad(lambda c: c.update(timeouts={"requestMs": -5})), "timeouts.requestMs"),
    ("limit-negative", _bad(lambda c: c.update(limits={"maxBulkBytes": -1})), "limits.maxBulkBytes"),
    ("memcached-listener-without-servers",
     _bad(lambda c: c["listen"].update(memcached="127.0.0.1:11211")), "memcached"),
]


@pytest.mark.parametrize("name,config,path", BAD, ids=[b[0] for b in BAD])
def test_check_rejects_bad_config_naming_the_key(tmp_path, name, config, path):
    p = check(tmp_path, config)
    out = p.stdout + p.stderr
    assert p.returncode == 1, f"--check should exit 1 for {name}; got {p.returncode}:\n{out}"
    assert path in normalized(out), f"the problem report should name {path!r}:\n{out}"


@pytest.mark.parametrize("text", ["{", "[]", "", '{"listen": '], ids=["truncated", "array", "empty", "cut"])
def test_check_rejects_invalid_json(tmp_path, text):
    p = check(tmp_path, text)
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert (p.stdout + p.stderr).strip(), "--check must say what is wrong"


def test_check_missing_file(tmp_path):
    p = run("--config", str(tmp_path / "does-not-exist.json"), "--check")
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)


def test_check_reports_several_problems(tmp_path):
    config = _bad(lambda c: (c.update(workers=0), c["clusters"][0].update(colour="red")))
    out = normalized((lambda p: p.stdout + p.stderr)(check(tmp_path, config)))
    assert "workers" in out and "clusters.0.colour" in out, out


def test_run_with_bad_config_fails_without_listening(tmp_path):
    port = free_port()
    config = _bad(lambda c: (c["listen"].update(redis=f"127.0.0.1:{port}"), c.update(workers="x")))
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(config))
    t0 = time.monotonic()
    p = run("--config", str(path))
    assert p.returncode != 0
    assert time.monotonic() - t0 < 10
    assert not port_accepts(port)


def test_unknown_flag_fails():
    assert run("--no-such-flag").returncode != 0
