# syntax=docker/dockerfile:1
# Metacluster container image.
#
#   docker build -t metacluster .
#   docker run --rm -p 6379:6379 -v "$PWD/config.json:/etc/metacluster/config.json:ro" metacluster
#
# The config's listen addresses must be 0.0.0.0:PORT (not 127.0.0.1) to be reachable from
# outside the container. Other arguments replace the default command, e.g.
#   docker run --rm -v ...:/etc/metacluster/config.json:ro metacluster --config /etc/metacluster/config.json --check

ARG SWIFT_VERSION=6.3

# ---- build: Swift toolchain on Debian bookworm ----------------------------------------------
FROM swift:${SWIFT_VERSION}-bookworm AS build
RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends pkg-config libhiredis-dev libev-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# dependencies first, so a source change does not refetch them
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product metacluster \
    && install -D -m 0755 "$(swift build -c release --show-bin-path)/metacluster" /out/metacluster \
    && ldd /out/metacluster

# ---- runtime: only the shared libraries the binary needs ------------------------------------
# With the Swift runtime and Foundation linked statically, `ldd` lists libhiredis.so.0.14,
# libev.so.4, libstdc++.so.6, libgcc_s.so.1 and libc (libstdc++6 is named although slim has it).
FROM debian:bookworm-slim
RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends libhiredis0.14 libev4 libstdc++6 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system metacluster \
    && useradd --system --gid metacluster --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin metacluster \
    && mkdir -p /etc/metacluster
COPY --from=build /out/metacluster /usr/local/bin/metacluster
COPY config.example.json /etc/metacluster/config.example.json
# fails the build if a shared library is missing
RUN ["/usr/local/bin/metacluster", "--version"]
USER metacluster
# redis, memcached, admin (as in config.example.json)
EXPOSE 6379 11211 9121
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/metacluster"]
CMD ["--config", "/etc/metacluster/config.json"]
