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
        // Domain core: identifiers, names, errors, the event envelope. No I/O.
        .target(
            name: "DataverketCore",
            dependencies: [.product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // NATS client on SwiftNIO: core protocol, request/reply, reconnect, TLS, JetStream.
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
        // One SQL layer (sql-kit) over embedded SQLite and PostgreSQL, with versioned migrations.
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
        // Sentral: tenancy, tasks, audit — the system of record's domain services.
        .target(
            name: "Sentral",
            dependencies: [
                "DataverketCore", "DataverketStore", "DataverketBus", "Inventar",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // Identitet: signing keys sealed at rest, access/refresh tokens, the bootstrap credential, role bindings.
        .target(
            name: "Identitet",
            dependencies: [
                "DataverketCore", "DataverketStore",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Inventory: datacenters, racks, devices, interfaces, links; declared (site files), observed, approved.
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
        // Nett: IPAM (VRFs, prefixes, addresses, VLANs, ASNs) with per-pool allocation; later intent, rendering, drivers.
        .target(
            name: "Nett",
            dependencies: [
                "DataverketCore", "DataverketStore", "DataverketProcess", "DataverketBus", "Sentral",
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
        // Running programs (ipmitool, nft, vtysh, ovs-vsctl) with a time limit, bounded output and an explicit environment.
        .target(
            name: "DataverketProcess",
            dependencies: ["DataverketCore"],
            swiftSettings: strict
        ),
        // Maskin: the bare-metal lifecycle (state machine), BMC drivers (Redfish, IPMI), boot service, Talos config.
        .target(
            name: "Maskin",
            dependencies: [
                "DataverketCore", "DataverketStore", "DataverketBus", "Sentral", "Inventar", "DataverketProcess",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
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
        // The OpenAPI contract and the code generated from it (types, server stubs, client).
        // Generated code lives alone here so "no warnings" applies to the project's own code.
        .target(
            name: "DataverketAPI",
            dependencies: [.product(name: "OpenAPIRuntime", package: "swift-openapi-runtime")],
            plugins: [.plugin(name: "OpenAPIGenerator", package: "swift-openapi-generator")]
        ),
        // The HTTP server: handlers over Sentral, middleware, metrics, logging, service wiring.
        .target(
            name: "DataverketServer",
            dependencies: [
                "DataverketCore", "DataverketStore", "Sentral", "DataverketAPI", "DataverketBus", "Identitet", "Inventar", "Maskin", "Nett",
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
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ],
            swiftSettings: strict
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
        // The dv CLI family as a library.
        .target(
            name: "DVCommands",
            dependencies: [
                "Nett",
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
                "Maskin", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"), .product(name: "Crypto", package: "swift-crypto"),
                "DataverketServer", "DataverketStore", "Sentral", "DataverketClient", "DataverketAPI", "DataverketBus", "NATS", "Identitet", "Nett",
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

        .testTarget(
            name: "DataverketCoreTests",
            dependencies: ["DataverketCore"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "DataverketBusTests",
            dependencies: [
                "DataverketBus", "DataverketCore", "NATS",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "InventarTests",
            dependencies: [
                "Inventar", "DataverketCore", "DataverketStore",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "NettTests",
            dependencies: [
                "Nett", "DataverketCore", "DataverketStore", "DataverketProcess",
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
                "Maskin", "DataverketCore", "DataverketStore", "Sentral", "DataverketBus",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "NATSTests",
            dependencies: [
                "NATS",
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
                "Maskin", "Inventar", "Nett", .product(name: "Crypto", package: "swift-crypto"), .product(name: "X509", package: "swift-certificates"),
                "DataverketCore", "DataverketStore", "Sentral", "DataverketServer", "DataverketClient",
                "DataverketAPI", "DVCommands", "DataverketBus", "Identitet", "NATS", "DataverketProcess",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Hummingbird", package: "hummingbird"),
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
    ]
)
