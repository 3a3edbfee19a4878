import DataverketCore
import DataverketStore
import DataverketTasks
import DataverketTestSupport
import Sentral
import Testing

typealias Backend = TestBackend

/// Sentral's tenancy over the task engine, as the server wires them (without the server).
struct TenancyPlane: Sendable {
    let engine: TaskEngine
    let tenancy: Tenancy
    var tasks: Tasks { engine.tasks }

    init(database: Database) {
        engine = TaskEngine(database: database)
        tenancy = Tenancy(database: database, tasks: engine.tasks)
    }
}

/// Runs `body` with a fresh database holding the task engine's and Sentral's schemas, on `backend`.
func withTenancy<T: Sendable>(_ backend: Backend, _ body: @Sendable (Database, TenancyPlane) async throws -> T) async throws -> T {
    try await withTemporaryDatabase(backend, label: "dvsentral", migrations: TaskEngine.migrations + SentralSchema.migrations) { database in
        try await body(database, TenancyPlane(database: database))
    }
}

/// Sentral's tenancy and task services, below HTTP, on both engines.
@Suite("Tenancy and tasks (service level)")
struct TenancyServiceTests {
    @Test("creating an environment in a project that is being deleted is a conflict", arguments: Backend.allCases)
    func noCreateWhileDeleting(_ backend: Backend) async throws {
        try await withTenancy(backend) { database, sentral in
            _ = try await sentral.tenancy.createTenant(.init(name: "acme"), context: testContext)
            _ = try await sentral.tenancy.createProject(tenant: "acme", .init(name: "web"), context: testContext)
            let task = try await sentral.tenancy.deleteProject(tenant: "acme", "web", expected: nil, context: testContext)
            #expect(task.state == .queued)
            #expect(task.kind == "project.delete")
            await #expect { try await sentral.tenancy.createEnvironment(tenant: "acme", project: "web", .init(name: "prod"), context: testContext) }
                throws: { ($0 as? DataverketError)?.code == .conflict }
            // A second delete returns the in-flight task rather than a second one.
            let again = try await sentral.tenancy.deleteProject(tenant: "acme", "web", expected: nil, context: testContext)
            #expect(again.id == task.id)
        }
    }

    @Test("cancelling a queued task cancels it; a finished task cannot be cancelled", arguments: Backend.allCases)
    func cancelQueued(_ backend: Backend) async throws {
        try await withTenancy(backend) { database, sentral in
            _ = try await sentral.tenancy.createTenant(.init(name: "acme"), context: testContext)
            _ = try await sentral.tenancy.createProject(tenant: "acme", .init(name: "web"), context: testContext)
            let task = try await sentral.tenancy.deleteProject(tenant: "acme", "web", expected: nil, context: testContext)
            let cancelled = try await sentral.tasks.cancel(task.id, context: testContext)
            #expect(cancelled.state == .cancelled)
            #expect(cancelled.reason == "cancelled by test:suite")
            await #expect { try await sentral.tasks.cancel(task.id, context: testContext) }
                throws: { ($0 as? DataverketError)?.code == .conflict }
            await #expect { try await sentral.tasks.cancel("tsk_01M841FG94ZY8ZS953BJ4HXVBE", context: testContext) }
                throws: { ($0 as? DataverketError)?.code == .notFound }
        }
    }

    @Test("every mutation writes its outbox event in the same transaction", arguments: Backend.allCases)
    func outbox(_ backend: Backend) async throws {
        try await withTenancy(backend) { database, sentral in
            _ = try await sentral.tenancy.createTenant(.init(name: "acme"), context: testContext)
            _ = try await sentral.tenancy.updateTenant("acme", change: .init(description: "x"), expected: 1, context: testContext)
            let subjects = try await database.read { session in
                try await session.all("SELECT subject FROM \(session.table("tasks", "outbox")) ORDER BY seq").map {
                    try $0.decode(column: "subject", as: String.self)
                }
            }
            #expect(subjects == ["dv.sentral.evt.tenant.created", "dv.sentral.evt.tenant.updated"])
        }
    }
}
