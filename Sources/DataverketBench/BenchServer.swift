import ArgumentParser
import DataverketBus
import DataverketClient
import DataverketServer
import DataverketStore
import DataverketTestSupport
import Foundation
import Identitet
import Logging
import Sentral
import DataverketTasks

/// Runs the server for a benchmark and hands the body an SDK client holding a platform-admin token.
func withBenchServer<T: Sendable>(_ sentral: ControlPlane, bus: any Bus, logger: Logger,
                                  _ body: @escaping @Sendable (Client, Int) async throws -> T) async throws -> T {
    var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
    configuration.rateLimits = .loadTesting
    let identity = Identitet(database: sentral.database, issuer: configuration.issuer, masterKey: .random())
    _ = try await sentral.migrate()
    try await identity.bind("service:bench", .platformAdmin, by: "bench")
    let token = try await identity.issueSession(for: "service:bench").accessToken
    return try await DataverketServer.withRunning(sentral: sentral, identity: identity, configuration: configuration, logger: logger,
                                                  bus: bus) { port in
        let client = DataverketClient.make(serverURL: URL(string: "http://127.0.0.1:\(port)")!, headers: ["Authorization": "Bearer \(token)"])
        return try await body(client, port)
    }
}

/// A fresh benchmark database: a new SQLite file, or a new PostgreSQL database (dropped by the cleanup).
enum BenchDatabase {
    /// A throwaway database for a benchmark (test support's): a SQLite file, or a PostgreSQL database on
    /// `postgresURL`'s server with a pool of `connections`; the closure closes and removes it.
    static func open(_ backend: String, postgresURL: String, connections: Int = 20,
                     logger: Logger) async throws -> (Database, @Sendable () async throws -> Void) {
        guard let kind = TestBackend(rawValue: backend) else { throw ValidationError("unknown backend '\(backend)' (sqlite, postgres)") }
        let temporary = try await TemporaryDatabase.create(kind, label: "dvbench", connections: connections, adminURL: postgresURL, logger: logger)
        return (temporary.database, { try await temporary.drop() })
    }
}
