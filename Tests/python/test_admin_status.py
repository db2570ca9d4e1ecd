"""The admin listener's /status JSON, /health, the HTML status page and HTTP itself (issue #6),
end to end: clusters dc-a (local) and dc-b of one redis-server and one memcached each, behind
metacluster with `listen.admin`.

What is shown here:
- /status has the documented shape, with every field of the right JSON type, and the values of a
  healthy pair of clusters (read order, ranks, states, listener addresses, config path, version);
  its per-cluster request counts agree with /metrics and its client counts follow connections;
- a killed server shows as `down` (single-server cluster) or `degraded` (one of two shards);
- /health: 200 `ok`; 503 once every cluster's servers are down for one protocol; 200 again when
  they are back; one cluster down is still healthy;
- HTTP: 404 for unknown paths, 405 for a wrong method on a known one, HEAD without a body,
  keep-alive, a garbage request does not break the listener, a stalled client blocks no one;
- `GET /` is an HTML page naming every cluster in table cells, with a script that polls /status;
- scripts/status-screenshot renders it with headless Chromium into a real PNG, and Chromium's DOM
  after the page's script ran still has every cluster in table cells, with no script error
  (skipped when Chromium is not installed).
"""

from __future__ import annotations

import json
import shutil
import socket
import struct
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Optional

import pytest

from conftest import (METACLUSTER_BIN, REPO, DualClusters, RedisShards, kill9, sharded_cluster,
                      wait_until)

pytestmark = pytest.mark.proxy_only

PROTOCOLS = ("redis", "memcached")
CLUSTERS = ("dc-a", "dc-b")
COUNTER_FIELDS = ("requests", "errors", "missedWrites", "droppedWrites", "replayedWrites", "divergentReplies",
                  "rejectedWrites", "unknownOutcomes", "verifiedReads", "verifyMismatches", "verifyErrors")
SCREENSHOT = REPO / "scripts" / "status-screenshot"


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------

def is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def check_shape(st: dict) -> list[str]:
    """Every documented field with its JSON type; returns the problems."""
    problems = []

    def want(obj: dict, key: str, ok: Any, what: str, where: str) -> None:
        if key not in obj:
            problems.append(f"{where}: no {key!r}")
        elif not ok(obj[key]):
            problems.append(f"{where}.{key}: expected {what}, got {obj[key]!r}")

    want(st, "version", lambda v: isinstance(v, str) and v, "a non-empty string", "status")
    want(st, "uptimeSeconds", lambda v: is_int(v) and v >= 0, "an integer >= 0", "status")
    want(st, "writeAck", lambda v: v in ("first", "local", "majority", "all"), "an ack policy", "status")
    want(st, "configPath", lambda v: v is None or isinstance(v, str), "a string or null", "status")
    want(st, "lastReload", lambda v: v is None or isinstance(v, dict), "an object or null", "status")
    if isinstance(st.get("lastReload"), dict):
        lr = st["lastReload"]
        want(lr, "atUnixSeconds", is_int, "an integer", "lastReload")
        want(lr, "applied", lambda v: isinstance(v, bool), "a boolean", "lastReload")
        want(lr, "message", lambda v: isinstance(v, str), "a string", "lastReload")
    want(st, "listeners", lambda v: isinstance(v, list), "a list", "status")
    for i, ls in enumerate(st.get("listeners") or []):
        where = f"listeners[{i}]"
        want(ls, "name", lambda v: v in ("redis", "memcached", "admin"), "redis, memcached or admin", where)
        want(ls, "address", lambda v: isinstance(v, str) and v, "a non-empty string", where)
        want(ls, "clients", lambda v: is_int(v) and v >= 0, "an integer >= 0", where)
        want(ls, "protocolErrors", lambda v: is_int(v) and v >= 0, "an integer >= 0", where)
    want(st, "protocols", lambda v: isinstance(v, list), "a list", "status")
    for i, pv in enumerate(st.get("protocols") or []):
        where = f"protocols[{i}]"
        want(pv, "name", lambda v: v in ("redis", "memcached"), "redis or memcached", where)
        want(pv, "readOrder", lambda v: isinstance(v, list) and all(isinstance(n, str) for n in v),
             "a list of names", where)
        want(pv, "clusters", lambda v: isinstance(v, list), "a list", where)
        for j, c in enumerate(pv.get("clusters") or []):
            cw = f"{where}.clusters[{j}]"
            want(c, "name", lambda v: isinstance(v, str) and v, "a non-empty string", cw)
            want(c, "local", lambda v: isinstance(v, bool), "a boolean", cw)
            want(c, "state", lambda v: v in ("up", "degraded", "down"), "up, degraded or down", cw)
            want(c, "servers", lambda v: is_int(v) and v >= 1, "an integer >= 1", cw)
            want(c, "serversDown", lambda v: is_int(v) and v >= 0, "an integer >= 0", cw)
            want(c, "latencyMicros", lambda v: v is None or (is_int(v) and v >= 0), "an integer or null", cw)
            want(c, "readRank", lambda v: is_int(v) and v >= 0, "an integer >= 0", cw)
            want(c, "backlog", lambda v: is_int(v) and v >= 0, "an integer >= 0", cw)
            for f in COUNTER_FIELDS:
                want(c, f, lambda v: is_int(v) and v >= 0, "an integer >= 0", cw)
    return problems


def clusters_of(st: dict, protocol: str) -> dict[str, dict]:
    views = [p for p in st["protocols"] if p["name"] == protocol]
    assert len(views) == 1, f"{len(views)} views of protocol {protocol} in /status: {st['protocols']}"
    return {c["name"]: c for c in views[0]["clusters"]}


def protocol_view(st: dict, protocol: str) -> dict:
    return next(p for p in st["protocols"] if p["name"] == protocol)


def listener(st: dict, name: str) -> dict:
    found = [ls for ls in st["listeners"] if ls["name"] == name]
    assert len(found) == 1, f"{len(found)} listeners named {name}: {st['listeners']}"
    return found[0]


class Cells(HTMLParser):
    """The text of every <td> and <th> of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self._depth = 0
        self._text: list[str] = []
        self.tables = 0
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("td", "th"):
            if self._depth == 0:
                self._text = []
            self._depth += 1
        elif tag == "table":
            self.tables += 1
        elif tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._depth:
            self._depth -= 1
            if self._depth == 0:
                self.cells.append(" ".join("".join(self._text).split()))
        elif tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._depth:
            self._text.append(data)
        if self._in_script:
            self.scripts[-1] += data


def cells_of(html: str) -> Cells:
    p = Cells()
    p.feed(html)
    p.close()
    return p


def chromium() -> Optional[str]:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def needs_chromium() -> str:
    found = chromium()
    if found is None:
        pytest.skip("chromium is not installed (apt-get install chromium fonts-dejavu-core): "
                    "the status page's screenshot and rendered DOM are not checked")
    return found


# ----------------------------------------------------------------------------
# /status
# ----------------------------------------------------------------------------

def test_status_shape_and_values(dual_clusters):
    d = dual_clusters()
    r, m = d.redis_client(), d.mc_client()
    d.settle_redis(r)
    d.settle_mc(m)

    resp = d.proxy.http("GET", "/status")
    assert resp.status == 200, resp
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    st = json.loads(resp.body)
    problems = check_shape(st)
    assert not problems, "\n".join(problems) + "\n" + json.dumps(st, indent=2)[:4000]

    version = subprocess.run([str(METACLUSTER_BIN), "--version"], capture_output=True, text=True, timeout=10).stdout
    assert st["version"] in version, f"/status version {st['version']!r}, --version says {version!r}"
    assert st["writeAck"] == "first"
    assert st["configPath"] is not None and Path(st["configPath"]).resolve() == d.proxy.config_path.resolve()
    assert st["lastReload"] is None, "no reload happened"

    addresses = {ls["name"]: ls["address"] for ls in st["listeners"]}
    assert addresses == {"redis": f"127.0.0.1:{d.proxy.port}", "memcached": f"127.0.0.1:{d.proxy.mc_port}",
                         "admin": f"127.0.0.1:{d.proxy.admin_port}"}, addresses

    # measured latencies may take a probe round to appear
    def measured() -> Any:
        s = d.proxy.status()
        return s if all(c["latencyMicros"] is not None for p in PROTOCOLS for c in clusters_of(s, p).values()) else None

    st = wait_until(measured, 5, "a measured latency for every cluster in /status")
    assert sorted(p["name"] for p in st["protocols"]) == sorted(PROTOCOLS)
    for p in PROTOCOLS:
        assert protocol_view(st, p)["readOrder"] == ["dc-a", "dc-b"]
        cs = clusters_of(st, p)
        assert list(cs) == ["dc-a", "dc-b"], f"clusters in config order: {list(cs)}"
        for name, c in cs.items():
            assert c["local"] is (name == "dc-a")
            assert c["state"] == "up" and c["servers"] == 1 and c["serversDown"] == 0, c
            assert c["readRank"] == (1 if name == "dc-a" else 2), c
            assert c["backlog"] == 0 and c["errors"] == 0 and c["missedWrites"] == 0, c
            assert 0 < c["latencyMicros"] < 1_000_000, c
            assert c["requests"] >= 1, f"the barrier writes reached {name}: {c}"
    up = st["uptimeSeconds"]
    time.sleep(1.1)
    assert d.proxy.status()["uptimeSeconds"] >= up + 1


def test_status_agrees_with_metrics_and_counts_clients(dual_clusters):
    d = dual_clusters()
    r, m = d.redis_client(), d.mc_client()
    for i in range(20):
        assert r.call("SET", f"k{i}", "v") == b"OK"
        assert m.set(f"k{i}", b"v") == b"STORED"
        assert r.call("GET", f"k{i}") == b"v"
    d.settle_redis(r)
    d.settle_mc(m)

    def agree() -> Any:
        st, met = d.proxy.status(), d.proxy.metrics()
        ours = {(p, n): c["requests"] for p in PROTOCOLS for n, c in clusters_of(st, p).items()}
        theirs = {(p, n): met.value("metacluster_requests_total", protocol=p, cluster=n) for p in PROTOCOLS
                  for n in CLUSTERS}
        return (ours, theirs) if ours == theirs else None

    wait_until(agree, 3, "/status requests equal to /metrics requests_total")

    base = d.proxy.status()
    before = {n: listener(base, n)["clients"] for n in ("redis", "memcached")}
    extra = [d.redis_client() for _ in range(2)] + [d.mc_client() for _ in range(3)]
    for c in extra[:2]:
        assert c.call("PING") == b"PONG"
    for c in extra[2:]:
        assert c.cmd("version").code == b"VERSION"
    wait_until(lambda: (lambda s: listener(s, "redis")["clients"] == before["redis"] + 2
                        and listener(s, "memcached")["clients"] == before["memcached"] + 3)(d.proxy.status()),
               2, "the new connections in /status listeners[].clients")
    for c in extra:
        c.close()
    wait_until(lambda: (lambda s: listener(s, "redis")["clients"] == before["redis"]
                        and listener(s, "memcached")["clients"] == before["memcached"])(d.proxy.status()),
               2, "closed connections gone from /status listeners[].clients")

    # a protocol error shows on its listener
    bad = d.redis_client()
    bad.send(b"*abc\r\n")
    bad.read_until_closed(5)
    wait_until(lambda: listener(d.proxy.status(), "redis")["protocolErrors"] == listener(base, "redis")["protocolErrors"] + 1,
               2, "listeners[redis].protocolErrors + 1")


def test_status_shows_down_and_degraded(stack, dual_clusters):
    d = dual_clusters()
    r = d.redis_client()
    d.settle_redis(r)
    kill9(d.redis_servers[1])
    st = wait_until(lambda: (lambda s: s if clusters_of(s, "redis")["dc-b"]["state"] == "down" else None)(d.proxy.status()),
                    5, "dc-b's redis down in /status")
    b = clusters_of(st, "redis")["dc-b"]
    assert b["serversDown"] == 1 and b["readRank"] == 0, b
    assert protocol_view(st, "redis")["readOrder"] == ["dc-a"]
    assert clusters_of(st, "memcached")["dc-b"]["state"] == "up", "memcached's dc-b is another server"
    assert r.call("SET", "while-down", "1") == b"OK"
    wait_until(lambda: clusters_of(d.proxy.status(), "redis")["dc-b"]["backlog"] >= 1, 2, "dc-b's backlog in /status")

    # a cluster of two shards with one dead is degraded
    servers = stack.redis_servers(2)
    other = stack.redis_server()
    proxy = stack.sharded([sharded_cluster("dc-a", local=True, redis=[s.port for s in servers]),
                           sharded_cluster("dc-b", redis=[other.port])],
                          admin=True, timeouts={"requestMs": 1000, "connectMs": 300, "reconnectMinMs": 50,
                                                "reconnectMaxMs": 300},
                          config_extra={"health": {"failureLimit": 1, "probeIntervalMs": 100}})
    shards = RedisShards([servers, [other]])
    try:
        from resp import RawConn

        with RawConn(proxy.port) as c:
            shards.settle(c)
        kill9(servers[1])
        st = wait_until(lambda: (lambda s: s if clusters_of(s, "redis")["dc-a"]["state"] == "degraded" else None)(proxy.status()),
                        5, "dc-a degraded in /status")
        a = clusters_of(st, "redis")["dc-a"]
        assert a["servers"] == 2 and a["serversDown"] == 1, a
        met = proxy.metrics()
        assert met.value("metacluster_cluster_up", protocol="redis", cluster="dc-a") == 0
        assert met.value("metacluster_cluster_servers_down", protocol="redis", cluster="dc-a") == 1
    finally:
        shards.close()


# ----------------------------------------------------------------------------
# /health
# ----------------------------------------------------------------------------

def health(d: DualClusters) -> tuple[int, str]:
    r = d.proxy.http("GET", "/health")
    return r.status, r.text.strip()


def test_health(dual_clusters):
    d = dual_clusters()
    assert health(d) == (200, "ok")

    # one cluster down (for both protocols) is still healthy
    kill9(d.redis_servers[1])
    kill9(d.mc_servers[1])
    wait_until(lambda: all(clusters_of(d.proxy.status(), p)["dc-b"]["state"] == "down" for p in PROTOCOLS), 5,
               "dc-b down")
    assert health(d) == (200, "ok")

    # every cluster's redis down: 503, though memcached is fine
    kill9(d.redis_servers[0])
    wait_until(lambda: health(d)[0] == 503, 5, "/health 503 with every redis-server down")
    status, body = health(d)
    assert status == 503 and body and body != "ok", (status, body)
    assert d.proxy.running

    d.restart_redis(0)
    d.restart_redis(1)
    wait_until(lambda: health(d) == (200, "ok"), 10, "/health 200 again with the redis-servers back")


# ----------------------------------------------------------------------------
# HTTP
# ----------------------------------------------------------------------------

def test_http_errors_methods_and_head(dual_clusters):
    d = dual_clusters()
    for path in ("/nope", "/metrics/x", "/status.json", "/favicon.ico"):
        assert d.proxy.http("GET", path).status == 404, path
    for method, path in (("POST", "/status"), ("POST", "/metrics"), ("DELETE", "/metrics"), ("PUT", "/health"),
                         ("GET", "/reload"), ("POST", "/")):
        r = d.proxy.http(method, path)
        assert r.status == 405, f"{method} {path} answered {r.status}"
        allow = r.headers.get("allow", "")
        assert allow, f"{method} {path}: a 405 without Allow (RFC 9110 15.5.6)"
        assert ("POST" in allow) == (path == "/reload") and ("GET" in allow) == (path != "/reload"), (path, allow)
    for path, ctype in (("/status", "application/json"), ("/metrics", "text/plain"), ("/", "text/html"),
                        ("/health", "text/plain")):
        r = d.proxy.http("HEAD", path)
        assert r.status == 200, f"HEAD {path} answered {r.status}"
        assert r.body == b"", f"HEAD {path} sent a body"
        assert r.headers.get("content-type", "").startswith(ctype), (path, r.headers)
    assert d.proxy.http("HEAD", "/nope").status == 404


def test_http_keep_alive_and_bad_clients(dual_clusters):
    import http.client

    d = dual_clusters()
    conn = http.client.HTTPConnection("127.0.0.1", d.proxy.admin_port, timeout=5)
    try:
        for path in ("/health", "/status", "/metrics", "/health"):
            conn.request("GET", path)
            r = conn.getresponse()
            r.read()
            assert r.status == 200, (path, r.status)
    finally:
        conn.close()

    # garbage instead of a request: an error or a closed connection, and the listener still serves
    with socket.create_connection(("127.0.0.1", d.proxy.admin_port), timeout=5) as s:
        s.sendall(b"\x16\x03\x01\x02\x00garbage that is not HTTP\r\n\r\n")
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        assert data == b"" or data.startswith(b"HTTP/1.1 4") or data.startswith(b"HTTP/1.0 4"), data[:200]

    # a client that sent half a request and stalls blocks nobody
    stalled = socket.create_connection(("127.0.0.1", d.proxy.admin_port), timeout=5)
    try:
        stalled.sendall(b"GET /sta")
        t0 = time.monotonic()
        assert health(d) == (200, "ok")
        assert time.monotonic() - t0 < 1.0
    finally:
        stalled.close()
    # and redis clients are served meanwhile
    assert d.redis_client().call("PING") == b"PONG"


# ----------------------------------------------------------------------------
# the HTML page
# ----------------------------------------------------------------------------

def test_status_page_html(dual_clusters):
    d = dual_clusters()
    r = d.proxy.http("GET", "/")
    assert r.status == 200, r
    assert r.headers.get("content-type", "").startswith("text/html"), r.headers
    page = cells_of(r.text)
    assert page.tables >= 1, "no <table> on the status page"
    for name in CLUSTERS:
        assert name in r.text
        assert any(name in cell for cell in page.cells), f"{name} is in no table cell: {page.cells[:40]}"
    assert any("/status" in s for s in page.scripts), "no script on the page mentions /status (it polls it)"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"not a PNG: {data[:16]!r}"
    assert data[12:16] == b"IHDR", data[:32]
    return struct.unpack(">II", data[16:24])


def test_status_page_screenshot(dual_clusters, tmp_path):
    needs_chromium()
    d = dual_clusters()
    r = d.redis_client()
    d.settle_redis(r)
    out = tmp_path / "status.png"
    run = subprocess.run([str(SCREENSHOT), d.proxy.admin_url("/"), str(out)], capture_output=True, text=True,
                         timeout=180)
    assert run.returncode == 0, f"status-screenshot exited {run.returncode}:\n{run.stdout}\n{run.stderr}"
    data = out.read_bytes()
    assert png_size(data) == (1280, 900)
    assert len(data) > 10 * 1024, f"a {len(data)}-byte screenshot: an empty page?"


class RecordingRelay:
    """An HTTP relay in front of the admin listener that records the paths requested through it
    (to see the page's script fetch /status), stopped with stop()."""

    def __init__(self, target_port: int):
        import http.client
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.paths: list[str] = []
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                relay.paths.append(self.path)
                upstream = http.client.HTTPConnection("127.0.0.1", target_port, timeout=10)
                try:
                    upstream.request("GET", self.path)
                    r = upstream.getresponse()
                    body = r.read()
                    self.send_response(r.status)
                    for k, v in r.getheaders():
                        if k.lower() not in ("connection", "content-length", "date", "transfer-encoding"):
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                finally:
                    upstream.close()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_status_page_dom_after_script(dual_clusters, tmp_path):
    browser = needs_chromium()
    d = dual_clusters()
    relay = RecordingRelay(d.proxy.admin_port)
    try:
        run = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=3000", "--enable-logging=stderr",
             "--v=0", "--dump-dom", f"http://127.0.0.1:{relay.port}/"],
            capture_output=True, text=True, timeout=180)
    finally:
        relay.stop()
    assert run.returncode == 0, run.stderr[-3000:]
    assert "/status" in [p.split("?")[0] for p in relay.paths], (
        f"the page's script did not fetch /status (requests: {relay.paths})")
    dom = cells_of(run.stdout)
    for name in CLUSTERS:
        assert any(name in cell for cell in dom.cells), (
            f"after the script ran, {name} is in no table cell: {dom.cells[:40]}\n{run.stdout[:3000]}")
    # an exception, or a script or fetch the page's own Content-Security-Policy refused
    errors = [ln for ln in run.stderr.splitlines() if "CONSOLE" in ln and ("Uncaught" in ln or "Refused" in ln)]
    assert not errors, "the status page's script failed:\n" + "\n".join(errors)


def test_screenshot_script_without_chromium(tmp_path):
    """Without a browser the script says so and fails (no PNG)."""
    out = tmp_path / "none.png"
    bash = shutil.which("bash") or "/bin/bash"
    run = subprocess.run([bash, str(SCREENSHOT), "http://127.0.0.1:1/", str(out)], capture_output=True, text=True,
                         timeout=30, env={"PATH": "/nonexistent", "CHROMIUM": ""})
    assert run.returncode != 0 and not out.exists()
    assert "chromium" in run.stderr.lower(), run.stderr
    usage = subprocess.run([str(SCREENSHOT)], capture_output=True, text=True, timeout=30)
    assert usage.returncode != 0 and "Usage" in usage.stderr, usage.stderr
