#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import DataverketBus
import DataverketCore
import DataverketStore
import SQLKit

/// A task's lifecycle state.
public struct TaskState: Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String
    private init(_ rawValue: String) { self.rawValue = rawValue }

    public init?(rawValue: String) {
        guard let known = Self.all.first(where: { $0.rawValue == rawValue }) else { return nil }
        self = known
    }

    public static let queued = TaskState("queued")
    public static let running = TaskState("running")
    public static let blocked = TaskState("blocked")
    public static let succeeded = TaskState("succeeded")
    public static let failed = TaskState("failed")
    public static let cancelled = TaskState("cancelled")
    public static let all: [TaskState] = [.queued, .running, .blocked, .succeeded, .failed, .cancelled]

    public var isTerminal: Bool { self == .succeeded || self == .failed || self == .cancelled }
    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        guard let state = TaskState(rawValue: raw) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unknown task state \(raw)"))
        }
        self = state
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// A unit of asynchronous work, as stored.
public struct TaskRecord: Codable, Sendable, Hashable {
    public var id: String
    public var kind: String
    public var state: TaskState
    public var reason: String?
    public var progress: Int
    public var correlationID: String
    public var resource: ResourceRef
    public var tenantID: String?
    public var projectID: String?
    public var actor: String
    public var params: String
    public var attempts: Int
    public var cancelRequested: Bool
    public var createdAt: Date
    public var updatedAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var version: Int64
    /// The dependency a blocked task waits for.
    public var blockedOn: String?

    /// Where an operator reads what to do about this task, when it needs one.
    public var runbook: String? {
        if state == .blocked { return "docs/runbooks/dependency-blocked.md" }
        if state == .failed || state == .cancelled, reason?.contains("manual cleanup needed") == true {
            return "docs/runbooks/undo-failed.md"
        }
        return nil
    }
}

/// Filters for listing tasks.
public struct TaskFilter: Sendable {
    public var state: TaskState?
    public var kind: String?
    public var resourceID: String?
    public init(state: TaskState? = nil, kind: String? = nil, resourceID: String? = nil) {
        self.state = state
        self.kind = kind
        self.resourceID = resourceID
    }
}

/// The task store: creation inside a mutation's transaction (with the command for the worker in
/// the outbox), reads, cancellation, and the projection of workers' reports onto the rows.
public struct Tasks: Sendable {
    public let database: Database
    /// Where cancellations of running tasks are broadcast (`dv.task.ctl.cancel`), when there is a bus.
    public let bus: (any Bus)?

    public init(database: Database, bus: (any Bus)? = nil) {
        self.database = database
        self.bus = bus
    }

    static let columns = """
        id, kind, state, reason, progress, correlation_id, resource_kind, resource_id, resource_name, tenant_id, project_id,
        actor, params, attempts, cancel_requested, created_at, updated_at, started_at, finished_at, version, blocked_on
        """

    /// Queues a task in the caller's transaction and writes its command `dv.<service>.cmd.<kind>` to the
    /// outbox, so the task exists if and only if its command will reach a worker.
    public func enqueue(
        _ session: Session, kind: String, service: String = "sentral", resource: ResourceRef, tenantID: String?,
        projectID: String?, context: OperationContext, params: String = "{}", deadline: Duration = .seconds(3600)
    ) async throws -> TaskRecord {
        let now = Date()
        let task = TaskRecord(
            id: ResourceID.generate(prefix: "tsk", now: now).rawValue, kind: kind, state: .queued, reason: nil, progress: 0,
            correlationID: context.correlationID, resource: resource, tenantID: tenantID, projectID: projectID,
            actor: context.actor, params: params, attempts: 0, cancelRequested: false, createdAt: now, updatedAt: now,
            startedAt: nil, finishedAt: nil, version: 1, blockedOn: nil)
        let deadlineAt = now.addingTimeInterval(Double(deadline.components.seconds))
        try await session.run("""
            INSERT INTO \(session.table("tasks", "tasks")) (\(unsafeRaw: Self.columns), service, deadline_at)
            VALUES (\(bind: task.id), \(bind: kind), 'queued', NULL, 0, \(bind: task.correlationID), \(bind: resource.kind),
                \(bind: resource.id), \(bind: resource.name), \(bind: tenantID), \(bind: projectID), \(bind: task.actor),
                \(bind: params), 0, 0, \(bind: StoreTime.encode(now)), \(bind: StoreTime.encode(now)), NULL, NULL, 1, NULL,
                \(bind: service), \(bind: StoreTime.encode(deadlineAt)))
            """)
        try await Self.emit(session, task, verb: "queued")
        try await Self.command(session, task, service: service, deadline: deadlineAt)
        return task
    }

    public func get(_ id: String) async throws -> TaskRecord {
        try await database.read { session in
            guard let task = try await find(session, id) else { throw DataverketError.notFound("task", id) }
            return task
        }
    }

    /// Tasks newest first.
    public func list(_ filter: TaskFilter, limit: Int?, cursor: String?) async throws -> Page<TaskRecord> {
        let limit = try Paging.limit(limit)
        let before = try Paging.decodeID(cursor)
        return try await database.read { session in
            var query = SQLQueryString("SELECT \(unsafeRaw: Self.columns) FROM \(session.table("tasks", "tasks")) WHERE 1 = 1")
            if let before { query.appendInterpolation(unsafeRaw: " AND id < "); query.appendInterpolation(bind: before) }
            if let state = filter.state { query.appendInterpolation(unsafeRaw: " AND state = "); query.appendInterpolation(bind: state.rawValue) }
            if let kind = filter.kind { query.appendInterpolation(unsafeRaw: " AND kind = "); query.appendInterpolation(bind: kind) }
            if let resource = filter.resourceID { query.appendInterpolation(unsafeRaw: " AND resource_id = "); query.appendInterpolation(bind: resource) }
            query.appendInterpolation(unsafeRaw: " ORDER BY id DESC LIMIT ")
            query.appendInterpolation(bind: limit + 1)
            let rows = try await session.all(query)
            return Paging.page(try rows.map(Self.decode), limit: limit) { $0.id }
        }
    }

    /// Task counts by state (for metrics).
    public func countsByState() async throws -> [TaskState: Int] {
        try await database.read { session in
            let rows = try await session.all("SELECT state, COUNT(*) AS n FROM \(session.table("tasks", "tasks")) GROUP BY state")
            var counts: [TaskState: Int] = [:]
            for state in TaskState.all { counts[state] = 0 }
            for row in rows {
                if let state = TaskState(rawValue: try row.decode(column: "state", as: String.self)) {
                    counts[state] = try row.decode(column: "n", as: Int.self)
                }
            }
            return counts
        }
    }

    /// Cancels a queued or blocked task at once; asks a running one to stop (the cancellation is broadcast
    /// to the workers, and the task ends `cancelled` when its worker reports it). Finished tasks are a conflict.
    public func cancel(_ id: String, context: OperationContext) async throws -> TaskRecord {
        let updated = try await database.transaction { session in
            guard let task = try await find(session, id) else { throw DataverketError.notFound("task", id) }
            if task.state.isTerminal {
                throw DataverketError(.conflict, "task \(id) already \(task.state); only queued, blocked or running tasks can be cancelled")
            }
            let now = StoreTime.now()
            let reason = "cancelled by \(context.actor)"
            if task.state == .running {
                try await session.run("""
                    UPDATE \(session.table("tasks", "tasks")) SET cancel_requested = 1, updated_at = \(bind: now), version = version + 1
                    WHERE id = \(bind: id)
                    """)
            } else {
                try await session.run("""
                    UPDATE \(session.table("tasks", "tasks")) SET state = 'cancelled', reason = \(bind: reason), cancel_requested = 1,
                        blocked_on = NULL, updated_at = \(bind: now), finished_at = \(bind: now), version = version + 1
                    WHERE id = \(bind: id)
                    """)
            }
            let updated = try await find(session, id)!
            try await Audit.append(
                session, context: context, action: "task.cancel", resource: ResourceRef(kind: "task", id: id, name: task.kind),
                tenantID: task.tenantID, projectID: task.projectID, beforeVersion: task.version, afterVersion: updated.version)
            if updated.state == .cancelled { try await Self.emit(session, updated, verb: "cancelled") }
            return updated
        }
        if let bus {
            try? await bus.broadcast(BusMessage(subject: TaskControl.cancelSubject, id: ULID.make(), payload: Array(id.utf8)))
        }
        return updated
    }

    /// Whether a worker should (still) run the task: it exists, is not finished and not being cancelled.
    public func shouldRun(_ id: String) async throws -> Bool {
        try await standing(id) == .due
    }

    /// Where the task stands for a worker that received its command: due, cancelled (or being cancelled, or gone), or
    /// finished (succeeded or failed) already.
    public func standing(_ id: String) async throws -> TaskStanding {
        guard let task = try await database.read({ try await find($0, id) }) else { return .cancelled }
        if task.state == .succeeded || task.state == .failed { return .finished }
        return task.state.isTerminal || task.cancelRequested ? .cancelled : .due
    }

    /// The queued, running or blocked task of `kind` on a resource, if any.
    public func active(_ session: Session, resourceID: String, kind: String) async throws -> TaskRecord? {
        let row = try await session.first("""
            SELECT \(unsafeRaw: Self.columns) FROM \(session.table("tasks", "tasks"))
            WHERE resource_id = \(bind: resourceID) AND kind = \(bind: kind) AND state IN ('queued', 'running', 'blocked')
            ORDER BY id DESC LIMIT 1
            """)
        return try row.map(Self.decode)
    }

    // MARK: projection of worker reports

    /// Applies one worker report to its task row. Finished tasks stay finished; reports for unknown tasks
    /// are ignored. Returns whether the row changed.
    @discardableResult
    public func apply(_ report: TaskReport) async throws -> Bool {
        try await database.transaction { session in try await applyReport(session, report) }
    }

    /// Applies reports in one transaction, in order (two reports of one task land as they would one after the other):
    /// one commit for the batch. All or none: when one fails, none is applied. Returns, per report, whether its row
    /// changed.
    @discardableResult
    public func apply(_ reports: [TaskReport]) async throws -> [Bool] {
        try await database.transaction { session in
            var changed: [Bool] = []
            for report in reports { changed.append(try await applyReport(session, report)) }
            return changed
        }
    }

    func applyReport(_ session: Session, _ report: TaskReport) async throws -> Bool {
        guard let task = try await find(session, report.taskID), !task.state.isTerminal else { return false }
        let now = StoreTime.now()
        let table = session.table("tasks", "tasks")
        switch report.state {
        case .running:
            guard task.state != .blocked || report.attempt > task.attempts else { return false }
            try await session.run("""
                UPDATE \(table) SET state = 'running', progress = \(bind: max(task.progress, min(100, report.progress))),
                    reason = \(bind: report.reason), attempts = \(bind: max(task.attempts, report.attempt)),
                    started_at = COALESCE(started_at, \(bind: now)), updated_at = \(bind: now), version = version + 1
                WHERE id = \(bind: task.id)
                """)
        case .blocked:
            try await session.run("""
                UPDATE \(table) SET state = 'blocked', reason = \(bind: report.reason), blocked_on = \(bind: report.dependency),
                    attempts = \(bind: max(task.attempts, report.attempt)), updated_at = \(bind: now), version = version + 1
                WHERE id = \(bind: task.id)
                """)
        case .succeeded, .failed, .cancelled:
            try await session.run("""
                UPDATE \(table) SET state = \(bind: report.state.rawValue), reason = \(bind: report.reason),
                    progress = \(unsafeRaw: report.state == .succeeded ? "100" : "progress"),
                    attempts = \(bind: max(task.attempts, report.attempt)), blocked_on = NULL,
                    started_at = COALESCE(started_at, \(bind: now)), finished_at = \(bind: now), updated_at = \(bind: now),
                    version = version + 1
                WHERE id = \(bind: task.id)
                """)
        default:
            return false
        }
        let updated = try await find(session, task.id)!
        if updated.state != task.state || updated.state.isTerminal {
            try await Self.emit(session, updated, verb: updated.state.rawValue)
        }
        return true
    }

    /// Blocked tasks waiting on `dependency`: queued again, each with a new command. Called when the
    /// dependency reports healthy, so nothing retries while it is down.
    @discardableResult
    public func resumeBlocked(on dependency: String) async throws -> Int {
        try await database.transaction { session in
            let rows = try await session.all("""
                SELECT \(unsafeRaw: Self.columns), service, deadline_at FROM \(session.table("tasks", "tasks"))
                WHERE state = 'blocked' AND blocked_on = \(bind: dependency) ORDER BY id
                """)
            for row in rows {
                let task = try Self.decode(row)
                let service = try row.decode(column: "service", as: String.self)
                let deadline = StoreTime.decode(try row.decode(column: "deadline_at", as: Int64.self))
                try await session.run("""
                    UPDATE \(session.table("tasks", "tasks")) SET state = 'queued', blocked_on = NULL,
                        reason = \(bind: "resumed: \(dependency) is healthy again"), updated_at = \(bind: StoreTime.now()), version = version + 1
                    WHERE id = \(bind: task.id)
                    """)
                try await Self.command(session, try await find(session, task.id)!, service: service, deadline: deadline)
            }
            return rows.count
        }
    }

    /// Dependencies some blocked task waits on.
    public func blockingDependencies() async throws -> Set<String> {
        try await database.read { session in
            Set(try await session.all("""
                SELECT DISTINCT blocked_on FROM \(session.table("tasks", "tasks")) WHERE state = 'blocked' AND blocked_on IS NOT NULL
                """).map { try $0.decode(column: "blocked_on", as: String.self) })
        }
    }

    // MARK: helpers

    func find(_ session: Session, _ id: String) async throws -> TaskRecord? {
        try await session.first("SELECT \(unsafeRaw: Self.columns) FROM \(session.table("tasks", "tasks")) WHERE id = \(bind: id)").map(Self.decode)
    }

    /// The engine's notification that a task changed (the subject keeps its historical name): `dv.sentral.evt.task.<verb>` (workers' reports use
    /// `dv.task.evt.<verb>`).
    static func emit(_ session: Session, _ task: TaskRecord, verb: String) async throws {
        let event = CloudEvent(
            source: "/dataverket/sentral/tasks", type: Subjects.event(service: "sentral", entity: "task", verb: verb), subject: task.id,
            data: try JSONText(encoding: task), correlationid: task.correlationID, tenant: task.tenantID,
            project: task.projectID, actor: task.actor)
        try await Outbox.append(session, event: event, resourceKey: task.id)
    }

    /// The worker's command for `task`, in the outbox: `dv.<service>.cmd.<kind>`, a fresh event id per dispatch.
    static func command(_ session: Session, _ task: TaskRecord, service: String, deadline: Date) async throws {
        let event = CloudEvent(
            source: "/dataverket/sentral/tasks", type: Subjects.command(service: service, action: task.kind), subject: task.id,
            data: try JSONText(encoding: TaskCommand(task: task, deadline: deadline)), correlationid: task.correlationID,
            tenant: task.tenantID, project: task.projectID, actor: task.actor)
        try await Outbox.append(session, event: event, resourceKey: task.id)
    }

    static func decode(_ row: any SQLRow) throws -> TaskRecord {
        let stateText = try row.decode(column: "state", as: String.self)
        guard let state = TaskState(rawValue: stateText) else {
            throw DataverketError(.storeFailure, "task row has unknown state '\(stateText)'")
        }
        return TaskRecord(
            id: try row.decode(column: "id", as: String.self),
            kind: try row.decode(column: "kind", as: String.self),
            state: state,
            reason: try row.decode(column: "reason", as: String?.self),
            progress: try row.decode(column: "progress", as: Int.self),
            correlationID: try row.decode(column: "correlation_id", as: String.self),
            resource: try ResourceRef(row: row),
            tenantID: try row.decode(column: "tenant_id", as: String?.self),
            projectID: try row.decode(column: "project_id", as: String?.self),
            actor: try row.decode(column: "actor", as: String.self),
            params: try row.decode(column: "params", as: String.self),
            attempts: try row.decode(column: "attempts", as: Int.self),
            cancelRequested: try row.decode(column: "cancel_requested", as: Int.self) != 0,
            createdAt: StoreTime.decode(try row.decode(column: "created_at", as: Int64.self)),
            updatedAt: StoreTime.decode(try row.decode(column: "updated_at", as: Int64.self)),
            startedAt: try row.decode(column: "started_at", as: Int64?.self).map(StoreTime.decode),
            finishedAt: try row.decode(column: "finished_at", as: Int64?.self).map(StoreTime.decode),
            version: try row.decode(column: "version", as: Int64.self),
            blockedOn: try row.decode(column: "blocked_on", as: String?.self))
    }
}

/// Wakes the task runner when a task is queued in this process.
public typealias TaskWakeups = Signal
