#!/usr/bin/env python3
"""Benchmark metacluster against the servers directly and against twemproxy (nutcracker).

Run through scripts/bench (which installs what is missing and builds the release binary).

Redis: starts its own redis-server(s), nutcracker and metacluster on free loopback ports and runs
redis-benchmark SET, GET, INCR, LPUSH and MGET of 10 keys (a custom command) at `-c 50 -P 1`,
`-c 50 -P 32` and `-c 1 -P 1` against each target: `direct` (redis-server), `twemproxy`, one-cluster
`metacluster` and three-cluster `metacluster 3dc` (every write fans out to three redis servers).

Memcached (scripts/bench_memcached.py): a memcached started by the bench (`mc-direct`), a nutcracker
memcache pool over it (`mc-twemproxy`), `mc-metacluster` and `mc-metacluster 3dc`, driven by the
bench's own load generator (memaslap's binary keys are refused by metacluster; see that file):
set-only, get-only after a fill, 9:1 get:set at 50 connections, and 9:1 at one connection.

Every metacluster target runs once per event loop of `--loops` (default dispatch,libev), with
`"eventLoop"` set in its config; the libev ones are named "... libev". A target that does not
start (a loop the binary does not have yet, say) is reported and skipped; the bench goes on.

The runs go in interleaved rounds (each round runs every job against every target, the order of
the targets rotated round by round). Printed as Markdown: the median requests/s of each target,
p50/p99 latency, the mean round trip at one connection, the CPU seconds the target process spent
per 100k requests, the ratios against direct and twemproxy, and a closing "Targets (issue #8)"
section with PASS/MISS per goal from this run's medians. Every run's numbers go to --json.
Everything the bench started is stopped (by pid) on exit, Ctrl-C included. Exits 1 when a run
failed or a target did not start.
"""

from __future__ import annotations

import argparse
import atexit
import csv
import io
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")

SCENARIOS = {
    # name: (clients, pipeline, default -n, quick -n); each run lasts about 1-3 s on 2 cores
    "c50-P1": (50, 1, 150_000, 30_000),
    "c50-P32": (50, 32, 1_000_000, 200_000),
    "c1-P1": (1, 1, 40_000, 8_000),
}
TESTS = ("set", "get", "incr", "lpush", "mget")
MGET_KEYS = 10
# MGET answers 10 values per request: a run of it gets this share of the scenario's -n
TEST_SHARE = {"mget": 0.5}
LOOPS = ("dispatch", "libev")
REDIS_TARGETS = ("direct", "twemproxy", "metacluster", "metacluster-3dc", "twemproxy-3shards",
                 "metacluster-3shards", "metacluster-3dc-disk", "metacluster-3dc-disk-always")
DEFAULT_TARGETS = ("direct", "twemproxy", "metacluster", "metacluster-3dc",
                   "mc-direct", "mc-twemproxy", "mc-metacluster", "mc-metacluster-3dc")


# ----------------------------------------------------------------------------- processes

_started: list[subprocess.Popen] = []


def _stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        try:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)
        except ProcessLookupError:
            pass


def _cleanup() -> None:
    for p in reversed(_started):
        _stop(p)
    _started.clear()


def _on_signal(signum, _frame) -> None:
    _cleanup()
    sys.exit(128 + signum)


class StartError(Exception):
    """A process exited, or did not listen in time, when it was started."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, what: str, log: Path, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StartError(f"{what} exited ({proc.returncode}) before listening; log {log}:\n"
                             + log.read_text(errors="replace")[-3000:])
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise StartError(f"{what} did not listen on {port} within {timeout}s; log {log}")


def start(args: list[str], what: str, port: int, log: Path) -> subprocess.Popen:
    """Start a process and wait until it accepts on `port`; StartError (process stopped) if not."""
    with open(log, "wb") as f:
        p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT)
    _started.append(p)
    try:
        wait_port(port, p, what, log)
    except StartError:
        _stop(p)
        raise
    return p


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


@dataclass
class Target:
    name: str                   # as printed: "metacluster 3dc libev"
    port: int
    proc: subprocess.Popen      # whose CPU time is reported
    role: str                   # the --targets name: "metacluster-3dc", "mc-twemproxy", ...
    loop: Optional[str] = None  # metacluster targets: the eventLoop
    runs: dict = field(default_factory=dict)  # (scenario or workload, test) -> list of result dicts


class Lab:
    """Starts the servers and proxies of the bench in one work directory."""

    def __init__(self, work: Path, args: argparse.Namespace):
        self.work = work
        self.args = args
        self.skipped: list[str] = []  # targets that did not start, with the reason

    def start_redis(self, name: str) -> tuple[int, subprocess.Popen]:
        redis_server = shutil.which("redis-server") or sys.exit("redis-server not found")
        port = free_port()
        try:
            p = start([redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                       "--daemonize", "no", "--dir", str(self.work), "--logfile", str(self.work / f"{name}.log")],
                      name, port, self.work / f"{name}.stdout")
        except StartError as e:
            sys.exit(str(e))
        return port, p

    def start_memcached(self, name: str) -> tuple[int, subprocess.Popen]:
        """One worker thread like redis-server and a one-worker metacluster; 1 GB so nothing is evicted."""
        memcached = shutil.which("memcached") or sys.exit("memcached not found (apt-get install memcached)")
        port = free_port()
        user = ["-u", "root"] if os.geteuid() == 0 else []  # memcached refuses root without -u
        try:
            p = start([memcached, "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-t", "1", "-m", "1024",
                       "-c", "4096", *user], name, port, self.work / f"{name}.log")
        except StartError as e:
            sys.exit(str(e))
        return port, p

    def start_nutcracker(self, name: str, label: str, role: str, ports: list[int], redis: bool = True) -> Target:
        """A nutcracker pool over `ports`, as a production twemproxy would be set up."""
        nutcracker = shutil.which("nutcracker") or shutil.which("nutcracker", path="/usr/sbin:/sbin")
        if not nutcracker:
            sys.exit("nutcracker not found (apt-get install nutcracker)")
        tport, sport = free_port(), free_port()
        conf = self.work / f"{name}.yml"
        conf.write_text(
            "bench:\n"
            f"  listen: 127.0.0.1:{tport}\n"
            "  hash: fnv1a_64\n"
            "  distribution: ketama\n"
            f"  redis: {'true' if redis else 'false'}\n"
            "  auto_eject_hosts: false\n"
            "  timeout: 5000\n"
            "  server_connections: 1\n"
            "  servers:\n"
            + "".join(f"   - 127.0.0.1:{port}:1\n" for port in ports))
        try:
            p = start([nutcracker, "-c", str(conf), "-o", str(self.work / f"{name}.log"), "-s", str(sport),
                       "-a", "127.0.0.1", "-p", str(self.work / f"{name}.pid")],
                      label, tport, self.work / f"{name}.stdout")
        except StartError as e:
            sys.exit(str(e))
        return Target(label, tport, p, role)

    def start_metacluster(self, role: str, label: str, config: dict, loop: str) -> Optional[Target]:
        """metacluster with `config` (its listener on a free port) and `"eventLoop": loop`.

        The target is named `label`, plus " libev" for that loop. When it does not start, a warning
        is printed, the target is remembered in `skipped` and None returned.
        """
        binary = Path(self.args.bin)
        if not binary.exists():
            sys.exit(f"{binary} not found: build it with `swift build -c release` (scripts/bench does)")
        name = label + ("" if loop == "dispatch" else f" {loop}")
        file = name.replace(" ", "-")
        port = free_port()
        config = dict(config, eventLoop=loop)
        protocol = "memcached" if role.startswith("mc-") else "redis"
        config["listen"] = {protocol: f"127.0.0.1:{port}"}
        cfg = self.work / f"{file}.json"
        cfg.write_text(json.dumps(config, indent=2))
        log = self.work / f"{file}.log"
        try:
            p = start([str(binary), "--config", str(cfg), "--log-level", self.args.log_level], name, port, log)
        except StartError:
            text = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
            reason = next((line for line in reversed(text) if line.strip()), "did not start")
            print(f"warning: skipping target {name!r}: it did not start ({reason.strip()[:200]}); "
                  f"config {cfg}, log {log}", file=sys.stderr)
            self.skipped.append(f"{name}: {reason.strip()[:200]}")
            return None
        return Target(name, port, p, role, loop)


# ----------------------------------------------------------------------------- redis-benchmark


def parse_csv(text: str) -> list[dict]:
    """The rows of redis-benchmark --csv output; lines that are not CSV (warnings) are ignored."""
    lines = [line for line in text.splitlines() if line.startswith('"')]
    return [r for r in csv.DictReader(io.StringIO("\n".join(lines))) if r.get("test")]


def pick_row(rows: list[dict], test: str) -> Optional[dict]:
    """The row of `test` (the first row for several tests, "set,get"): redis-benchmark names rows
    "SET", "MSET (10 keys)" and, for a custom command, the command line itself ("MGET key:0 ...")."""
    if "," in test:
        return rows[0] if rows else None
    for row in rows:
        words = row["test"].split()
        if words and words[0].upper() == test.upper():
            return row
    return rows[0] if len(rows) == 1 else None


def mget_keys(keyspace: int) -> list[str]:
    """10 keys for MGET: random ones with -r (each __rand_int__ is drawn on its own), else key:0..9."""
    if keyspace:
        return ["key:__rand_int__"] * MGET_KEYS
    return [f"key:{i}" for i in range(MGET_KEYS)]


def run_redis_benchmark(bench: str, port: int, clients: int, pipeline: int, n: int, test: str,
                        extra: list[str], keyspace: int) -> dict:
    args = [bench, "-h", "127.0.0.1", "-p", str(port), "-c", str(clients), "-P", str(pipeline),
            "-n", str(n), "-q", "--csv", *extra]
    args += ["MGET", *mget_keys(keyspace)] if test == "mget" else ["-t", test]
    try:
        p = subprocess.run(args, capture_output=True, text=True, errors="replace", timeout=600,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {"error": "redis-benchmark timed out after 600 s"}
    row = pick_row(parse_csv(p.stdout), test)
    errors = [line for line in (p.stdout + p.stderr).splitlines() if "error" in line.lower()]
    if p.returncode != 0 or row is None or errors:
        return {"error": (errors or [p.stderr.strip() or f"exit {p.returncode}, no {test.upper()} row"])[0][:200]}

    def num(key: str) -> Optional[float]:
        try:
            return float(row[key])
        except (KeyError, TypeError, ValueError):
            return None

    rps = num("rps")
    if not rps:
        return {"error": f"no rps in {row}"[:200]}
    return {"rps": rps, "p50_ms": num("p50_latency_ms"), "p99_ms": num("p99_latency_ms"),
            "avg_ms": num("avg_latency_ms"), "requests": n,
            # one connection without pipelining is a closed loop: one request in flight at a time
            "rtt_us": 1e6 / rps if clients == 1 and pipeline == 1 else None}


def prefill_mget_keys(ports: list[int], size: int) -> None:
    """SET key:0..key:9 on every redis server, so MGET answers values rather than nils."""
    value = b"x" * size
    cmd = b"".join(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(value), value)
                   for k in (f"key:{i}".encode() for i in range(MGET_KEYS)))
    for port in ports:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(cmd)
            got = b""
            while got.count(b"\r\n") < MGET_KEYS:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk


def start_redis_targets(lab: Lab, wanted: set, loops: list[str], workers: list[int]) -> tuple[list[Target], list[int]]:
    """The redis targets of `wanted`, every metacluster one once per loop; also every redis port."""
    rport, redis = lab.start_redis("redis")
    servers = [rport]
    targets: list[Target] = []
    if "direct" in wanted:
        targets.append(Target("direct", rport, redis, "direct"))
    if "twemproxy" in wanted:
        targets.append(lab.start_nutcracker("nutcracker", "twemproxy", "twemproxy", [rport]))

    def other_servers() -> list[int]:
        """Two more redis-servers, shared by the 3-cluster and the 3-shard targets (runs never overlap)."""
        if len(servers) == 1:
            servers.extend(lab.start_redis(f"redis-{i}")[0] for i in (2, 3))
        return servers[1:]

    def three_dc(**extra) -> dict:
        return {"workers": workers[0],
                "clusters": [{"name": "dc-a", "local": True, "redis": [f"127.0.0.1:{rport}"]}]
                + [{"name": f"dc-{n}", "redis": [f"127.0.0.1:{port}"]} for n, port in zip("bc", other_servers())],
                **extra}

    if "twemproxy-3shards" in wanted:
        targets.append(lab.start_nutcracker("nutcracker-3shards", "twemproxy 3shards", "twemproxy-3shards",
                                            [rport] + other_servers()))
    for loop in loops:
        candidates: list[Optional[Target]] = []
        if "metacluster" in wanted:
            for w in workers:
                label = f"metacluster w{w}" if len(workers) > 1 or w != 1 else "metacluster"
                candidates.append(lab.start_metacluster("metacluster", label, {
                    "workers": w,
                    "clusters": [{"name": "bench", "local": True, "redis": [f"127.0.0.1:{rport}"]}],
                }, loop))
        if "metacluster-3shards" in wanted:
            candidates.append(lab.start_metacluster("metacluster-3shards", "metacluster 3shards", {
                "workers": workers[0],
                "clusters": [{"name": "bench", "local": True, "hashTag": "",
                              "redis": [f"127.0.0.1:{port}" for port in [rport] + other_servers()]}],
            }, loop))
        if "metacluster-3dc" in wanted:
            candidates.append(lab.start_metacluster("metacluster-3dc", "metacluster 3dc", three_dc(), loop))
        for fsync in ("everysec", "always"):
            role = "metacluster-3dc-disk" + ("" if fsync == "everysec" else "-always")
            if role in wanted:
                label = "metacluster 3dc disk" + ("" if fsync == "everysec" else " always")
                backlog = {"dir": str(lab.work / f"{role}-{loop}-backlog"), "fsync": fsync, "durability": "disk"}
                candidates.append(lab.start_metacluster(role, label, three_dc(backlog=backlog), loop))
        targets += [t for t in candidates if t is not None]
    return targets, servers


# ----------------------------------------------------------------------------- rounds


@dataclass
class Group:
    """Targets of one protocol, the jobs each round runs against all of them, and how one job runs."""
    targets: list[Target]
    jobs: list[tuple[str, str]]                   # (scenario or workload, test)
    run: Callable[[Target, str, str], dict]       # one measured run; the dict has "requests" or "error"
    show: Callable[[dict], str]                   # progress line of a result


def run_rounds(groups: list[Group], rounds: int) -> None:
    """Every round runs every job against every target, one at a time, rotating the target order."""
    total = rounds * sum(len(g.jobs) * len(g.targets) for g in groups)
    done = 0
    started = time.monotonic()
    for rnd in range(rounds):
        for g in groups:
            if not g.targets:
                continue
            k = rnd % len(g.targets)
            order = g.targets[k:] + g.targets[:k]
            for job, test in g.jobs:
                for t in order:
                    if t.proc.poll() is not None:
                        r = {"error": f"{t.name} is not running (exit {t.proc.returncode})"}
                    else:
                        cpu0 = cpu_seconds(t.proc.pid)
                        r = g.run(t, job, test)
                        if "error" not in r and t.proc.poll() is None:
                            r["cpu_s_per_100k"] = (cpu_seconds(t.proc.pid) - cpu0) * 1e5 / r["requests"]
                    r["round"] = rnd + 1
                    t.runs.setdefault((job, test), []).append(r)
                    done += 1
                    shown = f"ERROR {r['error']}" if "error" in r else g.show(r)
                    print(f"[{done}/{total} {time.monotonic() - started:5.0f}s] round {rnd + 1} {job:7} "
                          f"{test.upper():5} {t.name:26} {shown}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- statistics and formats


def median(values: list) -> Optional[float]:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def spread(values: list) -> Optional[float]:
    """Half the range, relative to the median (a rough ± for the table)."""
    values = [v for v in values if v is not None]
    if len(values) < 2:
        return None
    m = statistics.median(values)
    return (max(values) - min(values)) / 2 / m if m else None


def col(t: Target, key: tuple, field_: str) -> list:
    """One field of the successful runs of a job against a target."""
    return [r.get(field_) for r in t.runs.get(key, []) if "error" not in r]


def med(t: Optional[Target], key: tuple, field_: str) -> Optional[float]:
    return median(col(t, key, field_)) if t else None


def fmt_rps(values: list) -> str:
    m = median(values)
    if m is None:
        return "error"
    s = spread(values)
    return f"{m:,.0f}" + (f" ±{s * 100:.0f}%" if s is not None else "")


def fmt_ratio(a: Optional[float], b: Optional[float]) -> str:
    return f"{a / b:.2f}x" if a and b else "n/a"


def fmt_ms(v: Optional[float]) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def fmt_num(v: Optional[float], digits: int = 1) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def md_table(head: list[str], rows: list[list[str]], left: int = 2) -> list[str]:
    """A Markdown table; the first `left` columns left-aligned, the rest right-aligned."""
    return (["| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] * left + ["---:"] * (len(head) - left)) + "|"]
            + ["| " + " | ".join(row) + " |" for row in rows])


def find(targets: list[Target], role: str, loop: Optional[str] = None) -> Optional[Target]:
    """The first target of a role (and loop): with several worker counts, the first one's."""
    return next((t for t in targets if t.role == role and (loop is None or t.loop == loop)), None)


def fmt_goal(ratio: Optional[float]) -> str:
    """A ratio judged against a goal: three decimals, so 1.097x does not print as a missed 1.10x."""
    return "n/a" if ratio is None else f"{ratio:.3f}x"


def verdict(value: Optional[float], ok: bool) -> str:
    return "n/a" if value is None else ("PASS" if ok else "**MISS**")


# ----------------------------------------------------------------------------- redis report


def redis_report(targets: list[Target], scenarios: list[str], tests: list[str]) -> list[str]:
    mcs = [t for t in targets if t.role.startswith("metacluster") and t.role != "metacluster-3shards"]
    twem = find(targets, "twemproxy")
    direct = find(targets, "direct")
    keys = [(sc, test) for sc in scenarios for test in tests]

    def label(key: tuple) -> list[str]:
        c, p = SCENARIOS[key[0]][:2]
        return [f"-c {c} -P {p}", key[1].upper()]

    lines = ["### Redis (redis-benchmark)", "", "Requests/s (median ± half the range over the rounds):", ""]
    lines += md_table(["scenario", "test"] + [t.name for t in targets],
                      [label(k) + [fmt_rps(col(t, k, "rps")) for t in targets] for k in keys])

    if mcs and (twem or direct):
        head, cols = ["scenario", "test"], []
        for m in mcs:
            for base in (twem, direct):
                if base:
                    head.append(f"{m.name} / {base.name}")
                    cols.append((m, base))
        lines += ["", "Ratios of the medians:", ""]
        lines += md_table(head, [label(k) + [fmt_ratio(med(m, k, "rps"), med(b, k, "rps")) for m, b in cols]
                                 for k in keys])

    lines += ["", "Latency p50 / p99 (ms, redis-benchmark's histogram, which steps by 8 µs below 2 ms):", ""]
    lines += md_table(["scenario", "test"] + [t.name for t in targets],
                      [label(k) + [f"{fmt_ms(med(t, k, 'p50_ms'))} / {fmt_ms(med(t, k, 'p99_ms'))}"
                                   for t in targets] for k in keys])

    c1 = [k for k in keys if k[0] == "c1-P1"]
    if c1:
        lines += ["", "Mean round trip at -c 1 -P 1 (µs, 1e6 / requests/s: one request in flight at a time, "
                  "so this is exact where the p50 above is not), and in brackets what the target adds to "
                  "`direct`:", ""]

        def rtt(t: Target, k: tuple) -> str:
            v, d = med(t, k, "rtt_us"), med(direct, k, "rtt_us")
            return fmt_num(v) + (f" ({v - d:+.1f})" if v is not None and d is not None and t is not direct else "")

        lines += md_table(["test"] + [t.name for t in targets], [[k[1].upper()] + [rtt(t, k) for t in targets]
                                                                 for k in c1], left=1)

    lines += ["", "CPU seconds of the target process per 100k requests (for `direct` redis-server's own; "
              "1 s per 100k = 10 µs a request):", ""]
    lines += md_table(["scenario", "test"] + [t.name for t in targets],
                      [label(k) + [fmt_num(med(t, k, "cpu_s_per_100k"), 2) for t in targets] for k in keys])

    for loop in LOOPS:
        single, fanout = find(targets, "metacluster", loop), find(targets, "metacluster-3dc", loop)
        if fanout and (single or twem):
            lines += ["", f"Fan-out cost: `{fanout.name}` (every write to three clusters, reads local) against "
                      + " and ".join(f"`{t.name}`" for t in (single, twem) if t) + " (one server):", ""]
            bases = [t for t in (single, twem) if t]
            lines += md_table(["scenario", "test"] + [f"{fanout.name} / {b.name}" for b in bases],
                              [label(k) + [fmt_ratio(med(fanout, k, "rps"), med(b, k, "rps")) for b in bases]
                               for k in keys])
        for d in [t for t in targets if t.role.startswith("metacluster-3dc-disk") and t.loop == loop]:
            if not fanout:
                continue
            lines += ["", f"Durability cost: `{d.name}` (every remote write through its disk backlog before the "
                      f"client is answered) against `{fanout.name}` (the default, `outage`):", ""]
            lines += md_table(["scenario", "test", f"{d.name} / {fanout.name}", f"p50 {d.name} (ms)",
                               f"p50 {fanout.name} (ms)"],
                              [label(k) + [fmt_ratio(med(d, k, "rps"), med(fanout, k, "rps")),
                                           fmt_ms(med(d, k, "p50_ms")), fmt_ms(med(fanout, k, "p50_ms"))]
                               for k in keys])
        sharded, twem_sharded = find(targets, "metacluster-3shards", loop), find(targets, "twemproxy-3shards")
        if sharded and twem_sharded:
            lines += ["", f"Sharding: `{sharded.name}` against `{twem_sharded.name}` (the same three redis servers, "
                      "ketama over fnv1a_64):", ""]
            lines += md_table(["scenario", "test", f"{sharded.name} / {twem_sharded.name}"],
                              [label(k) + [fmt_ratio(med(sharded, k, "rps"), med(twem_sharded, k, "rps"))]
                               for k in keys])
    return lines


def redis_goals(targets: list[Target], scenarios: list[str], tests: list[str]) -> list[list[str]]:
    """Rows of the issue #8 table for redis: loop, goal, scenario, test, measured, result."""
    twem, direct = find(targets, "twemproxy"), find(targets, "direct")
    rows = []
    for loop in LOOPS:
        single, fanout = find(targets, "metacluster", loop), find(targets, "metacluster-3dc", loop)

        def ratio_row(goal: str, m: Optional[Target], base: Optional[Target], sc: str, test: str, limit: float):
            if not m or not base or sc not in scenarios or test not in tests:
                return
            a, b = med(m, (sc, test), "rps"), med(base, (sc, test), "rps")
            v = a / b if a and b else None
            c, p = SCENARIOS[sc][:2]
            rows.append([loop, goal, f"-c {c} -P {p}", test.upper(), fmt_goal(v), verdict(v, v is not None and v >= limit)])

        for test in tests:
            ratio_row("1 cluster ≥ 1.1x twemproxy", single, twem, "c50-P1", test, 1.1)
        for test in tests:
            ratio_row("1 cluster ≥ 1.8x twemproxy", single, twem, "c50-P32", test, 1.8)
        for test in tests:
            ratio_row("1 cluster ≥ 0.7x direct", single, direct, "c50-P32", test, 0.7)
        if single and twem and direct and "c1-P1" in scenarios:
            for test in tests:
                k = ("c1-P1", test)
                m, t, d = med(single, k, "rtt_us"), med(twem, k, "rtt_us"), med(direct, k, "rtt_us")
                mp, tp, dp = med(single, k, "p50_ms"), med(twem, k, "p50_ms"), med(direct, k, "p50_ms")
                if None in (m, t, d):
                    continue
                added, allowed = m - d, 0.8 * (t - d)
                p50 = (f"; p50 {(mp - dp) * 1000:+.0f} vs {(tp - dp) * 1000:+.0f} µs"
                       if None not in (mp, tp, dp) else "")
                rows.append([loop, "1 cluster added latency ≤ 0.8x twemproxy's", "-c 1 -P 1", test.upper(),
                             f"{added:+.1f} µs vs twemproxy {t - d:+.1f} µs (limit {allowed:+.1f}){p50}",
                             verdict(added, added <= allowed)])
        for sc in scenarios:
            ratio_row("3-cluster fan-out SET ≥ 0.7x twemproxy SET", fanout, twem, sc, "set", 0.7)
    return rows


# ----------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", 5)))
    ap.add_argument("--quick", action="store_true", help="1 round, about a fifth of the requests")
    ap.add_argument("--loops", default="dispatch,libev",
                    help="event loops every metacluster target runs with, comma-separated (default dispatch,libev)")
    ap.add_argument("--workers", default=os.environ.get("BENCH_WORKERS", "1"),
                    help="metacluster worker counts to bench, comma-separated (default 1; e.g. 1,2)")
    ap.add_argument("--targets", default=",".join(DEFAULT_TARGETS),
                    help="subset of direct,twemproxy,metacluster,metacluster-3dc (three clusters: every "
                         "write fans out to three redis servers, reads stay local), twemproxy-3shards and "
                         "metacluster-3shards (one pool/cluster of three redis servers, ketama over fnv1a_64; "
                         "use with --keyspace so keys spread), metacluster-3dc-disk and metacluster-3dc-disk-always "
                         "(metacluster-3dc with backlog.durability disk, fsync everysec / always); memcached: "
                         "mc-direct, mc-twemproxy, mc-metacluster, mc-metacluster-3dc "
                         f"(default {','.join(DEFAULT_TARGETS)})")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"redis, subset of {','.join(SCENARIOS)}")
    ap.add_argument("--tests", default=",".join(TESTS),
                    help=f"redis-benchmark tests, subset of {','.join(TESTS)} (default all; mget is MGET of "
                         f"{MGET_KEYS} keys, as a custom command)")
    ap.add_argument("--workloads", default=None,
                    help="memcached workloads (default all: c50-set,c50-get,c50-mix,c1-mix)")
    ap.add_argument("-n", dest="n", action="append", default=[], metavar="JOB=N",
                    help="requests per run for a scenario or memcached workload, e.g. -n c50-P1=200000 "
                         "(repeatable; MGET runs get half)")
    ap.add_argument("--data-size", type=int, default=3, help="value bytes, redis-benchmark -d and memcached sets (default 3)")
    ap.add_argument("--keyspace", type=int, default=0, help="redis-benchmark -r (random keys; default off)")
    ap.add_argument("--bin", default=os.environ.get("METACLUSTER_BIN", str(ROOT / ".build/release/metacluster")))
    ap.add_argument("--log-level", default="warning", help="metacluster --log-level during the bench")
    ap.add_argument("--json", default=str(ROOT / "run" / "bench" / "results.json"),
                    help="where to write every run's numbers (default run/bench/results.json)")
    args = ap.parse_args()
    args.error = ap.error
    return args


def split(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def main() -> int:
    # bench_memcached imports the helpers above as `bench`: make that this very module
    sys.modules.setdefault("bench", sys.modules[__name__])
    import bench_memcached as mcb

    args = parse_args()
    if args.quick:
        args.rounds = 1
    scenarios = split(args.scenarios)
    workloads = split(args.workloads) if args.workloads is not None else list(mcb.WORKLOADS)
    tests = [t.lower() for t in split(args.tests)]
    loops = split(args.loops)
    wanted = set(split(args.targets))
    for values, known, what in ((scenarios, SCENARIOS, "scenario"), (workloads, mcb.WORKLOADS, "workload"),
                                (tests, TESTS, "test"), (loops, LOOPS, "loop"),
                                (wanted, REDIS_TARGETS + mcb.TARGETS, "target")):
        for v in values:
            if v not in known:
                args.error(f"unknown {what} {v!r}; choose from {', '.join(known)}")
    requests = {s: SCENARIOS[s][3] if args.quick else SCENARIOS[s][2] for s in scenarios}
    requests.update({w: mcb.WORKLOADS[w].quick if args.quick else mcb.WORKLOADS[w].n for w in workloads})
    for item in args.n:
        s, _, v = item.partition("=")
        if s not in requests or not v.isdigit():
            args.error(f"-n takes JOB=N for one of {', '.join(requests)}, e.g. c50-P1=200000, not {item!r}")
        requests[s] = int(v)
    workers = [int(w) for w in split(args.workers)]
    redis_wanted = wanted & set(REDIS_TARGETS)
    mc_wanted = wanted & set(mcb.TARGETS)

    atexit.register(_cleanup)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    work = Path(tempfile.mkdtemp(prefix="metacluster-bench-"))
    print(f"# logs and configs in {work}", file=sys.stderr)
    lab = Lab(work, args)

    groups: list[Group] = []
    versions: list[str] = []
    redis_targets: list[Target] = []
    if redis_wanted:
        bench = shutil.which("redis-benchmark") or sys.exit("redis-benchmark not found (apt-get install redis-tools)")
        versions.append(subprocess.run([bench, "--version"], capture_output=True, text=True).stdout.strip())
        redis_targets, servers = start_redis_targets(lab, redis_wanted, loops, workers)
        extra = ["-d", str(args.data_size)] + (["-r", str(args.keyspace)] if args.keyspace else [])
        prefill_mget_keys(servers, args.data_size)
        # warm-up: backend connections established, caches and page tables warm
        for t in redis_targets:
            r = run_redis_benchmark(bench, t.port, 50, 1, 20_000, "set,get", extra, args.keyspace)
            if "error" in r:
                print(f"warning: warm-up against {t.name} failed: {r['error']}", file=sys.stderr)

        def run_redis(t: Target, sc: str, test: str) -> dict:
            clients, pipeline = SCENARIOS[sc][:2]
            n = max(1, int(requests[sc] * TEST_SHARE.get(test, 1)))
            return run_redis_benchmark(bench, t.port, clients, pipeline, n, test, extra, args.keyspace)

        groups.append(Group(redis_targets, [(sc, test) for sc in scenarios for test in tests], run_redis,
                            lambda r: f"{r['rps']:,.0f} rps"))
    mc_targets: list[Target] = []
    if mc_wanted:
        mc_targets, mc_servers = mcb.start_targets(lab, mc_wanted, loops, workers)
        mcb.fill(mc_servers, mcb.KEYSPACE, args.data_size)
        mcb.warm_up(mc_targets, args.data_size)
        groups.append(Group(mc_targets, [(w, mcb.WORKLOADS[w].test) for w in workloads],
                            lambda t, w, _test: mcb.run_load(t.port, w, requests[w], args.data_size),
                            lambda r: f"{r['rps']:,.0f} ops/s p50 {r['p50_us']:.0f} µs"))
        versions.append(mcb.TOOL_VERSION)
    targets = redis_targets + mc_targets
    if not targets:
        args.error("no target started" + (f" (skipped: {'; '.join(lab.skipped)})" if lab.skipped else ""))

    run_rounds(groups, args.rounds)
    for t in targets:
        if t.proc.poll() is not None:
            print(f"warning: {t.name} exited during the bench with status {t.proc.returncode}", file=sys.stderr)

    text = report(args, lab, redis_targets, mc_targets, scenarios, tests, workloads, requests, loops, versions)
    print(text)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "rounds": args.rounds, "requests": requests, "tests": tests, "workloads": workloads, "loops": loops,
        "data_size": args.data_size, "tools": versions, "cpus": os.cpu_count(), "skipped": lab.skipped,
        "targets": {t.name: {f"{k[0]} {k[1]}": v for k, v in t.runs.items()} for t in targets},
        "markdown": text,
    }, indent=2))
    print(f"\n(raw numbers in {out})", file=sys.stderr)
    _cleanup()
    failed = any("error" in r for t in targets for rs in t.runs.values() for r in rs)
    return 1 if failed or lab.skipped else 0


def report(args, lab: Lab, redis_targets: list[Target], mc_targets: list[Target], scenarios: list[str],
           tests: list[str], workloads: list[str], requests: dict, loops: list[str], versions: list[str]) -> str:
    import bench_memcached as mcb
    lines = [f"## scripts/bench: medians of {args.rounds} round(s); -n "
             + ", ".join(f"{k}={v}" for k, v in requests.items())
             + f" (MGET half); value {args.data_size} B; loops {', '.join(loops)}", ""]
    if lab.skipped:
        lines += ["Skipped (did not start):", ""] + [f"- {s}" for s in lab.skipped] + [""]
    if redis_targets:
        lines += redis_report(redis_targets, scenarios, tests) + [""]
    if mc_targets:
        lines += mcb.report_lines(mc_targets, workloads, args.data_size) + [""]

    goals = redis_goals(redis_targets, scenarios, tests) + mcb.goals(mc_targets, workloads)
    if goals:
        lines += ["### Targets (issue #8)", "",
                  "From the medians of this run. Added latency is the mean round trip at -c 1 -P 1 "
                  "(1e6 / requests/s) minus direct's; the p50 difference is shown beside it but not judged, "
                  "because redis-benchmark's p50 steps by 8 µs at these latencies.", ""]
        lines += md_table(["loop", "goal", "scenario", "test", "measured", "result"], goals, left=6)
        passed = sum(1 for g in goals if g[-1] == "PASS")
        lines += ["", f"{passed} of {sum(1 for g in goals if g[-1] != 'n/a')} goals met."]

    failures = [(t.name, k, r["error"]) for t in redis_targets + mc_targets
                for k, rs in t.runs.items() for r in rs if "error" in r]
    if failures:
        lines += ["", f"{len(failures)} run(s) failed:"]
        lines += [f"- {name} {k[0]} {k[1]}: {err}" for name, k, err in failures[:20]]
    lines += ["", f"{args.rounds} round(s), targets interleaved (order rotated each round); ± is half the "
              f"range over the rounds relative to the median. {'; '.join(versions)}; {os.cpu_count()} CPUs, "
              f"{platform.machine()}, loopback."]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
