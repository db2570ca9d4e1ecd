"""The backlog on disk (issue #7, part 1): writes a cluster missed survive the proxy's own kill -9
and are replayed, in order, once the cluster is back; a damaged segment is reported at start-up and
the records before the damage are still replayed."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from conftest import Stack, wait_until


def redis_contents(port: int) -> dict:
    import redis
    r = redis.Redis(port=port)
    return {k: (r.type(k), r.dump(k)) for k in r.keys()}


def start_proxy(stack: Stack, local: int, remote: int, directory: Path):
    return stack.clusters(
        [local, remote], workers=2, timeouts={"reconnectMinMs": 20, "reconnectMaxMs": 200},
        config_extra={"backlog": {"dir": str(directory), "fsync": "always"}})


def test_missed_writes_survive_kill_9_and_replay_in_order(stack: Stack, tmp_path: Path):
    import redis
    local = stack.redis_server()
    remote = stack.redis_server()
    remote.stop()
    directory = tmp_path / "backlog"
    m = start_proxy(stack, local.port, remote.port, directory)
    c = redis.Redis(port=m.port)
    for i in range(200):
        c.set(f"k{i}", i)
    c.incr("n")
    c.incrby("n", 5)
    c.lpush("l", "a", "b")
    c.hset("h", mapping={"f": "v", "g": "w"})
    c.delete("k7")
    c.expire("k8", 1000)
    c.set("k9", "overwritten")
    assert c.get("k9") == b"overwritten"
    # Every write above is held for the stopped remote, on disk (fsync always), when kill -9 comes.
    wait_until(lambda: any(f.endswith(".seg") for _, _, fs in os.walk(directory) for f in fs), 5, "a segment on disk")
    m.proc.send_signal(signal.SIGKILL)
    m.proc.wait()
    m.checked = True
    remote.start()
    m2 = start_proxy(stack, local.port, remote.port, directory)
    assert m2.wait_log("backlog recovered from disk", timeout=5)
    wait_until(lambda: redis_contents(remote.port) == redis_contents(local.port), 10,
               "the restarted remote holding exactly what the local cluster holds")
    assert redis.Redis(port=remote.port).ttl("k8") > 900


def test_a_damaged_segment_is_reported_and_the_records_before_it_replayed(stack: Stack, tmp_path: Path):
    import redis
    local = stack.redis_server()
    remote = stack.redis_server()
    remote.stop()
    directory = tmp_path / "backlog"
    m = stack.clusters([local.port, remote.port], workers=1,
                       timeouts={"reconnectMinMs": 20, "reconnectMaxMs": 200},
                       config_extra={"backlog": {"dir": str(directory), "fsync": "always"}})
    c = redis.Redis(port=m.port)
    for i in range(50):
        c.set(f"k{i}", "x" * 20)
    m.stop()
    segments = [Path(d) / f for d, _, fs in os.walk(directory) for f in fs if f.endswith(".seg")]
    assert len(segments) == 1, segments
    data = bytearray(segments[0].read_bytes())
    # Flip a byte in the middle: the records after it in this segment are lost, the ones before kept.
    middle = len(data) // 2
    data[middle] ^= 0xFF
    segments[0].write_bytes(bytes(data))
    remote.start()
    m2 = stack.clusters([local.port, remote.port], workers=1,
                        timeouts={"reconnectMinMs": 20, "reconnectMaxMs": 200},
                        config_extra={"backlog": {"dir": str(directory), "fsync": "always"}})
    line = m2.wait_log("backlog segment damaged", timeout=5)
    assert "checksumMismatch" in line or "truncated" in line, line
    r = redis.Redis(port=remote.port)

    def replayed():
        keys = {k.decode() for k in r.keys()}
        return keys if keys else None
    keys = wait_until(replayed, 5, "the valid records replayed")
    # The keys replayed are a prefix of the writes, in order: k0 .. k(n-1), nothing after a gap.
    n = len(keys)
    assert 0 < n < 50 and keys == {f"k{i}" for i in range(n)}, sorted(keys)


def test_fewer_workers_after_a_restart_still_replay_every_loops_backlog(stack: Stack, tmp_path: Path):
    import redis
    local = stack.redis_server()
    remote = stack.redis_server()
    remote.stop()
    directory = tmp_path / "backlog"
    m = start_proxy(stack, local.port, remote.port, directory)  # two workers

    def loops_with_segments() -> set:
        return {Path(d).name for d, _, fs in os.walk(directory) if any(f.endswith(".seg") for f in fs)}
    # The kernel spreads connections over the two loops: write over fresh connections until both hold some.
    i = 0
    while loops_with_segments() != {"loop-0", "loop-1"}:
        assert i < 2000, f"connections never reached both loops: {loops_with_segments()}"
        c = redis.Redis(port=m.port)
        for _ in range(5):
            c.set(f"k{i}", i)
            i += 1
        c.close()
    m.stop()
    remote.start()
    m2 = stack.clusters([local.port, remote.port], workers=1, timeouts={"reconnectMinMs": 20, "reconnectMaxMs": 200},
                        config_extra={"backlog": {"dir": str(directory), "fsync": "always"}})
    assert m2.wait_log("backlog of a retired loop taken over", timeout=5)
    wait_until(lambda: redis_contents(remote.port) == redis_contents(local.port), 10,
               "the remote holding every write of both loops")
