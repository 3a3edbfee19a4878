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

/// A fresh database: a new SQLite file, or a new PostgreSQL database on the server of `adminURL` (a pool of
/// `connections`). `drop()` closes it and removes it. Tests use it through `withTemporaryDatabase`; benchmarks,
/// which run the database around their own measurements, directly.
public struct TemporaryDatabase: Sendable {
    public let database: Database
    /// The PostgreSQL database's URL, for other processes to open it too; `nil` on SQLite.
    public let url: String?
    private let remove: @Sendable () async throws -> Void

    public static func create(
        _ backend: TestBackend, label: String = "dv", connections: Int = 20, adminURL: String? = postgresAdminURL,
        logger: Logger = quietLogger
    ) async throws -> TemporaryDatabase {
        switch backend {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(ULID.make())").path
            let database = try await StoreConfiguration(databaseURL: nil, dataDirectory: directory).open(logger: logger)
            return TemporaryDatabase(database: database, url: nil) { try? FileManager.default.removeItem(atPath: directory) }
        case .postgres:
            guard let adminURL else { throw TestSupportError("no PostgreSQL in this run (DV_TEST_POSTGRES_URL)") }
            let name = "\(label.replacingOccurrences(of: "-", with: "_"))_\(ULID.make().lowercased())"
            try await adminSQL("CREATE DATABASE \(name)", url: adminURL)
            let url = adminURL.replacingOccurrences(of: "/postgres", with: "/\(name)")
            let database = Database(backend: try PostgresBackend(url: url, maxConnections: connections, logger: logger), logger: logger)
            return TemporaryDatabase(database: database, url: url) { try await adminSQL("DROP DATABASE \(name) WITH (FORCE)", url: adminURL) }
        }
    }

    /// Closes the database and removes it.
    public func drop() async throws {
        try? await database.backend.close()
        try await remove()
    }
}

/// Runs `body` with a fresh database with `migrations` applied (a ``TemporaryDatabase``, dropped afterwards however
/// `body` ends). `label` names it.
public func withTemporaryDatabase<T: Sendable>(
    _ backend: TestBackend, label: String = "dv", connections: Int = 20, migrations: [Migration], logger: Logger = quietLogger,
    _ body: @Sendable (Database) async throws -> T
) async throws -> T {
    let temporary = try await TemporaryDatabase.create(backend, label: label, connections: connections, logger: logger)
    let result: Result<T, any Error> = await temporary.database.whileRunning {
        if !migrations.isEmpty { try await Migrator(database: temporary.database, migrations: migrations).migrate() }
        return try await body(temporary.database)
    }
    try await temporary.drop()
    return try result.get()
}

/// Runs `body` with a fresh PostgreSQL database on the run's server (dropped afterwards) with `migrations`
/// applied, and its URL (for other processes to open it too).
public func withTemporaryPostgres<T: Sendable>(
    label: String = "dv", connections: Int = 20, migrations: [Migration], logger: Logger = quietLogger,
    _ body: @Sendable (Database, String) async throws -> T
) async throws -> T {
    let temporary = try await TemporaryDatabase.create(.postgres, label: label, connections: connections, logger: logger)
    let result: Result<T, any Error> = await temporary.database.whileRunning {
        if !migrations.isEmpty { try await Migrator(database: temporary.database, migrations: migrations).migrate() }
        return try await body(temporary.database, temporary.url ?? "")
    }
    try await temporary.drop()
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
