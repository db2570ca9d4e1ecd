"""`redis-benchmark -q -n 100000` (all its default tests) through the proxy, with no errors."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess

import pytest

REDIS_BENCHMARK = shutil.which("redis-benchmark") or "redis-benchmark"

# the default test set of redis-benchmark 7
EXPECTED = {"PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "LPUSH", "RPUSH", "LPOP", "RPOP", "SADD",
            "HSET", "SPOP", "ZADD", "ZPOPMIN", "LRANGE_100 (first 100 elements)",
            "LRANGE_300 (first 300 elements)", "LRANGE_500 (first 500 elements)",
            "LRANGE_600 (first 600 elements)", "MSET (10 keys)"}


def run_benchmark(port: int, *extra: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    p = subprocess.run([REDIS_BENCHMARK, "-h", "127.0.0.1", "-p", str(port), "-q", "-n", "100000",
                        "--csv", *extra], capture_output=True, text=True, errors="replace", timeout=600,
                       stdin=subprocess.DEVNULL)
    rows = list(csv.DictReader(io.StringIO(p.stdout)))
    return p, rows


@pytest.mark.slow
def test_redis_benchmark_default_tests(proxy):
    p, rows = run_benchmark(proxy.port)
    out = p.stdout + p.stderr
    print(p.stdout)
    assert p.returncode == 0, f"redis-benchmark exited {p.returncode}:\n{out[-3000:]}"
    # redis-benchmark prints "Error from server: ..." for error replies and "Error: ..." for
    # connection and protocol errors
    bad = [line for line in out.splitlines() if "error" in line.lower()]
    assert not bad, "\n".join(bad[:20])
    names = {r["test"] for r in rows}
    missing = EXPECTED - names
    assert not missing, f"tests missing from the output: {sorted(missing)}\n{out[-3000:]}"
    for r in rows:
        assert float(r["rps"]) > 0, r


@pytest.mark.slow
def test_redis_benchmark_resp3_pipelined(proxy):
    p, rows = run_benchmark(proxy.port, "-3", "-P", "16", "-t", "set,get,incr,lpush,lrange_100,mset")
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-3000:]
    assert not [line for line in out.splitlines() if "error" in line.lower()], out[-3000:]
    assert len(rows) >= 6 and all(float(r["rps"]) > 0 for r in rows), out
