#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
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

/// Sentral's task store: creation inside a mutation's transaction, reads, cancellation, and the
/// claim/progress/finish operations the runner uses.
public struct Tasks: Sendable {
    public let database: Database
    /// Signalled whenever a task is queued in this process, so the runner need not wait for its poll.
    public let wakeups: TaskWakeups

    public init(database: Database, wakeups: TaskWakeups = TaskWakeups()) {
        self.database = database
        self.wakeups = wakeups
    }

    static let columns = """
        id, kind, state, reason, progress, correlation_id, resource_kind, resource_id, resource_name, tenant_id, project_id,
        actor, params, attempts, cancel_requested, created_at, updated_at, started_at, finished_at, version
        """

    /// Queues a task in the caller's transaction.
    public func enqueue(
        _ session: Session, kind: String, resource: ResourceRef, tenantID: String?, projectID: String?,
        context: OperationContext, params: String = "{}"
    ) async throws -> TaskRecord {
        let now = Date()
        let task = TaskRecord(
            id: ResourceID.generate(prefix: "tsk", now: now).rawValue, kind: kind, state: .queued, reason: nil, progress: 0,
            correlationID: context.correlationID, resource: resource, tenantID: tenantID, projectID: projectID,
            actor: context.actor, params: params, attempts: 0, cancelRequested: false, createdAt: now, updatedAt: now,
            startedAt: nil, finishedAt: nil, version: 1)
        try await session.run("""
            INSERT INTO \(session.table("tasks", "tasks")) (\(unsafeRaw: Self.columns))
            VALUES (\(bind: task.id), \(bind: kind), 'queued', NULL, 0, \(bind: task.correlationID), \(bind: resource.kind),
                \(bind: resource.id), \(bind: resource.name), \(bind: tenantID), \(bind: projectID), \(bind: task.actor),
                \(bind: params), 0, 0, \(bind: StoreTime.encode(now)), \(bind: StoreTime.encode(now)), NULL, NULL, 1)
            """)
        try await Self.emit(session, task, verb: "queued")
        wakeups.signal()
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
        let before = try Paging.decode(cursor)
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

    /// Cancels a queued or blocked task at once; asks a running one to stop. Finished tasks are a conflict.
    public func cancel(_ id: String, context: OperationContext) async throws -> TaskRecord {
        try await database.transaction { session in
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
                        updated_at = \(bind: now), finished_at = \(bind: now), version = version + 1
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
    }

    /// The queued, running or blocked task of `kind` on a resource, if any.
    func active(_ session: Session, resourceID: String, kind: String) async throws -> TaskRecord? {
        let row = try await session.first("""
            SELECT \(unsafeRaw: Self.columns) FROM \(session.table("tasks", "tasks"))
            WHERE resource_id = \(bind: resourceID) AND kind = \(bind: kind) AND state IN ('queued', 'running', 'blocked')
            ORDER BY id DESC LIMIT 1
            """)
        return try row.map(Self.decode)
    }

    // MARK: runner operations

    /// Claims up to `limit` runnable tasks for `owner`: queued ones, and running ones whose lease expired
    /// (their runner died). Each claim is a compare-and-swap on the version, so two runners never share one.
    public func claim(owner: String, kinds: Set<String>, lease: Duration, limit: Int) async throws -> [TaskRecord] {
        let now = StoreTime.now()
        let candidates = try await database.read { session in
            try await session.all("""
                SELECT \(unsafeRaw: Self.columns) FROM \(session.table("tasks", "tasks"))
                WHERE state = 'queued' OR (state = 'running' AND lease_expires_at < \(bind: now))
                ORDER BY created_at LIMIT \(bind: limit * 4)
                """).map(Self.decode)
        }
        var claimed: [TaskRecord] = []
        for candidate in candidates where kinds.contains(candidate.kind) && claimed.count < limit {
            let expires = now + Int64(lease.components.seconds) * 1_000_000
            let task = try await database.transaction { session -> TaskRecord? in
                let touched = try await session.affected("""
                    UPDATE \(session.table("tasks", "tasks"))
                    SET state = 'running', lease_owner = \(bind: owner), lease_expires_at = \(bind: expires),
                        attempts = attempts + 1, started_at = COALESCE(started_at, \(bind: now)), updated_at = \(bind: now),
                        version = version + 1
                    WHERE id = \(bind: candidate.id) AND version = \(bind: candidate.version) RETURNING id
                    """)
                guard touched == 1, let task = try await find(session, candidate.id) else { return nil }
                if candidate.state == .queued { try await Self.emit(session, task, verb: "started") }
                return task
            }
            if let task { claimed.append(task) }
        }
        return claimed
    }

    /// Records progress and extends the lease; returns whether cancellation was requested.
    public func heartbeat(_ id: String, owner: String, progress: Int, lease: Duration) async throws -> Bool {
        try await database.transaction { session in
            let now = StoreTime.now()
            let rows = try await session.all("""
                UPDATE \(session.table("tasks", "tasks"))
                SET progress = \(bind: min(100, max(0, progress))), lease_expires_at = \(bind: now + Int64(lease.components.seconds) * 1_000_000),
                    updated_at = \(bind: now), version = version + 1
                WHERE id = \(bind: id) AND lease_owner = \(bind: owner) AND state = 'running'
                RETURNING cancel_requested
                """)
            guard let row = rows.first else {
                throw DataverketError(.conflict, "task \(id) is no longer leased by this runner")
            }
            let task = try await find(session, id)!
            try await Self.emit(session, task, verb: "progress")
            return try row.decode(column: "cancel_requested", as: Int.self) != 0
        }
    }

    /// Ends a task in `state` with `reason`.
    public func finish(_ id: String, owner: String, state: TaskState, reason: String?) async throws {
        precondition(state.isTerminal || state == .blocked)
        try await database.transaction { session in
            let now = StoreTime.now()
            let touched = try await session.affected("""
                UPDATE \(session.table("tasks", "tasks"))
                SET state = \(bind: state.rawValue), reason = \(bind: reason),
                    progress = \(unsafeRaw: state == .succeeded ? "100" : "progress"),
                    finished_at = \(bind: state.isTerminal ? now : nil as Int64?), updated_at = \(bind: now),
                    lease_owner = NULL, lease_expires_at = NULL, version = version + 1
                WHERE id = \(bind: id) AND lease_owner = \(bind: owner) AND state = 'running' RETURNING id
                """)
            guard touched == 1 else { throw DataverketError(.conflict, "task \(id) is no longer leased by this runner") }
            try await Self.emit(session, try await find(session, id)!, verb: state.rawValue)
        }
    }

    // MARK: helpers

    func find(_ session: Session, _ id: String) async throws -> TaskRecord? {
        try await session.first("SELECT \(unsafeRaw: Self.columns) FROM \(session.table("tasks", "tasks")) WHERE id = \(bind: id)").map(Self.decode)
    }

    static func emit(_ session: Session, _ task: TaskRecord, verb: String) async throws {
        let event = CloudEvent(
            source: "/dataverket/sentral/tasks", type: Subjects.task(verb: verb), subject: task.id,
            data: try JSONText(encoding: task), correlationid: task.correlationID, tenant: task.tenantID,
            project: task.projectID, actor: task.actor)
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
            resource: ResourceRef(
                kind: try row.decode(column: "resource_kind", as: String.self),
                id: try row.decode(column: "resource_id", as: String.self),
                name: try row.decode(column: "resource_name", as: String?.self)),
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
            version: try row.decode(column: "version", as: Int64.self))
    }
}

/// Wakes the task runner when a task is queued in this process.
public typealias TaskWakeups = Signal
