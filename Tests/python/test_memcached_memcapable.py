"""memcapable (libmemcached's protocol conformance checker, ASCII tests only) against a fresh
memcached, then through the proxy with one and with three clusters: the proxy must pass every test
memcached passes. memcapable flushes the server between tests, so the proxy runs with allowFlush.

Debian's libmemcached-tools installs it as `memccapable` (the libmemcached-awesome fork renames
its tools memc*); an upstream build calls it `memcapable`.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from conftest import Stack

MEMCAPABLE = shutil.which("memcapable") or shutil.which("memccapable")
# "ascii set noreply                       [pass]" (name on stdout, status on stderr)
RESULT = re.compile(r"^(ascii [a-z_ ]+?)\s+\[(pass|fail|skip)\]\s*$", re.M | re.I)

pytestmark = pytest.mark.skipif(MEMCAPABLE is None, reason="memcapable not installed (libmemcached-tools)")


def memcapable(port: int, timeout: float = 90.0) -> tuple[dict[str, str], str]:
    """Runs `memcapable -a` against 127.0.0.1:port; returns ({test name: pass|fail|skip}, output)."""
    try:
        # one pipe for both: the test name goes to stdout, a failure's details to stderr
        proc = subprocess.run([MEMCAPABLE, "-a", "-h", "127.0.0.1", "-p", str(port), "-t", "5"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace")
        raise AssertionError(f"memcapable did not finish within {timeout}s:\n{out}") from None
    out = proc.stdout.decode(errors="replace")
    results = {}
    for m in RESULT.finditer(out):
        results[m.group(1)] = m.group(2).lower()
    return results, out


@pytest.fixture(scope="module")
def baseline(module_stack: Stack) -> dict[str, str]:
    """What a fresh memcached passes."""
    server = module_stack.memcached_server()
    results, out = memcapable(server.port)
    assert results, f"could not parse memcapable's output:\n{out}"
    return results


def test_memcached_passes_memcapable(baseline: dict[str, str]):
    # the reference itself: memcached 1.6 passes every ASCII test memcapable has
    assert len(baseline) >= 20, baseline
    failed = sorted(t for t, r in baseline.items() if r != "pass")
    assert not failed, f"memcached itself fails {failed}"


@pytest.mark.proxy_only
@pytest.mark.parametrize("clusters", [1, 3])
def test_proxy_passes_what_memcached_passes(stack: Stack, baseline: dict[str, str], clusters: int):
    ep = stack.mc_endpoint(clusters=clusters, config_extra={"allowFlush": True})
    results, out = memcapable(ep.port)
    missing = sorted(set(baseline) - set(results))
    regressions = sorted(t for t, r in baseline.items() if r == "pass" and results.get(t) != "pass")
    assert not missing and not regressions, (
        f"through the proxy ({clusters} clusters): failed {regressions}, did not run {missing}\n{out}\n"
        + ep.server.describe())
    assert ep.server.running
