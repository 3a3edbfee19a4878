import DataverketCore
import DataverketStore
import Foundation
import Logging
import Nett
import SQLKit
import Testing

/// The store engines the IPAM suites run against: SQLite always, PostgreSQL when `DV_TEST_POSTGRES_URL`
/// names an admin database (e.g. `postgres://dataverket@127.0.0.1:55452/postgres`).
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite, postgres
    var testDescription: String { rawValue }

    static var available: [Backend] { postgresAdminURL == nil ? [.sqlite] : [.sqlite, .postgres] }
}

let quietLogger = Logger(label: "nett-test", factory: { _ in SwiftLogNoOpLogHandler() })

var postgresAdminURL: String? {
    ProcessInfo.processInfo.environment["DV_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
}

let ops = OperationContext(actor: "user:ops", correlationID: "test-nett")

/// Collects audit entries (the server wires Sentral's audit log here).
actor AuditSink {
    var entries: [IPAMAuditEntry] = []
    func add(_ entry: IPAMAuditEntry) { entries.append(entry) }
}

/// Runs `body` with a fresh database migrated to the `nett` schema: a new SQLite file, or a new PostgreSQL
/// database (dropped afterwards; a pool of `connections`).
func withIPAM<T: Sendable>(_ backend: Backend, chunk: Int = 1024, connections: Int = 20, audit: AuditSink? = nil,
                           _ body: @Sendable (IPAM) async throws -> T) async throws -> T {
    var auditor: IPAMAuditor?
    if let audit { auditor = { @Sendable _, _, entry in await audit.add(entry) } }
    switch backend {
    case .sqlite:
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dv-nett-\(ULID.make())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = try await StoreConfiguration(databaseURL: nil, dataDirectory: directory).open(logger: quietLogger)
        do {
            let ipam = IPAM(database: database, logger: quietLogger, auditor: auditor, allocationChunk: chunk)
            try await ipam.migrate()
            let result = try await body(ipam)
            try await database.backend.close()
            return result
        } catch {
            try? await database.backend.close()
            throw error
        }
    case .postgres:
        let admin = try #require(postgresAdminURL)
        let name = "dvnett_\(ULID.make().lowercased())"
        try await adminSQL(admin, "CREATE DATABASE \(name)")
        let url = admin.replacingOccurrences(of: "/postgres", with: "/\(name)")
        let database = Database(backend: try PostgresBackend(url: url, maxConnections: connections, logger: quietLogger), logger: quietLogger)
        let result: Result<T, any Error> = await withTaskGroup(of: Void.self) { group in
            group.addTask { await database.backend.run() }
            defer { group.cancelAll() }
            do {
                let ipam = IPAM(database: database, logger: quietLogger, auditor: auditor, allocationChunk: chunk)
                try await ipam.migrate()
                return .success(try await body(ipam))
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

/// Expects `body` to throw a `DataverketError` with `code`, whose message contains every one of `fragments`.
func expectError<T>(_ code: DataverketError.Code, _ fragments: String..., sourceLocation: SourceLocation = #_sourceLocation,
                    _ body: () async throws -> T) async {
    do {
        _ = try await body()
        Issue.record("expected \(code), but it succeeded", sourceLocation: sourceLocation)
    } catch let error as DataverketError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        for fragment in fragments {
            #expect(error.message.contains(fragment), "'\(fragment)' not in: \(error.message)", sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("expected DataverketError \(code), got \(error)", sourceLocation: sourceLocation)
    }
}
