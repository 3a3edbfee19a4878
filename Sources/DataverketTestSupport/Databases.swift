import DataverketCore
import DataverketStore
import Foundation
import Logging
import SQLKit

/// The store engines a suite runs against: SQLite always, PostgreSQL when `DV_TEST_POSTGRES_URL` names an admin
/// database (e.g. `postgres://dataverket@127.0.0.1:55452/postgres`; scripts/test starts one and sets it).
public enum TestBackend: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite, postgres
    public var description: String { rawValue }

    /// SQLite, and PostgreSQL when the run has one.
    public static var available: [TestBackend] { postgresAdminURL == nil ? [.sqlite] : [.sqlite, .postgres] }
}

/// The PostgreSQL admin database of this run (`DV_TEST_POSTGRES_URL`), if any.
public var postgresAdminURL: String? {
    ProcessInfo.processInfo.environment["DV_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
}

/// A logger that drops everything.
public let quietLogger = Logger(label: "dataverket-test", factory: { _ in SwiftLogNoOpLogHandler() })

public struct TestSupportError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Runs `body` with a fresh database with `migrations` applied: a new SQLite file (removed afterwards), or a new
/// PostgreSQL database on the run's server (dropped afterwards; a pool of `connections`). `label` names it.
public func withTemporaryDatabase<T: Sendable>(
    _ backend: TestBackend, label: String = "dv", connections: Int = 20, migrations: [Migration], logger: Logger = quietLogger,
    _ body: @Sendable (Database) async throws -> T
) async throws -> T {
    switch backend {
    case .sqlite:
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(ULID.make())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = try await StoreConfiguration(databaseURL: nil, dataDirectory: directory).open(logger: logger)
        do {
            if !migrations.isEmpty { try await Migrator(database: database, migrations: migrations).migrate() }
            let result = try await body(database)
            try await database.backend.close()
            return result
        } catch {
            try? await database.backend.close()
            throw error
        }
    case .postgres:
        return try await withTemporaryPostgres(label: label, connections: connections, migrations: migrations, logger: logger) { database, _ in
            try await body(database)
        }
    }
}

/// Runs `body` with a fresh PostgreSQL database on the run's server (dropped afterwards) with `migrations`
/// applied, and its URL (for other processes to open it too).
public func withTemporaryPostgres<T: Sendable>(
    label: String = "dv", connections: Int = 20, migrations: [Migration], logger: Logger = quietLogger,
    _ body: @Sendable (Database, String) async throws -> T
) async throws -> T {
    guard let admin = postgresAdminURL else { throw TestSupportError("no PostgreSQL in this run (DV_TEST_POSTGRES_URL)") }
    let name = "\(label.replacingOccurrences(of: "-", with: "_"))_\(ULID.make().lowercased())"
    try await adminSQL("CREATE DATABASE \(name)")
    let url = admin.replacingOccurrences(of: "/postgres", with: "/\(name)")
    let database = Database(backend: try PostgresBackend(url: url, maxConnections: connections, logger: logger), logger: logger)
    let result: Result<T, any Error> = await database.whileRunning {
        if !migrations.isEmpty { try await Migrator(database: database, migrations: migrations).migrate() }
        return try await body(database, url)
    }
    try? await database.backend.close()
    try? await adminSQL("DROP DATABASE \(name) WITH (FORCE)")
    return try result.get()
}

/// Runs one statement on the PostgreSQL admin database `url` (the run's, by default).
public func adminSQL(_ statement: String, url: String? = postgresAdminURL) async throws {
    guard let url else { throw TestSupportError("no PostgreSQL in this run (DV_TEST_POSTGRES_URL)") }
    let database = Database(backend: try PostgresBackend(url: url, maxConnections: 1, logger: quietLogger), logger: quietLogger)
    try await database.whileRunning {
        try await database.read { try await $0.run(SQLQueryString(statement)) }
    }.get()
}
