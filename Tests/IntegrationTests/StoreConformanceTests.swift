import DataverketCore
import DataverketStore
import Sentral
import DataverketTasks
import DataverketServer
import SQLKit
import Testing
import DataverketTestSupport

/// The same store behaviour on both engines.
@Suite("Store conformance")
struct StoreConformanceTests {
    @Test("migrations apply once and record every context", arguments: Backend.allCases)
    func migrationsAreIdempotent(_ backend: Backend) async throws {
        try await withDatabase(backend, migrate: false) { database in
            let migrator = Migrator(database: database, migrations: ControlPlane.migrations)
            let first = try await migrator.migrate()
            #expect(first.count == ControlPlane.migrations.count)
            let second = try await migrator.migrate()
            #expect(second.isEmpty)
            let applied = try await migrator.applied()
            for context in ["tenancy", "inventory", "tasks", "audit", "api", "identity", "maskin", "nett"] {
                #expect(applied.contains("\(context)/1"), "context \(context) not migrated")
            }
        }
    }

    @Test("a failed transaction leaves nothing behind", arguments: Backend.allCases)
    func rollback(_ backend: Backend) async throws {
        try await withDatabase(backend) { database in
            struct Boom: Error {}
            await #expect(throws: Boom.self) {
                try await database.transaction { session in
                    try await session.run("""
                        INSERT INTO \(session.table("tenancy", "tenants")) (id, name, labels, version, created_at, updated_at)
                        VALUES ('ten_X', 'x', '{}', 1, 0, 0)
                        """)
                    throw Boom()
                }
            }
            let count = try await database.read { session in
                try await session.first("SELECT COUNT(*) AS n FROM \(session.table("tenancy", "tenants"))")!.decode(column: "n", as: Int.self)
            }
            #expect(count == 0)
        }
    }

    @Test("unique violations surface as already-exists", arguments: Backend.allCases)
    func uniqueViolation(_ backend: Backend) async throws {
        try await withDatabase(backend) { database in
            let insert: @Sendable (String) async throws -> Void = { id in
                try await database.transaction { session in
                    try await session.run("""
                        INSERT INTO \(session.table("tenancy", "tenants")) (id, name, labels, version, created_at, updated_at)
                        VALUES (\(bind: id), 'same', '{}', 1, 0, 0)
                        """)
                }
            }
            try await insert("ten_A")
            do {
                try await insert("ten_B")
                Issue.record("second insert of the same name succeeded")
            } catch let error as DataverketError {
                #expect(error.code == .alreadyExists)
            }
        }
    }

    @Test("ping answers", arguments: Backend.allCases)
    func ping(_ backend: Backend) async throws {
        try await withDatabase(backend) { try await $0.ping() }
    }

    @Test("an unreachable PostgreSQL fails the ping within its timeout")
    func unreachablePing() async throws {
        let backend = try PostgresBackend(url: "postgres://nobody@127.0.0.1:1/none", logger: quietLogger)
        let database = Database(backend: backend, logger: quietLogger)
        _ = await database.whileRunning {
            await #expect(throws: (any Error).self) { try await database.ping(timeout: .seconds(2)) }
        }
    }
}
