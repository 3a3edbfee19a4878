import Foundation
import DataverketCore
import Logging
import SQLKit

/// One versioned step of a bounded context's schema.
///
/// DDL is written once with `${schema.table}` placeholders and a few type macros, and rendered per engine:
/// `${id}` (text primary keys), `${serial}` (auto-increment integer key), `${json}` (JSON document).
public struct Migration: Sendable {
    public var context: String
    public var version: Int
    public var name: String
    public var statements: [String]
    /// Statements run only on PostgreSQL (e.g. `CREATE SCHEMA`).
    public var postgresOnly: [String]

    public init(context: String, version: Int, name: String, postgresOnly: [String] = [], statements: [String]) {
        self.context = context
        self.version = version
        self.name = name
        self.statements = statements
        self.postgresOnly = postgresOnly
    }

    func render(for kind: BackendKind) -> [String] {
        let all = (kind == .postgres ? postgresOnly : []) + statements
        return all.map { Self.render($0, kind: kind) }
    }

    static func render(_ statement: String, kind: BackendKind) -> String {
        var out = ""
        var rest = Substring(statement)
        while let start = rest.range(of: "${") {
            out += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else { break }
            let token = rest[start.upperBound..<end]
            out += macro(String(token), kind: kind)
            rest = rest[rest.index(after: end)...]
        }
        out += rest
        return out
    }

    private static func macro(_ token: String, kind: BackendKind) -> String {
        switch token {
        case "serial": return kind == .postgres ? "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT"
        case "json": return kind == .postgres ? "TEXT" : "TEXT"
        default:
            let parts = token.split(separator: ".", maxSplits: 1)
            precondition(parts.count == 2, "unknown migration macro \(token)")
            return kind == .postgres ? "\"\(parts[0])\".\"\(parts[1])\"" : "\"\(parts[0])_\(parts[1])\""
        }
    }
}

/// Applies migrations in order, once each, recording them in `dv_schema_migrations`.
public struct Migrator: Sendable {
    public let database: Database
    public let migrations: [Migration]

    public init(database: Database, migrations: [Migration]) {
        self.database = database
        self.migrations = migrations
    }

    /// Applied (context, version) pairs.
    public func applied() async throws -> Set<String> {
        try await ensureLedger()
        return try await database.read { session in
            let rows = try await session.all("SELECT context, version FROM dv_schema_migrations")
            return Set(try rows.map { "\(try $0.decode(column: "context", as: String.self))/\(try $0.decode(column: "version", as: Int.self))" })
        }
    }

    /// Applies every pending migration; returns the names applied. Each migration is its own transaction,
    /// and on PostgreSQL an advisory lock keeps two servers from migrating at once.
    @discardableResult
    public func migrate() async throws -> [String] {
        try await ensureLedger()
        var appliedNow: [String] = []
        for migration in migrations {
            let kind = database.kind
            let didApply = try await database.transaction { session in
                if kind == .postgres {
                    try await session.run("SELECT pg_advisory_xact_lock(7314099)")
                }
                let existing = try await session.first("""
                    SELECT version FROM dv_schema_migrations WHERE context = \(bind: migration.context) AND version = \(bind: migration.version)
                    """)
                if existing != nil { return false }
                for statement in migration.render(for: kind) {
                    try await session.run(SQLQueryString(statement))
                }
                let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
                try await session.run("""
                    INSERT INTO dv_schema_migrations (context, version, name, applied_at)
                    VALUES (\(bind: migration.context), \(bind: migration.version), \(bind: migration.name), \(bind: now))
                    """)
                return true
            }
            if didApply {
                appliedNow.append("\(migration.context)/\(migration.version) \(migration.name)")
                database.logger.info("applied migration", metadata: ["context": "\(migration.context)", "version": "\(migration.version)", "name": "\(migration.name)"])
            }
        }
        return appliedNow
    }

    private func ensureLedger() async throws {
        try await database.transaction { session in
            if session.kind == .postgres {
                try await session.run("SELECT pg_advisory_xact_lock(7314099)")
            }
            try await session.run("""
                CREATE TABLE IF NOT EXISTS dv_schema_migrations (
                    context TEXT NOT NULL, version BIGINT NOT NULL, name TEXT NOT NULL, applied_at BIGINT NOT NULL,
                    PRIMARY KEY (context, version))
                """)
        }
    }
}

/// Timestamps are stored as microseconds since the Unix epoch (BIGINT) on both engines.
public enum StoreTime {
    public static func encode(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }
    public static func decode(_ micros: Int64) -> Date { Date(timeIntervalSince1970: Double(micros) / 1_000_000) }
    public static func now() -> Int64 { encode(Date()) }
}

/// Configuration of the store from the environment and flags.
public struct StoreConfiguration: Sendable {
    public var databaseURL: String?
    public var dataDirectory: String

    public init(databaseURL: String?, dataDirectory: String) {
        self.databaseURL = databaseURL
        self.dataDirectory = dataDirectory
    }

    /// Opens the configured backend: PostgreSQL when a URL is set, else SQLite in the data directory.
    public func open(logger: Logger) async throws -> Database {
        if let url = databaseURL, !url.isEmpty {
            return Database(backend: try PostgresBackend(url: url, logger: logger), logger: logger)
        }
        let path = (dataDirectory as NSString).appendingPathComponent("dataverket.sqlite")
        return Database(backend: try await SQLiteBackend.open(path: path, logger: logger), logger: logger)
    }
}
