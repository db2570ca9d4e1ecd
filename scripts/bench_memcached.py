"""The memcached part of scripts/bench.py: targets, load runs and their report.

Targets: `mc-direct` (a memcached the bench starts: one worker thread, 1 GB), `mc-twemproxy` (a
nutcracker memcache pool over it, server_connections 1), `mc-metacluster` (one cluster over it)
and `mc-metacluster 3dc` (that memcached as the local cluster and two more as remote clusters:
every write fans out to three servers, reads stay local), the metacluster ones once per loop.

Load: this file's own generator (`python3 scripts/bench_memcached.py load ...`), run as a process
per run like redis-benchmark: N connections, one request in flight on each (a closed loop, as
memaslap and redis-benchmark without -P), text `set`/`get` of 16-byte keys drawn at random from
a keyspace that the bench fills once (directly on the memcached servers) before the first round,
so every get hits. It times each request and reports throughput and exact p50/p99/avg latency.

Why not memaslap (Debian: `memcaslap`): its keys start with an 8-byte binary prefix ORed with
0x10 in every byte, i.e. control characters, which metacluster refuses by design
(`CLIENT_ERROR bad command line format`, docs/memcached-commands.md) while memcached and
twemproxy take them, so it cannot drive the metacluster targets. libmemcached's older memslap
(`memcslap`) has no get:set mix, one thread per connection and no latency figures. On this
machine the generator gave the same ops/s as memaslap against memcached itself (50 connections,
9:1) and about 2 µs more a round trip at one connection; its own CPU share is reported so a run
it saturated can be told apart.
"""

from __future__ import annotations

import json
import random
import selectors
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

if __name__ != "__main__":
    from bench import (LOOPS, Lab, Target, col, find, fmt_goal, fmt_num, fmt_ratio, fmt_rps, md_table, med,
                       verdict)

TARGETS = ("mc-direct", "mc-twemproxy", "mc-metacluster", "mc-metacluster-3dc")
KEYSPACE = 100_000
TOOL_VERSION = f"bench_memcached.py load generator (Python {sys.version.split()[0]})"


@dataclass(frozen=True)
class Workload:
    clients: int
    set_share: float  # the rest are gets
    test: str         # its label in the tables: set, get, mix
    n: int            # default requests per run
    quick: int        # --quick


WORKLOADS = {
    "c50-set": Workload(50, 1.0, "set", 200_000, 40_000),
    "c50-get": Workload(50, 0.0, "get", 200_000, 40_000),
    "c50-mix": Workload(50, 0.1, "mix", 200_000, 40_000),
    "c1-mix": Workload(1, 0.1, "mix", 40_000, 8_000),
}


def key(i: int) -> bytes:
    return b"key:%012d" % i  # 16 bytes


# ----------------------------------------------------------------------------- the load generator


def load(port: int, clients: int, n: int, set_share: float, keyspace: int, size: int, seed: int = 1) -> dict:
    """n requests over `clients` connections, one in flight on each; every request timed."""
    rng = random.Random(seed)
    value = b"x" * size
    is_set = [rng.random() < set_share for _ in range(n)]
    picks = [rng.randrange(keyspace) for _ in range(n)]
    plan = [b"set %s 0 0 %d\r\n%s\r\n" % (key(k), size, value) if s else b"get %s\r\n" % key(k)
            for k, s in zip(picks, is_set)]
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(clients):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        socks.append(s)
    latency = [0] * n
    misses = 0
    done = sent = 0
    clock = time.perf_counter_ns
    cpu0, start = time.process_time(), clock()
    for s in socks[:n]:
        state = [is_set[sent], clock(), b""]  # a set?, when sent, reply so far
        s.send(plan[sent])
        sent += 1
        sel.register(s, selectors.EVENT_READ, state)
    while done < n:
        for k, _ in sel.select(timeout=10) or [(None, None)]:
            if k is None:
                raise SystemExit(f"no reply within 10 s ({done} of {n} done)")
            s, state = k.fileobj, k.data
            data = s.recv(65536)
            if not data:
                raise SystemExit("connection closed by the target")
            reply = state[2] + data
            if state[0]:
                if not reply.endswith(b"\r\n"):
                    state[2] = reply
                    continue
                if reply != b"STORED\r\n":
                    raise SystemExit(f"set answered {reply[:200]!r}")
            else:
                if not reply.endswith(b"END\r\n"):
                    if reply.endswith(b"\r\n") and b"ERROR" in reply[:20]:
                        raise SystemExit(f"get answered {reply[:200]!r}")
                    state[2] = reply
                    continue
                if not reply.startswith(b"VALUE "):
                    misses += 1
            now = clock()
            latency[done] = now - state[1]
            done += 1
            if sent < n:
                state[0], state[1], state[2] = is_set[sent], now, b""
                s.send(plan[sent])
                sent += 1
            else:
                sel.unregister(s)
    seconds = (clock() - start) / 1e9
    busy = (time.process_time() - cpu0) / seconds
    for s in socks:
        s.close()
    latency.sort()
    return {"ops": n, "seconds": seconds, "sets": sum(is_set), "gets": n - sum(is_set), "get_misses": misses,
            "p50_us": latency[n // 2] / 1e3, "p99_us": latency[min(n - 1, int(n * 0.99))] / 1e3,
            "avg_us": sum(latency) / n / 1e3, "client_busy": busy}


def fill(ports: list[int], keyspace: int, size: int) -> None:
    """Set every key of the keyspace on each memcached, pipelined, so gets hit from the first round."""
    value = b"x" * size
    for port in ports:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            for lo in range(0, keyspace, 1000):
                batch = range(lo, min(keyspace, lo + 1000))
                s.sendall(b"".join(b"set %s 0 0 %d\r\n%s\r\n" % (key(i), size, value) for i in batch))
                want = len(batch) * len(b"STORED\r\n")
                got = b""
                while len(got) < want:
                    chunk = s.recv(65536)
                    if not chunk:
                        raise SystemExit(f"memcached on {port} closed the connection during the fill")
                    got += chunk
                if got != b"STORED\r\n" * len(batch):
                    raise SystemExit(f"fill of memcached on {port} failed: {got[:200]!r}")


def run_load(port: int, workload: str, n: int, size: int) -> dict:
    """One run of the generator in its own process (like redis-benchmark); a result dict."""
    w = WORKLOADS[workload]
    args = [sys.executable, str(Path(__file__).resolve()), "load", str(port), str(w.clients), str(n),
            str(w.set_share), str(KEYSPACE), str(size)]
    try:
        p = subprocess.run(args, capture_output=True, text=True, errors="replace", timeout=300,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {"error": "load generator timed out after 300 s"}
    try:
        r = json.loads(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else None
    except (ValueError, IndexError):
        r = None
    if not r:
        return {"error": ((p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1])[:200]}
    r["rps"] = r["ops"] / r["seconds"]
    r["requests"] = r["ops"]
    # one connection is a closed loop: the mean round trip is the inverse of the rate
    r["rtt_us"] = 1e6 / r["rps"] if w.clients == 1 else None
    return r


# ----------------------------------------------------------------------------- targets


def start_targets(lab: "Lab", wanted: set, loops: list[str], workers: list[int]) -> tuple[list["Target"], list[int]]:
    """The memcached targets of `wanted`, every metacluster one once per loop; also every memcached port."""
    port, proc = lab.start_memcached("memcached")
    targets: list[Target] = []
    if "mc-direct" in wanted:
        targets.append(Target("mc-direct", port, proc, "mc-direct"))
    if "mc-twemproxy" in wanted:
        targets.append(lab.start_nutcracker("nutcracker-mc", "mc-twemproxy", "mc-twemproxy", [port], redis=False))
    remotes = [lab.start_memcached(f"memcached-{i}")[0] for i in (2, 3)] if "mc-metacluster-3dc" in wanted else []
    for loop in loops:
        candidates: list[Optional[Target]] = []
        if "mc-metacluster" in wanted:
            for w in workers:
                label = f"mc-metacluster w{w}" if len(workers) > 1 or w != 1 else "mc-metacluster"
                candidates.append(lab.start_metacluster("mc-metacluster", label, {
                    "workers": w,
                    "clusters": [{"name": "bench", "local": True, "memcached": [f"127.0.0.1:{port}"]}],
                }, loop))
        if "mc-metacluster-3dc" in wanted:
            candidates.append(lab.start_metacluster("mc-metacluster-3dc", "mc-metacluster 3dc", {
                "workers": workers[0],
                "clusters": [{"name": "dc-a", "local": True, "memcached": [f"127.0.0.1:{port}"]}]
                + [{"name": f"dc-{n}", "memcached": [f"127.0.0.1:{p}"]} for n, p in zip("bc", remotes)],
            }, loop))
        targets += [t for t in candidates if t is not None]
    return targets, [port] + remotes


def warm_up(targets: list["Target"], size: int) -> None:
    """A short 9:1 run against each target: backend connections up, caches warm."""
    for t in targets:
        r = run_load(t.port, "c50-mix", 20_000, size)
        if "error" in r:
            print(f"warning: warm-up against {t.name} failed: {r['error']}", file=sys.stderr)


# ----------------------------------------------------------------------------- report


def label(workload: str) -> list[str]:
    w = WORKLOADS[workload]
    return [f"-c {w.clients}", w.test + (" 9:1" if w.test == "mix" else "")]


def report_lines(targets: list["Target"], workloads: list[str], size: int) -> list[str]:
    direct, twem = find(targets, "mc-direct"), find(targets, "mc-twemproxy")
    mcs = [t for t in targets if t.role.startswith("mc-metacluster")]
    keys = [(w, WORKLOADS[w].test) for w in workloads]

    def table(cell) -> list[str]:
        return md_table(["clients", "workload"] + [t.name for t in targets],
                        [label(k[0]) + [cell(t, k) for t in targets] for k in keys])

    lines = ["### Memcached", "",
             f"The bench's load generator (see scripts/bench_memcached.py: memaslap's keys are refused by "
             f"metacluster); keys of 16 B over {KEYSPACE:,} keys filled before the first round, values "
             f"{size} B; set: set-only; get: get-only, every get a hit; mix 9:1: gets and sets 9 to 1. "
             "Operations/s (median ± half the range over the rounds):", ""]
    lines += table(lambda t, k: fmt_rps(col(t, k, "rps")))

    cols = [(m, b) for m in mcs for b in (twem, direct) if b]
    if cols:
        lines += ["", "Ratios of the medians:", ""]
        lines += md_table(["clients", "workload"] + [f"{m.name} / {b.name}" for m, b in cols],
                          [label(k[0]) + [fmt_ratio(med(m, k, "rps"), med(b, k, "rps")) for m, b in cols]
                           for k in keys])

    lines += ["", "Latency p50 / p99 (µs, from the client's send to the whole reply; the generator's own "
              "time included):", ""]
    lines += table(lambda t, k: f"{fmt_num(med(t, k, 'p50_us'))} / {fmt_num(med(t, k, 'p99_us'))}")

    c1 = [k for k in keys if WORKLOADS[k[0]].clients == 1]
    if c1:
        def rtt(t: Target, k: tuple) -> str:
            v, d = med(t, k, "rtt_us"), med(direct, k, "rtt_us")
            return fmt_num(v) + (f" ({v - d:+.1f})" if v is not None and d is not None and t is not direct else "")

        lines += ["", "Mean round trip at one connection (µs, 1e6 / operations/s), in brackets what the "
                  "target adds to `mc-direct`:", ""]
        lines += md_table(["clients", "workload"] + [t.name for t in targets],
                          [label(k[0]) + [rtt(t, k) for t in targets] for k in c1])

    lines += ["", "CPU seconds of the target process per 100k requests (memcached's own for `mc-direct`), "
              "and in brackets the load generator's CPU share of its run (near 100% it may be the limit):", ""]
    lines += table(lambda t, k: f"{fmt_num(med(t, k, 'cpu_s_per_100k'), 2)} "
                                f"({fmt_num(100 * (med(t, k, 'client_busy') or 0), 0)}%)")

    for loop in LOOPS:
        single, fanout = find(targets, "mc-metacluster", loop), find(targets, "mc-metacluster-3dc", loop)
        bases = [t for t in (single, twem) if t]
        if fanout and bases:
            lines += ["", f"Fan-out cost: `{fanout.name}` (every write to three memcached, reads local) against "
                      + " and ".join(f"`{b.name}`" for b in bases) + ":", ""]
            lines += md_table(["clients", "workload"] + [f"{fanout.name} / {b.name}" for b in bases],
                              [label(k[0]) + [fmt_ratio(med(fanout, k, "rps"), med(b, k, "rps")) for b in bases]
                               for k in keys])

    misses = [(t.name, k[0], sum(col(t, k, "get_misses")), sum(col(t, k, "gets")))
              for t in targets for k in keys if any(col(t, k, "get_misses"))]
    if misses:
        lines += ["", "Get misses (every key was filled, so each is a lost write or a wrong read):"]
        lines += [f"- {name} {w}: {m} of {g} gets" for name, w, m, g in misses]
    return lines


def goals(targets: list["Target"], workloads: list[str]) -> list[list[str]]:
    """Rows of the issue #8 table: mc-metacluster ≥ 1.1x mc-twemproxy on every workload."""
    twem = find(targets, "mc-twemproxy")
    rows = []
    for loop in LOOPS:
        single = find(targets, "mc-metacluster", loop)
        if not single or not twem:
            continue
        for w in workloads:
            k = (w, WORKLOADS[w].test)
            a, b = med(single, k, "rps"), med(twem, k, "rps")
            v = a / b if a and b else None
            rows.append([loop, "memcached ≥ 1.1x twemproxy", *label(w), fmt_goal(v),
                         verdict(v, v is not None and v >= 1.1)])
    return rows


if __name__ == "__main__":
    # load PORT CLIENTS N SET_SHARE KEYSPACE VALUE_BYTES: one run, its numbers as JSON on stdout
    if len(sys.argv) != 8 or sys.argv[1] != "load":
        sys.exit(f"usage: {sys.argv[0]} load PORT CLIENTS N SET_SHARE KEYSPACE VALUE_BYTES")
    import gc
    gc.disable()
    p, c, n_, share, space, size_ = sys.argv[2:]
    print(json.dumps(load(int(p), int(c), int(n_), float(share), int(space), int(size_))))
