#!/usr/bin/env python3
"""Record where twemproxy (nutcracker) and pylibmc (libmemcached) put keys, as test vectors.

A maintainer's tool, not run by CI. It produces the expected-server strings in
Tests/RoutingTests/ShardVectors.swift, which pin Routing's ShardMap to the real programs.

Rerun it (Debian, as root) with:

    apt-get install -y nutcracker memcached redis-server
    pip install pylibmc                # its wheel bundles libmemcached 1.0.x
    python3 scripts/lib/shard-vectors.py > /tmp/vectors.swift
    python3 scripts/lib/shard-vectors.py --hashes > /tmp/hashes.swift

and paste the printed `ShardVector(...)` lines over those in ShardVectors.swift and the
`HashVector(...)` lines over those in KeyHashTests.swift (`--hashes` needs no server: it calls
libmemcached's own hash functions, which twemproxy's are copies of, through ctypes). It starts
memcached on 127.0.0.1:11211 and 22121-22123, redis-server on 22131-22133 and one nutcracker
with a pool per configuration on 22200 and up (all must be free), writes every key through the
pool (or through pylibmc), then asks each server directly which keys it holds. Every process it
started is stopped by pid on exit. The key set is the one `ShardVector.keys` builds in Swift:
"key:0" ... "key:259" and 40 keys of 1 to 13 bytes with bytes >= 0x80 (for C's signed char).
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"
MEMCACHED_PORTS = [22121, 22122, 22123, 11211]
REDIS_PORTS = [22131, 22132, 22133]
FIRST_POOL_PORT = 22200

HASHES = ["one_at_a_time", "md5", "crc16", "crc32", "crc32a", "fnv1_64", "fnv1a_64",
          "fnv1_32", "fnv1a_32", "hsieh", "murmur", "jenkins"]


def special_key(i: int) -> bytes:
    """Must match ShardVector.specialKey(_:) in Swift."""
    out = bytearray()
    for j in range(1 + i % 13):
        v = (i * 31 + j * 17) % 221
        out.append(0x21 + v if v < 94 else 0x80 + (v - 94))
    return bytes(out)


KEYS = [f"key:{i}".encode() for i in range(260)] + [special_key(i) for i in range(40)]
TAGGED_KEYS = [f"u{{{i % 17}}}:{i}".encode() if i % 3 else f"{{}}x{i}".encode() for i in range(300)]

processes: list[subprocess.Popen] = []


def stop_all() -> None:
    for p in processes:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in processes:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()


atexit.register(stop_all)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))


def wait_port(port: int, proc: subprocess.Popen) -> None:
    for _ in range(100):
        if proc.poll() is not None:
            sys.exit(f"process for port {port} exited early")
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"port {port} never opened")


def start(argv: list[str], port: int) -> None:
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    processes.append(p)
    wait_port(port, p)


class Conn:
    def __init__(self, port: int):
        self.s = socket.create_connection((HOST, port))
        self.buf = b""

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def send(self, data: bytes) -> None:
        self.s.sendall(data)

    def close(self) -> None:
        self.s.close()


def mc_flush(ports: list[int]) -> None:
    for port in ports:
        c = Conn(port)
        c.send(b"flush_all\r\n")
        assert c.line() == b"OK"
        c.close()


def mc_holds(port: int, keys: list[bytes]) -> set[bytes]:
    c = Conn(port)
    held = set()
    for k in keys:
        c.send(b"get " + k + b"\r\n")
        line = c.line()
        if line.startswith(b"VALUE "):
            held.add(k)
            c.line()
            line = c.line()
        assert line == b"END", line
    c.close()
    return held


def placement(ports: list[int], keys: list[bytes], holds) -> str:
    digits = []
    found = {port: holds(port, keys) for port in set(ports)}
    for k in keys:
        where = [i for i, port in enumerate(ports) if k in found[port]]
        assert len(where) == 1, (k, where)
        digits.append(str(where[0]))
    return "".join(digits)


def redis_cmd(c: Conn, *args: bytes) -> bytes:
    c.send(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
    line = c.line()
    if line.startswith(b"$") and line != b"$-1":
        c.line()
    return line


def redis_holds(port: int, keys: list[bytes]) -> set[bytes]:
    c = Conn(port)
    held = {k for k in keys if redis_cmd(c, b"EXISTS", k) == b":1"}
    c.close()
    return held


# (label, distribution, hash, servers "host:port:weight[ name]", hash_tag, redis, key set)
TWEMPROXY = []
three = "127.0.0.1:22121:1,127.0.0.1:22122:1,127.0.0.1:22123:1"
for h in HASHES:
    TWEMPROXY.append(("ketama", h, three, "", False, "plain"))
    TWEMPROXY.append(("modula", h, three, "", False, "plain"))
for h in ["fnv1a_64", "md5", "murmur", "crc32", "one_at_a_time"]:
    TWEMPROXY.append(("ketama", h, "127.0.0.1:22121:1,127.0.0.1:22122:2,127.0.0.1:22123:3", "", False, "plain"))
    TWEMPROXY.append(("modula", h, "127.0.0.1:22121:1,127.0.0.1:22122:2,127.0.0.1:22123:3", "", False, "plain"))
TWEMPROXY += [
    ("ketama", "fnv1a_64", "127.0.0.1:22121:1 alpha,127.0.0.1:22122:1 server2,127.0.0.1:22123:1 c", "", False, "plain"),
    ("modula", "fnv1a_64", "127.0.0.1:22121:1 alpha,127.0.0.1:22122:1 server2,127.0.0.1:22123:1 c", "", False, "plain"),
    ("ketama", "md5", "127.0.0.1:11211:1,127.0.0.1:22122:1,localhost:22123:1", "", False, "plain"),
    ("modula", "md5", "127.0.0.1:11211:1,127.0.0.1:22122:1,localhost:22123:1", "", False, "plain"),
    ("ketama", "fnv1a_64", "127.0.0.1:22123:1,127.0.0.1:22121:1,127.0.0.1:22122:1", "", False, "plain"),
    ("modula", "fnv1a_64", "127.0.0.1:22123:1,127.0.0.1:22121:1,127.0.0.1:22122:1", "", False, "plain"),
    ("modula", "crc32a", "127.0.0.1:22123:5,127.0.0.1:22121:1,127.0.0.1:22122:2", "", False, "plain"),
    ("ketama", "fnv1a_64", "127.0.0.1:22121:10,127.0.0.1:22122:7,127.0.0.1:22123:1", "", False, "plain"),
    ("ketama", "murmur", three, "{}", False, "tagged"),
    ("modula", "fnv1a_32", three, "{}", False, "tagged"),
    ("ketama", "fnv1a_64", "127.0.0.1:22131:1,127.0.0.1:22132:1,127.0.0.1:22133:1", "", True, "plain"),
    ("modula", "md5", "127.0.0.1:22131:1,127.0.0.1:22132:2,127.0.0.1:22133:1", "", True, "plain"),
]

# (label, pylibmc behaviors, servers "host:port:weight")
PYLIBMC = [
    ({"ketama": True}, "127.0.0.1:22121:1,127.0.0.1:22122:1,127.0.0.1:22123:1"),
    ({"ketama": True}, "127.0.0.1:22123:1,127.0.0.1:22121:1,127.0.0.1:22122:1"),
    ({"ketama": True}, "127.0.0.1:11211:1,127.0.0.1:22122:1,127.0.0.1:22123:1"),
    ({"ketama": True, "ketama_hash": "md5"}, "127.0.0.1:22121:1,127.0.0.1:22122:1,127.0.0.1:22123:1"),
    ({"ketama": True}, "127.0.0.1:22121:1,127.0.0.1:22122:2,127.0.0.1:22123:3"),
    ({"ketama_weighted": True}, "127.0.0.1:22121:1,127.0.0.1:22122:1,127.0.0.1:22123:1"),
    ({"ketama_weighted": True}, "127.0.0.1:22121:1,127.0.0.1:22122:2,127.0.0.1:22123:3"),
    ({"ketama_weighted": True}, "127.0.0.1:11211:1,127.0.0.1:22122:1,127.0.0.1:22123:1"),
]
for h in ["md5", "crc", "fnv1_64", "fnv1a_64", "fnv1_32", "fnv1a_32", "murmur", "hsieh", "jenkins"]:
    PYLIBMC.append(({"ketama": True, "hash": h}, "127.0.0.1:22121:1,127.0.0.1:22122:1,127.0.0.1:22123:1"))
PYLIBMC_HASH = {"crc": "crc32", None: "one_at_a_time"}


def parse_servers(spec: str) -> list[tuple[str, int, int, str | None]]:
    out = []
    for item in spec.split(","):
        addr, _, name = item.partition(" ")
        host, port, weight = addr.rsplit(":", 2)
        out.append((host, int(port), int(weight), name or None))
    return out


def swift_line(dist: str, hash_: str, servers: str, tag: str, keyset: str, digits: str,
               note: str) -> str:
    tag_arg = f', tag: "{tag}"' if tag else ""
    keys_arg = ", keys: .tagged" if keyset == "tagged" else ""
    return (f'    ShardVector(.{swift_dist(dist)}, .{swift_hash(hash_)}, "{servers}"{tag_arg}{keys_arg},  // {note}\n'
            f'                "{digits}"),')


def swift_dist(d: str) -> str:
    return {"libmemcached_ketama": "libmemcachedKetama"}.get(d, d)


def swift_hash(h: str) -> str:
    return {"one_at_a_time": "oneAtATime"}.get(h, h)


HASH_KEYS = [b"", b"a", b"abc", b"key:1", b"0123456789ab", b"0123456789abc",
             b"hello world, twemproxy!", b"\xff\x80abc", b"\xe9t\xe9"]
LIBMEMCACHED_HASHES = {"one_at_a_time": 0, "md5": 1, "crc32": 2, "fnv1_64": 3, "fnv1a_64": 4,
                       "fnv1_32": 5, "fnv1a_32": 6, "murmur": 8, "jenkins": 9}


def swift_bytes(key: bytes) -> str:
    if all(0x20 <= b < 0x7F and b not in b'"\\' for b in key):
        return f'Array("{key.decode()}".utf8)'
    return "[" + ", ".join(f"0x{b:02X}" for b in key) + "]"


def print_hash_vectors() -> None:
    """Key hashes straight from libmemcached's memcached_generate_hash_value (via ctypes)."""
    import ctypes
    import glob
    import pylibmc
    libs = glob.glob(os.path.dirname(pylibmc.__file__) + ".libs/libmemcached*.so*")
    lib = ctypes.CDLL(libs[0]) if libs else ctypes.CDLL("libmemcached.so.11")
    digest = lib.memcached_generate_hash_value
    digest.restype = ctypes.c_uint32
    digest.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
    print("    // libmemcached " + pylibmc.libmemcached_version + " memcached_generate_hash_value")
    for name, algorithm in LIBMEMCACHED_HASHES.items():
        for key in HASH_KEYS:
            value = digest(key, len(key), algorithm)
            print(f"    HashVector(.{swift_hash(name)}, {swift_bytes(key)}, 0x{value:08X}),")


def main() -> None:
    if sys.argv[1:] == ["--hashes"]:
        print_hash_vectors()
        return
    for tool in ["memcached", "redis-server", "nutcracker"]:
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found: apt-get install -y nutcracker memcached redis-server")
    import pylibmc  # noqa: F401  (fail early)

    for port in MEMCACHED_PORTS:
        start(["memcached", "-u", "nobody", "-l", HOST, "-p", str(port), "-U", "0", "-m", "64"], port)
    for port in REDIS_PORTS:
        start(["redis-server", "--bind", HOST, "--port", str(port), "--save", "",
               "--appendonly", "no"], port)

    workdir = tempfile.mkdtemp(prefix="shard-vectors-")
    conf = []
    for i, (dist, hash_, servers, tag, redis, _) in enumerate(TWEMPROXY):
        conf.append(f"pool{i}:")
        conf.append(f"  listen: {HOST}:{FIRST_POOL_PORT + i}")
        conf.append(f"  hash: {hash_}")
        conf.append(f"  distribution: {dist}")
        if tag:
            conf.append(f'  hash_tag: "{tag}"')
        conf.append(f"  redis: {'true' if redis else 'false'}")
        conf.append("  auto_eject_hosts: false")
        conf.append("  servers:")
        for item in servers.split(","):
            conf.append(f"   - {item}")
    conf_path = os.path.join(workdir, "nutcracker.yml")
    with open(conf_path, "w") as f:
        f.write("\n".join(conf) + "\n")
    start(["nutcracker", "-c", conf_path, "-s", str(FIRST_POOL_PORT - 1), "-v", "0",
           "-o", os.path.join(workdir, "nutcracker.log")], FIRST_POOL_PORT)
    for i in range(len(TWEMPROXY)):
        wait_port(FIRST_POOL_PORT + i, processes[-1])

    version = subprocess.run(["nutcracker", "-V"], capture_output=True, text=True)
    print("    // twemproxy " + (version.stdout + version.stderr).split()[2])
    for i, (dist, hash_, servers, tag, redis, keyset) in enumerate(TWEMPROXY):
        keys = TAGGED_KEYS if keyset == "tagged" else KEYS
        ports = [p for _, p, _, _ in parse_servers(servers)]
        c = Conn(FIRST_POOL_PORT + i)
        if redis:
            for port in REDIS_PORTS:
                rc = Conn(port)
                redis_cmd(rc, b"FLUSHALL")
                rc.close()
            for k in keys:
                assert redis_cmd(c, b"SET", k, b"x") == b"+OK", k
            digits = placement(ports, keys, redis_holds)
            # An empty key (redis allows one) shows what twemproxy hashes for it.
            assert redis_cmd(c, b"SET", b"", b"x") == b"+OK"
            empty = placement(ports, [b""], redis_holds)
            print(f"    // pool {dist} {hash_} {servers}: the empty key is on server {empty}")
        else:
            mc_flush(MEMCACHED_PORTS)
            for k in keys:
                c.send(b"set " + k + b" 0 0 1\r\nx\r\n")
                assert c.line() == b"STORED", k
            digits = placement(ports, keys, mc_holds)
        c.close()
        note = "twemproxy" + (", redis" if redis else "")
        print(swift_line(dist, hash_, servers, tag, keyset, digits, note))

    print("    // pylibmc " + pylibmc.__version__ + ", libmemcached " + pylibmc.libmemcached_version)
    for behaviors, servers in PYLIBMC:
        mc_flush(MEMCACHED_PORTS)
        parsed = parse_servers(servers)
        try:
            client = pylibmc.Client([f"{h}:{p}:{w}" for h, p, w, _ in parsed],
                                    behaviors=dict(behaviors))
        except pylibmc.Error as error:  # e.g. hsieh, when libmemcached was built without it
            print(f"    // pylibmc {behaviors!r}: {error}".replace('"', "'"))
            continue
        for k in KEYS:
            assert client.set(k, b"x"), k
        client.disconnect_all()
        digits = placement([p for _, p, _, _ in parsed], KEYS, mc_holds)
        note = "pylibmc " + repr(behaviors).replace('"', "'")
        if behaviors.get("ketama_weighted"):
            # libmemcached's weighted continuum is twemproxy's ketama (md5 key hash too).
            print(swift_line("ketama", "md5", servers, "", "plain", digits, note))
        else:
            h = PYLIBMC_HASH.get(behaviors.get("hash"), behaviors.get("hash"))
            print(swift_line("libmemcached_ketama", h, servers, "", "plain", digits, note))


if __name__ == "__main__":
    main()
