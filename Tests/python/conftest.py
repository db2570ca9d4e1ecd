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

Every process is started on a free loopback port found here, and stopped by its pid.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

REPO = Path(__file__).resolve().parents[2]
METACLUSTER_BIN = Path(os.environ.get("METACLUSTER_BIN", REPO / ".build" / "release" / "metacluster"))
TARGET = os.environ.get("METACLUSTER_TARGET", "proxy").strip().lower()
LOG_LEVEL = os.environ.get("METACLUSTER_LOG_LEVEL", "info")
REDIS_SERVER = os.environ.get("REDIS_SERVER_BIN") or shutil.which("redis-server") or "redis-server"
MEMCACHED = os.environ.get("MEMCACHED_BIN") or shutil.which("memcached") or "memcached"

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

def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


class Metacluster:
    """The proxy binary with a config written to a temp dir, stopped by pid.

    `port` is the redis listener (None with redis=False: a memcached-only proxy); `mc_port` the
    memcached listener, present when memcached=True or mc_port is given."""

    def __init__(self, workdir: Path, redis_servers: list[str], *, port: Optional[int] = None,
                 workers: int = 1, timeouts: Optional[dict] = None, limits: Optional[dict] = None,
                 config_extra: Optional[dict] = None, log_level: str = LOG_LEVEL,
                 clusters: Optional[list[dict]] = None, redis: bool = True,
                 memcached: bool = False, mc_port: Optional[int] = None):
        self.workdir = workdir
        self.port: Optional[int] = (port or free_port()) if redis else None
        self.mc_port: Optional[int] = (mc_port or free_port()) if (memcached or mc_port) else None
        if self.port is None and self.mc_port is None:
            raise ValueError("metacluster needs a redis or a memcached listener")
        self.proc: Optional[subprocess.Popen] = None
        self.log_level = log_level
        listen = {}
        if self.port is not None:
            listen["redis"] = f"127.0.0.1:{self.port}"
        if self.mc_port is not None:
            listen["memcached"] = f"127.0.0.1:{self.mc_port}"
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
        for p in (self.port, self.mc_port):
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
        ports = ", ".join(f"{kind} :{p}" for kind, p in (("redis", self.port), ("memcached", self.mc_port))
                          if p is not None)
        return f"metacluster on {ports} (config {self.config_path})" + _tail(self.stderr_path)


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
