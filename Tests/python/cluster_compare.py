"""Every backend redis-server holds identical data: the check each stateful-redis test (issue #9:
transactions, pub/sub, blocking commands) ends with.

The servers are read directly (redis-py RESP2 clients of their own), key by key and by content, so
the comparison does not depend on an encoding (hashtable encodings DUMP in a per-process random
order). Streams are compared by what a client can observe: entries, the stream's counters, every
consumer group with its consumers and pending entries (ids, owner, delivery count), but not the
idle times, which are each server's own clock.

test_replication.assert_identical does the same for the types it writes, by DUMP; it knows no
consumer groups (a stream's DUMP carries delivery times, which differ between servers), hence this
module.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

BARRIER = "__barrier__"

# XINFO STREAM fields that describe the stream itself, not the server's internal node layout
STREAM_FIELDS = ("length", "last-generated-id", "max-deleted-entry-id", "entries-added",
                 "recorded-first-entry-id", "groups")
# Not "entries-read" and "lag": a group's read counter is not carried by what XREADGROUP's effect
# can say (XCLAIM ... LASTID, XGROUP SETID), so the other clusters report it unknown, as Redis 7.0's
# own replicas do (docs/redis-commands.md, blocking commands).
GROUP_FIELDS = ("name", "consumers", "pending", "last-delivered-id")


def stream_content(d: Any, key: bytes) -> dict:
    """A stream as a client observes it, without idle times."""
    info = d.xinfo_stream(key)
    out: dict[str, Any] = {
        "entries": d.xrange(key, "-", "+"),
        "info": {f: info.get(f) for f in STREAM_FIELDS},
        "groups": [],
    }
    for group in d.xinfo_groups(key):
        name = group["name"]
        consumers = sorted((c["name"], c["pending"]) for c in d.xinfo_consumers(key, name))
        pending = [(p["message_id"], p["consumer"], p["times_delivered"])
                   for p in d.xpending_range(key, name, "-", "+", 10_000)]
        out["groups"].append({"group": {f: group.get(f) for f in GROUP_FIELDS},
                              "consumers": consumers, "pending": pending})
    out["groups"].sort(key=lambda g: g["group"]["name"])
    return out


def key_content(d: Any, key: bytes) -> tuple[bytes, Any]:
    """(type, content) of one key, independent of its encoding."""
    kind = d.type(key)
    if kind == b"string":
        return kind, d.get(key)
    if kind == b"list":
        return kind, d.lrange(key, 0, -1)
    if kind == b"set":
        return kind, sorted(d.smembers(key))
    if kind == b"hash":
        return kind, sorted(d.hgetall(key).items())
    if kind == b"zset":
        return kind, d.zrange(key, 0, -1, withscores=True)
    if kind == b"stream":
        return kind, stream_content(d, key)
    if kind == b"none":  # expired or deleted between KEYS and TYPE
        return kind, None
    raise AssertionError(f"unexpected type {kind!r} for {key!r}")


def snapshot(d: Any, ignore: Iterable[str] = (BARRIER,)) -> dict[bytes, tuple[bytes, Any, int]]:
    """{key: (type, content, expiry instant in ms or -1)} of every key on one server."""
    skip = {k.encode() for k in ignore}
    out = {}
    for key in sorted(d.keys("*")):
        if key in skip:
            continue
        kind, content = key_content(d, key)
        out[key] = (kind, content, int(d.execute_command("PEXPIRETIME", key)))
    return out


def first_difference(a: Any, b: Any, path: str = "") -> tuple[str, Any, Any]:
    """Where two contents first differ: (path, a's part, b's part)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if a.get(k) != b.get(k):
                return first_difference(a.get(k), b.get(k), f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and type(a) is type(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return first_difference(x, y, f"{path}[{i}]")
        if len(a) != len(b):
            return f"{path} (length {len(a)} != {len(b)})", a[len(b):][:5], b[len(a):][:5]
    return path or "(whole)", a, b


def differences(directs: list[Any], names: Optional[list[str]] = None, ignore: Iterable[str] = (BARRIER,),
                expiry_tolerance_ms: int = 5) -> list[str]:
    """What differs between the first server and each other one (empty: identical)."""
    names = names or [f"server {i}" for i in range(len(directs))]
    snaps = [snapshot(d, ignore) for d in directs]
    problems = []
    base = snaps[0]
    for name, snap in zip(names[1:], snaps[1:]):
        only_first = sorted(set(base) - set(snap))
        only_here = sorted(set(snap) - set(base))
        if only_first or only_here:
            problems.append(f"keys differ: only on {names[0]}: {only_first[:10]}, only on {name}: {only_here[:10]}")
        for key in sorted(set(base) & set(snap)):
            (k0, c0, e0), (k1, c1, e1) = base[key], snap[key]
            if (k0, c0) != (k1, c1):
                where, x, y = first_difference((k0, c0), (k1, c1))
                problems.append(f"{key!r} differs at {where}: {names[0]} has {x!r:.300}, {name} has {y!r:.300}")
            if (e0 < 0) != (e1 < 0) or abs(e0 - e1) > expiry_tolerance_ms:
                problems.append(f"{key!r}: expiry instant {e0} on {names[0]}, {e1} on {name}")
    return problems


def assert_identical(directs: list[Any], names: Optional[list[str]] = None, ignore: Iterable[str] = (BARRIER,),
                     expiry_tolerance_ms: int = 5) -> dict[bytes, tuple[bytes, Any, int]]:
    """Every server holds the same keys with the same content and expiry instants (within the
    tolerance); returns the first server's snapshot for further checks."""
    problems = differences(directs, names, ignore, expiry_tolerance_ms)
    assert not problems, "the backends differ:\n" + "\n".join(problems)
    return snapshot(directs[0], ignore)
