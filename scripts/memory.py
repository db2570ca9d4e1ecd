#!/usr/bin/env python3
"""Memory and heap-allocation measurements of metacluster (issue #8).

Run through scripts/memory (which installs what is missing and builds the release binary).
Three modes, each printing a Markdown report (and writing its numbers to run/memory/<mode>.json):

  idle    resident memory per idle client connection. Starts redis-server, memcached and the
          proxy (one worker, one local cluster, limits.maxClients raised), warms it up, reads
          VmRSS, then opens --connections idle connections from this process (RLIMIT_NOFILE
          raised): the first half to the redis listener, the second half to the memcached
          listener, measured one after the other so each protocol gets its own bytes per
          connection. Every connection sends one request (redis `GET`, memcached `get`, both
          forwarded to the server) and reads its reply, then stays open and silent, like a pooled
          client that talked once. Once VmRSS settles: (after - before) / connections, with
          RssAnon and RssFile. Then all are closed, and opened once more (the second round should
          reuse what the first freed). The same for twemproxy (nutcracker) for comparison.
          Target: at most 16 KiB per connection.

  soak    VmRSS over a long pipelined run (--minutes, default 10): redis-benchmark -c 50 -P 32
          SET/GET over 100,000 random keys with 32 B values, a second redis-benchmark -c 10 -P 32
          SET/GET with values larger than the proxy's 16 KiB I/O buffers, and memcached set/get
          from a client in this script (memcaslap's keys start with control bytes, which the
          proxy refuses). VmRSS sampled every --sample-seconds, and with malloc_count.c preloaded
          also glibc's heap in use / free (mallinfo2) and the live allocations. Reports the RSS at
          1 min, at the end, the max and the slope over the second half; the verdicts compare
          window medians (the reference window after the first minute against the last minute):
          PASS when the end grew by at most max(5 %, 2 MiB) (RSS) / max(5 %, 1 MiB) (heap in use).

  allocs  heap allocations per request: the proxy runs with scripts/lib/malloc_count.c preloaded
          (compiled on demand into run/memory/ with cc, clang or gcc), which counts
          malloc/calloc/realloc/posix_memalign/aligned_alloc/memalign/valloc calls with relaxed
          atomics and rewrites the totals into a file every 50 ms from its own thread (no signal
          handler). For each command and scenario: read the counter, run exactly N requests, read
          it again; allocations per request = delta / N (also with the connections' own cost
          taken off). redis SET, GET, INCR, LPUSH, MGET (10 keys) through redis-benchmark,
          memcached set and get through a client in this script; -c 50 at -P 1 and -P 32; one
          cluster and three clusters (every write fans out to three servers). Then (--sites) the
          call sites: perf uprobes on libc's allocation functions with DWARF call graphs while the
          same N requests run, grouped by the first frame in the proxy's own Swift modules, names
          demangled, scaled to the counter's exact total.

Every mode runs once per event loop in --loops (default dispatch); a loop the binary refuses to
start is skipped with a warning. Everything started runs on free loopback ports and is stopped
(by pid) on exit, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import atexit
import csv
import io
import json
import os
import platform
import re
import resource
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402
from bench import _cleanup, cpu_seconds, free_port, start, wait_port  # noqa: E402

# What bench.start and bench.wait_port raise when a process exits or does not listen in time
# (older bench.py versions exit with SystemExit).
START_ERRORS = (getattr(bench, "StartError", SystemExit), SystemExit)

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "run" / "memory"
KIB = 1024
MIB = 1024 * 1024

# Swift modules of the proxy: a stack frame in one of them is "our code".
OWN_MODULES = ("Proxy", "EventLoop", "RedisProtocol", "MemcachedProtocol", "Routing", "DurableLog", "metacluster")


# Load generators and perf recorders this script started (the servers and proxies are bench.start's).
_helpers: list[subprocess.Popen] = []


def _terminate(p: subprocess.Popen, sig: int, timeout: float) -> None:
    """Sends `sig` to a running process and waits; kills it if it outlives `timeout`."""
    if p.poll() is not None:
        return
    p.send_signal(sig)
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=5)


def _stop_all() -> None:
    for p in _helpers:
        _terminate(p, signal.SIGINT, 10)
    _helpers.clear()
    _cleanup()


def _on_signal(signum, _frame) -> None:
    _stop_all()
    sys.exit(128 + signum)


def warn(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr, flush=True)


def note(msg: str) -> None:
    print(f"# {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- /proc


def proc_mem(pid: int) -> dict[str, int]:
    """VmRSS, RssAnon, RssFile, RssShmem, VmHWM and VmSize of a process, in bytes."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM", "VmSize", "Threads"):
                parts = rest.split()
                out[key] = int(parts[0]) * (KIB if len(parts) > 1 and parts[1] == "kB" else 1)
    return out


def settle(pid: int, quiet_bytes: int = 32 * KIB, quiet_for: float = 2.0, timeout: float = 30.0) -> dict[str, int]:
    """Waits until VmRSS moved less than quiet_bytes over quiet_for seconds; returns the last reading."""
    deadline = time.monotonic() + timeout
    history: list[tuple[float, int]] = []
    while True:
        m = proc_mem(pid)
        now = time.monotonic()
        history.append((now, m["VmRSS"]))
        window = [rss for t, rss in history if now - t <= quiet_for]
        if now - history[0][0] >= quiet_for and max(window) - min(window) < quiet_bytes:
            return m
        if now > deadline:
            warn(f"RSS of pid {pid} still moving after {timeout:.0f}s; taking the last reading")
            return m
        time.sleep(0.25)


def raise_nofile(wanted: int) -> int:
    """Raises RLIMIT_NOFILE (children inherit it) to at least `wanted` when allowed; returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            return wanted
        except (ValueError, OSError):
            pass
    target = hard if hard != resource.RLIM_INFINITY else max(soft, wanted)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return soft
    return target


# ----------------------------------------------------------------------------- servers and proxies


@dataclass
class Proxy:
    name: str
    proc: subprocess.Popen
    redis_port: Optional[int]
    memcached_port: Optional[int]
    admin_port: Optional[int] = None
    counter: Optional["AllocCounter"] = None

    @property
    def pid(self) -> int:
        return self.proc.pid


class Backends:
    """redis-server and memcached instances, started on demand and shared by the proxies of one mode."""

    def __init__(self, work: Path):
        self.work = work
        self.redis: list[int] = []
        self.memcached: list[int] = []
        self.redis_server = shutil.which("redis-server") or sys.exit("redis-server not found")
        self.memcached_bin = shutil.which("memcached") or sys.exit("memcached not found")

    def ensure(self, count: int) -> None:
        while len(self.redis) < count:
            i = len(self.redis) + 1
            port = free_port()
            start([self.redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--daemonize", "no", "--dir", str(self.work),
                   "--maxclients", "20000", "--logfile", str(self.work / f"redis-{i}.log")],
                  f"redis-server {i}", port, self.work / f"redis-{i}.stdout")
            self.redis.append(port)
        while len(self.memcached) < count:
            i = len(self.memcached) + 1
            port = free_port()
            start([self.memcached_bin, "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "1024",
                   "-c", "20000", "-t", "2"] + (["-u", "root"] if os.geteuid() == 0 else []),
                  f"memcached {i}", port, self.work / f"memcached-{i}.log")
            self.memcached.append(port)


def metacluster_config(loop: str, clusters: int, backends: Backends, rport: int, mport: int,
                       aport: Optional[int]) -> dict:
    backends.ensure(clusters)
    listen = {"redis": f"127.0.0.1:{rport}", "memcached": f"127.0.0.1:{mport}"}
    if aport:
        listen["admin"] = f"127.0.0.1:{aport}"
    names = "abcdefgh"
    return {
        "listen": listen,
        "workers": 1,
        "eventLoop": loop,
        "clusters": [{"name": f"dc-{names[i]}", **({"local": True} if i == 0 else {}),
                      "redis": [f"127.0.0.1:{backends.redis[i]}"],
                      "memcached": [f"127.0.0.1:{backends.memcached[i]}"]} for i in range(clusters)],
        # the idle mode opens 10,000 connections: keep well clear of the per-listener limit
        "limits": {"maxClients": 200_000},
    }


def start_metacluster(args, backends: Backends, loop: str, clusters: int, label: str,
                      preload: Optional[Path] = None, admin: bool = False) -> Optional[Proxy]:
    """Starts metacluster; None (with a warning) when it refuses the configuration or exits."""
    binary = Path(args.bin)
    if not binary.exists():
        sys.exit(f"{binary} not found: build it with `swift build -c release` (scripts/memory does)")
    rport, mport = free_port(), free_port()
    aport = free_port() if admin else None
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
    cfg = backends.work / f"{slug}.json"
    cfg.write_text(json.dumps(metacluster_config(loop, clusters, backends, rport, mport, aport), indent=2))
    cmd = [str(binary), "--config", str(cfg), "--log-level", args.log_level]
    counter = None
    env = list(args.proxy_env)
    if preload:
        out = backends.work / f"{slug}.malloc-count"
        counter = AllocCounter(out)
        env += [f"LD_PRELOAD={preload}", f"MALLOC_COUNT_OUT={out}"]
    if env:
        # `env` execs the proxy, so the pid Popen sees is the proxy's own
        cmd = ["env"] + env + cmd
    log = backends.work / f"{slug}.log"
    p = None
    try:
        p = start(cmd, label, rport, log)
        wait_port(mport, p, label, log)
    except START_ERRORS as e:
        if p is not None and p.poll() is None:
            p.terminate()
            p.wait(timeout=15)
        text = str(e).strip().splitlines()
        warn(f"{label} did not start, skipped: " + " | ".join(text[-3:]))
        return None
    if counter:
        counter.pid = p.pid
    return Proxy(label, p, rport, mport, aport, counter)


def stop(proxy: Proxy) -> None:
    """Stops one proxy (by pid) before the next starts, so runs never share the machine."""
    _terminate(proxy.proc, signal.SIGTERM, 15)


def start_twemproxy(backends: Backends) -> Optional[Proxy]:
    nutcracker = shutil.which("nutcracker") or shutil.which("nutcracker", path="/usr/sbin:/sbin")
    if not nutcracker:
        warn("nutcracker not found (apt-get install nutcracker); twemproxy skipped")
        return None
    backends.ensure(1)
    rport, mport, sport = free_port(), free_port(), free_port()
    work = backends.work
    conf = work / "nutcracker.yml"
    pool = ("  hash: fnv1a_64\n  distribution: ketama\n  auto_eject_hosts: false\n  timeout: 5000\n"
            "  server_connections: 1\n")
    conf.write_text(
        f"redis_pool:\n  listen: 127.0.0.1:{rport}\n  redis: true\n{pool}"
        f"  servers:\n   - 127.0.0.1:{backends.redis[0]}:1\n"
        f"memcached_pool:\n  listen: 127.0.0.1:{mport}\n{pool}"
        f"  servers:\n   - 127.0.0.1:{backends.memcached[0]}:1\n")
    log = work / "nutcracker.stdout"
    p = start([nutcracker, "-c", str(conf), "-o", str(work / "nutcracker.log"), "-s", str(sport),
               "-a", "127.0.0.1", "-p", str(work / "nutcracker.pid")], "twemproxy", rport, log)
    wait_port(mport, p, "twemproxy", log)
    return Proxy("twemproxy", p, rport, mport)


def admin_metric(proxy: Proxy, name: str) -> Optional[float]:
    """Sum of a metric's samples from the admin endpoint's /metrics; None when unavailable."""
    if not proxy.admin_port:
        return None
    try:
        with socket.create_connection(("127.0.0.1", proxy.admin_port), timeout=5) as s:
            s.sendall(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    except OSError:
        return None
    total, seen = 0.0, False
    for line in data.decode(errors="replace").splitlines():
        if line.startswith(name) and (len(line) == len(name) or line[len(name)] in " {"):
            try:
                total += float(line.rsplit(" ", 1)[1])
                seen = True
            except ValueError:
                pass
    return total if seen else None


# ----------------------------------------------------------------------------- load


def redis_bench(port: int, clients: int, pipeline: int, n: int, test: str, extra: list[str],
                timeout: float = 900) -> dict:
    """One redis-benchmark run; `test` is a -t test name or a custom command line ("MGET k1 k2")."""
    tool = shutil.which("redis-benchmark") or sys.exit("redis-benchmark not found (apt-get install redis-tools)")
    args = [tool, "-h", "127.0.0.1", "-p", str(port), "-c", str(clients), "-P", str(pipeline),
            "-n", str(n), "-q", "--csv", *extra]
    args += test.split() if " " in test else ["-t", test]
    started = time.monotonic()
    p = subprocess.run(args, capture_output=True, text=True, errors="replace", timeout=timeout,
                       stdin=subprocess.DEVNULL)
    elapsed = time.monotonic() - started
    rows = [r for r in csv.DictReader(io.StringIO(p.stdout)) if r.get("test")]
    errors = [line for line in (p.stdout + p.stderr).splitlines() if "error" in line.lower()]
    if p.returncode != 0 or not rows or errors:
        return {"error": (errors or [p.stderr.strip() or f"exit {p.returncode}"])[0][:200], "seconds": elapsed}
    try:
        rps = float(rows[0]["rps"])
    except (KeyError, ValueError):
        rps = None
    return {"rps": rps, "seconds": elapsed}


def memcached_load(port: int, clients: int, pipeline: int, n: int, op: str, keyspace: int = 100_000,
                   value_size: int = 3, timeout: float = 300) -> dict:
    """Exactly n memcached text-protocol requests (`set` or `get`) over `clients` connections, at most
    `pipeline` outstanding per connection; counts the replies (STORED / END) and fails on anything else."""
    import random
    rng = random.Random(8)
    value = b"x" * value_size

    def request() -> bytes:
        key = b"key:%d" % rng.randrange(keyspace)
        if op == "set":
            return b"set %s 0 0 %d\r\n%s\r\n" % (key, value_size, value)
        return b"get %s\r\n" % key

    term = b"STORED\r\n" if op == "set" else b"END\r\n"
    sel = selectors.DefaultSelector()
    conns = []
    quota = [n // clients + (1 if i < n % clients else 0) for i in range(clients)]
    for i in range(clients):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        st = {"sock": s, "left": quota[i], "outstanding": 0, "buf": b"", "out": b""}
        conns.append(st)
    started = time.monotonic()
    done = 0
    errors = 0

    def refill(st) -> None:
        k = min(pipeline, st["left"])
        if k:
            st["out"] += b"".join(request() for _ in range(k))
            st["left"] -= k
            st["outstanding"] += k

    for st in conns:
        refill(st)
        sel.register(st["sock"], selectors.EVENT_READ | selectors.EVENT_WRITE, st)
    active = len(conns)
    deadline = started + timeout
    try:
        while active:
            if time.monotonic() > deadline:
                return {"error": f"memcached {op}: timed out with {done}/{n} replies"}
            for key, mask in sel.select(timeout=1.0):
                st = key.data
                s = st["sock"]
                if mask & selectors.EVENT_WRITE and st["out"]:
                    try:
                        sent = s.send(st["out"])
                        st["out"] = st["out"][sent:]
                    except BlockingIOError:
                        pass
                if mask & selectors.EVENT_READ:
                    try:
                        chunk = s.recv(262144)
                    except BlockingIOError:
                        chunk = None
                    if chunk == b"":
                        return {"error": f"memcached {op}: connection closed after {done}/{n} replies"}
                    if chunk:
                        buf = st["buf"] + chunk
                        got = buf.count(term)
                        if got:
                            cut = buf.rfind(term) + len(term)
                            rest_ok = buf[:cut].count(b"\r\n")  # STORED: 1 line each; get: END (+ VALUE, data)
                            if op == "set" and rest_ok != got:
                                errors += rest_ok - got
                            buf = buf[cut:]
                            st["outstanding"] -= got
                            done += got
                            if st["outstanding"] == 0:
                                refill(st)
                        elif b"ERROR" in buf:
                            return {"error": f"memcached {op}: {buf[:120]!r}"}
                        st["buf"] = buf
                if st["outstanding"] == 0 and st["left"] == 0 and not st["out"]:
                    sel.unregister(s)
                    active -= 1
                else:
                    want = selectors.EVENT_READ | (selectors.EVENT_WRITE if st["out"] else 0)
                    if key.events != want:
                        sel.modify(s, want, st)
    finally:
        for st in conns:
            st["sock"].close()
        sel.close()
    elapsed = time.monotonic() - started
    if errors:
        return {"error": f"memcached {op}: {errors} unexpected reply line(s)"}
    return {"rps": n / elapsed if elapsed else None, "seconds": elapsed}


# ----------------------------------------------------------------------------- idle connections

PROBES = {
    # protocol: (request, reply terminator). Both are forwarded to the server by either proxy.
    "redis": (b"*2\r\n$3\r\nGET\r\n$10\r\nidle:probe\r\n", b"$-1\r\n"),
    "memcached": (b"get idle:probe\r\n", b"END\r\n"),
}


def open_idle(port: int, n: int, protocol: str, batch: int = 500, timeout: float = 60) -> list[socket.socket]:
    """Opens n connections, sends one request on each and reads its reply; returns the open sockets."""
    request, reply = PROBES[protocol]
    kept: list[socket.socket] = []
    sel = selectors.DefaultSelector()
    try:
        while len(kept) < n:
            pending = {}
            for _ in range(min(batch, n - len(kept))):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                err = s.connect_ex(("127.0.0.1", port))
                if err not in (0, 115):  # EINPROGRESS
                    s.close()
                    raise SystemExit(f"connect to {port} failed: {os.strerror(err)} after {len(kept)} connections")
                pending[s.fileno()] = s
                sel.register(s, selectors.EVENT_WRITE, {"buf": b"", "sent": False})
            deadline = time.monotonic() + timeout
            while pending:
                if time.monotonic() > deadline:
                    raise SystemExit(f"{len(pending)} of {protocol} connections to {port} got no reply within "
                                     f"{timeout:.0f}s (after {len(kept)} connections)")
                for key, mask in sel.select(timeout=1.0):
                    s, st = key.fileobj, key.data
                    if not st["sent"]:
                        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if err:
                            raise SystemExit(f"connect to {port} failed: {os.strerror(err)} after {len(kept)} "
                                             "connections")
                        s.sendall(request)
                        st["sent"] = True
                        sel.modify(s, selectors.EVENT_READ, st)
                        continue
                    chunk = s.recv(4096)
                    if not chunk:
                        raise SystemExit(f"the proxy closed a {protocol} connection before replying "
                                         f"(after {len(kept)} connections)")
                    st["buf"] += chunk
                    if st["buf"].endswith(reply):
                        if st["buf"] != reply:
                            raise SystemExit(f"unexpected {protocol} reply {st['buf'][:80]!r}")
                        sel.unregister(s)
                        del pending[s.fileno()]
                        kept.append(s)
    except BaseException:
        for s in kept:
            s.close()
        raise
    finally:
        sel.close()
    return kept


def idle_run(proxy: Proxy, counts: dict[str, int], warm: Callable[[Proxy], None]) -> dict:
    """Warm-up, RSS before, idle connections per protocol (RSS after each), close all, RSS after."""
    warm(proxy)
    base = settle(proxy.pid)
    result = {"target": proxy.name, "before": base, "steps": [], "threads": base.get("Threads")}
    socks: list[socket.socket] = []
    prev = base
    try:
        for protocol, n in counts.items():
            if n <= 0:
                continue
            port = proxy.redis_port if protocol == "redis" else proxy.memcached_port
            t0 = time.monotonic()
            socks += open_idle(port, n, protocol)
            opened = time.monotonic() - t0
            clients = admin_metric(proxy, "metacluster_clients")
            m = settle(proxy.pid)
            result["steps"].append({"protocol": protocol, "connections": n, "after": m, "open_seconds": opened,
                                    "clients_metric": clients,
                                    "per_conn": {k: (m[k] - prev[k]) / n for k in ("VmRSS", "RssAnon", "RssFile")}})
            note(f"{proxy.name}: {n} idle {protocol} connections: "
                 f"{(m['VmRSS'] - prev['VmRSS']) / n / KIB:.2f} KiB each (VmRSS {m['VmRSS'] / MIB:.1f} MiB)")
            prev = m
        total = sum(counts.values())
        result["all"] = {k: (prev[k] - base[k]) / total for k in ("VmRSS", "RssAnon", "RssFile")}
        result["with_idle"] = prev
    finally:
        for s in socks:
            s.close()
    result["closed"] = settle(proxy.pid)
    # the same connections again: memory freed by the first round should be reused, not added to
    socks = []
    try:
        for protocol, n in counts.items():
            if n > 0:
                socks += open_idle(proxy.redis_port if protocol == "redis" else proxy.memcached_port, n, protocol)
        result["reopened"] = settle(proxy.pid)
    finally:
        for s in socks:
            s.close()
    if proxy.proc.poll() is not None:
        result["error"] = f"exited with status {proxy.proc.returncode}"
    return result


def warm_proxy(proxy: Proxy) -> None:
    """Backend connections established and buffer pools filled: 20,000 redis and memcached requests."""
    for test in ("set", "get"):
        r = redis_bench(proxy.redis_port, 50, 1, 10_000, test, ["-r", "100000"])
        if "error" in r:
            warn(f"warm-up of {proxy.name} (redis {test}) failed: {r['error']}")
        r = memcached_load(proxy.memcached_port, 50, 1, 10_000, test)
        if "error" in r:
            warn(f"warm-up of {proxy.name} (memcached {test}) failed: {r['error']}")


def mode_idle(args, backends: Backends) -> tuple[str, dict]:
    n = args.connections
    counts = {"redis": n // 2, "memcached": n - n // 2}
    if args.protocols != "redis,memcached":
        protos = [p.strip() for p in args.protocols.split(",") if p.strip()]
        counts = {p: n // len(protos) + (1 if i < n % len(protos) else 0) for i, p in enumerate(protos)}
    limit = raise_nofile(n + 4096)
    if limit < n + 256:
        sys.exit(f"RLIMIT_NOFILE is {limit}: too low for {n} connections (raise the hard limit or use --connections)")
    results = []
    for loop in args.loops:
        proxy = start_metacluster(args, backends, loop, 1, f"metacluster {loop}", admin=True)
        if proxy is None:
            continue
        results.append(idle_run(proxy, counts, warm_proxy))
        stop(proxy)
    if not args.no_twemproxy:
        twem = start_twemproxy(backends)
        if twem:
            results.append(idle_run(twem, counts, warm_proxy))
            stop(twem)

    lines = [f"## scripts/memory idle: resident memory per idle client connection ({n:,} connections)", ""]
    lines.append("| target | protocol | connections | VmRSS before | VmRSS with idle connections | "
                 "per connection (VmRSS) | RssAnon / conn | RssFile / conn | ≤ 16 KiB |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        prev = r["before"]
        for st in r["steps"]:
            pc = st["per_conn"]
            lines.append(f"| {r['target']} | {st['protocol']} | {st['connections']:,} | {prev['VmRSS'] / MIB:.1f} MiB | "
                         f"{st['after']['VmRSS'] / MIB:.1f} MiB | {pc['VmRSS'] / KIB:.2f} KiB | "
                         f"{pc['RssAnon'] / KIB:.2f} KiB | {pc['RssFile'] / KIB:.2f} KiB | "
                         f"{'yes' if pc['VmRSS'] <= 16 * KIB else 'NO'} |")
            prev = st["after"]
        if "all" in r and len(r["steps"]) > 1:
            a = r["all"]
            lines.append(f"| {r['target']} | **all** | {sum(s['connections'] for s in r['steps']):,} | "
                         f"{r['before']['VmRSS'] / MIB:.1f} MiB | {r['with_idle']['VmRSS'] / MIB:.1f} MiB | "
                         f"**{a['VmRSS'] / KIB:.2f} KiB** | {a['RssAnon'] / KIB:.2f} KiB | {a['RssFile'] / KIB:.2f} KiB | "
                         f"{'yes' if a['VmRSS'] <= 16 * KIB else 'NO'} |")
    lines += ["", "RSS breakdown (MiB) before, with the idle connections, and after closing them all:", ""]
    lines.append("| target | before: RSS / anon / file | idle: RSS / anon / file | closed: RSS / anon / file | "
                 "returned on close | opened again: RSS | growth on the second round | open time |")
    lines.append("|---|---|---|---|---:|---:|---:|---:|")

    def triple(m: dict) -> str:
        return f"{m['VmRSS'] / MIB:.1f} / {m['RssAnon'] / MIB:.1f} / {m['RssFile'] / MIB:.1f}"

    for r in results:
        if "with_idle" not in r:
            continue
        grown = r["with_idle"]["VmRSS"] - r["before"]["VmRSS"]
        back = r["with_idle"]["VmRSS"] - r["closed"]["VmRSS"]
        opened = sum(s["open_seconds"] for s in r["steps"])
        lines.append(f"| {r['target']} | {triple(r['before'])} | {triple(r['with_idle'])} | {triple(r['closed'])} | "
                     f"{(back / grown * 100 + 0.0 if grown > 0 else 0.0):.0f} % | {r['reopened']['VmRSS'] / MIB:.1f} | "
                     f"{(r['reopened']['VmRSS'] - r['with_idle']['VmRSS']) / KIB:+,.0f} KiB | {opened:.1f} s |")
    for r in results:
        for st in r["steps"]:
            if st.get("clients_metric") is not None:
                expected = sum(s["connections"] for s in r["steps"][:r["steps"].index(st) + 1])
                if st["clients_metric"] < expected:
                    lines.append(f"\nwarning: {r['target']} reported {st['clients_metric']:.0f} clients, "
                                 f"expected at least {expected}")
        if r.get("error"):
            lines.append(f"\nwarning: {r['target']} {r['error']}")
    lines += ["", f"Each connection sent one forwarded request (redis `GET idle:probe`, memcached `get idle:probe`) "
              f"and read the reply before staying idle; the first {counts.get('redis', 0):,} to the redis listener, "
              f"then {counts.get('memcached', 0):,} to the memcached listener, each step measured once VmRSS moved "
              "less than 32 KiB over 2 s. Before: after a warm-up of 20,000 redis and 20,000 memcached requests at "
              "-c 50 (backend connections open, buffer pools filled). After closing them all, the same connections are "
              "opened again: the second round should reuse what the first freed (glibc keeps freed memory in its arenas, "
              "so RSS rarely drops on close). Kernel socket buffers are not in the proxy's RSS. metacluster: 1 worker, 1 cluster"
              + ("" if args.no_twemproxy else "; twemproxy 0.5 with one redis and one memcached pool (default 16 KiB mbufs)")
              + ". "
              f"{os.cpu_count()} CPUs, {platform.machine()}, loopback, Linux {platform.release()}."]
    return "\n".join(lines), {"connections": n, "counts": counts, "results": results}


# ----------------------------------------------------------------------------- soak


def _median(values: list[float]) -> Optional[float]:
    return statistics.median(values) if values else None


def _slope_per_min(points: list[tuple[float, float]]) -> Optional[float]:
    """Least-squares slope of (seconds, value) points, per minute."""
    if len(points) < 3:
        return None
    xs, ys = [t / 60 for t, _ in points], [v for _, v in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else None


def mode_soak(args, backends: Backends) -> tuple[str, dict]:
    duration = args.minutes * 60
    ref_t = min(60.0, duration / 2)
    # windows of up to a minute: the reference is the one after the first (warm-up), the end the last
    w = min(60.0, duration / 4)
    ref_window, end_window = (w, 2 * w), (duration - w, duration + args.sample_seconds)
    tool = shutil.which("redis-benchmark") or sys.exit("redis-benchmark not found")
    lib = None if args.no_malloc_count else build_malloc_count()
    sections, data = [], {"minutes": args.minutes, "runs": []}
    loads_desc: list[str] = []
    for loop in args.loops:
        label = f"metacluster {loop}" + (f" {args.clusters} clusters" if args.clusters > 1 else "")
        proxy = start_metacluster(args, backends, loop, args.clusters, label, preload=lib, admin=True)
        if proxy is None:
            continue
        warm_proxy(proxy)
        before = settle(proxy.pid)
        work = backends.work
        loads = [
            ("redis SET/GET -c 50 -P 32, 100k random keys, 32 B values",
             [tool, "-h", "127.0.0.1", "-p", str(proxy.redis_port), "-c", "50", "-P", "32", "-t", "set,get",
              "-r", "100000", "-d", "32", "-l", "-q"]),
        ]
        if args.large_value:
            loads.append((f"redis SET/GET -c 10 -P 32, 5k random keys, {args.large_value:,} B values",
                          [tool, "-h", "127.0.0.1", "-p", str(proxy.redis_port), "-c", "10", "-P", "32", "-t",
                           "set,get", "-r", "5000", "-d", str(args.large_value), "-l", "-q"]))
        # not memcaslap: its keys start with control bytes (0x10), which the proxy rightly refuses
        loads.append((f"memcached set/get (1:3) -c 20 -P 16, 100k random keys, values 32 B to "
                      f"{max(args.large_value, 4096):,} B (a client in scripts/memory.py)",
                      [sys.executable, str(Path(__file__).resolve()), "_mcload", "--port", str(proxy.memcached_port),
                       "--minutes", str(args.minutes + 1), "--large-value", str(args.large_value)]))
        loads_desc = [what for what, _ in loads]
        procs = []
        requests0 = admin_metric(proxy, "metacluster_requests_total")
        cpu0 = cpu_seconds(proxy.pid)
        for i, (what, cmd) in enumerate(loads):
            log = work / f"soak-{loop}-load{i}.log"
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
            _helpers.append(p)
            procs.append((what, p, log))
        samples: list[dict] = []
        started = time.monotonic()
        next_at = started
        note(f"{label}: soak for {args.minutes:g} min, sampling every {args.sample_seconds:g} s")
        failed: list[str] = []
        while True:
            now = time.monotonic()
            if now >= next_at:
                m = {"t": now - started, **proc_mem(proxy.pid)}
                c = proxy.counter.read() if proxy.counter else None
                if c:
                    m.update({"live": c["live"] - (1 << 64) if c["live"] >= 1 << 63 else c["live"],
                              "heap_used": c["heap_used"], "heap_free": c["heap_free"], "allocs": c["allocs"]})
                samples.append(m)
                if len(samples) % max(1, int(60 / args.sample_seconds)) == 1:
                    note(f"{label}: t={m['t']:5.0f}s VmRSS {m['VmRSS'] / MIB:.1f} MiB"
                         + (f", heap in use {m['heap_used'] / MIB:.1f} MiB, {m['live']:,} live blocks" if c else ""))
                next_at += args.sample_seconds
            if now - started >= duration:
                break
            if proxy.proc.poll() is not None:
                failed.append(f"the proxy exited with status {proxy.proc.returncode}")
                break
            for what, p, log in procs:
                if p.poll() is not None and not any(what in x for x in failed):
                    tail = log.read_text(errors="replace").replace("\r", "\n").strip().splitlines()[-1:]
                    failed.append(f"load `{what}` exited with status {p.returncode}: {' '.join(tail)[:200]}")
            time.sleep(min(0.5, max(0.0, next_at - time.monotonic())))
        cpu1 = cpu_seconds(proxy.pid) if proxy.proc.poll() is None else cpu0
        requests1 = admin_metric(proxy, "metacluster_requests_total")
        for what, p, log in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            for line in log.read_text(errors="replace").replace("\r", "\n").splitlines():
                if "error" in line.lower() and not any(what in x for x in failed):
                    failed.append(f"load `{what}`: {line.strip()[:200]}")
                    break
        after = settle(proxy.pid) if proxy.proc.poll() is None else None
        after_heap = proxy.counter.fresh() if proxy.counter and after else None
        stop(proxy)
        if not samples:
            continue

        def window(lo_hi: tuple[float, float], key: str) -> list[float]:
            return [x[key] for x in samples if lo_hi[0] <= x["t"] <= lo_hi[1] and key in x]

        ref = min(samples, key=lambda x: abs(x["t"] - ref_t))
        end = samples[-1]
        peak = max(x["VmRSS"] for x in samples)
        slope = _slope_per_min([(x["t"], x["VmRSS"] / KIB) for x in samples if x["t"] >= duration / 2])
        stats = {}
        for key in ("VmRSS", "heap_used", "live"):
            r_, e_ = window(ref_window, key), window(end_window, key)
            if r_ and e_:
                stats[key] = {"ref_median": _median(r_), "end_median": _median(e_), "ref_min": min(r_),
                              "end_min": min(e_), "ref_max": max(r_), "end_max": max(e_),
                              "slope": _slope_per_min([(x["t"], x[key]) for x in samples
                                                       if x["t"] >= duration / 2 and key in x])}
        rss = stats.get("VmRSS")
        margin = max(0.05 * (rss["ref_median"] if rss else ref["VmRSS"]), 2 * MIB)
        growth = (rss["end_median"] - rss["ref_median"]) if rss else end["VmRSS"] - ref["VmRSS"]
        verdict = "PASS" if growth <= margin and not failed else "FAIL"
        heap = stats.get("heap_used")
        heap_margin = max(0.05 * heap["ref_median"], 1 * MIB) if heap else None
        heap_verdict = None
        if heap:
            heap_verdict = "PASS" if heap["end_median"] - heap["ref_median"] <= heap_margin else "FAIL"
        reqs = (requests1 - requests0) if requests0 is not None and requests1 is not None else None
        run = {"target": label, "before": before, "reference_t": ref_t, "reference": ref, "end": end, "max": peak,
               "slope_kib_per_min": slope, "windows": {"reference": ref_window, "end": end_window}, "stats": stats,
               "margin": margin, "growth": growth, "verdict": verdict, "heap_verdict": heap_verdict,
               "after_load": after, "after_heap": after_heap, "requests": reqs, "cpu_seconds": cpu1 - cpu0,
               "failures": failed, "samples": samples, "loads": loads_desc}
        data["runs"].append(run)

        has_heap = "heap_used" in samples[0]
        lines = [f"### {label}", ""]
        head = "| t (min) | VmRSS (MiB) | RssAnon (MiB) | RssFile (MiB) |"
        rule = "|---:|---:|---:|---:|"
        if has_heap:
            head += " heap in use (MiB) | heap free in arenas (MiB) | live blocks |"
            rule += "---:|---:|---:|"
        lines += [head, rule]
        step = 60.0 if duration >= 240 else 15.0
        shown = set()
        for t in [0.0] + [k * step for k in range(1, int(duration // step) + 1)]:
            x = min(samples, key=lambda s_: abs(s_["t"] - t))
            if id(x) in shown:
                continue
            shown.add(id(x))
            row = f"| {x['t'] / 60:.2f} | {x['VmRSS'] / MIB:.1f} | {x['RssAnon'] / MIB:.1f} | {x['RssFile'] / MIB:.1f} |"
            if has_heap and "heap_used" in x:
                row += f" {x['heap_used'] / MIB:.1f} | {x['heap_free'] / MIB:.1f} | {x['live']:,} |"
            lines.append(row)

        def mib(v: Optional[float]) -> str:
            return "n/a" if v is None else f"{v / MIB:.1f} MiB"

        rw = f"{ref_window[0] / 60:g}–{ref_window[1] / 60:g} min"
        ew = f"{end_window[0] / 60:g}–{duration / 60:g} min"
        lines += ["", "| measure | value |", "|---|---:|",
                  f"| VmRSS before the load (after warm-up) | {mib(before['VmRSS'])} |",
                  f"| VmRSS at {ref_t / 60:g} min | {mib(ref['VmRSS'])} |",
                  f"| VmRSS at the end ({end['t'] / 60:.1f} min) | {mib(end['VmRSS'])} |",
                  f"| VmRSS max | {mib(peak)} |",
                  f"| VmRSS slope over the second half | {'n/a' if slope is None else f'{slope:+,.0f} KiB/min'} |"]
        if rss:
            lines += [f"| VmRSS median / min / max, {rw} (reference) | {mib(rss['ref_median'])} / "
                      f"{mib(rss['ref_min'])} / {mib(rss['ref_max'])} |",
                      f"| VmRSS median / min / max, {ew} (end) | {mib(rss['end_median'])} / "
                      f"{mib(rss['end_min'])} / {mib(rss['end_max'])} |"]
        if heap:
            live = stats.get("live", {})
            lines += [f"| heap in use, median {rw} → {ew} | {mib(heap['ref_median'])} → {mib(heap['end_median'])} |",
                      f"| heap in use, slope over the second half | {heap['slope'] / KIB:+,.0f} KiB/min |"
                      if heap.get("slope") is not None else "| heap in use, slope over the second half | n/a |",
                      f"| live blocks, median {rw} → {ew} | {live.get('ref_median', 0):,.0f} → "
                      f"{live.get('end_median', 0):,.0f} |"]
        lines += ["| VmRSS after the load stopped | " + mib(after["VmRSS"] if after else None) + " |"]
        if after_heap:
            lines += [f"| heap in use / free in arenas after the load stopped | {mib(after_heap['heap_used'])} / "
                      f"{mib(after_heap['heap_free'])} |"]
        lines += [f"| requests served (metacluster_requests_total) | {'n/a' if reqs is None else f'{reqs:,.0f}'} |",
                  f"| proxy CPU | {cpu1 - cpu0:.0f} s |",
                  f"| **RSS verdict**: end median ≤ reference median + max(5 %, 2 MiB) (+{margin / KIB:,.0f} KiB); "
                  f"grew {growth / KIB:+,.0f} KiB | **{verdict}** |"]
        if heap:
            lines.append(f"| **heap verdict**: heap in use, end median ≤ reference median + max(5 %, 1 MiB) "
                         f"(+{heap_margin / KIB:,.0f} KiB); grew {(heap['end_median'] - heap['ref_median']) / KIB:+,.0f}"
                         f" KiB | **{heap_verdict}** |")
        if failed:
            lines += [""] + [f"- {x}" for x in failed]
        sections.append("\n".join(lines))

    head = [f"## scripts/memory soak: VmRSS over {args.minutes:g} min of pipelined load "
            f"(sampled every {args.sample_seconds:g} s)", ""]
    tail = ["", "Load, all at once for the whole run: " + "; ".join(loads_desc) + ". metacluster: 1 worker, "
            f"{args.clusters} cluster(s)"
            + (f", environment {' '.join(args.proxy_env)}" if args.proxy_env else "")
            + (", scripts/lib/malloc_count.c preloaded (heap in use and free: glibc mallinfo2; live blocks: "
               "allocations not yet freed)" if lib else "") + ". "
            "The RSS swings by tens of MiB from one sample to the next with the large values in flight (buffers "
            "past glibc's mmap threshold come and go), so the verdicts compare the median of a window of samples, "
            f"not single samples: reference {ref_window[0] / 60:g}–{ref_window[1] / 60:g} min (the first window "
            "fills the buffer pools, the allocator's arenas and the servers' keyspaces), end the last "
            f"{w / 60:g} min. The margin max(5 %, 2 MiB) allows for glibc's arena high-water marks; a leak of "
            "one 16 KiB buffer per second (+9 MiB over a 10-minute run) still fails. RSS growing while the heap "
            "in use stays flat is fragmentation or retention in the allocator, not a leak."]
    return "\n".join(head + ["\n\n".join(sections)] + tail), data


def mode_mcload(args) -> int:
    """The soak's memcached load (run as a child process): set and get rounds with mixed value sizes until
    --minutes ran out or it is interrupted; exits non-zero on the first failed round."""
    import random
    rng = random.Random(11)
    sizes = [32, 32, 32, 512, 4096] + ([args.large_value] if args.large_value else [])
    deadline = time.monotonic() + args.minutes * 60
    rounds = 0
    while time.monotonic() < deadline:
        size = rng.choice(sizes)
        for op, n in (("set", 5_000), ("get", 15_000)):
            r = memcached_load(args.port, 20, 16, n, op, keyspace=100_000, value_size=size)
            if "error" in r:
                print(f"error: round {rounds}: {r['error']}", flush=True)
                return 1
        rounds += 1
        if rounds % 10 == 0:
            print(f"{rounds} rounds ({rounds * 20_000:,} requests)", flush=True)
    return 0


# ----------------------------------------------------------------------------- allocation counter


def compiler() -> str:
    for cand in ("cc", "clang", "gcc"):
        path = shutil.which(cand)
        if path:
            return path
    for path in ("/opt/swift/usr/bin/clang",):
        if os.access(path, os.X_OK):
            return path
    sys.exit("no C compiler (cc, clang or gcc) found to build scripts/lib/malloc_count.c")


def build_malloc_count() -> Path:
    src = ROOT / "scripts" / "lib" / "malloc_count.c"
    out = OUT_DIR / "malloc_count.so"
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    if out.exists() and out.stat().st_mtime >= src.stat().st_mtime:
        return out
    cc = compiler()
    p = subprocess.run([cc, "-O2", "-fPIC", "-shared", "-Wall", "-o", str(out), str(src), "-lpthread"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"building {src} with {cc} failed:\n{p.stderr}")
    note(f"built {out} with {cc}")
    return out


class AllocCounter:
    """Reads the totals malloc_count.so keeps rewriting into its MALLOC_COUNT_OUT file."""

    def __init__(self, path: Path):
        self.path = path
        self.pid: Optional[int] = None  # when set, records another process wrote are ignored

    def read(self) -> Optional[dict[str, int]]:
        try:
            text = self.path.read_text()
        except OSError:
            return None
        if "end=1" not in text:
            return None  # torn: a write is in progress
        record = {k: int(v) for k, v in (f.split("=", 1) for f in text.split())}
        if self.pid is not None and record.get("pid") != self.pid:
            return None
        return record

    def fresh(self, timeout: float = 5.0) -> dict[str, int]:
        """A reading taken after this call started (the writer's sequence moved on twice)."""
        first = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.read()
            if r:
                if first is None:
                    first = r["seq"]
                elif r["seq"] >= first + 2:
                    return r
            time.sleep(0.02)
        raise SystemExit(f"{self.path}: the allocation counter is not being updated (is malloc_count.so preloaded?)")


REDIS_TESTS = {
    # name: redis-benchmark -t test or custom command
    "SET": "set",
    "GET": "get",
    "INCR": "incr",
    "LPUSH": "lpush",
    "MGET (10 keys)": "MGET " + " ".join(["key:__rand_int__"] * 10),
}
MEMCACHED_TESTS = {"mc set": "set", "mc get": "get"}
ALLOC_SCENARIOS = {"c50-P1": (50, 1), "c50-P32": (50, 32)}


def run_one(proxy: Proxy, test: str, clients: int, pipeline: int, n: int, value_size: int) -> dict:
    if test in REDIS_TESTS:
        return redis_bench(proxy.redis_port, clients, pipeline, n, REDIS_TESTS[test],
                           ["-r", "100000", "-d", str(value_size)])
    return memcached_load(proxy.memcached_port, clients, pipeline, n, MEMCACHED_TESTS[test], value_size=value_size)


def count_allocs(proxy: Proxy, test: str, clients: int, pipeline: int, n: int, value_size: int,
                 background: float) -> dict:
    c = proxy.counter
    assert c is not None
    # scraped outside the counted window (the admin endpoint allocates)
    missed0 = admin_metric(proxy, "metacluster_missed_writes_total")
    a = c.fresh()
    t0 = time.monotonic()
    r = run_one(proxy, test, clients, pipeline, n, value_size)
    time.sleep(0.3)  # fan-out: the remote clusters' replies may land after the client's answer
    b = c.fresh()
    t1 = time.monotonic()
    missed1 = admin_metric(proxy, "metacluster_missed_writes_total")
    if "error" in r:
        return r
    allocs, bytes_, frees = b["allocs"] - a["allocs"], b["bytes"] - a["bytes"], b["free"] - a["free"]
    bg = background * (t1 - t0)
    missed = (missed1 - missed0) if missed0 is not None and missed1 is not None else None
    return {"rps": r.get("rps"), "allocs": allocs, "bytes": bytes_, "frees": frees, "background": bg,
            "missed_writes": missed,
            "per_request": (allocs - bg) / n, "bytes_per_request": bytes_ / n, "n": n,
            "by_function": {k: b[k] - a[k] for k in ("malloc", "calloc", "realloc", "posix_memalign",
                                                    "aligned_alloc", "memalign", "valloc")}}


def connection_cost(proxy: Proxy, protocol: str, n: int = 500) -> float:
    """Allocations to accept a connection, serve one request and close it (amortised into every run)."""
    c = proxy.counter
    a = c.fresh()
    socks = open_idle(proxy.redis_port if protocol == "redis" else proxy.memcached_port, n, protocol)
    for s in socks:
        s.close()
    time.sleep(0.5)
    b = c.fresh()
    return (b["allocs"] - a["allocs"]) / n


# ----------------------------------------------------------------------------- perf call sites


class PerfProbes:
    """uprobes on libc's allocation functions (group mcmem), removed on exit if this script added them."""
    FUNCS = ("malloc", "calloc", "realloc", "posix_memalign", "aligned_alloc", "memalign")

    def __init__(self):
        self.perf = shutil.which("perf")
        self.added: list[str] = []
        self.events: list[str] = []
        self.error: Optional[str] = None

    def setup(self, binary: Path) -> bool:
        if not self.perf:
            self.error = "perf not found"
            return False
        libc = None
        ldd = subprocess.run(["ldd", str(binary)], capture_output=True, text=True).stdout
        for line in ldd.splitlines():
            m = re.search(r"libc\.so\.6 => (\S+)", line)
            if m:
                libc = os.path.realpath(m.group(1))
        if not libc:
            self.error = "libc.so.6 not found in ldd output"
            return False
        existing = subprocess.run([self.perf, "probe", "-l"], capture_output=True, text=True).stdout
        for fn in self.FUNCS:
            ev = f"mcmem:{fn}"
            if ev not in existing:
                p = subprocess.run([self.perf, "probe", "-q", "-x", libc, "-a", f"{ev}={fn}"],
                                   capture_output=True, text=True)
                if p.returncode != 0:
                    if fn == "malloc":
                        self.error = f"perf probe failed (uprobes need root and tracefs): {p.stderr.strip()[:300]}"
                        self.cleanup()
                        return False
                    continue
                self.added.append(ev)
            self.events.append(ev)
        atexit.register(self.cleanup)
        return True

    def cleanup(self) -> None:
        for ev in self.added:
            subprocess.run([self.perf, "probe", "-q", "-d", ev], capture_output=True)
        self.added.clear()


def demangle(names: list[str], simplified: bool = False) -> dict[str, str]:
    """Swift symbol -> demangled name (full: with modules and specialisations; simplified: as Swift reads)."""
    tool = shutil.which("swift-demangle") or shutil.which("swift-demangle", path="/opt/swift/usr/bin")
    swift = shutil.which("swift") or shutil.which("swift", path="/opt/swift/usr/bin")
    cmd = [tool] if tool else ([swift, "demangle"] if swift else None)
    if not cmd or not names:
        return {n: n for n in names}
    flags = ["--compact"] + (["--simplified"] if simplified else [])
    p = subprocess.run(cmd + flags, input="\n".join(names) + "\n", capture_output=True, text=True)
    out = p.stdout.splitlines()
    if p.returncode != 0 or len(out) != len(names):
        return {n: n for n in names}
    return dict(zip(names, out))


_SPEC = re.compile(r"^(?:(?:generic |function signature )?specialization <[^>]*(?:<[^>]*>[^>]*)*> of |"
                   r"merged |outlined .*? of |closure #\d+ (?:\([^)]*\) )?in |implicit closure #\d+ (?:\([^)]*\) )?in |"
                   r"partial apply forwarder for |reabstraction thunk helper .*? from |"
                   r"(?:\w+ )?thunk for |\(extension in \w+\):)+")


def frame_module(name: str) -> Optional[str]:
    """The Swift module a demangled frame belongs to (after specialisation and closure prefixes)."""
    core = name
    for _ in range(4):
        stripped = _SPEC.sub("", core)
        if stripped == core:
            break
        core = stripped
    m = re.match(r"^(?:static |dispatch thunk of |protocol witness for )*([A-Za-z_][A-Za-z0-9_]*)\.", core)
    return m.group(1) if m else None


def display(full: str, simple: str, width: int = 110) -> str:
    """The simplified Swift name, with the element types of a standard-library specialisation
    (`specialized Array.append(_:) <RequestSlot>`), cut to width."""
    out = simple
    m = re.match(r"^generic specialization <(.*?)> of (\w+)\.", full)
    if m and m.group(2) != "Proxy" and m.group(2) not in OWN_MODULES:
        types = re.sub(r"\b(?:Swift|Proxy|EventLoop|RedisProtocol|MemcachedProtocol|Routing|DurableLog)\.", "", m.group(1))
        out += f" <{types}>"
    out = out.replace("|", "\\|")
    return out if len(out) <= width else out[:width - 1] + "…"


def record_sites(args, proxy: Proxy, probes: PerfProbes, work: Path, test: str, scenario: str, n: int,
                 value_size: int, period: int = 1) -> dict:
    """perf record with DWARF call graphs on the allocation uprobes while n requests of `test` run; one
    allocation call in `period` is recorded (perf -c), each sample stands for `period` calls."""
    slug = re.sub(r'[^a-z0-9]+', '-', f"{proxy.name} {test} {scenario}".lower())
    data = work / f"perf-{slug}.data"
    cmd = [probes.perf, "record", "-q", "-o", str(data), "-p", str(proxy.pid), "--call-graph",
           f"dwarf,{args.stack_bytes}", "--mmap-pages", "16384", "-c", str(period)]
    for ev in probes.events:
        cmd += ["-e", ev]
    # scraped outside the recording (the admin endpoint allocates)
    missed0 = admin_metric(proxy, "metacluster_missed_writes_total")
    rec = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _helpers.append(rec)
    time.sleep(1.5)  # perf attaches to every thread of the pid
    if rec.poll() is not None:
        return {"error": f"perf record exited: {rec.stderr.read().decode(errors='replace')[-300:]}"}
    clients, pipeline = ALLOC_SCENARIOS[scenario]
    before = proxy.counter.fresh() if proxy.counter else None
    r = run_one(proxy, test, clients, pipeline, n, value_size)
    time.sleep(0.3)
    after = proxy.counter.fresh() if proxy.counter else None
    rec.send_signal(signal.SIGINT)
    try:
        rec.wait(timeout=120)
    except subprocess.TimeoutExpired:
        rec.kill()
        rec.wait()
    missed1 = admin_metric(proxy, "metacluster_missed_writes_total")
    if "error" in r:
        return {"error": r["error"]}
    script = subprocess.run([probes.perf, "script", "-i", str(data), "--no-demangle", "-F", "event,ip,sym,dso"],
                            capture_output=True, text=True, errors="replace")
    lost = re.search(r"lost ([0-9.]+%)", script.stderr)
    if not args.keep_perf_data:
        data.unlink(missing_ok=True)
    stacks: list[tuple[str, list[tuple[str, str]]]] = []
    event, frames = None, []

    def flush() -> None:
        if event is not None:
            # an inlined frame has no dso of its own: it is in the next real frame's
            dso = None
            for i in range(len(frames) - 1, -1, -1):
                sym, d = frames[i]
                if d == "inlined":
                    frames[i] = (sym, dso or "?")
                else:
                    dso = d
            stacks.append((event, list(frames)))

    for line in script.stdout.splitlines():
        head = re.match(r"^\s*([\w.-]+:[\w.-]+):\s*$", line)
        if head:
            flush()
            event = head.group(1).split(":", 1)[1]
            frames = []
            continue
        m = re.match(r"\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$", line)
        if m and event is not None:
            sym = re.sub(r"\+0x[0-9a-f]+$", "", m.group(1))
            frames.append((sym, os.path.basename(m.group(2))))
    flush()
    names = sorted({s for _, fr in stacks for s, _ in fr if s.startswith(("$s", "_$s", "$S", "_T"))})
    dem = demangle(names)
    simple = demangle(names, simplified=True)
    binary = os.path.basename(args.bin)
    sites: Counter = Counter()
    detail: dict = {}
    for ev, fr in stacks:
        fr = [(dem.get(s, s), d, display(dem.get(s, s), simple.get(s, s))) for s, d in fr]
        # first frame in our own modules; the frames above it (towards malloc) say how it allocates
        own = next((i for i, (s, d, _) in enumerate(fr) if d == binary and frame_module(s) in OWN_MODULES), None)
        if own is None:
            key = ("(no proxy frame) " + " ← ".join(x for _, _, x in fr[1:4]), "", "")
        else:
            # between the proxy frame and malloc, nearest to the proxy frame first
            via = [x for s, _, x in fr[1:own] if not s.startswith(("malloc", "__GI___libc", "__libc", "_int_malloc"))]
            via_s = " → ".join(reversed(via[-3:])) if via else ""
            callers = [x for s, d, x in fr[own + 1:] if d == binary and frame_module(s) in OWN_MODULES][:2]
            key = (fr[own][2], via_s, " ← ".join(callers))
        sites[key] += 1
        detail.setdefault(key, Counter())[ev] += 1
    stacks_kept = sum(sites.values())
    # perf drops samples when its ring buffer overruns: scale the shares to the counter's exact total
    counted = (after["allocs"] - before["allocs"]) if before and after else None
    total = counted if counted is not None else stacks_kept * period
    scale = total / stacks_kept if stacks_kept else 0.0
    sites = Counter({k: c * scale for k, c in sites.items()})
    return {"n": n, "rps": r.get("rps"), "samples": stacks_kept, "period": period, "calls": total,
            "counted": counted is not None, "per_request": total / n,
            "missed_writes": (missed1 - missed0) if missed0 is not None and missed1 is not None else None,
            "lost": lost.group(1) if lost else None,
            "sites": [{"site": k[0], "via": k[1], "callers": k[2], "count": c, "per_request": c / n,
                       "functions": dict(detail[k])} for k, c in sites.most_common()]}


def per_req(v: float) -> str:
    """Allocations per request with enough digits for the per-connection sites (0.0012)."""
    return f"{v:.2f}" if v >= 0.1 else f"{v:.3f}" if v >= 0.01 else f"{v:.4f}"


def mode_allocs(args, backends: Backends) -> tuple[str, dict]:
    lib = build_malloc_count()
    tests = [t for t in args.tests.split(",") if t.strip()]
    name_of = {k.split()[0].lower() if not k.startswith("mc ") else k.replace(" ", "-"): k
               for k in list(REDIS_TESTS) + list(MEMCACHED_TESTS)}
    try:
        tests = [name_of[t.strip().lower()] for t in tests]
    except KeyError as e:
        sys.exit(f"unknown test {e}; choose from {', '.join(name_of)}")
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    for s in scenarios:
        if s not in ALLOC_SCENARIOS:
            sys.exit(f"unknown scenario {s!r}; choose from {', '.join(ALLOC_SCENARIOS)}")
    cluster_counts = [int(c) for c in args.clusters_list.split(",") if c.strip()]
    results: dict[tuple, dict] = {}
    targets: list[str] = []
    meta: dict[str, dict] = {}
    probes = PerfProbes()
    sites_wanted = []
    if args.sites:
        for item in args.sites.split(","):
            if not item.strip():
                continue
            parts = item.strip().split(":")
            t, c, sc = parts[0], parts[1] if len(parts) > 1 else "1", parts[2] if len(parts) > 2 else "c50-P1"
            if t.lower() not in name_of or not c.isdigit() or sc not in ALLOC_SCENARIOS:
                sys.exit(f"--sites takes TEST:CLUSTERS[:SCENARIO] items, e.g. set:3:c50-P32, not {item!r}")
            sites_wanted.append((name_of[t.lower()], int(c), sc))
        if not probes.setup(Path(args.bin)):
            warn(f"allocation call sites skipped: {probes.error}")
            sites_wanted = []
    site_results = []
    for loop in args.loops:
        for clusters in cluster_counts:
            label = f"{loop}, {clusters} cluster{'s' if clusters > 1 else ''}"
            proxy = start_metacluster(args, backends, loop, clusters, f"metacluster {label}", preload=lib, admin=True)
            if proxy is None:
                continue
            targets.append(label)
            proxy.counter.fresh()
            warm_proxy(proxy)
            a = proxy.counter.fresh()
            time.sleep(2.0)
            b = proxy.counter.fresh()
            background = (b["allocs"] - a["allocs"]) / 2.0
            conn = {p: connection_cost(proxy, p) for p in ("redis", "memcached")}
            meta[label] = {"background_per_s": background, "per_connection": conn}
            note(f"{label}: {background:.1f} allocs/s at rest; per connection: redis {conn['redis']:.1f}, "
                 f"memcached {conn['memcached']:.1f}")
            for sc in scenarios:
                clients, pipeline = ALLOC_SCENARIOS[sc]
                for test in tests:
                    n = args.requests_p1 if pipeline == 1 else args.requests_pipelined
                    if test in MEMCACHED_TESTS:
                        n = args.requests_mc_p1 if pipeline == 1 else args.requests_mc_pipelined
                    r = count_allocs(proxy, test, clients, pipeline, n, args.data_size, background)
                    if "error" not in r:
                        # redis-benchmark opens one more connection for its CONFIG GET
                        conns = clients + 1 if test in REDIS_TESTS else clients
                        per_conn = conn["redis" if test in REDIS_TESTS else "memcached"]
                        r["connections"] = conns
                        r["net_per_request"] = r["per_request"] - conns * per_conn / n
                    results[(test, sc, label)] = r
                    shown = (f"{r['per_request']:.3f} allocs/req ({r['net_per_request']:.3f} net of connections), "
                             f"{r['bytes_per_request']:.0f} B/req, "
                             f"{r['rps']:,.0f} rps" if "error" not in r else f"ERROR {r['error']}")
                    note(f"{label} {sc} {test}: {shown}")
            for test, c, sc in sites_wanted:
                if c != clusters:
                    continue
                # as many requests as the counting run; perf records one allocation in `period` so that
                # about --sites-samples stacks are kept (it copies --stack-bytes of stack for each)
                counted = results.get((test, sc, label), {})
                n = counted.get("n") or (args.requests_p1 if ALLOC_SCENARIOS[sc][1] == 1 else args.requests_pipelined)
                expected = (counted.get("per_request") or 0.0) * n
                period = max(1, int(expected // args.sites_samples))
                note(f"{label}: recording allocation call sites for {test} {sc} ({n:,} requests, "
                     f"1 allocation in {period} recorded)")
                site = record_sites(args, proxy, probes, backends.work, test, sc, n, args.data_size, period)
                site.update({"test": test, "target": label, "scenario": sc})
                site_results.append(site)
            if proxy.proc.poll() is not None:
                warn(f"{proxy.name} exited with status {proxy.proc.returncode}")
            stop(proxy)

    lines = ["## scripts/memory allocs: heap allocations per request in the proxy", ""]
    lines.append("| command | scenario | " + " | ".join(targets) + " |")
    lines.append("|---|---|" + "---:|" * len(targets))
    for test in tests:
        for sc in scenarios:
            c, p = ALLOC_SCENARIOS[sc]
            cells = []
            for t in targets:
                r = results.get((test, sc, t))
                if r is None:
                    cells.append("n/a")
                elif "error" in r:
                    cells.append("error")
                else:
                    cells.append(f"{max(r['net_per_request'], 0.0):.2f} ({r['per_request']:.2f}, "
                                 f"{r['bytes_per_request']:,.0f} B)")
            lines.append(f"| {test} | -c {c} -P {p} | " + " | ".join(cells) + " |")
    lines += ["", "Cells: allocation calls per request once the run's connection set-up is taken off (raw "
              "allocation calls per request, bytes requested per request). At rest and per connection (accept, "
              "one forwarded request, close), measured per target before the runs:", ""]
    lines.append("| target | allocs/s at rest | redis connection | memcached connection |")
    lines.append("|---|---:|---:|---:|")
    for t in targets:
        m = meta[t]
        lines.append(f"| {t} | {m['background_per_s']:.1f} | {m['per_connection']['redis']:.1f} | "
                     f"{m['per_connection']['memcached']:.1f} |")
    missed = [(k, r["missed_writes"]) for k, r in results.items() if r.get("missed_writes")]
    if missed:
        lines += ["", "Writes that went to a cluster's backlog during the run (metacluster_missed_writes_total: a "
                  "cluster's backend connection had backendMaxInFlight requests outstanding, or was down); their "
                  "allocations are in the counts (one per write and cluster that missed it):"]
        lines += [f"- {k[2]} {k[1]} {k[0]}: {m:,.0f} for {results[k]['n']:,} requests" for k, m in missed]
    errs = [(k, r["error"]) for k, r in results.items() if "error" in r]
    if errs:
        lines += ["", "Failed runs:"] + [f"- {k[2]} {k[1]} {k[0]}: {e}" for k, e in errs]
    lines += ["", f"N per run: redis {args.requests_p1:,} at -P 1 and {args.requests_pipelined:,} at -P 32, memcached "
              f"{args.requests_mc_p1:,} and {args.requests_mc_pipelined:,} (a client in this script; text `set`/`get`); "
              f"random keys over 100,000, {args.data_size} B values. Each run opens 50 connections (redis-benchmark "
              "one more for CONFIG GET); their cost (table above) is included, i.e. about 50 × per-connection / N "
              "per request, shown raw and taken off in the first figure. The rest-rate is subtracted. 3 clusters: every "
              "write goes to three servers (writeAck `first`), reads to the local one (1 % of reads sampled for verification against another cluster, the default). "
              "Counted by scripts/lib/malloc_count.c (LD_PRELOAD): malloc, calloc, realloc, posix_memalign, "
              "aligned_alloc, memalign and valloc calls of the whole process."]
    for s in site_results:
        c, p = ALLOC_SCENARIOS[s["scenario"]]
        lines += ["", f"### Allocation call sites: {s['test']} -c {c} -P {p}, {s['target']}", ""]
        if "error" in s:
            lines.append(f"error: {s['error']}")
            continue
        sampled = f"{s['samples']:,} stacks recorded" + (f", one call in {s['period']:,}" if s["period"] > 1 else "")
        if s.get("lost"):
            sampled += f", perf lost {s['lost']} of its samples"
        if s.get("counted"):
            sampled += "; shares scaled to the malloc counter's exact total"
        lines.append(f"{s['calls']:,.0f} allocation calls ({sampled}) over {s['n']:,} requests = **{s['per_request']:.2f} per "
                     "request** (perf uprobes on libc's allocation functions, DWARF unwinding). Grouped by the first "
                     "frame in the proxy's own modules; *allocates through*: the frames between it and malloc, "
                     "the proxy function's callee first; *called from*: the next two proxy frames."
                     + (f" During this run {s['missed_writes']:,.0f} writes went to a cluster's backlog."
                        if s.get("missed_writes") else ""))
        lines += ["", "| per request | share | proxy function | allocates through | called from |",
                  "|---:|---:|---|---|---|"]
        shown = 0.0
        for row, site in enumerate(s["sites"]):
            if row >= args.sites_rows or (site["per_request"] < args.sites_min and shown >= 0.95 * s["per_request"]):
                break
            shown += site["per_request"]
            lines.append(f"| {per_req(site['per_request'])} | {(site['count'] / s['calls'] * 100 if s['calls'] else 0.0):.1f} % | "
                         f"`{site['site']}` | {('`' + site['via'] + '`') if site['via'] else ''} | "
                         f"{('`' + site['callers'] + '`') if site['callers'] else ''} |")
        rest = s["per_request"] - shown
        if rest > 0.00005:
            lines.append(f"| {per_req(rest)} | {rest / s['per_request'] * 100:.1f} % | (smaller sites) | | |")
    return "\n".join(lines), {"targets": targets, "meta": meta,
                              "results": {" | ".join(k): v for k, v in results.items()}, "sites": site_results}


# ----------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=("idle", "soak", "allocs", "_mcload"), help="idle, soak or allocs")
    ap.add_argument("--loops", default="dispatch", help="event loops to measure, comma-separated (dispatch,libev); "
                    "a loop the binary refuses is skipped with a warning")
    ap.add_argument("--bin", default=os.environ.get("METACLUSTER_BIN", str(ROOT / ".build/release/metacluster")))
    ap.add_argument("--log-level", default="warning", help="metacluster --log-level")
    ap.add_argument("--json", help="where to write the numbers (default run/memory/<mode>.json)")
    ap.add_argument("--proxy-env", action="append", default=[], metavar="NAME=VALUE",
                    help="environment for metacluster, repeatable (e.g. GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072)")
    g = ap.add_argument_group("idle")
    g.add_argument("--connections", type=int, default=10_000, help="idle connections (default 10000)")
    g.add_argument("--protocols", default="redis,memcached",
                   help="split the connections over these listeners (default redis,memcached: half each)")
    g.add_argument("--no-twemproxy", action="store_true", help="skip the twemproxy comparison")
    g = ap.add_argument_group("soak")
    g.add_argument("--minutes", type=float, default=10.0, help="duration of the load (default 10)")
    g.add_argument("--sample-seconds", type=float, default=5.0, help="VmRSS sampling period (default 5)")
    g.add_argument("--large-value", type=int, default=20_000,
                   help="value size of the second redis-benchmark and the memcached load's largest values "
                        "(default 20000 B, above the 16 KiB buffers; 0 = no large values)")
    g.add_argument("--clusters", type=int, default=1, help="clusters behind the proxy in the soak (default 1)")
    g.add_argument("--no-malloc-count", action="store_true",
                   help="run the soak without scripts/lib/malloc_count.c (no heap-in-use and live-block columns)")
    g = ap.add_argument_group("allocs")
    g.add_argument("--tests", default="set,get,incr,lpush,mget,mc-set,mc-get",
                   help="subset of set,get,incr,lpush,mget,mc-set,mc-get")
    g.add_argument("--scenarios", default="c50-P1,c50-P32", help="subset of c50-P1,c50-P32")
    g.add_argument("--clusters-list", default="1,3", help="cluster counts to measure (default 1,3)")
    g.add_argument("--requests-p1", type=int, default=100_000, help="redis requests per run at -P 1")
    g.add_argument("--requests-pipelined", type=int, default=1_000_000, help="redis requests per run at -P 32")
    g.add_argument("--requests-mc-p1", type=int, default=50_000, help="memcached requests per run at -P 1")
    g.add_argument("--requests-mc-pipelined", type=int, default=200_000, help="memcached requests per run at -P 32")
    g.add_argument("--data-size", type=int, default=3, help="value bytes (default 3, redis-benchmark's)")
    g.add_argument("--sites", default="set:1,get:1,set:1:c50-P32,set:3,set:3:c50-P32,get:3,mc-get:3",
                   help="call-site profiles, TEST:CLUSTERS[:SCENARIO] comma-separated (default "
                        "set:1,get:1,set:1:c50-P32,set:3,set:3:c50-P32,get:3,mc-get:3; scenario default c50-P1; "
                        "'' = none)")
    g.add_argument("--sites-samples", type=int, default=20_000,
                   help="record about this many allocation stacks per profile: where the counting run saw more "
                        "allocations, perf keeps one in N (perf record -c N) (default 20000)")
    g.add_argument("--sites-min", type=float, default=0.01, help="hide sites below this many per request once "
                   "95 %% of the calls are shown")
    g.add_argument("--sites-rows", type=int, default=15, help="at most this many sites per profile (default 15)")
    g.add_argument("--stack-bytes", type=int, default=16384, help="perf --call-graph dwarf stack copy size")
    g.add_argument("--keep-perf-data", action="store_true", help="keep perf.data files in the work directory")
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.mode == "_mcload":
        signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
        return mode_mcload(args)
    args.loops = [x.strip() for x in args.loops.split(",") if x.strip()]

    atexit.register(_stop_all)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)

    work = Path(tempfile.mkdtemp(prefix=f"metacluster-memory-{args.mode}-"))
    note(f"logs and configs in {work}")
    backends = Backends(work)
    mode = {"idle": mode_idle, "soak": mode_soak, "allocs": mode_allocs}[args.mode]
    started = time.monotonic()
    try:
        text, data = mode(args, backends)
    except START_ERRORS as e:
        sys.exit(f"error: {e}")
    print(text)
    out = Path(args.json) if args.json else OUT_DIR / f"{args.mode}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"mode": args.mode, "loops": args.loops, "seconds": time.monotonic() - started,
                               "data": data, "markdown": text}, indent=2, default=str))
    note(f"numbers in {out} ({time.monotonic() - started:.0f} s)")
    _stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
