#!/usr/bin/env python3
"""Benchmark metacluster against redis-server directly and against twemproxy (nutcracker).

Run through scripts/bench (which installs what is missing and builds the release binary).

Starts its own redis-server, nutcracker and metacluster on free loopback ports, runs
redis-benchmark SET and GET at `-c 50 -P 1`, `-c 50 -P 32` and `-c 1 -P 1` against each,
in several interleaved rounds (the order of targets rotates every round), and prints the
median requests/s, p50 latency and CPU per request of each target, and the ratios
metacluster/twemproxy and metacluster/direct, as Markdown. Everything it started is stopped
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
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")

SCENARIOS = {
    # name: (clients, pipeline, default -n, quick -n)
    "c50-P1": (50, 1, 100_000, 20_000),
    "c50-P32": (50, 32, 1_000_000, 200_000),
    "c1-P1": (1, 1, 20_000, 5_000),
}


# ----------------------------------------------------------------------------- processes

_started: list[subprocess.Popen] = []


def _cleanup() -> None:
    for p in reversed(_started):
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
            except ProcessLookupError:
                pass
    _started.clear()


def _on_signal(signum, _frame) -> None:
    _cleanup()
    sys.exit(128 + signum)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, what: str, log: Path, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited ({proc.returncode}) before listening; log {log}:\n"
                             + log.read_text(errors="replace")[-3000:])
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{what} did not listen on {port} within {timeout}s; log {log}")


def start(args: list[str], what: str, port: int, log: Path) -> subprocess.Popen:
    f = open(log, "wb")
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT)
    _started.append(p)
    wait_port(port, p, what, log)
    return p


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


@dataclass
class Target:
    name: str
    port: int
    proc: subprocess.Popen  # whose CPU time is reported
    runs: dict = field(default_factory=dict)  # (scenario, test) -> list of result dicts


# ----------------------------------------------------------------------------- benchmark


def run_benchmark(bench: str, port: int, clients: int, pipeline: int, n: int, test: str,
                  extra: list[str]) -> dict:
    args = [bench, "-h", "127.0.0.1", "-p", str(port), "-c", str(clients), "-P", str(pipeline),
            "-n", str(n), "-t", test, "-q", "--csv", *extra]
    p = subprocess.run(args, capture_output=True, text=True, errors="replace", timeout=600,
                       stdin=subprocess.DEVNULL)
    rows = [r for r in csv.DictReader(io.StringIO(p.stdout)) if r.get("test")]
    errors = [line for line in (p.stdout + p.stderr).splitlines() if "error" in line.lower()]
    if p.returncode != 0 or not rows or errors:
        return {"error": (errors or [p.stderr.strip() or f"exit {p.returncode}"])[0][:200]}
    row = rows[0]

    def num(key: str) -> Optional[float]:
        try:
            return float(row[key])
        except (KeyError, TypeError, ValueError):
            return None

    return {"rps": num("rps"), "p50_ms": num("p50_latency_ms"), "avg_ms": num("avg_latency_ms"),
            "p99_ms": num("p99_latency_ms")}


def median(values: list[float]) -> Optional[float]:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def spread(values: list[float]) -> Optional[float]:
    """Half the range, relative to the median (a rough ± for the table)."""
    values = [v for v in values if v is not None]
    if len(values) < 2:
        return None
    m = statistics.median(values)
    return (max(values) - min(values)) / 2 / m if m else None


# ----------------------------------------------------------------------------- output


def fmt_rps(values: list[float]) -> str:
    m = median(values)
    if m is None:
        return "error"
    s = spread(values)
    return f"{m:,.0f}" + (f" ±{s * 100:.0f}%" if s is not None else "")


def fmt_ratio(a: Optional[float], b: Optional[float]) -> str:
    return f"{a / b:.2f}x" if a and b else "n/a"


def fmt_ms(v: Optional[float]) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def fmt_us(v: Optional[float]) -> str:
    return "n/a" if v is None else f"{v:.1f}"


def report(targets: list[Target], scenarios: list[str], tests: list[str], rounds: int,
           bench_version: str, header: str) -> str:
    mcs = [t for t in targets if t.name.startswith("metacluster") and not t.name.endswith("3shards")]
    single = next((t for t in mcs if not t.name.startswith("metacluster 3dc")), None)
    sharded = next((t for t in targets if t.name == "metacluster 3shards"), None)
    twem_sharded = next((t for t in targets if t.name == "twemproxy 3shards"), None)
    fanout = next((t for t in mcs if t.name == "metacluster 3dc"), None)
    durable = [t for t in mcs if t.name.startswith("metacluster 3dc disk")]
    twem = next((t for t in targets if t.name == "twemproxy"), None)
    direct = next((t for t in targets if t.name == "direct"), None)

    def col(t: Target, key: tuple, field_: str) -> list:
        return [r.get(field_) for r in t.runs.get(key, []) if "error" not in r]

    lines = [header, ""]
    head = ["scenario", "test"] + [f"{t.name} rps" for t in targets]
    for m in mcs:
        if twem:
            head.append(f"{m.name} / twemproxy")
        if direct:
            head.append(f"{m.name} / direct")
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join(["---", "---"] + ["---:"] * (len(head) - 2)) + "|")
    for sc in scenarios:
        c, p = SCENARIOS[sc][:2]
        for test in tests:
            key = (sc, test)
            row = [f"-c {c} -P {p}", test.upper()] + [fmt_rps(col(t, key, "rps")) for t in targets]
            for m in mcs:
                mrps = median(col(m, key, "rps"))
                if twem:
                    row.append(fmt_ratio(mrps, median(col(twem, key, "rps"))))
                if direct:
                    row.append(fmt_ratio(mrps, median(col(direct, key, "rps"))))
            lines.append("| " + " | ".join(row) + " |")

    lines += ["", "Median p50 latency (ms) and CPU time of the target process per request (µs; for "
              "`direct` that is redis-server's own):", ""]
    head = ["scenario", "test"] + [f"{t.name} p50" for t in targets] + [f"{t.name} CPU µs/req" for t in targets]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join(["---", "---"] + ["---:"] * (len(head) - 2)) + "|")
    for sc in scenarios:
        c, p = SCENARIOS[sc][:2]
        for test in tests:
            key = (sc, test)
            row = [f"-c {c} -P {p}", test.upper()]
            row += [fmt_ms(median(col(t, key, "p50_ms"))) for t in targets]
            row += [fmt_us(median(col(t, key, "cpu_us_per_req"))) for t in targets]
            lines.append("| " + " | ".join(row) + " |")

    if single and fanout:
        lines += ["", f"Fan-out cost: `{fanout.name}` (every write to three clusters, reads local) against "
                  f"`{single.name}` (one cluster)" + (" and twemproxy (one server)" if twem else "") + ":", ""]
        head = ["scenario", "test", f"{fanout.name} / {single.name}"] + ([f"{fanout.name} / twemproxy"] if twem else [])
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "|".join(["---", "---"] + ["---:"] * (len(head) - 2)) + "|")
        for sc in scenarios:
            c, p = SCENARIOS[sc][:2]
            for test in tests:
                key = (sc, test)
                f = median(col(fanout, key, "rps"))
                row = [f"-c {c} -P {p}", test.upper(), fmt_ratio(f, median(col(single, key, "rps")))]
                if twem:
                    row.append(fmt_ratio(f, median(col(twem, key, "rps"))))
                lines.append("| " + " | ".join(row) + " |")

    for d in durable if fanout else []:
        lines += ["", f"Durability cost: `{d.name}` (every remote write through its disk backlog before the "
                  f"client is answered) against `{fanout.name}` (the default, `outage`):", ""]
        lines.append(f"| scenario | test | {d.name} / {fanout.name} | p50 {d.name} (ms) | p50 {fanout.name} (ms) |")
        lines.append("|---|---|---:|---:|---:|")
        for sc in scenarios:
            c, p = SCENARIOS[sc][:2]
            for test in tests:
                key = (sc, test)
                lines.append(f"| -c {c} -P {p} | {test.upper()} | "
                             f"{fmt_ratio(median(col(d, key, 'rps')), median(col(fanout, key, 'rps')))} | "
                             f"{fmt_ms(median(col(d, key, 'p50_ms')))} | {fmt_ms(median(col(fanout, key, 'p50_ms')))} |")

    if sharded and twem_sharded:
        lines += ["", f"Sharding: `{sharded.name}` against `{twem_sharded.name}` (the same three redis servers, "
                  "ketama over fnv1a_64):", ""]
        lines.append(f"| scenario | test | {sharded.name} / {twem_sharded.name} |")
        lines.append("|---|---|---:|")
        for sc in scenarios:
            c, p = SCENARIOS[sc][:2]
            for test in tests:
                key = (sc, test)
                lines.append(f"| -c {c} -P {p} | {test.upper()} | "
                             f"{fmt_ratio(median(col(sharded, key, 'rps')), median(col(twem_sharded, key, 'rps')))} |")

    failures = [(t.name, k, r["error"]) for t in targets for k, rs in t.runs.items() for r in rs if "error" in r]
    if failures:
        lines += ["", f"{len(failures)} run(s) failed:"]
        lines += [f"- {name} {k[0]} {k[1]}: {err}" for name, k, err in failures[:20]]
    lines += ["", f"{rounds} round(s), targets interleaved (order rotated each round); ± is half the "
              f"range over the rounds relative to the median. {bench_version}, {os.cpu_count()} CPUs, "
              f"{platform.machine()}, loopback."]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", 5)))
    ap.add_argument("--quick", action="store_true", help="1 round, about a fifth of the requests")
    ap.add_argument("--workers", default=os.environ.get("BENCH_WORKERS", "1"),
                    help="metacluster worker counts to bench, comma-separated (default 1; e.g. 1,2)")
    ap.add_argument("--targets", default="direct,twemproxy,metacluster,metacluster-3dc",
                    help="subset of direct,twemproxy,metacluster,metacluster-3dc (three clusters: every "
                         "write fans out to three redis servers, reads stay local), twemproxy-3shards and "
                         "metacluster-3shards (one pool/cluster of three redis servers, ketama over fnv1a_64; "
                         "use with --keyspace so keys spread), metacluster-3dc-disk and metacluster-3dc-disk-always "
                         "(metacluster-3dc with backlog.durability disk, fsync everysec / always)")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"subset of {','.join(SCENARIOS)}")
    ap.add_argument("--tests", default="set,get", help="redis-benchmark -t tests (default set,get)")
    ap.add_argument("-n", dest="n", action="append", default=[], metavar="SCENARIO=N",
                    help="requests per run for a scenario, e.g. -n c50-P1=200000 (repeatable)")
    ap.add_argument("--data-size", type=int, default=3, help="redis-benchmark -d (value bytes, default 3)")
    ap.add_argument("--keyspace", type=int, default=0, help="redis-benchmark -r (random keys; default off)")
    ap.add_argument("--bin", default=os.environ.get("METACLUSTER_BIN", str(ROOT / ".build/release/metacluster")))
    ap.add_argument("--log-level", default="warning", help="metacluster --log-level during the bench")
    ap.add_argument("--json", default=str(ROOT / "run" / "bench" / "results.json"),
                    help="where to write every run's numbers (default run/bench/results.json)")
    args = ap.parse_args()

    if args.quick:
        args.rounds = 1
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    for s in scenarios:
        if s not in SCENARIOS:
            ap.error(f"unknown scenario {s!r}; choose from {', '.join(SCENARIOS)}")
    requests = {s: SCENARIOS[s][3] if args.quick else SCENARIOS[s][2] for s in scenarios}
    for item in args.n:
        s, _, v = item.partition("=")
        if s not in SCENARIOS or not v.isdigit():
            ap.error(f"-n takes SCENARIO=N, e.g. c50-P1=200000, not {item!r}")
        requests[s] = int(v)
    tests = [t.strip().lower() for t in args.tests.split(",") if t.strip()]
    wanted = {t.strip() for t in args.targets.split(",") if t.strip()}
    workers = [int(w) for w in args.workers.split(",") if w.strip()]

    bench = shutil.which("redis-benchmark") or sys.exit("redis-benchmark not found (apt-get install redis-tools)")
    redis_server = shutil.which("redis-server") or sys.exit("redis-server not found")
    bench_version = subprocess.run([bench, "--version"], capture_output=True, text=True).stdout.strip()

    atexit.register(_cleanup)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)

    work = Path(tempfile.mkdtemp(prefix="metacluster-bench-"))
    print(f"# logs and configs in {work}", file=sys.stderr)

    rport = free_port()
    redis = start([redis_server, "--port", str(rport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--daemonize", "no", "--dir", str(work), "--logfile", str(work / "redis.log")],
                  "redis-server", rport, work / "redis.stdout")
    targets: list[Target] = []
    if "direct" in wanted:
        targets.append(Target("direct", rport, redis))
    def start_nutcracker(name: str, label: str, ports: list[int]) -> Target:
        """A nutcracker redis pool over `ports`, as a production twemproxy would be set up."""
        nutcracker = shutil.which("nutcracker") or shutil.which("nutcracker", path="/usr/sbin:/sbin")
        if not nutcracker:
            sys.exit("nutcracker not found (apt-get install nutcracker)")
        tport, sport = free_port(), free_port()
        conf = work / f"{name}.yml"
        conf.write_text(
            "bench:\n"
            f"  listen: 127.0.0.1:{tport}\n"
            "  hash: fnv1a_64\n"
            "  distribution: ketama\n"
            "  redis: true\n"
            "  auto_eject_hosts: false\n"
            "  timeout: 5000\n"
            "  server_connections: 1\n"
            "  servers:\n"
            + "".join(f"   - 127.0.0.1:{port}:1\n" for port in ports))
        p = start([nutcracker, "-c", str(conf), "-o", str(work / f"{name}.log"), "-s", str(sport),
                   "-a", "127.0.0.1", "-p", str(work / f"{name}.pid")],
                  label, tport, work / f"{name}.stdout")
        return Target(label, tport, p)

    if "twemproxy" in wanted:
        targets.append(start_nutcracker("nutcracker", "twemproxy", [rport]))
    if "metacluster" in wanted:
        binary = Path(args.bin)
        if not binary.exists():
            sys.exit(f"{binary} not found: build it with `swift build -c release` (scripts/bench does)")
        for w in workers:
            mport = free_port()
            cfg = work / f"metacluster-w{w}.json"
            cfg.write_text(json.dumps({
                "listen": {"redis": f"127.0.0.1:{mport}"},
                "workers": w,
                "clusters": [{"name": "bench", "local": True, "redis": [f"127.0.0.1:{rport}"]}],
            }, indent=2))
            p = start([str(binary), "--config", str(cfg), "--log-level", args.log_level],
                      f"metacluster (workers {w})", mport, work / f"metacluster-w{w}.log")
            targets.append(Target(f"metacluster w{w}" if len(workers) > 1 or w != 1 else "metacluster", mport, p))
    others: list[int] = []

    def other_servers() -> list[int]:
        """Two more redis-servers, shared by the 3-cluster and the 3-shard targets (runs never overlap)."""
        if not others:
            for i in (2, 3):
                port = free_port()
                others.append(port)
                start([redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                       "--daemonize", "no", "--dir", str(work), "--logfile", str(work / f"redis-{i}.log")],
                      f"redis-server {i}", port, work / f"redis-{i}.stdout")
        return others

    if "twemproxy-3shards" in wanted:
        targets.append(start_nutcracker("nutcracker-3shards", "twemproxy 3shards", [rport] + other_servers()))
    if "metacluster-3shards" in wanted:
        mport = free_port()
        cfg = work / "metacluster-3shards.json"
        cfg.write_text(json.dumps({
            "listen": {"redis": f"127.0.0.1:{mport}"},
            "workers": workers[0],
            "clusters": [{"name": "bench", "local": True, "hashTag": "",
                          "redis": [f"127.0.0.1:{port}" for port in [rport] + other_servers()]}],
        }, indent=2))
        p = start([str(Path(args.bin)), "--config", str(cfg), "--log-level", args.log_level],
                  "metacluster (3 shards)", mport, work / "metacluster-3shards.log")
        targets.append(Target("metacluster 3shards", mport, p))
    if "metacluster-3dc" in wanted:
        binary = Path(args.bin)
        remotes = other_servers()
        mport = free_port()
        cfg = work / "metacluster-3dc.json"
        cfg.write_text(json.dumps({
            "listen": {"redis": f"127.0.0.1:{mport}"},
            "workers": workers[0],
            "clusters": [{"name": "dc-a", "local": True, "redis": [f"127.0.0.1:{rport}"]}]
            + [{"name": f"dc-{n}", "redis": [f"127.0.0.1:{port}"]} for n, port in zip("bc", remotes)],
        }, indent=2))
        p = start([str(binary), "--config", str(cfg), "--log-level", args.log_level],
                  "metacluster (3 clusters)", mport, work / "metacluster-3dc.log")
        targets.append(Target("metacluster 3dc", mport, p))
    for fsync in ("everysec", "always"):
        name = "metacluster-3dc-disk" + ("" if fsync == "everysec" else "-always")
        if name not in wanted:
            continue
        remotes = other_servers()
        mport = free_port()
        cfg = work / f"{name}.json"
        cfg.write_text(json.dumps({
            "listen": {"redis": f"127.0.0.1:{mport}"},
            "workers": workers[0],
            "clusters": [{"name": "dc-a", "local": True, "redis": [f"127.0.0.1:{rport}"]}]
            + [{"name": f"dc-{n}", "redis": [f"127.0.0.1:{port}"]} for n, port in zip("bc", remotes)],
            "backlog": {"dir": str(work / f"{name}-backlog"), "fsync": fsync, "durability": "disk"},
        }, indent=2))
        p = start([str(Path(args.bin)), "--config", str(cfg), "--log-level", args.log_level],
                  f"metacluster (3 clusters, durability disk, fsync {fsync})", mport, work / f"{name}.log")
        targets.append(Target("metacluster 3dc disk" + ("" if fsync == "everysec" else " always"), mport, p))
    if not targets:
        ap.error("no targets")

    extra = ["-d", str(args.data_size)] + (["-r", str(args.keyspace)] if args.keyspace else [])

    # warm-up: backend connections established, caches and page tables warm
    for t in targets:
        r = run_benchmark(bench, t.port, 50, 1, 20_000, "set,get", extra)
        if "error" in r:
            print(f"warning: warm-up against {t.name} failed: {r['error']}", file=sys.stderr)

    total = args.rounds * len(scenarios) * len(tests) * len(targets)
    done = 0
    started = time.monotonic()
    for rnd in range(args.rounds):
        order = targets[rnd % len(targets):] + targets[:rnd % len(targets)]
        for sc in scenarios:
            clients, pipeline = SCENARIOS[sc][:2]
            n = requests[sc]
            for test in tests:
                for t in order:
                    cpu0 = cpu_seconds(t.proc.pid)
                    r = run_benchmark(bench, t.port, clients, pipeline, n, test, extra)
                    cpu1 = cpu_seconds(t.proc.pid)
                    r["cpu_us_per_req"] = (cpu1 - cpu0) * 1e6 / n
                    r["round"] = rnd + 1
                    t.runs.setdefault((sc, test), []).append(r)
                    done += 1
                    shown = f"{r['rps']:,.0f} rps" if "rps" in r else f"ERROR {r['error']}"
                    print(f"[{done}/{total} {time.monotonic() - started:5.0f}s] round {rnd + 1} {sc} "
                          f"{test.upper():4} {t.name:15} {shown}", file=sys.stderr, flush=True)

    for t in targets:
        if t.proc.poll() is not None:
            print(f"warning: {t.name} exited during the bench with status {t.proc.returncode}", file=sys.stderr)

    header = (f"## scripts/bench: medians of {args.rounds} round(s); -n "
              + ", ".join(f"{s}={requests[s]}" for s in scenarios)
              + f"; value {args.data_size} B")
    text = report(targets, scenarios, tests, args.rounds, bench_version, header)
    print(text)

    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "rounds": args.rounds, "requests": requests, "tests": tests, "data_size": args.data_size,
        "benchmark": bench_version, "cpus": os.cpu_count(),
        "targets": {t.name: {f"{k[0]} {k[1]}": v for k, v in t.runs.items()} for t in targets},
        "markdown": text,
    }, indent=2))
    print(f"\n(raw numbers in {out})", file=sys.stderr)
    _cleanup()
    failed = any("error" in r for t in targets for rs in t.runs.values() for r in rs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
