"""INFO through the proxy (issue #6), end to end: clusters dc-a (local) and dc-b of one
redis-server and one memcached each, behind metacluster.

What is shown here, over RESP2 and RESP3 (raw connections and redis-py):
- `INFO` is the proxy's `# Proxy` section (version, uptime, clients, clusters with their state)
  followed by the local cluster's own INFO (dc-a's: its tcp_port and run_id);
- `INFO proxy` is the proxy section only; `INFO server` the local backend's server section only;
  section names are case-insensitive;
- over RESP3 every form is one verbatim string (`=...txt:`), as redis-server sends it;
- the proxy section follows the clients connected and the clusters' states, and is answered
  with every cluster down;
- memcached `stats` keeps answering with the proxy's counters and one group per cluster.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pytest

from conftest import DualClusters, kill9, wait_until
from resp import Error, RawConn, Verbatim, encode

pytestmark = pytest.mark.proxy_only


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------

def sections(text: str) -> list[tuple[str, dict[str, str]]]:
    """[(section name, {key: value})] in order."""
    out: list[tuple[str, dict[str, str]]] = []
    for ln in text.split("\r\n"):
        if ln.startswith("# "):
            out.append((ln[2:].strip(), {}))
        elif ln and out:
            k, _, v = ln.partition(":")
            out[-1][1][k] = v
        elif ln:
            raise AssertionError(f"INFO line outside a section: {ln!r} in\n{text[:2000]}")
    return out


def names(text: str) -> list[str]:
    return [n.lower() for n, _ in sections(text)]


def info_text(conn: RawConn, *args: str, resp3: bool = False) -> str:
    conn.send(encode("INFO", *args))
    raw, value = conn.read_reply()
    if resp3:
        assert isinstance(value, Verbatim), f"INFO {args} over RESP3 answered {raw[:200]!r}"
        assert value.format == b"txt", value.format
        body = value.text
    else:
        assert isinstance(value, bytes) and raw.startswith(b"$"), f"INFO {args} over RESP2 answered {raw[:200]!r}"
        body = value
    return body.decode()


def proxy_section(text: str) -> dict[str, str]:
    found = [fields for n, fields in sections(text) if n.lower() == "proxy"]
    assert len(found) == 1, f"{len(found)} '# Proxy' sections in\n{text[:3000]}"
    return found[0]


def int_field(fields: dict[str, str], pattern: str) -> int:
    """The integer value of the one key matching `pattern` (a regex, whole key)."""
    keys = [k for k in fields if re.fullmatch(pattern, k)]
    assert len(keys) >= 1, f"no key matching {pattern!r} in the proxy section: {sorted(fields)}"
    value = fields[keys[0]]
    assert re.fullmatch(r"\d+", value), f"{keys[0]}:{value} is not a count"
    return int(value)


def check_proxy_section(d: DualClusters, fields: dict[str, str], state: str = "up") -> None:
    assert fields.get("proxy_version"), f"no proxy_version: {fields}"
    assert fields["proxy_version"] == d.proxy.status()["version"]
    int_field(fields, r"uptime\w*")
    int_field(fields, r"\w*clients\w*")
    # scripts/test runs this suite once per loop backend and says which through the environment
    assert fields.get("event_loop") == os.environ.get("METACLUSTER_EVENT_LOOP", "libev"), fields
    clusters = " ".join(f"{k}:{v}" for k, v in fields.items())
    for name in d.names:
        lines = [f"{k}:{v}" for k, v in fields.items() if re.search(rf"\b{name}\b", v) or name in k]
        assert lines, f"no line for cluster {name} in the proxy section: {clusters}"
        assert any(f"state={state}" in ln or ln.endswith(f"state:{state}") for ln in lines), (
            f"cluster {name} is not shown {state}: {lines}")


def check_local_backend(d: DualClusters, text: str) -> None:
    server = [fields for n, fields in sections(text) if n.lower() == "server"]
    assert len(server) == 1, f"{len(server)} '# Server' sections"
    assert server[0].get("redis_version"), server[0]
    assert server[0].get("tcp_port") == str(d.redis_servers[0].port), (
        f"INFO came from :{server[0].get('tcp_port')}, not the local cluster's :{d.redis_servers[0].port}")
    assert server[0].get("run_id") == d.rdirect[0].info("server")["run_id"]


# ----------------------------------------------------------------------------
# raw RESP2 and RESP3
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_info_sections_raw(dual_clusters, resp3):
    d = dual_clusters()
    c = d.redis_client()
    if resp3:
        hello = c.call("HELLO", "3")
        assert not isinstance(hello, Error), hello
    assert c.call("SET", "k", "v") == b"OK"
    d.settle_redis(c)

    full = info_text(c, resp3=resp3)
    assert full.startswith("# Proxy\r\n"), f"INFO does not start with the proxy section: {full[:300]!r}"
    order = names(full)
    assert order[0] == "proxy" and order.count("proxy") == 1, order
    assert "server" in order and "clients" in order and "keyspace" in order, order
    check_proxy_section(d, proxy_section(full))
    check_local_backend(d, full)

    for arg in ("proxy", "PROXY", "Proxy"):
        only = info_text(c, arg, resp3=resp3)
        assert names(only) == ["proxy"], f"INFO {arg}: sections {names(only)}"
        assert "redis_version" not in only
        check_proxy_section(d, proxy_section(only))

    for arg in ("server", "SERVER"):
        server = info_text(c, arg, resp3=resp3)
        assert names(server) == ["server"], f"INFO {arg}: sections {names(server)}"
        assert "proxy_version" not in server
        check_local_backend(d, server)

    keyspace = info_text(c, "keyspace", resp3=resp3)
    assert names(keyspace) == ["keyspace"] and "db0:keys=" in keyspace, keyspace
    # the connection goes on
    assert c.call("GET", "k") == b"v"


# ----------------------------------------------------------------------------
# redis-py
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", [2, 3])
def test_info_with_redis_py(dual_clusters, protocol):
    d = dual_clusters()
    c = d.redis_py(protocol=protocol)
    assert c.set("k", "v") is True
    everything = c.info()
    assert "proxy_version" in everything and "redis_version" in everything, sorted(everything)[:40]
    assert everything["tcp_port"] == d.redis_servers[0].port
    assert "dc-a" in str(everything) and "dc-b" in str(everything)

    proxy = c.info("proxy")
    assert "proxy_version" in proxy and "redis_version" not in proxy, proxy
    assert "dc-a" in str(proxy) and "dc-b" in str(proxy)

    server = c.info("server")
    assert "redis_version" in server and "proxy_version" not in server, sorted(server)
    assert server["tcp_port"] == d.redis_servers[0].port
    assert c.get("k") == b"v"


# ----------------------------------------------------------------------------
# the proxy section follows the proxy's state
# ----------------------------------------------------------------------------

def test_proxy_section_follows_clients_and_cluster_state(dual_clusters):
    d = dual_clusters()
    c = d.redis_client()
    before = int_field(proxy_section(info_text(c, "proxy")), r"\w*clients\w*")
    extra = [d.redis_client() for _ in range(3)]
    for e in extra:
        assert e.call("PING") == b"PONG"
    wait_until(lambda: int_field(proxy_section(info_text(c, "proxy")), r"\w*clients\w*") == before + 3, 2,
               "3 more clients in INFO proxy")
    for e in extra:
        e.close()

    kill9(d.redis_servers[0])
    kill9(d.redis_servers[1])

    def all_down() -> Any:
        text = info_text(c, "proxy")
        fields = proxy_section(text)
        lines = [v for v in fields.values() if "dc-a" in v or "dc-b" in v]
        return text if lines and all("state=down" in v for v in lines) else None

    text = wait_until(all_down, 5, "every cluster down in INFO proxy")
    check_proxy_section(d, proxy_section(text), state="down")
    # the full INFO: no backend to ask; an error or the proxy section alone, and no crash
    full = c.call("INFO")
    assert isinstance(full, (bytes, Error)), full
    if isinstance(full, bytes):
        assert full.decode().startswith("# Proxy")
    assert d.proxy.running
    assert c.call("PING") == b"PONG"


# ----------------------------------------------------------------------------
# memcached stats
# ----------------------------------------------------------------------------

def test_memcached_stats_through_the_proxy(dual_clusters):
    d = dual_clusters()
    m = d.mc_client()
    assert m.set("k", b"v") == b"STORED"
    assert m.get("k") == b"v"
    stats = m.stats()
    for name in ("pid", "uptime", "version", "curr_connections", "cmd_get", "cmd_set"):
        assert name in stats, f"stats lacks {name}: {sorted(stats)}"
    assert int(stats["pid"]) == d.proxy.proc.pid
    for name in d.names:
        assert any(name in k or name in v for k, v in stats.items()), f"no stats line for {name}: {stats}"
    assert any(k.endswith("state") and v == "up" for k, v in stats.items() if "dc-b" in k), stats
    assert m.get("k") == b"v"
