// swift-tools-version:6.1
import PackageDescription

/// Non-isolated async functions run on their caller's executor (SE-0461). Without it every call
/// of one asked the runtime for the task's preferred executor under a lock (3 % of the gateway's
/// CPU): a request's task already runs on its connection's event loop and has no reason to move.
let callerExecutorByDefault = SwiftSetting.enableUpcomingFeature("NonisolatedNonsendingByDefault")

let package = Package(
    name: "switchyard",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "switchyard", targets: ["switchyard"]),
        // Libraries for the microbenchmarks in Benchmarks/ (a separate package).
        .library(name: "SwitchyardCore", targets: ["SwitchyardCore"]),
        .library(name: "WireFormats", targets: ["WireFormats"]),
        .library(name: "Routing", targets: ["Routing"]),
        // For bench/pgclients (libpq through SQLStore against postgres-nio).
        .library(name: "Storage", targets: ["Storage"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        // Already in the build through AsyncHTTPClient; named for the upstream TLS configuration.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        // Traces: the tracing API the pipeline records through (our recorder and OTLP exporter are
        // in Telemetry; see its Telemetry.swift for why not swift-otel's tracer).
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        // Metrics: the API the data plane records through (see Observability's
        // RegistryMetricsFactory.swift). Already in the build through Hummingbird.
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        // Its registry renders /metrics (Prometheus' text format).
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // Its metrics backend pushes the same series over OTLP/HTTP; only that exporter is built
        // (no gRPC).
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        // System libraries: the Debian packages libsqlite3-dev and libpq-dev (scripts/install-deps.sh).
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CLibPQ", path: "Sources/CLibPQ", providers: [.apt(["libpq-dev"])]),
        // hiredis, Redis's official C client (Debian libhiredis-dev), for the fleet's shared quotas.
        .systemLibrary(name: "CHiredis", path: "Sources/CHiredis", providers: [.apt(["libhiredis-dev"])]),

        .target(
            name: "SwitchyardCore",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]
        ),
        .target(
            name: "SwitchyardConfig",
            dependencies: ["SwitchyardCore", .product(name: "Yams", package: "Yams")]
        ),
        .target(name: "WireFormats", dependencies: ["SwitchyardCore"]),
        // HTTP/1.1 syntax shared by the server (Ingress) and the upstream client (Providers).
        .target(name: "HTTPWire", dependencies: [.product(name: "NIOCore", package: "swift-nio")]),
        // The HTTP/1.1 server: no domain type (see its Ingress.swift).
        .target(
            name: "Ingress",
            dependencies: [
                "HTTPWire",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [callerExecutorByDefault]
        ),
        .target(
            name: "Providers",
            dependencies: [
                "SwitchyardCore", "WireFormats", "HTTPWire",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: [callerExecutorByDefault]
        ),
        .target(name: "Routing", dependencies: ["SwitchyardCore"]),
        // Anomalies in the gateway's traffic become incidents with a probable cause (see its Incidents.swift).
        .target(name: "Incidents", dependencies: ["SwitchyardCore"]),
        // Canary-fact probes of long-context recall: prompts, grading, quality scores, drift (see its Probes.swift).
        .target(name: "Probes", dependencies: ["SwitchyardCore"]),
        .target(
            name: "Storage",
            dependencies: ["SwitchyardCore", "CSQLite", "CLibPQ"]
        ),
        .target(name: "FinOps", dependencies: ["SwitchyardCore", "WireFormats"]),
        .target(
            name: "Ledger",
            dependencies: [
                "SwitchyardCore", "Storage",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "Observability",
            dependencies: [
                "SwitchyardCore", .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // Traces recorded behind the swift-distributed-tracing API and exported over OTLP/HTTP (see its Telemetry.swift).
        .target(
            name: "Telemetry",
            dependencies: [
                "SwitchyardCore",
                "Observability",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "OTel", package: "swift-otel"),
            ]
        ),
        .target(
            name: "Governance",
            dependencies: [
                "SwitchyardCore", "Storage",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Quotas shared by a fleet of replicas, leased from Redis (see its FleetState.swift).
        .target(name: "FleetState", dependencies: ["CHiredis", "Governance", "SwitchyardCore"]),
        // The request pipeline (see its DataPlane.swift).
        .target(
            name: "DataPlane",
            dependencies: [
                "SwitchyardCore", "SwitchyardConfig", "WireFormats", "Providers", "Routing", "Storage", "Ledger",
                "Observability", "Governance", "Ingress", "Telemetry", "Incidents",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [callerExecutorByDefault]
        ),
        // The admin API, operations endpoints and background watchers (see its ControlPlane.swift).
        .target(
            name: "ControlPlane",
            dependencies: [
                "DataPlane", "SwitchyardCore", "SwitchyardConfig", "WireFormats", "Providers", "Routing", "Storage", "Ledger",
                "FinOps", "Governance", "Incidents", "Probes",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [callerExecutorByDefault]
        ),
        .executableTarget(
            name: "switchyard",
            dependencies: [
                "DataPlane", "ControlPlane", "FleetState", "Ingress", "Ledger", "Governance", "Providers", "FinOps", "Incidents",
                "Observability", "Routing", "Storage", "SwitchyardConfig", "SwitchyardCore", "Telemetry", "WireFormats",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            // jemalloc instead of glibc's allocator: ~6 % fewer instructions per proxied request
            // (README, "Performance"); a Debian package, installed by scripts/install-deps.sh.
            linkerSettings: [.linkedLibrary("jemalloc", .when(platforms: [.linux]))]
        ),

        .testTarget(name: "SwitchyardCoreTests", dependencies: ["SwitchyardCore"]),
        .testTarget(name: "ConfigurationTests", dependencies: ["SwitchyardConfig", "SwitchyardCore"]),
        .testTarget(name: "WireFormatsTests", dependencies: ["WireFormats", "SwitchyardCore"]),
        // The engines store-backed tests run on (SQLite, and PostgreSQL when a server is given).
        .target(name: "TestSupport", dependencies: ["Storage", "SwitchyardCore"], path: "Tests/TestSupport"),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "FinOps", "TestSupport", "SwitchyardCore"]),
        .testTarget(name: "RoutingTests", dependencies: ["Routing", "SwitchyardCore"]),
        .testTarget(name: "IncidentsTests", dependencies: ["Incidents", "SwitchyardCore"]),
        .testTarget(name: "ProbesTests", dependencies: ["Probes", "SwitchyardCore"]),
        .testTarget(
            name: "TelemetryTests",
            dependencies: [
                "Telemetry", "Observability", "SwitchyardCore", .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"), .product(name: "OTel", package: "swift-otel"),
            ]
        ),
        .testTarget(
            name: "LedgerTests",
            dependencies: [
                "Ledger", "Storage", "SwitchyardCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(name: "GovernanceTests", dependencies: ["Governance", "SwitchyardCore"]),
        .testTarget(
            name: "FleetStateTests",
            dependencies: [
                "FleetState", "Governance", "Routing", "SwitchyardCore", .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "FinOpsTests", dependencies: ["FinOps", "SwitchyardConfig", "SwitchyardCore"]),
        .testTarget(
            name: "IngressTests",
            dependencies: [
                "Ingress",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "GatewayTests",
            dependencies: [
                "DataPlane", "ControlPlane", "Governance", "Ledger", "Observability", "Providers", "Storage", "SwitchyardConfig",
                "SwitchyardCore", "TestSupport", "WireFormats",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)
