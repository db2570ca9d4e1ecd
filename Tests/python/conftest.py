"""End-to-end test harness: real redis-server and memcached processes and the real metacluster binary.

Environment:
  METACLUSTER_BIN     the proxy binary (default: <repo>/.build/release/metacluster)
  METACLUSTER_TARGET  "proxy" (default) runs every test through the binary;
                      "direct" points the `proxy` and `mc` fixtures at the backend
                      redis-server / memcached itself, which checks the harness and the
                      tests' expectations against the real servers (tests of proxy-only
                      behaviour are skipped).
  METACLUSTER_LOG_LEVEL  --log-level passed to the proxy (default: info)
  REDIS_SERVER_BIN    redis-server to start (default: from PATH)
  MEMCACHED_BIN       memcached to start (default: from PATH)
  NUTCRACKER_BIN      nutcracker (twemproxy) to start, the key-placement reference of the
                      sharding tests (default: from PATH)

Every process is started on a free loopback port found here, and stopped by its pid.

The admin listener (issue #6): Metacluster(admin=True) adds listen.admin on a free port; then
proxy.http(), proxy.metrics() (parsed with prometheus_client), proxy.status() (the /status JSON),
proxy.write_config() + proxy.sighup() / proxy.post_reload() for hot reloads, and
proxy.log_mark() / log_since() / wait_log() to read the proxy's stderr log.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

REPO = Path(__file__).resolve().parents[2]
METACLUSTER_BIN = Path(os.environ.get("METACLUSTER_BIN", REPO / ".build" / "release" / "metacluster"))
# The loop backend every proxy a test starts runs on (scripts/test runs the suite once per backend).
EVENT_LOOP = os.environ.get("METACLUSTER_EVENT_LOOP") or None
TARGET = os.environ.get("METACLUSTER_TARGET", "proxy").strip().lower()
LOG_LEVEL = os.environ.get("METACLUSTER_LOG_LEVEL", "info")
REDIS_SERVER = os.environ.get("REDIS_SERVER_BIN") or shutil.which("redis-server") or "redis-server"
MEMCACHED = os.environ.get("MEMCACHED_BIN") or shutil.which("memcached") or "memcached"
NUTCRACKER = os.environ.get("NUTCRACKER_BIN") or shutil.which("nutcracker") or "nutcracker"

if TARGET not in ("proxy", "direct"):
    raise SystemExit(f"METACLUSTER_TARGET must be 'proxy' or 'direct', not {TARGET!r}")

DIRECT = TARGET == "direct"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: long-running test (still run by scripts/test and CI)")
    config.addinivalue_line("markers", "proxy_only: exercises the metacluster binary itself; skipped with METACLUSTER_TARGET=direct")


def pytest_report_header(config: pytest.Config) -> list[str]:
    if DIRECT:
        return ["metacluster e2e: TARGET=direct (tests talk to redis-server / memcached itself)"]
    return [f"metacluster e2e: TARGET=proxy, binary {METACLUSTER_BIN}"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not DIRECT:
        return
    skip = pytest.mark.skip(reason="needs the metacluster binary (METACLUSTER_TARGET=direct)")
    for item in items:
        if "proxy_only" in item.keywords:
            item.add_marker(skip)


# ----------------------------------------------------------------------------
# ports and processes
# ----------------------------------------------------------------------------

def free_port(avoid: tuple = ()) -> int:
    """A loopback TCP port that was free a moment ago (and is none of `avoid`: the kernel may hand
    the same port out twice in a row, and one process's listeners need ports of their own)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in avoid:
            return port


def port_accepts(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_for_port(port: int, proc: Optional[subprocess.Popen], timeout: float, what: str,
                  log: Optional[Path] = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode} before listening on {port}"
                               + _tail(log))
        if port_accepts(port):
            return
        time.sleep(0.02)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout}s" + _tail(log))


def _tail(log: Optional[Path], limit: int = 8000) -> str:
    if log is None or not log.exists():
        return ""
    text = log.read_text(errors="replace")
    return f"\n---- {log} (last {limit} chars) ----\n{text[-limit:]}"


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10.0) -> Optional[int]:
    """Signal one process we started (by pid) and reap it; SIGKILL if it will not go."""
    if proc.poll() is not None:
        return proc.returncode
    try:
        proc.send_signal(sig)
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
        return None


class RedisServer:
    """A redis-server on a free loopback port, stopped by pid."""

    def __init__(self, workdir: Path, port: Optional[int] = None, extra: tuple[str, ...] = ()):
        self.workdir = workdir
        self.fixed_port = port is not None
        self.port = port or free_port()
        self.extra = extra
        self.proc: Optional[subprocess.Popen] = None
        self.log = workdir / f"redis-{self.port}.log"

    def start(self, timeout: float = 10.0) -> "RedisServer":
        self.workdir.mkdir(parents=True, exist_ok=True)
        for attempt in range(3):
            args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                    "--save", "", "--appendonly", "no", "--daemonize", "no",
                    "--dir", str(self.workdir), "--logfile", str(self.log),
                    "--enable-debug-command", "yes", *self.extra]
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.STDOUT)
            try:
                wait_for_port(self.port, self.proc, timeout, f"redis-server :{self.port}", self.log)
                return self
            except RuntimeError:
                stop_process(self.proc)
                if attempt == 2 or self.fixed_port:
                    raise
                self.port = free_port()
                self.log = self.workdir / f"redis-{self.port}.log"
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


class MemcachedServer:
    """A memcached on a free loopback port (TCP only), stopped by pid."""

    def __init__(self, workdir: Path, port: Optional[int] = None, extra: tuple[str, ...] = ()):
        self.workdir = workdir
        self.fixed_port = port is not None
        self.port = port or free_port()
        self.extra = extra
        self.proc: Optional[subprocess.Popen] = None
        self.log = workdir / f"memcached-{self.port}.log"

    def start(self, timeout: float = 10.0) -> "MemcachedServer":
        self.workdir.mkdir(parents=True, exist_ok=True)
        for attempt in range(3):
            args = [MEMCACHED, "-U", "0", "-l", "127.0.0.1", "-p", str(self.port), "-m", "64"]
            if os.geteuid() == 0:
                args += ["-u", "root"]  # memcached refuses to run as root without -u
            args += list(self.extra)
            with open(self.log, "ab") as log:
                self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
            try:
                wait_for_port(self.port, self.proc, timeout, f"memcached :{self.port}", self.log)
                return self
            except RuntimeError:
                stop_process(self.proc)
                if attempt == 2 or self.fixed_port:
                    raise
                self.port = free_port()
                self.log = self.workdir / f"memcached-{self.port}.log"
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        # memcached keeps nothing to save, and takes 0.7 s over a graceful SIGTERM
        if self.proc is not None:
            stop_process(self.proc, signal.SIGKILL)


# ----------------------------------------------------------------------------
# sharded clusters: server entries, cluster dicts, and twemproxy as the placement reference
# ----------------------------------------------------------------------------

ServerEntry = Union[str, dict]


def server_entry(port: int, weight: Optional[int] = None, name: Optional[str] = None,
                 form: str = "string") -> ServerEntry:
    """One server of a cluster's list, in one of the config's forms: "127.0.0.1:port",
    "127.0.0.1:port:weight", "127.0.0.1:port:weight name" (twemproxy's), or with form="object"
    {"address": "127.0.0.1:port", "weight": w, "name": n} (only the keys given)."""
    if form == "object":
        entry: dict[str, Any] = {"address": f"127.0.0.1:{port}"}
        if weight is not None:
            entry["weight"] = weight
        if name is not None:
            entry["name"] = name
        return entry
    if form != "string":
        raise ValueError(f"form must be 'string' or 'object', not {form!r}")
    text = f"127.0.0.1:{port}"
    if weight is not None or name is not None:
        text += f":{1 if weight is None else weight}"
    if name is not None:
        text += f" {name}"
    return text


def parse_server_entry(entry: Union[ServerEntry, int]) -> tuple[str, int, int, Optional[str]]:
    """(host, port, weight, name) of a server entry (or of a bare port)."""
    if isinstance(entry, int):
        return "127.0.0.1", entry, 1, None
    if isinstance(entry, dict):
        host, _, port = entry["address"].rpartition(":")
        return host, int(port), int(entry.get("weight", 1)), entry.get("name")
    address, _, name = entry.partition(" ")
    parts = address.split(":")
    weight = int(parts[2]) if len(parts) > 2 else 1
    return parts[0], int(parts[1]), weight, (name or None)


def twemproxy_server(entry: Union[ServerEntry, int]) -> str:
    """The same server as a twemproxy `servers` line: "host:port:weight [name]" (the weight is
    required there)."""
    host, port, weight, name = parse_server_entry(entry)
    return f"{host}:{port}:{weight}" + (f" {name}" if name else "")


def _entries(servers: list) -> list[ServerEntry]:
    """Ports become "127.0.0.1:port"; entries stay as they are."""
    return [f"127.0.0.1:{s}" if isinstance(s, int) else s for s in servers]


def sharded_cluster(name: str, *, local: bool = False, redis: Optional[list] = None,
                    memcached: Optional[list] = None, options: Optional[dict] = None,
                    redis_options: Optional[dict] = None,
                    memcached_options: Optional[dict] = None) -> dict:
    """A cluster for the config: `redis` / `memcached` are lists of ports or server entries;
    `options` (distribution, hash, hashTag) apply at the cluster level; with `redis_options` or
    `memcached_options` (even {}) that protocol's list is written in its object form
    {"servers": [...], **options}."""
    c: dict[str, Any] = {"name": name, "local": local}
    for kind, servers, own in (("redis", redis, redis_options), ("memcached", memcached, memcached_options)):
        if servers is None:
            continue
        c[kind] = _entries(servers) if own is None else {"servers": _entries(servers), **own}
    if options:
        c.update(options)
    return c


class Nutcracker:
    """twemproxy (nutcracker) with one pool over `servers`, its YAML config written to a temp dir,
    stopped by pid. The sharding tests' placement reference: a metacluster cluster with the same
    server list, distribution, hash and hash tag places every key where this pool does.

    `servers` are ports or server entries (see server_entry); `hash_tag` None writes no hash_tag
    (the whole key is hashed); `pool` adds or overrides pool keys."""

    def __init__(self, workdir: Path, servers: list, *, redis: bool, distribution: str = "ketama",
                 hash: str = "fnv1a_64", hash_tag: Optional[str] = None, port: Optional[int] = None,
                 pool: Optional[dict] = None):
        self.workdir = workdir
        self.fixed_port = port is not None
        self.port = port or free_port()
        self.stats_port = free_port()
        self.servers = [twemproxy_server(s) for s in servers]
        self.pool: dict[str, Any] = {
            "hash": hash, "distribution": distribution, "redis": redis,
            "timeout": 2000, "backlog": 1024, "preconnect": True, "server_connections": 1,
            "auto_eject_hosts": False, "server_retry_timeout": 200, "server_failure_limit": 1,
        }
        if hash_tag is not None:
            self.pool["hash_tag"] = hash_tag
        if pool:
            self.pool.update(pool)
        self.proc: Optional[subprocess.Popen] = None
        self._name()

    def _name(self) -> None:
        self.config_path = self.workdir / f"nutcracker-{self.port}.yml"
        self.log = self.workdir / f"nutcracker-{self.port}.log"

    def yaml(self) -> str:
        def scalar(v: Any) -> str:
            if isinstance(v, bool):
                return "true" if v else "false"
            if isinstance(v, int):
                return str(v)
            return json.dumps(str(v))  # a JSON string is a YAML double-quoted scalar

        lines = ["pool:", f"  listen: {scalar(f'127.0.0.1:{self.port}')}"]
        lines += [f"  {k}: {scalar(v)}" for k, v in self.pool.items()]
        lines.append("  servers:")
        lines += [f"    - {scalar(s)}" for s in self.servers]
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 10.0) -> "Nutcracker":
        self.workdir.mkdir(parents=True, exist_ok=True)
        for attempt in range(3):
            self.config_path.write_text(self.yaml())
            args = [NUTCRACKER, "-c", str(self.config_path), "-o", str(self.log), "-v", "4",
                    "-s", str(self.stats_port), "-a", "127.0.0.1",
                    "-p", str(self.workdir / f"nutcracker-{self.port}.pid")]
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.STDOUT)
            try:
                wait_for_port(self.port, self.proc, timeout, f"nutcracker :{self.port}", self.log)
                return self
            except RuntimeError:
                stop_process(self.proc)
                if attempt == 2 or self.fixed_port:
                    raise
                self.port, self.stats_port = free_port(), free_port()
                self._name()
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=5.0)


class Metacluster:
    """The proxy binary with a config written to a temp dir, stopped by pid.

    `port` is the redis listener (None with redis=False: a memcached-only proxy); `mc_port` the
    memcached listener, present when memcached=True or mc_port is given."""

    def __init__(self, workdir: Path, redis_servers: list[str], *, port: Optional[int] = None,
                 workers: int = 1, timeouts: Optional[dict] = None, limits: Optional[dict] = None,
                 config_extra: Optional[dict] = None, log_level: str = LOG_LEVEL,
                 clusters: Optional[list[dict]] = None, redis: bool = True,
                 memcached: bool = False, mc_port: Optional[int] = None,
                 admin: bool = False, admin_port: Optional[int] = None):
        self.workdir = workdir
        self.port: Optional[int] = (port or free_port()) if redis else None
        self.mc_port: Optional[int] = (mc_port or free_port(avoid=(self.port,))) if (memcached or mc_port) else None
        # the admin HTTP listener (listen.admin), present when admin=True or admin_port is given
        self.admin_port: Optional[int] = ((admin_port or free_port(avoid=(self.port, self.mc_port)))
                                          if (admin or admin_port) else None)
        if self.port is None and self.mc_port is None:
            raise ValueError("metacluster needs a redis or a memcached listener")
        self.proc: Optional[subprocess.Popen] = None
        self.log_level = log_level
        listen = {}
        if self.port is not None:
            listen["redis"] = f"127.0.0.1:{self.port}"
        if self.mc_port is not None:
            listen["memcached"] = f"127.0.0.1:{self.mc_port}"
        if self.admin_port is not None:
            listen["admin"] = f"127.0.0.1:{self.admin_port}"
        self.config: dict[str, Any] = {
            "listen": listen,
            "workers": workers,
            "clusters": clusters or [{"name": "dc-a", "local": True, "redis": list(redis_servers)}],
            "timeouts": {"connectMs": 1000, "requestMs": 5000, "reconnectMinMs": 50,
                         "reconnectMaxMs": 1000, "shutdownMs": 8000, **(timeouts or {})},
        }
        if limits:
            self.config["limits"] = dict(limits)
        if config_extra:
            self.config.update(config_extra)
        # scripts/test runs the suite once per loop backend (METACLUSTER_EVENT_LOOP=dispatch|libev)
        if EVENT_LOOP:
            self.config.setdefault("eventLoop", EVENT_LOOP)
        # Read verification (default 1% of reads) sends reads to other clusters; tests that count
        # where reads land or what a remote server saw opt in explicitly.
        self.config.setdefault("verify", {"sampleRate": 0})
        name = self.port if self.port is not None else f"mc-{self.mc_port}"
        self.config_path = workdir / f"metacluster-{name}.json"
        self.stderr_path = workdir / f"metacluster-{name}.stderr"
        self.exit_code: Optional[int] = None
        # a test that stops the proxy itself and checks the outcome sets this
        self.checked = False

    def start(self, timeout: float = 15.0) -> "Metacluster":
        if not METACLUSTER_BIN.exists():
            pytest.fail(f"metacluster binary not found at {METACLUSTER_BIN}: run `swift build -c release` "
                        "or set METACLUSTER_BIN (METACLUSTER_TARGET=direct runs the tests against redis-server)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps(self.config, indent=2))
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [str(METACLUSTER_BIN), "--config", str(self.config_path), "--log-level", self.log_level],
            stdin=subprocess.DEVNULL, stdout=self._stderr, stderr=self._stderr)
        for p in (self.port, self.mc_port, self.admin_port):
            if p is not None:
                wait_for_port(p, self.proc, timeout, "metacluster", self.stderr_path)
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stderr_text(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def send_signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            self.exit_code = self.proc.wait(timeout=timeout)
        finally:
            self._stderr.close()
        return self.exit_code

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> Optional[int]:
        """SIGTERM (or `sig`), wait; returns the exit status (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            self.exit_code = self.proc.returncode
        else:
            self.exit_code = stop_process(self.proc, sig, timeout)
        if not self._stderr.closed:
            self._stderr.close()
        return self.exit_code

    def describe(self) -> str:
        ports = ", ".join(f"{kind} :{p}" for kind, p in (("redis", self.port), ("memcached", self.mc_port),
                                                          ("admin", self.admin_port))
                          if p is not None)
        return f"metacluster on {ports} (config {self.config_path})" + _tail(self.stderr_path)

    # -- the stderr log ---------------------------------------------------------
    def log_mark(self) -> int:
        """The log's length now: log_since(mark) / wait_log(since=mark) see only what follows."""
        return len(self.stderr_text())

    def log_since(self, mark: int = 0) -> str:
        return self.stderr_text()[mark:]

    def wait_log(self, *parts: str, since: int = 0, timeout: float = 5.0) -> str:
        """The first log line after `since` that contains every one of `parts`."""
        def found() -> Optional[str]:
            for ln in self.log_since(since).splitlines():
                if all(p in ln for p in parts):
                    return ln
            return None
        try:
            return wait_until(found, timeout, f"a log line with {parts!r}")
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.describe()}") from None

    # -- hot reload ----------------------------------------------------------------
    def write_config(self, config: Optional[dict] = None, text: Optional[str] = None) -> None:
        """Rewrites the config file in place (the proxy reads it again on SIGHUP or POST /reload):
        `config` (then the new self.config) as JSON, or `text` as it is (to write a broken file)."""
        if (config is None) == (text is None):
            raise ValueError("write_config takes config or text")
        if config is not None:
            self.config = config
            text = json.dumps(config, indent=2)
        tmp = self.config_path.with_name(self.config_path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.config_path)  # the proxy never reads a half-written file

    def sighup(self) -> None:
        """Asks the proxy to reload its config file."""
        self.send_signal(signal.SIGHUP)

    def post_reload(self) -> "HttpReply":
        """POST /reload on the admin listener: 200 applied, 409 rejected; the body is the message."""
        return self.http("POST", "/reload")

    # -- the admin listener ---------------------------------------------------------
    def admin_url(self, path: str = "/") -> str:
        assert self.admin_port is not None, "metacluster was started without an admin listener (admin=True)"
        return f"http://127.0.0.1:{self.admin_port}{path}"

    def http(self, method: str, path: str, body: Optional[bytes] = None,
             headers: Optional[dict[str, str]] = None, timeout: float = 10.0) -> "HttpReply":
        """One request on a connection of its own to the admin listener."""
        assert self.admin_port is not None, "metacluster was started without an admin listener (admin=True)"
        return http_request(self.admin_port, method, path, body=body, headers=headers, timeout=timeout)

    def metrics(self) -> "Metrics":
        """GET /metrics, parsed (a parse error fails the test)."""
        r = self.http("GET", "/metrics")
        assert r.status == 200, f"GET /metrics answered {r.status}: {r.body[:500]!r}"
        return Metrics(r.text)

    def status(self) -> dict:
        """GET /status, decoded."""
        r = self.http("GET", "/status")
        assert r.status == 200, f"GET /status answered {r.status}: {r.body[:500]!r}"
        return json.loads(r.body)


@dataclass
class HttpReply:
    status: int
    reason: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def http_request(port: int, method: str, path: str, body: Optional[bytes] = None,
                 headers: Optional[dict[str, str]] = None, timeout: float = 10.0) -> HttpReply:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return HttpReply(r.status, r.reason, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        conn.close()


class Metrics:
    """One scrape of /metrics: every sample by name (as exposed: `metacluster_requests_total`,
    `..._bucket`, `..._count`, ...) and labels. Parsed with prometheus_client's text parser, so an
    exposition it refuses fails the test."""

    def __init__(self, text: str):
        from prometheus_client.parser import text_string_to_metric_families

        self.text = text
        self.families = {f.name: f for f in text_string_to_metric_families(text)}
        self.samples: list[tuple[str, dict[str, str], float]] = [
            (s.name, dict(s.labels), s.value) for f in self.families.values() for s in f.samples]
        self.types = {}
        for f in self.families.values():
            for s in f.samples:
                self.types[s.name] = f.type

    def find(self, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
        """(labels, value) of every sample `name` whose labels include `labels`."""
        return [(ls, v) for n, ls, v in self.samples
                if n == name and all(ls.get(k) == want for k, want in labels.items())]

    def value(self, name: str, default: Optional[float] = None, **labels: str) -> float:
        """The one sample `name` with these labels (others may be present); `default` when there is
        none (None: an AssertionError)."""
        found = self.find(name, **labels)
        if not found:
            if default is not None:
                return default
            names = sorted({n for n, _, _ in self.samples})
            raise AssertionError(f"no sample {name}{labels} in /metrics (sample names: {names})")
        assert len(found) == 1, f"{len(found)} samples {name}{labels}: {found}"
        return found[0][1]

    def sum(self, name: str, **labels: str) -> float:
        return sum(v for _, v in self.find(name, **labels))

    def has(self, name: str) -> bool:
        return any(n == name for n, _, _ in self.samples)


# ----------------------------------------------------------------------------
# endpoints the tests talk to
# ----------------------------------------------------------------------------

@dataclass
class Endpoint:
    """Something that speaks redis on a loopback port: the proxy, or a redis-server."""

    port: int
    kind: str  # "proxy" | "direct" | "reference"
    server: Any = None  # Metacluster or RedisServer
    backend: Optional[RedisServer] = None
    _clients: list = field(default_factory=list)

    def client(self, protocol: Any = 2, **kw: Any):
        """A redis-py client; protocol=None leaves redis-py's default."""
        import redis

        args = dict(host="127.0.0.1", port=self.port, socket_timeout=20, socket_connect_timeout=5)
        if protocol is not None:
            args["protocol"] = protocol
        args.update(kw)
        c = redis.Redis(**args)
        self._clients.append(c)
        return c

    def raw(self, timeout: float = 10.0):
        from resp import RawConn

        c = RawConn(self.port, timeout=timeout)
        self._clients.append(c)
        return c

    def close_clients(self) -> None:
        for c in self._clients:
            try:
                c.close()
            except Exception:
                pass
        self._clients.clear()


@dataclass
class McEndpoint:
    """Something that speaks memcached on a loopback port: the proxy, or a memcached."""

    port: int
    kind: str  # "proxy" | "direct" | "reference"
    server: Any = None  # Metacluster or MemcachedServer
    backends: list = field(default_factory=list)  # the MemcachedServers behind it, dc-a first
    _clients: list = field(default_factory=list)

    @property
    def backend(self) -> "MemcachedServer":
        return self.backends[0]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def raw(self, timeout: float = 10.0):
        from mcproto import McConn

        c = McConn(self.port, timeout=timeout)
        self._clients.append(c)
        return c

    def keep(self, client: Any) -> Any:
        """Closes `client` (anything with close() or disconnect_all()) with the endpoint's clients."""
        self._clients.append(client)
        return client

    def close_clients(self) -> None:
        for c in self._clients:
            try:
                close = getattr(c, "close", None) or getattr(c, "disconnect_all")
                close()
            except Exception:
                pass
        self._clients.clear()


class Stack:
    """Owns processes started for a test (or a module) and stops them all, by pid."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.redis: list[RedisServer] = []
        self.memcached: list[MemcachedServer] = []
        self.proxies: list[Metacluster] = []
        self.nutcrackers: list[Nutcracker] = []
        self.endpoints: list[Any] = []

    def redis_server(self, port: Optional[int] = None, extra: tuple[str, ...] = (), start: bool = True) -> RedisServer:
        r = RedisServer(self.workdir, port=port, extra=extra)
        self.redis.append(r)
        return r.start() if start else r

    def metacluster(self, redis_ports: list[int], start: bool = True, **kw: Any) -> Metacluster:
        m = Metacluster(self.workdir, [f"127.0.0.1:{p}" for p in redis_ports], **kw)
        self.proxies.append(m)
        return m.start() if start else m

    def clusters(self, ports: list[int], start: bool = True, **kw: Any) -> Metacluster:
        """metacluster with one cluster per port, named dc-a, dc-b, ...; the first is local."""
        clusters = [{"name": f"dc-{chr(ord('a') + i)}", "local": i == 0, "redis": [f"127.0.0.1:{p}"]}
                    for i, p in enumerate(ports)]
        return self.metacluster([], start=start, clusters=clusters, **kw)

    def memcached_server(self, port: Optional[int] = None, extra: tuple[str, ...] = (),
                         start: bool = True) -> MemcachedServer:
        m = MemcachedServer(self.workdir, port=port, extra=extra)
        self.memcached.append(m)
        return m.start() if start else m

    def redis_servers(self, n: int) -> list[RedisServer]:
        return [self.redis_server() for _ in range(n)]

    def memcached_servers(self, n: int) -> list[MemcachedServer]:
        return [self.memcached_server() for _ in range(n)]

    def nutcracker(self, servers: list, *, redis: bool, start: bool = True, **kw: Any) -> Nutcracker:
        """A twemproxy pool over `servers` (ports or server entries); see Nutcracker."""
        n = Nutcracker(self.workdir, servers, redis=redis, **kw)
        self.nutcrackers.append(n)
        return n.start() if start else n

    def sharded(self, clusters: list[dict], *, redis: bool = True, memcached: bool = False,
                start: bool = True, **kw: Any) -> Metacluster:
        """metacluster over the given cluster dicts (see sharded_cluster), listening for redis
        and/or memcached."""
        return self.metacluster([], start=start, clusters=clusters, redis=redis, memcached=memcached, **kw)

    def mc_clusters(self, ports: list[int], start: bool = True, redis_ports: Optional[list[int]] = None,
                    **kw: Any) -> Metacluster:
        """metacluster with a memcached listener and one cluster per memcached port, named dc-a,
        dc-b, ...; the first is local. With redis_ports (one per cluster) the clusters have redis
        servers too and the proxy listens for redis as well."""
        clusters = []
        for i, p in enumerate(ports):
            c: dict[str, Any] = {"name": f"dc-{chr(ord('a') + i)}", "local": i == 0,
                                 "memcached": [f"127.0.0.1:{p}"]}
            if redis_ports:
                c["redis"] = [f"127.0.0.1:{redis_ports[i]}"]
            clusters.append(c)
        return self.metacluster([], start=start, clusters=clusters, memcached=True,
                                redis=bool(redis_ports), **kw)

    def mc_endpoint(self, clusters: int = 1, **kw: Any) -> McEndpoint:
        """Fresh memcached servers (one per cluster) and, unless TARGET=direct, metacluster in
        front of them; direct mode talks to the first (dc-a) itself."""
        backends = [self.memcached_server() for _ in range(clusters)]
        if DIRECT:
            ep = McEndpoint(backends[0].port, "direct", server=backends[0], backends=backends)
        else:
            m = self.mc_clusters([b.port for b in backends], **kw)
            assert m.mc_port is not None
            ep = McEndpoint(m.mc_port, "proxy", server=m, backends=backends)
        self.endpoints.append(ep)
        return ep

    def mc_reference_endpoint(self) -> McEndpoint:
        m = self.memcached_server()
        ep = McEndpoint(m.port, "reference", server=m, backends=[m])
        self.endpoints.append(ep)
        return ep

    def proxy_endpoint(self, **kw: Any) -> Endpoint:
        """A backend redis-server and, unless TARGET=direct, metacluster in front of it."""
        backend = self.redis_server()
        if DIRECT:
            ep = Endpoint(backend.port, "direct", server=backend, backend=backend)
        else:
            m = self.metacluster([backend.port], **kw)
            ep = Endpoint(m.port, "proxy", server=m, backend=backend)
        self.endpoints.append(ep)
        return ep

    def reference_endpoint(self) -> Endpoint:
        r = self.redis_server()
        ep = Endpoint(r.port, "reference", server=r, backend=r)
        self.endpoints.append(ep)
        return ep

    def teardown(self) -> list[str]:
        """Stop everything; return problems (a proxy that did not exit 0 on SIGTERM)."""
        problems = []
        for ep in self.endpoints:
            ep.close_clients()
        for m in self.proxies:
            if m.proc is None or m.checked:
                m.stop()
                continue
            already = m.proc.poll() is not None
            rc = m.stop()
            if rc != 0:
                how = "had already exited" if already else "on SIGTERM"
                problems.append(f"metacluster {how} with status {rc} (expected 0)\n" + m.describe())
        for n in self.nutcrackers:
            n.stop()
        for r in self.redis:
            r.stop()
        for mc in self.memcached:
            mc.stop()
        return problems


def _finish(stack: Stack) -> None:
    problems = stack.teardown()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def stack(tmp_path: Path):
    """Start what a test needs with stack.redis_server() / stack.metacluster(); all stopped afterwards."""
    s = Stack(tmp_path)
    yield s
    _finish(s)


@pytest.fixture
def proxy(stack: Stack) -> Endpoint:
    """The endpoint under test: metacluster in front of a fresh redis-server (or that server, if direct)."""
    return stack.proxy_endpoint()


@pytest.fixture
def ref(stack: Stack) -> Endpoint:
    """A separate fresh redis-server that the tests compare the proxy's answers with."""
    return stack.reference_endpoint()


@pytest.fixture
def mc(stack: Stack) -> McEndpoint:
    """The memcached endpoint under test: metacluster (one cluster, dc-a) in front of a fresh
    memcached, or that memcached itself with METACLUSTER_TARGET=direct."""
    return stack.mc_endpoint()


@pytest.fixture
def mc_ref(stack: Stack) -> McEndpoint:
    """A separate fresh memcached that the tests compare the endpoint's answers with."""
    return stack.mc_reference_endpoint()


@pytest.fixture(scope="module")
def module_stack(tmp_path_factory: pytest.TempPathFactory):
    s = Stack(tmp_path_factory.mktemp("stack"))
    yield s
    _finish(s)


# ----------------------------------------------------------------------------
# comparing behaviour with redis-server
# ----------------------------------------------------------------------------

def outcome(fn: Callable[[], Any]) -> Any:
    """Run fn; an exception becomes ('raised', class name, message) so outcomes compare."""
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - we compare whatever redis-py raises
        return ("raised", type(e).__name__, str(e))


def normalize(value: Any) -> Any:
    """Exceptions inside pipeline results compare by class and message."""
    if isinstance(value, Exception):
        return ("raised", type(value).__name__, str(value))
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, tuple):
        return tuple(normalize(v) for v in value)
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items()}
    return value


def run_ops(client: Any, ops: list[Callable[[Any], Any]]) -> list[Any]:
    return [outcome(lambda op=op: op(client)) for op in ops]


def assert_same(proxy_result: Any, ref_result: Any, what: str = "") -> None:
    if proxy_result != ref_result:
        # point at the first difference for long sequences
        if isinstance(proxy_result, list) and isinstance(ref_result, list):
            for i, (a, b) in enumerate(zip(proxy_result, ref_result)):
                if a != b:
                    raise AssertionError(f"{what}: first difference at #{i}: proxy {a!r:.500} != redis {b!r:.500}")
            raise AssertionError(f"{what}: lengths differ: proxy {len(proxy_result)} != redis {len(ref_result)}")
        raise AssertionError(f"{what}: proxy {proxy_result!r:.1000} != redis {ref_result!r:.1000}")


# ----------------------------------------------------------------------------
# sharded clusters read directly (the sharding tests)
# ----------------------------------------------------------------------------

BARRIER_PREFIX = "__barrier__:"


def wait_until(pred: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    """pred()'s first truthy value within `timeout` seconds, or an AssertionError naming `what`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r:.500})")


def kill9(server: Union[RedisServer, MemcachedServer]) -> None:
    """SIGKILL one server we started (by pid) and reap it."""
    assert server.proc is not None and server.proc.poll() is None
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(5)


def scattered_key(prefix: str, i: int) -> str:
    """`prefix` + i + a few hex digits that differ from one i to the next. Keys that differ only in
    their last characters (k:1, k:2, ...) cluster on a ketama ring with the FNV hashes (twemproxy's
    default fnv1a_64 multiplies the last byte by the prime once): a test that needs keys on every
    shard uses these."""
    return f"{prefix}{i}:{hashlib.sha1(f'{prefix}{i}'.encode()).hexdigest()[:6]}"


def _is_barrier(key: Union[bytes, str]) -> bool:
    return (key.decode("utf-8", "replace") if isinstance(key, bytes) else key).startswith(BARRIER_PREFIX)


class _Shards:
    """The servers of sharded clusters, each read directly: servers[c][s] is shard s (in the order
    of the cluster's list) of cluster c (named dc-a, dc-b, ...).

    settle() is the sharded form of the replication tests' barrier: a set of barrier keys, found
    once to cover every shard of every cluster, is written through the proxy client after the
    writes to wait for; per-client order on each backend connection means that once a shard holds
    its barrier keys' new value it has applied the client's earlier writes too."""

    BARRIER_KEYS = 48

    def __init__(self, servers: list[list[Any]], names: Optional[list[str]] = None):
        self.servers = [list(c) for c in servers]
        self.names = names or [f"dc-{chr(ord('a') + i)}" for i in range(len(servers))]
        self.directs = [[self._direct(srv) for srv in c] for c in self.servers]
        self.barrier_homes: Optional[list[list[list[str]]]] = None

    # -- per protocol ---------------------------------------------------------
    def _direct(self, server: Any) -> Any:
        raise NotImplementedError

    def _present(self, c: int, s: int, keys: list) -> list[bool]:
        raise NotImplementedError

    def _values(self, c: int, s: int, keys: list) -> list[Any]:
        raise NotImplementedError

    def _write_barrier(self, client: Any, keys: list[str], token: str) -> None:
        raise NotImplementedError

    # -- placement ------------------------------------------------------------
    def alive(self, c: int, s: int) -> bool:
        return self.servers[c][s].running

    def label(self, c: int, s: int) -> str:
        return f"{self.names[c]} shard {s} (:{self.servers[c][s].port})"

    def holders(self, c: int, key: Any) -> list[int]:
        """The live shards of cluster c that hold `key`."""
        return [s for s in range(len(self.servers[c])) if self.alive(c, s) and self._present(c, s, [key])[0]]

    def homes(self, c: int, keys: list, *, allow_missing: bool = False) -> dict[Any, int]:
        """{key: the one live shard of cluster c holding it}; asserts that no key is on two shards
        and (unless allow_missing) that every key is somewhere."""
        found: dict[Any, list[int]] = {k: [] for k in keys}
        for s in range(len(self.servers[c])):
            if not self.alive(c, s):
                continue
            for k, here in zip(keys, self._present(c, s, keys)):
                if here:
                    found[k].append(s)
        twice = {k: v for k, v in found.items() if len(v) > 1}
        assert not twice, f"{self.names[c]}: keys on more than one shard: {dict(list(twice.items())[:10])}"
        if not allow_missing:
            missing = [k for k, v in found.items() if not v]
            assert not missing, (f"{self.names[c]}: {len(missing)} of {len(keys)} keys on no shard, "
                                 f"e.g. {missing[:10]}")
        return {k: v[0] for k, v in found.items() if v}

    def spread(self, c: int, keys: list) -> dict[int, int]:
        """{shard: how many of `keys` it holds} for cluster c."""
        out = {s: 0 for s in range(len(self.servers[c]))}
        for s in self.homes(c, keys, allow_missing=True).values():
            out[s] += 1
        return out

    def values(self, c: int, keys: list) -> dict[Any, Any]:
        """{key: value} read from each key's home shard in cluster c (keys on no live shard left out)."""
        by_shard: dict[int, list] = {}
        for k, s in self.homes(c, keys, allow_missing=True).items():
            by_shard.setdefault(s, []).append(k)
        out = {}
        for s, ks in by_shard.items():
            out.update(zip(ks, self._values(c, s, ks)))
        return out

    # -- barrier ----------------------------------------------------------------
    def barrier_keys(self) -> list[str]:
        return [scattered_key(BARRIER_PREFIX, i) for i in range(self.BARRIER_KEYS)]

    def settle(self, client: Any, ref: Any = None, skip: tuple = (), timeout: float = 10.0) -> None:
        """Waits until every live shard (but those in `skip`, (cluster, shard) pairs) has applied
        what `client` wrote before. `ref`, a client of a reference server, gets the same barrier
        keys so that its keyspace stays comparable with the clusters'."""
        keys = self.barrier_keys()
        token = uuid.uuid4().hex
        self._write_barrier(client, keys, token)
        if ref is not None:
            self._write_barrier(ref, keys, token)
        if self.barrier_homes is None:
            # the first time: find where the barrier keys live (every shard must get some)
            homes = []
            for c in range(len(self.servers)):
                wait_until(lambda c=c: len(self.homes(c, keys, allow_missing=True)) == len(keys), timeout,
                           f"the barrier keys on {self.names[c]}")
                where = self.homes(c, keys)
                per_shard = [[k for k in keys if where[k] == s] for s in range(len(self.servers[c]))]
                empty = [s for s, ks in enumerate(per_shard) if not ks]
                assert not empty, (f"{self.names[c]}: none of {len(keys)} keys written through the proxy landed "
                                   f"on shard(s) {empty}; spread {[len(ks) for ks in per_shard]}: are keys sharded?")
                homes.append(per_shard)
            self.barrier_homes = homes
        want = token.encode()
        for c, per_shard in enumerate(self.barrier_homes):
            for s, ks in enumerate(per_shard):
                if (c, s) in skip or not self.alive(c, s):
                    continue
                wait_until(lambda c=c, s=s, ks=ks: all(v == want for v in self._values(c, s, ks)), timeout,
                           f"the barrier on {self.label(c, s)}")

    def close(self) -> None:
        for c in self.directs:
            for d in c:
                try:
                    d.close()
                except Exception:
                    pass


class RedisShards(_Shards):
    """Sharded clusters' redis-servers, read with redis-py (RESP2) clients of their own."""

    def _direct(self, server: RedisServer) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=server.port, protocol=2, socket_timeout=10,
                           socket_connect_timeout=5)

    def _present(self, c: int, s: int, keys: list) -> list[bool]:
        pipe = self.directs[c][s].pipeline(transaction=False)
        for k in keys:
            pipe.exists(k)
        return [n == 1 for n in pipe.execute()]

    def _values(self, c: int, s: int, keys: list) -> list[Any]:
        return self.directs[c][s].mget(keys) if keys else []

    def _write_barrier(self, client: Any, keys: list[str], token: str) -> None:
        from resp import RawConn, encode_many

        if isinstance(client, RawConn):
            client.send(encode_many(("SET", k, token) for k in keys))
            replies = [client.read_reply()[1] for _ in keys]
            assert all(r == b"OK" for r in replies), replies
            return
        pipe = client.pipeline(transaction=False)
        for k in keys:
            pipe.set(k, token)
        replies = pipe.execute()
        assert all(r is True for r in replies), replies

    def keys(self, c: int, s: int) -> set[bytes]:
        """Every key on one shard but the barrier keys."""
        return {k for k in self.directs[c][s].keys("*") if not _is_barrier(k)}

    def keyspace(self, c: int) -> dict[bytes, int]:
        """{key: shard} over the live shards of cluster c (barrier keys left out); asserts no key
        is on two shards."""
        out: dict[bytes, int] = {}
        for s in range(len(self.servers[c])):
            if not self.alive(c, s):
                continue
            for k in self.keys(c, s):
                assert k not in out, f"{k!r} is on {self.label(c, out[k])} and {self.label(c, s)}"
                out[k] = s
        return out

    def contents(self, c: int) -> dict[bytes, Any]:
        """{key: (type, content)} of cluster c, each key read from its shard."""
        return {k: redis_content(self.directs[c][s], k) for k, s in self.keyspace(c).items()}

    def restart(self, stack: "Stack", c: int, s: int) -> RedisServer:
        """A new, empty redis-server on the port of shard s of cluster c (after it was killed)."""
        port = self.servers[c][s].port
        self.servers[c][s] = stack.redis_server(port=port)
        try:
            self.directs[c][s].close()
        except Exception:
            pass
        self.directs[c][s] = self._direct(self.servers[c][s])
        return self.servers[c][s]


def redis_content(d: Any, key: bytes) -> tuple[bytes, Any]:
    """(type, value) of a key, independent of its encoding."""
    kind = d.type(key)
    if kind == b"string":
        return kind, d.get(key)
    if kind == b"set":
        return kind, sorted(d.smembers(key))
    if kind == b"hash":
        return kind, sorted(d.hgetall(key).items())
    if kind == b"zset":
        return kind, d.zrange(key, 0, -1, withscores=True)
    if kind == b"list":
        return kind, d.lrange(key, 0, -1)
    if kind == b"none":
        return kind, None
    raise AssertionError(f"unexpected type {kind!r} for {key!r}")


def reference_contents(d: Any) -> dict[bytes, Any]:
    """{key: (type, content)} of a reference redis-server, barrier keys left out."""
    return {k: redis_content(d, k) for k in d.keys("*") if not _is_barrier(k)}


class McShards(_Shards):
    """Sharded clusters' memcached servers, read over raw connections of their own."""

    def _direct(self, server: MemcachedServer) -> Any:
        from mcproto import McConn

        return McConn(server.port)

    def _present(self, c: int, s: int, keys: list) -> list[bool]:
        return [v is not None for v in self._values(c, s, keys)]

    def _values(self, c: int, s: int, keys: list) -> list[Any]:
        """Values (None when missing), read with pipelined single-key gets."""
        return [item[0] if item else None for item in self.items(c, s, keys)]

    def items(self, c: int, s: int, keys: list) -> list[Any]:
        """(value, flags) of each key on one shard, None when missing."""
        from mcproto import line

        conn = self.directs[c][s]
        conn.send(b"".join(line("get", k) for k in keys))
        out = []
        for k in keys:
            r = conn.read_reply()
            assert r.line == b"END", f"get {k!r} on {self.label(c, s)} answered {r!r}"
            out.append((r.items[0].value, r.items[0].flags) if r.items else None)
        return out

    def _write_barrier(self, client: Any, keys: list[str], token: str) -> None:
        from mcproto import storage

        client.send(b"".join(storage("set", k, token.encode()) for k in keys))
        replies = [client.read_reply().line for _ in keys]
        assert all(r == b"STORED" for r in replies), replies

    def keyspace(self, c: int) -> dict[bytes, int]:
        """{key: shard} over the live shards of cluster c (barrier keys left out). The crawler
        only discovers keys; each is then looked up on every shard directly (exact)."""
        from mcproto import metadump

        found: set[bytes] = set()
        for s in range(len(self.servers[c])):
            if self.alive(c, s):
                found |= {k for k in metadump(self.servers[c][s].port) if not _is_barrier(k)}
        keys = sorted(found)
        return self.homes(c, keys)

    def contents(self, c: int) -> dict[bytes, tuple[bytes, int]]:
        """{key: (value, flags)} of cluster c, each key read from its shard."""
        by_shard: dict[int, list[bytes]] = {}
        for k, s in self.keyspace(c).items():
            by_shard.setdefault(s, []).append(k)
        out = {}
        for s, ks in by_shard.items():
            out.update(zip(ks, self.items(c, s, ks)))
        return out

    def restart(self, stack: "Stack", c: int, s: int) -> MemcachedServer:
        """A new, empty memcached on the port of shard s of cluster c (after it was killed)."""
        port = self.servers[c][s].port
        self.servers[c][s] = stack.memcached_server(port=port)
        self.directs[c][s].close()
        self.directs[c][s] = self._direct(self.servers[c][s])
        return self.servers[c][s]


# ----------------------------------------------------------------------------
# clusters of both protocols behind a proxy with its admin listener (the issue #6 tests)
# ----------------------------------------------------------------------------

CLUSTER_NAMES = [f"dc-{c}" for c in "abcdef"]
ADMIN_FAST_TIMEOUTS = {"requestMs": 1000, "connectMs": 300, "reconnectMinMs": 50, "reconnectMaxMs": 300}
ADMIN_FAST_HEALTH = {"failureLimit": 1, "probeIntervalMs": 100}
ADMIN_BARRIER = "__barrier__"


class DualClusters:
    """Clusters dc-a (local), dc-b, ... of one redis-server and one memcached each, and metacluster
    in front of them listening for redis, memcached and admin (HTTP); every server is also read
    directly (redis-py RESP2 clients, raw memcached connections).

    `configured` (default: all `n`) is how many of the clusters the proxy's config lists at start:
    the others' servers run, ready for a reload to add them (config_for). `relays` puts a
    DelayRelay of that many seconds in front of cluster i's servers (both protocols)."""

    def __init__(self, stack: Stack, n: int = 2, *, configured: Optional[int] = None,
                 config_extra: Optional[dict] = None, timeouts: Optional[dict] = None,
                 health: Optional[dict] = None, workers: int = 1, relays: Optional[dict[int, float]] = None,
                 start: bool = True):
        import redis as redis_py
        from mcproto import McConn

        self.stack = stack
        self.names = CLUSTER_NAMES[:n]
        self.redis_servers = [stack.redis_server() for _ in range(n)]
        self.mc_servers = [stack.memcached_server() for _ in range(n)]
        self.relays: list[Any] = []
        self.redis_ports = [s.port for s in self.redis_servers]
        self.mc_ports = [s.port for s in self.mc_servers]
        if relays:
            from delay_relay import DelayRelay

            for i, delay in relays.items():
                for ports, server in ((self.redis_ports, self.redis_servers[i]), (self.mc_ports, self.mc_servers[i])):
                    relay = DelayRelay(server.port, delay)
                    self.relays.append(relay)
                    ports[i] = relay.port
        extra: dict[str, Any] = {"health": dict(health or ADMIN_FAST_HEALTH), **(config_extra or {})}
        self.proxy: Metacluster = stack.metacluster(
            [], start=start, clusters=[self.cluster(i) for i in range(configured or n)], redis=True,
            memcached=True, admin=True, workers=workers, timeouts=dict(timeouts or ADMIN_FAST_TIMEOUTS),
            config_extra=extra)
        self._conns: list[Any] = []
        self.rdirect = [self._keep(redis_py.Redis(host="127.0.0.1", port=s.port, protocol=2, socket_timeout=10,
                                                  socket_connect_timeout=5)) for s in self.redis_servers]
        self.mdirect = [self._keep(McConn(s.port)) for s in self.mc_servers]

    def _keep(self, c: Any) -> Any:
        self._conns.append(c)
        return c

    def cluster(self, i: int, redis_ports: Optional[list[int]] = None,
                mc_ports: Optional[list[int]] = None) -> dict:
        """Cluster i's config entry (its servers, or the ports given)."""
        return {"name": self.names[i], "local": i == 0,
                "redis": [f"127.0.0.1:{p}" for p in (redis_ports or [self.redis_ports[i]])],
                "memcached": [f"127.0.0.1:{p}" for p in (mc_ports or [self.mc_ports[i]])]}

    def config_for(self, clusters: list[dict], **changes: Any) -> dict:
        """The proxy's current config with these clusters and top-level keys changed."""
        config = json.loads(json.dumps(self.proxy.config))
        config["clusters"] = clusters
        config.update(changes)
        return config

    # -- clients ---------------------------------------------------------------
    def redis_client(self, timeout: float = 10.0) -> Any:
        from resp import RawConn

        assert self.proxy.port is not None
        return self._keep(RawConn(self.proxy.port, timeout=timeout))

    def mc_client(self, timeout: float = 10.0) -> Any:
        from mcproto import McConn

        assert self.proxy.mc_port is not None
        return self._keep(McConn(self.proxy.mc_port, timeout=timeout))

    def redis_py(self, protocol: int = 2, **kw: Any) -> Any:
        import redis as redis_py

        args: dict[str, Any] = dict(host="127.0.0.1", port=self.proxy.port, protocol=protocol, socket_timeout=20,
                                    socket_connect_timeout=5)
        args.update(kw)
        return self._keep(redis_py.Redis(**args))

    # -- barriers: a marker written through the client arrives after its earlier writes ----------
    def settle_redis(self, client: Any, which: Optional[list[int]] = None, timeout: float = 10.0) -> None:
        token = uuid.uuid4().hex
        reply = client.call("SET", ADMIN_BARRIER, token)
        assert reply == b"OK", f"the barrier SET answered {reply!r}"
        for i in (range(len(self.names)) if which is None else which):
            wait_until(lambda i=i: self.rdirect[i].get(ADMIN_BARRIER) == token.encode(), timeout,
                       f"the barrier on {self.names[i]}'s redis-server")

    def settle_mc(self, client: Any, which: Optional[list[int]] = None, timeout: float = 10.0) -> None:
        token = uuid.uuid4().hex.encode()
        reply = client.set(ADMIN_BARRIER, token)
        assert reply == b"STORED", f"the barrier set answered {reply!r}"
        for i in (range(len(self.names)) if which is None else which):
            wait_until(lambda i=i: self.mdirect[i].get(ADMIN_BARRIER) == token, timeout,
                       f"the barrier on {self.names[i]}'s memcached")

    def restart_redis(self, i: int) -> RedisServer:
        """A new, empty redis-server on cluster i's port (after it was killed)."""
        import redis as redis_py

        port = self.redis_servers[i].port
        self.redis_servers[i] = self.stack.redis_server(port=port)
        self.rdirect[i] = self._keep(redis_py.Redis(host="127.0.0.1", port=port, protocol=2, socket_timeout=10,
                                                    socket_connect_timeout=5))
        return self.redis_servers[i]

    def restart_mc(self, i: int) -> MemcachedServer:
        """A new, empty memcached on cluster i's port (after it was killed)."""
        from mcproto import McConn

        port = self.mc_servers[i].port
        self.mc_servers[i] = self.stack.memcached_server(port=port)
        self.mdirect[i] = self._keep(McConn(port))
        return self.mc_servers[i]

    def close(self) -> None:
        for c in self._conns:
            try:
                c.close()
            except Exception:
                pass
        for r in self.relays:
            r.stop()


@contextlib.contextmanager
def closing_factory(build: Callable[..., Any]):
    """For a fixture that hands tests a factory: `make(...)` returns `build(...)`, and everything
    made is closed when the block ends (the processes themselves belong to the stack)."""
    made: list[Any] = []

    def make(*args: Any, **kw: Any) -> Any:
        made.append(build(*args, **kw))
        return made[-1]

    try:
        yield make
    finally:
        for x in made:
            x.close()


@pytest.fixture
def dual_clusters(stack: Stack):
    """A factory of DualClusters (closed after the test; the processes are the stack's)."""
    with closing_factory(lambda **kw: DualClusters(stack, **kw)) as make:
        yield make
