// swift-tools-version:6.0
import PackageDescription

// Layers (dependencies point one way, the compiler enforces them):
//   CShims/CLibev/CHiredis  ->  EventLoop, RedisProtocol, MemcachedProtocol, Routing  ->  Proxy  ->  metacluster
// EventLoop knows nothing of Redis or memcached; the protocol codecs know nothing of sockets.
// Release builds skip run-time exclusivity checks in the hot modules: profiling showed
// swift_beginAccess at about 5% of the proxy's CPU; debug builds (and so the tests) keep them.
let hotPathSettings: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "metacluster",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "metacluster", targets: ["metacluster"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.1.0"),
    ],
    targets: [
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(name: "CLibev", providers: [.apt(["libev-dev"])]),
        .target(name: "CShims", dependencies: ["CLibev"], linkerSettings: [.linkedLibrary("ev")]),
        .target(
            name: "EventLoop",
            dependencies: [
                "CShims",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: hotPathSettings
        ),
        .target(name: "RedisProtocol", dependencies: ["CHiredis"], swiftSettings: hotPathSettings),
        .target(name: "MemcachedProtocol", swiftSettings: hotPathSettings),
        .target(name: "Routing", swiftSettings: hotPathSettings),
        // The on-disk log behind the per-server write backlog (#7): system calls through EventLoop's Posix.
        .target(name: "DurableLog", dependencies: ["EventLoop"], swiftSettings: hotPathSettings),
        .target(
            name: "Proxy",
            dependencies: [
                "EventLoop",
                "RedisProtocol",
                "MemcachedProtocol",
                "Routing",
                "DurableLog",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: hotPathSettings
        ),
        .executableTarget(
            name: "metacluster",
            dependencies: [
                "Proxy",
                "EventLoop",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // What several test targets share (a seeded generator, spawning real servers); tests only.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "EventLoopTests", dependencies: ["EventLoop"]),
        .testTarget(name: "RedisProtocolTests", dependencies: ["RedisProtocol", "TestSupport"]),
        .testTarget(name: "MemcachedProtocolTests", dependencies: ["MemcachedProtocol", "TestSupport"]),
        .testTarget(name: "RoutingTests", dependencies: ["Routing", "TestSupport"]),
        .testTarget(name: "DurableLogTests", dependencies: ["DurableLog", "EventLoop", "TestSupport"]),
        .testTarget(name: "ProxyTests", dependencies: ["Proxy", "Routing", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
