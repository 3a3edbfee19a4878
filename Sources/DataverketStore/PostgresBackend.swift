#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import DataverketCore
import Logging
import PostgresKit
import PostgresNIO
import SQLKit

/// PostgreSQL through postgres-nio's pooled `PostgresClient`.
public struct PostgresBackend: DatabaseBackend {
    public var kind: BackendKind { .postgres }
    public let client: PostgresClient
    private let logger: Logger

    /// `postgres://user:password@host:port/database?sslmode=disable|prefer|require`
    public init(url: String, maxConnections: Int = 20, logger: Logger) throws {
        var configuration = try Self.configuration(url: url)
        configuration.options.maximumConnections = maxConnections
        configuration.options.minimumConnections = 0
        configuration.options.connectTimeout = .seconds(5)
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.logger = logger
    }

    public static func configuration(url: String) throws -> PostgresClient.Configuration {
        guard let components = URLComponents(string: url),
              components.scheme == "postgres" || components.scheme == "postgresql",
              let host = components.host, !host.isEmpty
        else {
            throw DataverketError(.invalidArgument, "DV_DATABASE_URL must look like postgres://user:password@host:port/database")
        }
        let user = components.user ?? "postgres"
        let password = components.password
        let database = components.path.count > 1 ? String(components.path.dropFirst()) : nil
        let sslmode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "disable"
        let tls: PostgresClient.Configuration.TLS
        switch sslmode {
        case "disable": tls = .disable
        case "prefer", "allow": tls = .prefer(.clientDefault)
        case "require", "verify-ca", "verify-full": tls = .require(.clientDefault)
        default: throw DataverketError(.invalidArgument, "unsupported sslmode '\(sslmode)' (disable, prefer, require)")
        }
        return PostgresClient.Configuration(
            host: host, port: components.port ?? 5432, username: user,
            password: password?.removingPercentEncoding ?? password, database: database, tls: tls
        )
    }

    public func withConnection<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        let logger = self.logger
        return try await client.withConnection { connection in
            try await body(connection.sql(queryLogLevel: .trace, logger: logger))
        }
    }

    public func run() async {
        await client.run()
    }

    public func close() async throws {}
}
