"""memcached client libraries, unchanged, through the proxy (issue #4): pymemcache, pylibmc
(libmemcached, text protocol), python-memcached and meta-memcache (meta protocol).

Each client does the same things: a multi-get of 100 keys, values with every byte value, values
just under 1 MB, its own type flags, noreply writes, and a cas round trip; expiry is checked for all
of them at once (one wait). What the client reads back is compared with what it wrote, and what
the backend memcached holds is read directly (a raw connection to it), so a proxy that answered
from somewhere else, or mangled a value, fails. With METACLUSTER_TARGET=direct the same tests run
against memcached itself.
"""

from __future__ import annotations

import random
import time
from typing import Any, Optional

import pylibmc
import memcache
import pytest
from meta_memcache import CacheClient, Key, MixedSerializer, ServerAddress, connection_pool_factory_builder
from pymemcache.client.base import Client as PymemcacheClient
from pymemcache.serde import pickle_serde

from conftest import McEndpoint
from mcproto import McConn

# memcached 1.6 with the default -I 1m stores values up to 1048576 - 60 bytes (item header, a
# one-byte key); 1 MiB - 1024 fits any key up to 250 bytes.
LARGE = 1024 * 1024 - 1024
ALL_BYTES = bytes(range(256))
# values a text-protocol parser might trip over
TRICKY = [
    ALL_BYTES,
    ALL_BYTES[::-1] * 8,
    b"\r\n",
    b"END\r\n",
    b"a\r\nEND\r\nVALUE x 0 1\r\ny\r\n",
    b"\x00" * 100,
    b" STORED\r\nHD\r\n",
    b"",
]


class Adapter:
    """One client library behind a common face; each method is the library's ordinary API."""

    name = ""
    # the client flags this library stores for an int, a str and a pickled dict
    type_flags: dict[str, int] = {}

    def set(self, key: str, value: Any, ttl: int = 0) -> bool: ...
    def set_noreply(self, key: str, value: bytes) -> None: ...
    def delete_noreply(self, key: str) -> None: ...
    def get(self, key: str) -> Any: ...
    def get_multi_after_noreply(self, keys: list[str]) -> dict[str, Any]:
        """A read on the connection the noreply writes went over."""
        return self.get_multi(keys)

    def get_multi(self, keys: list[str]) -> dict[str, Any]: ...
    def gets(self, key: str) -> tuple[Any, Any]: ...
    def cas(self, key: str, value: bytes, token: Any) -> bool: ...
    def close(self) -> None: ...


class Pymemcache(Adapter):
    name = "pymemcache"
    type_flags = {"int": 2, "str": 16, "pickle": 1}

    def __init__(self, port: int):
        self.c = PymemcacheClient(("127.0.0.1", port), serde=pickle_serde, connect_timeout=5, timeout=20,
                                  no_delay=True, default_noreply=False)

    def set(self, key, value, ttl=0):
        return self.c.set(key, value, expire=ttl, noreply=False)

    def set_noreply(self, key, value):
        self.c.set(key, value, noreply=True)

    def delete_noreply(self, key):
        self.c.delete(key, noreply=True)

    def get(self, key):
        return self.c.get(key)

    def get_multi(self, keys):
        return self.c.get_many(keys)

    def gets(self, key):
        return self.c.gets(key)

    def cas(self, key, value, token):
        return self.c.cas(key, value, token, noreply=False)

    def close(self):
        self.c.close()


class Pylibmc(Adapter):
    name = "pylibmc"
    type_flags = {"int": 4, "str": 16, "pickle": 1}

    def __init__(self, port: int):
        behaviors = {"cas": True, "tcp_nodelay": True, "receive_timeout": 20_000_000,
                     "send_timeout": 20_000_000, "connect_timeout": 5000}
        self.c = pylibmc.Client([f"127.0.0.1:{port}"], binary=False, behaviors=behaviors)
        # a second client of the same library with libmemcached's noreply behaviour
        self.quiet = pylibmc.Client([f"127.0.0.1:{port}"], binary=False,
                                    behaviors={**behaviors, "_noreply": True})

    def set(self, key, value, ttl=0):
        return self.c.set(key, value, time=ttl)

    def set_noreply(self, key, value):
        self.quiet.set(key, value)

    def delete_noreply(self, key):
        self.quiet.delete(key)

    def get_multi_after_noreply(self, keys):
        # libmemcached buffers noreply writes; a read on the same client sends them first
        return self.quiet.get_multi(keys)

    def get(self, key):
        return self.c.get(key)

    def get_multi(self, keys):
        return self.c.get_multi(keys)

    def gets(self, key):
        return self.c.gets(key)

    def cas(self, key, value, token):
        return self.c.cas(key, value, token)

    def close(self):
        self.c.disconnect_all()
        self.quiet.disconnect_all()


class PythonMemcached(Adapter):
    name = "python-memcached"
    type_flags = {"int": 2, "str": 16, "pickle": 1}

    def __init__(self, port: int):
        self.c = memcache.Client([f"127.0.0.1:{port}"], cache_cas=True, socket_timeout=20, dead_retry=0)

    def set(self, key, value, ttl=0):
        return bool(self.c.set(key, value, time=ttl))

    def set_noreply(self, key, value):
        self.c.set(key, value, noreply=True)

    def delete_noreply(self, key):
        self.c.delete(key, noreply=True)

    def get(self, key):
        return self.c.get(key)

    def get_multi(self, keys):
        return self.c.get_multi(keys)

    def gets(self, key):
        value = self.c.gets(key)
        return value, self.c.cas_ids.get(key.encode(), self.c.cas_ids.get(key))

    def cas(self, key, value, token):
        # python-memcached keeps the token from gets() itself; put back the one asked for
        self.c.cas_ids[key.encode()] = token
        return bool(self.c.cas(key, value))

    def close(self):
        self.c.disconnect_all()


class UncompressedSerializer(MixedSerializer):
    COMPRESSION_THRESHOLD = 1 << 40


class MetaMemcache(Adapter):
    """meta-memcache speaks only the meta protocol (mg/ms/md/ma, q, b for non-ASCII keys). Its
    default MixedSerializer zlib-compresses values over 128 bytes; the serializer is injected (the
    library's design), so one with the threshold out of reach sends the exact bytes across the proxy
    and they can be checked on the backend."""

    name = "meta-memcache"
    type_flags = {"int": 2, "str": 0, "pickle": 1}

    def __init__(self, port: int):
        self.c = CacheClient.cache_client_from_servers(
            servers=[ServerAddress(host="127.0.0.1", port=port)],
            connection_pool_factory_fn=connection_pool_factory_builder(connection_timeout=5, recv_timeout=20,
                                                                       read_buffer_size=65536),
            serializer=UncompressedSerializer())

    @staticmethod
    def k(key: str) -> Key:
        return Key(key)

    def set(self, key, value, ttl=0):
        return self.c.set(self.k(key), value, ttl=ttl)

    def set_noreply(self, key, value):
        self.c.set(self.k(key), value, ttl=0, no_reply=True)

    def delete_noreply(self, key):
        self.c.delete(self.k(key), no_reply=True)

    def get(self, key):
        return self.c.get(self.k(key))

    def get_multi(self, keys):
        got = self.c.multi_get([self.k(k) for k in keys])
        return {k.key: v for k, v in got.items() if v is not None}

    def gets(self, key):
        return self.c.get_cas(self.k(key))

    def cas(self, key, value, token):
        return self.c.set(self.k(key), value, ttl=0, cas_token=token)

    def close(self):
        pass


ADAPTERS = {a.name: a for a in (Pymemcache, Pylibmc, PythonMemcached, MetaMemcache)}


@pytest.fixture(params=list(ADAPTERS))
def client(request, mc: McEndpoint) -> Adapter:
    return mc.keep(ADAPTERS[request.param](mc.port))


@pytest.fixture
def backend(mc: McEndpoint) -> McConn:
    """A raw connection to the memcached behind the endpoint (dc-a)."""
    return mc.keep(McConn(mc.backend.port))


def stored(backend: McConn, key: str) -> Optional[bytes]:
    return backend.get(key)


def test_multi_get_of_100_keys(client: Adapter, backend: McConn):
    keys = [f"{client.name}:multi:{i}" for i in range(100)]
    for i, k in enumerate(keys):
        assert client.set(k, f"value-{i}-".encode() * (i % 7 + 1)) is True, k
    missing = [f"{client.name}:absent:{i}" for i in range(10)]
    asked = keys + missing
    random.Random(4).shuffle(asked)
    got = client.get_multi(asked)
    assert set(got) == set(keys), f"missing {sorted(set(keys) - set(got))[:5]}, extra {sorted(set(got) - set(keys))[:5]}"
    for i, k in enumerate(keys):
        assert got[k] == f"value-{i}-".encode() * (i % 7 + 1), k
    # the backend holds the same (a raw multi-get straight to it)
    direct = backend.cmd("get", *keys).values()
    assert {k.decode(): v for k, v in direct.items()} == got


def test_values_with_every_byte(client: Adapter, backend: McConn):
    for i, value in enumerate(TRICKY):
        key = f"{client.name}:bytes:{i}"
        assert client.set(key, value) is True, (key, value[:20])
        assert client.get(key) == value, key
        assert stored(backend, key) == value, f"{key}: the backend holds something else"
    got = client.get_multi([f"{client.name}:bytes:{i}" for i in range(len(TRICKY))])
    assert [got.get(f"{client.name}:bytes:{i}") for i in range(len(TRICKY))] == TRICKY


def test_values_just_under_one_megabyte(client: Adapter, backend: McConn):
    rng = random.Random(7)
    values = {f"{client.name}:large:{n}": rng.randbytes(n) for n in (LARGE, 512 * 1024 + 1, 100_000)}
    for key, value in values.items():
        assert client.set(key, value) is True, f"{key}: {len(value)} bytes not stored"
    for key, value in values.items():
        got = client.get(key)
        assert got is not None and len(got) == len(value) and got == value, f"{key}: read back differs"
        assert stored(backend, key) == value, f"{key}: the backend holds something else"
    got = client.get_multi(list(values))
    assert got == values


def test_type_flags_round_trip(client: Adapter, backend: McConn):
    objects = {"int": 42, "str": "héllo wörld", "pickle": {"a": [1, 2, 3], "b": None}}
    for kind, obj in objects.items():
        assert client.set(f"{client.name}:typed:{kind}", obj) is True
    for kind, obj in objects.items():
        key = f"{client.name}:typed:{kind}"
        got = client.get(key)
        assert got == obj and type(got) is type(obj), f"{kind}: wrote {obj!r}, read {got!r}"
        item = backend.get_item(key)
        assert item is not None and item.flags == client.type_flags[kind], (
            f"{kind}: flags on the backend {item and item.flags}, expected {client.type_flags[kind]}")


def test_explicit_flags_pass_through(mc: McEndpoint, backend: McConn):
    """pymemcache lets the caller choose the flags: every 32-bit value must survive."""
    c = mc.keep(PymemcacheClient(("127.0.0.1", mc.port), connect_timeout=5, timeout=20, default_noreply=False))
    for flags in (0, 1, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF):
        key = f"flags:{flags}"
        assert c.set(key, b"v", flags=flags, noreply=False) is True
        assert c.raw_command(f"get {key}", b"END\r\n") == f"VALUE {key} {flags} 1\r\nv\r\n".encode()
        assert backend.get_item(key).flags == flags


def test_noreply_writes(client: Adapter, backend: McConn):
    """noreply writes leave no reply behind: the next normal request on the same client reads its
    own answer (a stray STORED would desynchronise the client)."""
    keys = [f"{client.name}:noreply:{i}" for i in range(50)]
    for i, k in enumerate(keys):
        client.set_noreply(k, b"v%d" % i)
    for k in keys[:10]:
        client.delete_noreply(k)
    got = client.get_multi_after_noreply(keys)
    assert got == {k: b"v%d" % i for i, k in enumerate(keys) if i >= 10}
    assert client.set(f"{client.name}:noreply:after", b"after") is True
    assert client.get(f"{client.name}:noreply:after") == b"after"
    assert stored(backend, keys[0]) is None and stored(backend, keys[49]) == b"v49"


def test_cas_round_trip(client: Adapter, backend: McConn):
    key = f"{client.name}:cas"
    assert client.set(key, b"one") is True
    value, token = client.gets(key)
    assert value == b"one" and token is not None
    assert client.cas(key, b"two", token) is True, "cas with the token from gets must succeed"
    assert client.get(key) == b"two"
    assert client.cas(key, b"three", token) is False, "a stale cas token must be refused (EXISTS)"
    assert client.get(key) == b"two"
    assert stored(backend, key) == b"two"
    value, token2 = client.gets(key)
    assert value == b"two" and token2 != token
    assert client.cas(key, b"four", token2) is True
    assert stored(backend, key) == b"four"


def test_meta_memcache_binary_keys(mc: McEndpoint, backend: McConn):
    """meta-memcache sends non-ASCII keys base64-encoded (the b flag)."""
    c = MetaMemcache(mc.port)
    keys = ["ключ-🍺", "clé avec espace", "日本語"]
    for i, k in enumerate(keys):
        assert c.c.set(Key(k), b"v%d" % i, ttl=0) is True
    for i, k in enumerate(keys):
        assert c.c.get(Key(k)) == b"v%d" % i
    import base64
    for i, k in enumerate(keys):
        r = backend.cmd("mg", base64.b64encode(k.encode()), "b", "v")
        assert r.code == b"VA" and r.value == b"v%d" % i, (k, r)


def test_expiry_with_every_client(mc: McEndpoint, backend: McConn):
    """A 2-second TTL set by each client: there at once, gone (for the client and on the backend)
    within a few seconds; a key without TTL stays."""
    clients = [mc.keep(cls(mc.port)) for cls in ADAPTERS.values()]
    for c in clients:
        assert c.set(f"{c.name}:ttl", b"short", ttl=2) is True
        assert c.set(f"{c.name}:forever", b"long") is True
    for c in clients:
        assert c.get(f"{c.name}:ttl") == b"short"
        ttl = backend.ttl(f"{c.name}:ttl")
        assert ttl is not None and 0 <= ttl <= 2, f"{c.name}: TTL on the backend {ttl}"
    deadline = time.monotonic() + 5
    left = list(clients)
    while left and time.monotonic() < deadline:
        left = [c for c in left if c.get(f"{c.name}:ttl") is not None]
        time.sleep(0.1)
    assert not left, f"still there after 5 s: {[c.name for c in left]}"
    for c in clients:
        assert stored(backend, f"{c.name}:ttl") is None
        assert c.get(f"{c.name}:forever") == b"long"
