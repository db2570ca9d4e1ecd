# shellcheck shell=bash
# Shared helpers for scripts/run-local, scripts/test and scripts/bench. Source it; do not run it.
#
#   mc_ensure_apt PKG...      install the Debian packages that are missing (apt-get update once)
#   mc_ensure_python_reqs     install Tests/python/requirements.txt when a package of it is missing
#   mc_build_release          swift build -c release
#   mc_port_busy PORT         true when something accepts on 127.0.0.1:PORT
#   mc_wait_port PORT SECS PID  wait until PORT accepts (fails early if PID dies)

MC_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export MC_ROOT

mc_log()  { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
mc_warn() { printf 'warning: %s\n' "$*" >&2; }
mc_die()  { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run as root, or through sudo when we are not root and sudo exists.
mc_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        mc_die "need root to run: $* (not root and no sudo)"
    fi
}

MC_APT_UPDATED=0
mc_ensure_apt() {
    local missing=() pkg
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$pkg")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 || mc_die "missing packages (${missing[*]}) and no apt-get: install them by hand"
    mc_log "installing missing packages: ${missing[*]}"
    if [ "$MC_APT_UPDATED" -eq 0 ]; then
        mc_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        MC_APT_UPDATED=1
    fi
    mc_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# shellcheck disable=SC2034  # used by the scripts that source this file
# Build and run-time packages of the proxy, and the servers run-local starts.
MC_APT_BASE=(pkg-config libhiredis-dev libev-dev redis-server redis-tools memcached)
# shellcheck disable=SC2034
# What the tests and the benchmark need on top: memccapable (libmemcached-tools; Debian names the
# libmemcached-awesome tools memc*), what pylibmc needs to build where no wheel fits, and headless
# Chromium with a font for the status page's screenshot and rendered DOM (scripts/status-screenshot,
# test_admin_status.py).
MC_APT_TEST=(nutcracker libmemcached-tools libmemcached-dev zlib1g-dev chromium fonts-dejavu-core)

mc_python() {
    if command -v python3 >/dev/null 2>&1; then
        echo python3
    else
        mc_ensure_apt python3 python3-pip python3-venv
        echo python3
    fi
}

# redis-py 8, pytest and the memcached clients, from Tests/python/requirements.txt, only when missing.
mc_ensure_python_reqs() {
    local py req
    py="$(mc_python)"
    req="$MC_ROOT/Tests/python/requirements.txt"
    if "$py" -c 'import sys, redis, pytest, pymemcache, pylibmc, memcache, meta_memcache, prometheus_client; sys.exit(0 if redis.__version__.split(".")[0] == "8" else 1)' 2>/dev/null; then
        return 0
    fi
    mc_log "installing Python packages from Tests/python/requirements.txt"
    if ! "$py" -m pip --version >/dev/null 2>&1; then
        mc_ensure_apt python3-pip
    fi
    if ! "$py" -m pip install -q --disable-pip-version-check -r "$req" 2>/tmp/mc-pip.err; then
        if grep -q externally-managed /tmp/mc-pip.err; then
            # Debian's own python3 refuses system-wide pip installs (PEP 668); the packages are
            # test-only, so override rather than require a venv.
            "$py" -m pip install -q --disable-pip-version-check --break-system-packages -r "$req"
        else
            cat /tmp/mc-pip.err >&2
            mc_die "pip install -r $req failed"
        fi
    fi
}

mc_swift() {
    command -v swift >/dev/null 2>&1 || {
        [ -x /opt/swift/usr/bin/swift ] && PATH="/opt/swift/usr/bin:$PATH" && export PATH
    }
    command -v swift >/dev/null 2>&1 || mc_die "swift not found on PATH (expected the Swift 6 toolchain)"
}

mc_build_release() {
    mc_swift
    mc_log "swift build -c release"
    (cd "$MC_ROOT" && swift build -c release)
}

# True when something accepts TCP connections on 127.0.0.1:PORT.
mc_port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Wait until 127.0.0.1:PORT accepts; fail if PID (optional) exits first.
mc_wait_port() {
    local port=$1 secs=${2:-10} pid=${3:-} i
    for ((i = 0; i < secs * 20; i++)); do
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        mc_port_busy "$port" && return 0
        sleep 0.05
    done
    return 1
}
