#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import DataverketCore
import DataverketStore
import SQLKit
import DataverketBus
import Logging
import ServiceLifecycle

/// An audit record as read back.
public struct AuditEntry: Sendable, Hashable {
    public var id: String
    public var time: Date
    public var actor: String
    public var action: String
    public var resource: ResourceRef
    public var tenantID: String?
    public var projectID: String?
    public var beforeVersion: Int64?
    public var afterVersion: Int64?
    public var correlationID: String
    public var sourceAddress: String?
    public var taskID: String?
}

public struct AuditFilter: Sendable {
    public var resourceID: String?
    public var actor: String?
    public var action: String?
    public var since: Date?
    public var until: Date?
    public init(resourceID: String? = nil, actor: String? = nil, action: String? = nil, since: Date? = nil, until: Date? = nil) {
        self.resourceID = resourceID
        self.actor = actor
        self.action = action
        self.since = since
        self.until = until
    }
}

/// Reads the audit log, newest first.
public struct AuditLog: Sendable {
    public let database: Database
    public init(database: Database) { self.database = database }

    public func list(_ filter: AuditFilter, limit: Int?, cursor: String?) async throws -> Page<AuditEntry> {
        let limit = try Paging.limit(limit)
        let before = try Paging.decodeID(cursor)
        if let since = filter.since, let until = filter.until, since >= until {
            throw DataverketError.invalid("since", "must be before until")
        }
        return try await database.read { session in
            var query = SQLQueryString("""
                SELECT id, at, actor, action, resource_kind, resource_id, resource_name, tenant_id, project_id, before_version,
                    after_version, correlation_id, source_address, task_id FROM \(session.table("audit", "records")) WHERE 1 = 1
                """)
            func and(_ clause: String, _ value: some Encodable & Sendable) {
                query.appendInterpolation(unsafeRaw: " AND \(clause) ")
                query.appendInterpolation(bind: value)
            }
            if let before { and("id <", before) }
            if let value = filter.resourceID { and("resource_id =", value) }
            if let value = filter.actor { and("actor =", value) }
            if let value = filter.action { and("action =", value) }
            if let value = filter.since { and("at >=", StoreTime.encode(value)) }
            if let value = filter.until { and("at <", StoreTime.encode(value)) }
            query.appendInterpolation(unsafeRaw: " ORDER BY id DESC LIMIT ")
            query.appendInterpolation(bind: limit + 1)
            let rows = try await session.all(query)
            let entries = try rows.map { row in
                AuditEntry(
                    id: try row.decode(column: "id", as: String.self),
                    time: StoreTime.decode(try row.decode(column: "at", as: Int64.self)),
                    actor: try row.decode(column: "actor", as: String.self),
                    action: try row.decode(column: "action", as: String.self),
                    resource: try ResourceRef(row: row),
                    tenantID: try row.decode(column: "tenant_id", as: String?.self),
                    projectID: try row.decode(column: "project_id", as: String?.self),
                    beforeVersion: try row.decode(column: "before_version", as: Int64?.self),
                    afterVersion: try row.decode(column: "after_version", as: Int64?.self),
                    correlationID: try row.decode(column: "correlation_id", as: String.self),
                    sourceAddress: try row.decode(column: "source_address", as: String?.self),
                    taskID: try row.decode(column: "task_id", as: String?.self))
            }
            return Paging.page(entries, limit: limit) { $0.id }
        }
    }
}

/// The task engine over one database: task rows and their dispatch, the audit log, the health registry — what
/// every domain service builds its work on.
public struct TaskEngine: Sendable {
    public let database: Database
    public let tasks: Tasks
    public let audit: AuditLog
    public let health: HealthRegistry
    /// Where the built-in `saga-demo` task leaves its effects.
    public var demoLedger = DemoLedger()

    public init(database: Database, bus: (any Bus)? = nil, health: HealthRegistry = HealthRegistry()) {
        self.database = database
        self.tasks = Tasks(database: database, bus: bus)
        self.audit = AuditLog(database: database)
        self.health = health
    }

    /// The engine's contexts: `tasks`, `audit`, `api` (idempotency keys).
    public static let migrations = TaskEngineSchema.migrations

    /// The built-in task kinds (`noop`, `sleep`, `saga-demo`).
    public var builtinKinds: [TaskKind] {
        [BuiltinTasks.noop, BuiltinTasks.sleep(), BuiltinTasks.sagaDemo(ledger: demoLedger)]
    }

    /// The services that drive the engine over `bus`: the outbox relay, the task projector, the blocked-task
    /// resumer and the health listener.
    public func services(bus: any Bus, logger: Logger) -> [any Service] {
        [
            OutboxRelay(database: database, bus: bus, logger: logger),
            TaskProjector(tasks: tasks, bus: bus, logger: logger),
            BlockedTaskResumer(tasks: tasks, health: health, logger: logger),
            HealthListener(registry: health, bus: bus, logger: logger),
        ]
    }

    /// A worker for `service`'s task kinds (commands `dv.<service>.cmd.>`), over `bus`: it runs a task only
    /// while its row says so and checks hard dependencies against the health registry.
    public func worker(service: String, kinds: [TaskKind], bus: any Bus, logger: Logger, ackWait: Duration = .seconds(30),
                       concurrency: Int = 8) -> TaskWorker {
        let tasks = self.tasks
        let health = self.health
        return TaskWorker(
            service: service, kinds: kinds, bus: bus, database: database, logger: logger, concurrency: concurrency,
            ackWait: ackWait, standing: { try await tasks.standing($0) }, dependencyStatus: { await health.status(of: $0) })
    }

    /// Periodic housekeeping: expired idempotency keys, outbox rows published more than 7 days ago, task claims a
    /// killed worker left behind more than a day ago.
    public func housekeeping() async throws {
        try await database.transaction { try await Idempotency.purgeExpired($0) }
        let cutoff = StoreTime.now() - 7 * 86_400 * 1_000_000
        try await database.transaction { session in
            try await session.run("""
                DELETE FROM \(session.table("tasks", "outbox")) WHERE published_at IS NOT NULL AND published_at < \(bind: cutoff)
                """)
        }
        let lapsed = StoreTime.now() - 86_400 * 1_000_000
        try await database.transaction { session in
            try await session.run("""
                DELETE FROM \(session.table("tasks", "leases")) WHERE name LIKE 'task:%' AND expires_at < \(bind: lapsed)
                """)
        }
    }
}
