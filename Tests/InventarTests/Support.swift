import DataverketCore
import DataverketStore
import Foundation
import Inventar
import Logging
import SQLKit
import Testing

/// The store engines the inventory suites run against: SQLite always, PostgreSQL when
/// `DV_TEST_POSTGRES_URL` names an admin database (e.g. `postgres://dataverket@127.0.0.1:55452/postgres`).
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite, postgres
    var testDescription: String { rawValue }

    static var available: [Backend] { postgresAdminURL == nil ? [.sqlite] : [.sqlite, .postgres] }
}

let quietLogger = Logger(label: "inventar-test", factory: { _ in SwiftLogNoOpLogHandler() })

var postgresAdminURL: String? {
    ProcessInfo.processInfo.environment["DV_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
}

let operatorContext = OperationContext(actor: "user:ops", correlationID: "test-apply")
let approverContext = OperationContext(actor: "user:approver", correlationID: "test-approve")

/// Runs `body` with a fresh database migrated to the inventory schema: a new SQLite file, or a new
/// PostgreSQL database (dropped afterwards).
func withInventory<T: Sendable>(_ backend: Backend, _ body: @Sendable (Inventory) async throws -> T) async throws -> T {
    switch backend {
    case .sqlite:
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dv-inv-\(ULID.make())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = try await StoreConfiguration(databaseURL: nil, dataDirectory: directory).open(logger: quietLogger)
        do {
            try await Migrator(database: database, migrations: InventorySchema.migrations).migrate()
            let result = try await body(Inventory(database: database, logger: quietLogger))
            try await database.backend.close()
            return result
        } catch {
            try? await database.backend.close()
            throw error
        }
    case .postgres:
        let admin = try #require(postgresAdminURL)
        let name = "dvinv_\(ULID.make().lowercased())"
        try await adminSQL(admin, "CREATE DATABASE \(name)")
        let url = admin.replacingOccurrences(of: "/postgres", with: "/\(name)")
        let database = try await StoreConfiguration(databaseURL: url, dataDirectory: "").open(logger: quietLogger)
        let result: Result<T, any Error> = await withTaskGroup(of: Void.self) { group in
            group.addTask { await database.backend.run() }
            defer { group.cancelAll() }
            do {
                try await Migrator(database: database, migrations: InventorySchema.migrations).migrate()
                return .success(try await body(Inventory(database: database, logger: quietLogger)))
            } catch {
                return .failure(error)
            }
        }
        try? await database.backend.close()
        try? await adminSQL(admin, "DROP DATABASE \(name) WITH (FORCE)")
        return try result.get()
    }
}

/// Runs one statement on the PostgreSQL admin database.
func adminSQL(_ url: String, _ statement: String) async throws {
    let database = Database(backend: try PostgresBackend(url: url, maxConnections: 1, logger: quietLogger), logger: quietLogger)
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await database.backend.run() }
        defer { group.cancelAll() }
        try await database.read { try await $0.run(SQLQueryString(statement)) }
    }
}

/// The example site shipped in `examples/`.
func exampleSite() throws -> [SiteSource] {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return try SiteSource.read(paths: [root.appendingPathComponent("examples/site-osl1.yaml").path])
}

func exampleModel() throws -> SiteModel { try SiteFile.load(try exampleSite()).model }
