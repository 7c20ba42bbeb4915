// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Egress25",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "egress25d", targets: ["egress25d"]),
        .executable(name: "egress25ctl", targets: ["egress25ctl"]),
        .executable(name: "egress25-admin", targets: ["egress25-admin"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.2.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.0.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.0.0"..<"5.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.20.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-openapi-runtime.git", from: "1.13.0"),
        .package(url: "https://github.com/hummingbird-project/swift-openapi-hummingbird.git", from: "2.0.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
    ],
    targets: [
        // libnetfilter_queue + libmnl, and the few C macros Swift cannot import.
        .systemLibrary(
            name: "CNetfilterQueue",
            pkgConfig: "libnetfilter_queue",
            providers: [.apt(["libnetfilter-queue-dev", "libmnl-dev"])]
        ),
        .target(
            name: "NetfilterQueue",
            dependencies: ["CNetfilterQueue", "Egress25System"],
            swiftSettings: swiftSettings
        ),
        // The one home for OS calls: clocks, the EINTR-retrying syscall helper, errno descriptions.
        // The release version, written once (C, so that a stamped build relinks instead of rebuilding).
        .target(name: "CEgress25Version"),
        .target(name: "Egress25System", dependencies: ["CEgress25Version"], swiftSettings: swiftSettings),
        .target(
            name: "Egress25Core",
            dependencies: ["Egress25System"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Egress25Configuration",
            dependencies: [
                "Egress25Core",
                "Egress25System",
                "ExceptionStore",
                "RadiusAccounting",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KernelRules",
            dependencies: ["Egress25Configuration", "Egress25Core", "Egress25System"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ExceptionStore",
            dependencies: [
                "BlockLog",
                "Egress25Core",
                "Egress25System",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "BlockLog",
            dependencies: [
                "Egress25Core",
                "Egress25System",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Atomics", package: "swift-atomics"),
            ],
            swiftSettings: swiftSettings
        ),
        // RFC 2866 Accounting-Request/Response codec (issue 15's session feed): pure, no I/O.
        .target(
            name: "RadiusAccounting",
            dependencies: ["Egress25Core", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        // What egress25ctl and egress25-admin both do (explain a verdict, read the block log, parse a grant), written
        // once so the CLI and the API cannot drift.
        .target(
            name: "Egress25Operations",
            dependencies: ["BlockLog", "Egress25Configuration", "Egress25Core", "ExceptionStore"],
            swiftSettings: swiftSettings
        ),
        // The admin web console's presentation: Mustache templates, CSS, JavaScript and the timeline SVG, all
        // embedded as Swift strings. No server, no store: view models in, HTML out.
        .target(
            name: "Egress25Console",
            dependencies: [
                "Egress25Core",
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Egress25Daemon",
            dependencies: [
                "Egress25Core",
                "Egress25System",
                "Egress25Configuration",
                "NetfilterQueue",
                "ExceptionStore",
                "BlockLog",
                "KernelRules",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        // egress25-admin, the control-plane server: the HTTP API (/api/v1), the web console, suspects and their
        // webhook.
        .target(
            name: "Egress25Admin",
            dependencies: [
                "BlockLog",
                "Egress25Configuration",
                "Egress25Core",
                "Egress25Operations",
                "Egress25AdminAPI",
                "Egress25Console",
                "ExceptionStore",
                "RadiusAccounting",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "OpenAPIHummingbird", package: "swift-openapi-hummingbird"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "egress25-admin",
            dependencies: [
                "Egress25Admin",
                "Egress25Configuration",
                "Egress25Operations",
                "Egress25System",
                "ExceptionStore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "egress25d",
            dependencies: [
                "Egress25Daemon",
                "Egress25Configuration",
                "Egress25System",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "egress25ctl",
            dependencies: [
                "Egress25Core",
                "Egress25System",
                "Egress25Configuration",
                "Egress25Operations",
                "KernelRules",
                "ExceptionStore",
                "BlockLog",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        // The admin API (egress25-admin): types and server protocol generated from openapi.yaml by
        // scripts/generate-openapi.sh into GeneratedSources (committed; no build plugin), and the document itself.
        .target(
            name: "Egress25AdminAPI",
            dependencies: [.product(name: "OpenAPIRuntime", package: "swift-openapi-runtime")],
            exclude: ["openapi.yaml", "openapi-generator-config.yaml"],
            swiftSettings: swiftSettings
        ),
        // Benchmarks of Egress25Core: `swift run -c release Egress25CoreBenchmarks`.
        .target(
            name: "CAllocationCounter",
            path: "Benchmarks/CAllocationCounter"
        ),
        .executableTarget(
            name: "Egress25CoreBenchmarks",
            dependencies: ["Egress25Core", "CAllocationCounter"],
            path: "Benchmarks/Egress25CoreBenchmarks"
        ),
        // Hot-path benchmarks of egress25d (verdict encoding, block-log ring and aggregation, per-packet path):
        // `swift run -c release Egress25Benchmarks`.
        .executableTarget(
            name: "Egress25Benchmarks",
            dependencies: [
                "Egress25Core",
                "Egress25Daemon",
                "NetfilterQueue",
                "BlockLog",
                "CAllocationCounter",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/Egress25Benchmarks",
            swiftSettings: swiftSettings
        ),
        // One copy of what the test targets share: network namespaces and the e2e topology, the process runner,
        // temporary directories, the root check and a seeded random number generator.
        .target(
            name: "Egress25TestSupport",
            dependencies: ["KernelRules"],
            path: "Tests/Egress25TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "Egress25CoreTests",
            dependencies: [
                "Egress25Core",
                "Egress25TestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RadiusAccountingTests",
            dependencies: ["RadiusAccounting", "Egress25Core"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "Egress25ConsoleTests",
            dependencies: ["Egress25Console"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NetfilterQueueTests",
            dependencies: ["NetfilterQueue"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "Egress25ConfigurationTests",
            dependencies: [
                "Egress25Configuration", "Egress25Core", "ExceptionStore", "Egress25TestSupport", "RadiusAccounting",
            ],
            swiftSettings: swiftSettings
        ),
        // Rendering, installing (in throwaway network namespaces, as root) and the rules on real packets.
        .testTarget(
            name: "KernelRulesTests",
            dependencies: ["KernelRules", "Egress25Configuration", "Egress25Core", "Egress25TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ExceptionStoreTests",
            dependencies: [
                "ExceptionStore",
                "Egress25Core",
                "Egress25TestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        // `swift run -c release BlockLogBenchmarks`: writer throughput and abuse-desk query latency.
        .executableTarget(
            name: "BlockLogBenchmarks",
            dependencies: [
                "BlockLog",
                "Egress25Core",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/BlockLogBenchmarks",
            swiftSettings: swiftSettings
        ),
        // `swift run -c release FleetBenchmarks ingest|queries|load-sessions|churn`: the fleet store (issue 13) on a
        // real PostgreSQL; driven by Benchmarks/run-fleet-*.sh.
        .executableTarget(
            name: "FleetBenchmarks",
            dependencies: ["ExceptionStore", "BlockLog", "Egress25Core"],
            path: "Benchmarks/FleetBenchmarks",
            swiftSettings: swiftSettings
        ),
        // `AdminBenchmarks load|seed|urls`: egress25-admin (issue 14) under an open-loop HTTP load, and its
        // benchmark store; driven by Benchmarks/run-admin-bench.sh.
        .executableTarget(
            name: "AdminBenchmarks",
            dependencies: [
                "ExceptionStore",
                "Egress25Core",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Benchmarks/AdminBenchmarks",
            swiftSettings: swiftSettings
        ),
        // RADIUS accounting load for egress25-admin's session feed (open loop, and a login storm); driven by
        // Benchmarks/run-radius-bench.sh.
        .executableTarget(
            name: "RadiusBenchmarks",
            dependencies: ["RadiusAccounting", "Egress25Core"],
            path: "Benchmarks/RadiusBenchmarks",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BlockLogTests",
            dependencies: [
                "BlockLog",
                "Egress25Core",
                .product(name: "GRDB", package: "GRDB.swift"),
                "Egress25TestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "Egress25DaemonTests",
            dependencies: [
                "ExceptionStore",
                "Egress25Daemon",
                "Egress25Core",
                "Egress25System",
                "Egress25Configuration",
                "NetfilterQueue",
                "BlockLog",
                "Egress25TestSupport",
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "Egress25AdminTests",
            dependencies: [
                "Egress25Admin",
                "Egress25Configuration",
                "Egress25Core",
                "Egress25Operations",
                "ExceptionStore",
                "BlockLog",
                "Egress25TestSupport",
                "RadiusAccounting",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Runs the built egress25d/egress25ctl against the real kernel in network
        // namespaces it creates; skipped (with a message) when not root.
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["Egress25TestSupport"],
            exclude: ["Scripts"],
            swiftSettings: swiftSettings
        ),
    ]
)
