// swift-tools-version:6.2
import PackageDescription

/// Settings for the project's own targets: Swift 6 mode (strict concurrency) and no warnings.
let strict: [SwiftSetting] = [
    .treatAllWarnings(as: .error),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "dataverket",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "dataverket", targets: ["dataverket"]),
        .executable(name: "dv", targets: ["dv"]),
        .executable(name: "dvid", targets: ["dvid"]),
        .executable(name: "dvce", targets: ["dvce"]),
        .executable(name: "dvnet", targets: ["dvnet"]),
        .executable(name: "dv-bench", targets: ["dv-bench"]),
        .library(name: "DataverketClient", targets: ["DataverketClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        .package(url: "https://github.com/apple/swift-openapi-generator.git", from: "1.14.0"),
        .package(url: "https://github.com/apple/swift-openapi-runtime.git", from: "1.13.0"),
        .package(url: "https://github.com/hummingbird-project/swift-openapi-hummingbird.git", from: "2.1.0"),
        .package(url: "https://github.com/swift-server/swift-openapi-async-http-client.git", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/vapor/postgres-kit.git", from: "2.17.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.0"),
        .package(url: "https://github.com/vapor/sqlite-kit.git", from: "4.5.0"),
        .package(url: "https://github.com/vapor/sql-kit.git", from: "3.36.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.29.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.0.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.0"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.0"),
    ],
    targets: [
        // The layers (docs/architecture.md draws them; ArchitectureTests enforces them). A target depends only on
        // targets of the layers below it.

        // MARK: - 1. Core: no I/O

        // Identifiers, names, errors, the event envelope, the operation context, cross-service contracts.
        .target(
            name: "DataverketCore",
            dependencies: [.product(name: "Logging", package: "swift-log"), .product(name: "Yams", package: "Yams")],
            swiftSettings: strict
        ),
        // The network intent, its verifier, diff, fabric generator and renderers: pure, shared by Nett and the CLI.
        .target(
            name: "NettIntent",
            dependencies: ["DataverketCore", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict
        ),

        // MARK: - 2. Store, wire client, processes

        // One SQL layer (sql-kit) over embedded SQLite and PostgreSQL: migrations, keyset paging, column helpers.
        .target(
            name: "DataverketStore",
            dependencies: [
                "DataverketCore",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SQLiteKit", package: "sqlite-kit"),
                .product(name: "PostgresKit", package: "postgres-kit"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // NATS client on SwiftNIO: core protocol, request/reply, reconnect, TLS, JetStream. Knows nothing of Dataverket.
        .target(
            name: "NATS",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Running programs (ipmitool, nft, vtysh, ovs-vsctl) with a time limit, bounded output and an explicit environment.
        .target(
            name: "DataverketProcess",
            dependencies: ["DataverketCore"],
            swiftSettings: strict
        ),

        // MARK: - 3. Bus

        // The Bus: JetStream (production) and in-process (embedded) behind one protocol.
        .target(
            name: "DataverketBus",
            dependencies: [
                "DataverketCore", "NATS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),

        // MARK: - 4. Task engine

        // Tasks, sagas, the outbox and its relay, workers, the projector, blocked-task resumer, heartbeats, audit,
        // idempotency keys: what every domain service builds its work on.
        .target(
            name: "DataverketTasks",
            dependencies: [
                "DataverketCore", "DataverketStore", "DataverketBus",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),

        // MARK: - 5. Domains: none depends on another

        // Sentral: tenancy (tenants → projects → environments); later quotas, offerings, placement.
        .target(
            name: "Sentral",
            dependencies: [
                "DataverketCore", "DataverketStore", "DataverketTasks",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Identitet: signing keys sealed at rest, access/refresh tokens, the bootstrap credential, role bindings, SSO.
        .target(
            name: "Identitet",
            dependencies: [
                "DataverketCore", "DataverketStore", "DataverketTasks",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Inventar: datacenters, racks, devices, interfaces, links; declared (site files), observed, approved.
        .target(
            name: "Inventar",
            dependencies: [
                "DataverketCore", "DataverketStore",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Nett: IPAM, DNS, changesets and rollout, device drivers (OVS, FRR, nftables), drift.
        .target(
            name: "Nett",
            dependencies: [
                "DataverketCore", "NettIntent", "DataverketStore", "DataverketProcess", "DataverketBus", "DataverketTasks",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // Maskin: the bare-metal lifecycle (state machine), BMC drivers (Redfish, IPMI), the boot service's logic, Talos config.
        .target(
            name: "Maskin",
            dependencies: [
                "DataverketCore", "DataverketStore", "DataverketBus", "DataverketTasks", "DataverketProcess",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict
        ),

        // MARK: - Contract and SDK (beside the layers: generated code and what clients link)

        // The OpenAPI contract and the code generated from it (types, server stubs, client).
        // Generated code lives alone here so "no warnings" applies to the project's own code.
        .target(
            name: "DataverketAPI",
            dependencies: [.product(name: "OpenAPIRuntime", package: "swift-openapi-runtime")],
            plugins: [.plugin(name: "OpenAPIGenerator", package: "swift-openapi-generator")]
        ),
        // The SDK: the generated client plus transport and problem+json error mapping.
        .target(
            name: "DataverketClient",
            dependencies: [
                "DataverketAPI",
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "OpenAPIAsyncHTTPClient", package: "swift-openapi-async-http-client"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: strict
        ),

        // MARK: - 6. Server: the composition root

        // The composition root (ControlPlane, the one ordered list of migrations, service wiring), HTTP handlers,
        // access rules, problem+json, metrics, logging, the listeners (API and boot), `dataverket` subcommands.
        .target(
            name: "DataverketServer",
            dependencies: [
                "DataverketCore", "DataverketStore", "DataverketTasks", "Sentral", "DataverketAPI", "DataverketBus", "Identitet",
                "Inventar", "Maskin", "Nett", "NettIntent",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "OpenAPIHummingbird", package: "swift-openapi-hummingbird"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),

        // MARK: - 7. Command-line tools and executables (thin)

        // The dv CLI family as a library: the SDK and pure targets only.
        .target(
            name: "DVCommands",
            dependencies: [
                "DataverketCore", "NettIntent",
                "DataverketClient", "DataverketAPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
            ],
            swiftSettings: strict
        ),
        // Benchmarks run by scripts/bench.
        .target(
            name: "DataverketBench",
            dependencies: [
                "DataverketCore", "Maskin", .product(name: "Hummingbird", package: "hummingbird"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"), .product(name: "Crypto", package: "swift-crypto"),
                "DataverketServer", "DataverketStore", "DataverketTasks", "Sentral", "DataverketClient", "DataverketAPI", "DataverketBus",
                "NATS", "Identitet", "Inventar", "Nett", "NettIntent", "DataverketTestSupport",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(name: "dataverket", dependencies: ["DataverketServer"], swiftSettings: strict),
        .executableTarget(name: "dv", dependencies: ["DVCommands"], swiftSettings: strict),
        .executableTarget(name: "dvid", dependencies: ["DVCommands"], swiftSettings: strict),
        .executableTarget(name: "dvce", dependencies: ["DVCommands"], swiftSettings: strict),
        .executableTarget(name: "dvnet", dependencies: ["DVCommands"], swiftSettings: strict),
        .executableTarget(name: "dv-bench", dependencies: ["DataverketBench"], swiftSettings: strict),

        // MARK: - Test support (tests and benchmarks only)

        // Temporary SQLite/PostgreSQL databases, admin SQL, log capture, `collect`, port waiting, a private Open vSwitch, the lab's configuration.
        .target(
            name: "DataverketTestSupport",
            dependencies: [
                "DataverketCore", "DataverketStore", "DataverketProcess",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),

        // MARK: - Tests

        .testTarget(
            name: "DataverketCoreTests",
            dependencies: ["DataverketCore", "DataverketTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "DataverketBusTests",
            dependencies: [
                "DataverketBus", "DataverketCore", "NATS", "DataverketTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "InventarTests",
            dependencies: [
                "Inventar", "DataverketCore", "DataverketStore", "DataverketTestSupport",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "NettTests",
            dependencies: [
                "Nett", "NettIntent", "DataverketCore", "DataverketStore", "DataverketProcess", "DataverketTasks",
                "DataverketTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Golden"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "MaskinTests",
            dependencies: [
                "Maskin", "DataverketCore", "DataverketStore", "DataverketTasks", "DataverketBus", "DataverketTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "NATSTests",
            dependencies: [
                "NATS", "DataverketTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "Maskin", "Inventar", "Nett", "NettIntent", "DataverketTasks", "DataverketTestSupport", .product(name: "Crypto", package: "swift-crypto"), .product(name: "X509", package: "swift-certificates"),
                "DataverketCore", "DataverketStore", "Sentral", "DataverketServer", "DataverketClient",
                "DataverketAPI", "DVCommands", "DataverketBus", "Identitet", "NATS", "DataverketProcess",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict
        ),
        // Sentral's tenancy over the task engine, below HTTP, on both engines.
        .testTarget(
            name: "SentralTests",
            dependencies: ["Sentral", "DataverketTasks", "DataverketStore", "DataverketCore", "DataverketTestSupport"],
            swiftSettings: strict
        ),
        // Identitet below HTTP, on both engines.
        .testTarget(
            name: "IdentitetTests",
            dependencies: [
                "Identitet", "DataverketTasks", "DataverketStore", "DataverketCore", "DataverketTestSupport",
                .product(name: "SQLKit", package: "sql-kit"),
            ],
            swiftSettings: strict
        ),
        // The CLI's own logic (output formats), without a server.
        .testTarget(
            name: "DVCommandsTests",
            dependencies: ["DVCommands", "DataverketCore", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict
        ),
        // The store toolkit's pure parts (paging, cursors).
        .testTarget(
            name: "DataverketStoreTests",
            dependencies: ["DataverketStore", "DataverketCore"],
            swiftSettings: strict
        ),
        // The server's handlers in Hummingbird's router mode: no listener, no peer (embedded store, in-process bus).
        .testTarget(
            name: "DataverketServerTests",
            dependencies: [
                "DataverketServer", "DataverketAPI", "DataverketCore", "DataverketStore", "DataverketTasks", "DataverketBus", "Identitet",
                "DataverketTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Reads Package.swift (via `swift package dump-package`) and every target's imports; fails on an edge the
        // layer table in docs/architecture.md does not allow.
        .testTarget(
            name: "ArchitectureTests",
            dependencies: [],
            exclude: ["Fixtures"],
            swiftSettings: strict
        ),
    ]
)

// MARK: - Fuzz targets (issue 16 §10)

// Declared only when DV_FUZZ is set (scripts/fuzz sets it): the plain build, `swift build --build-tests` and the layer
// table never see them. scripts/fuzz builds them with libFuzzer (`--sanitize fuzzer --sanitize address -Xswiftc
// -DLIBFUZZER`); built without it, each is a program that replays the input files and directories it is given.
if Context.environment["DV_FUZZ"] != nil {
    let yams: Target.Dependency = .product(name: "Yams", package: "Yams")
    // They link no contract: no OpenAPI generator to build (a plugin tool, it would not link with libFuzzer's `main`).
    for target in package.targets where target.name == "DataverketAPI" {
        target.plugins = []
        target.exclude += ["openapi.yaml", "openapi-generator-config.yaml"]
    }
    package.targets += [
        .target(name: "FuzzSupport", path: "Fuzz/FuzzSupport", swiftSettings: strict),
        .executableTarget(name: "FuzzYAMLGuard", dependencies: ["FuzzSupport", "DataverketCore", yams], path: "Fuzz/FuzzYAMLGuard", swiftSettings: strict),
        // The site file format, compiled from Inventar's own files (symlinks), without the store Inventar links.
        .executableTarget(name: "FuzzSiteFile", dependencies: ["FuzzSupport", "DataverketCore", yams], path: "Fuzz/FuzzSiteFile", swiftSettings: strict),
        .executableTarget(
            name: "FuzzNetworkIntent", dependencies: ["FuzzSupport", "DataverketCore", "NettIntent", yams], path: "Fuzz/FuzzNetworkIntent",
            swiftSettings: strict
        ),
    ]
}
