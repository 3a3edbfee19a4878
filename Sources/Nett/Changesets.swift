import Foundation
import DataverketBus
import DataverketCore
import NettIntent
import DataverketStore
import Logging
import DataverketTasks
import ServiceLifecycle
import SQLKit

/// A change to the network: a verified intent, applied by a task (`dv.nett.cmd.network-apply`) device by device
/// with confirmed commits and probes (`Rollout`). `kind`: `apply` (`dvnet apply`), `remediate` (the applied intent
/// again, for drift) or `accept` (drift folded into the intent; waits for an admin's approval).
public struct ChangesetRecord: Codable, Sendable, Hashable {
    public var id: String
    public var kind: String
    /// `pending-approval`, `queued`, `applying`, `applied`, `rolled-back`, `failed`.
    public var status: String
    public var description: String?
    public var intent: NetworkIntent
    public var devices: [String]?
    public var confirmWithin: Int
    /// What opens and closes in the reachability matrix against the applied intent, and each device's diff.
    public var opened: [String]
    public var closed: [String]
    public var plan: [RolloutStep]
    public var report: RolloutReport?
    /// While applying: what each device ran before its commit (cleared when the rollout ends).
    public var checkpoints: [DeviceCheckpoint]?
    public var taskID: String?
    public var createdBy: String
    public var approvedBy: String?
    public var createdAt: Date
    public var updatedAt: Date
}

public struct Changesets: Sendable {
    public static let service = "nett"
    public static let applyKind = "network-apply"

    public let database: Database
    public let tasks: Tasks

    public init(database: Database, tasks: Tasks) {
        self.database = database
        self.tasks = tasks
    }

    static func table(_ session: Session) -> TableName { session.table("nett", "changesets") }

    /// Verifies the intent (422 naming every problem, nothing stored) and records the changeset; unless it waits
    /// for approval, its task is queued in the same transaction.
    public func create(_ intent: NetworkIntent, kind: String = "apply", description: String? = nil, devices: [String]? = nil,
                       confirmWithin: Int = 120, plan: [RolloutStep], needsApproval: Bool = false, runBy: String? = nil,
                       context: OperationContext) async throws -> ChangesetRecord {
        let report = IntentVerifier.verify(intent)
        guard report.ok else {
            throw DataverketError(
                .invalidArgument, "the intent has \(report.problems.count) problem\(report.problems.count == 1 ? "" : "s"); no device was touched",
                violations: report.problems.map { .init(field: $0.objects.joined(separator: ", "), message: "\($0.code): \($0.message)") })
        }
        try Validation.checkText(description, field: "description", max: 1024)
        guard (5...3600).contains(confirmWithin) else { throw DataverketError.invalid("confirmWithin", "must be 5–3600 seconds") }
        let applied = try await self.applied()
        let (opened, closed) = report.matrix.diff(from: applied.map(IntentVerifier.reachability) ?? ReachabilityMatrix(allowed: [:]))
        let now = Date()
        let proposed = ChangesetRecord(
            id: ResourceID.generate(prefix: "chg", now: now).rawValue, kind: kind, status: needsApproval ? "pending-approval" : "queued",
            description: description, intent: intent, devices: devices, confirmWithin: confirmWithin, opened: opened, closed: closed,
            plan: plan, report: nil, checkpoints: nil, taskID: nil, createdBy: context.actor, approvedBy: nil, createdAt: now, updatedAt: now)
        let tasks = self.tasks
        return try await database.transaction { session in
            var record = proposed
            if let key = context.idempotencyKey,
               let row = try await session.first("SELECT body FROM \(Self.table(session)) WHERE idempotency_key = \(bind: key)") {
                return try JSONColumn.decode(ChangesetRecord.self, try row.decode(column: "body", as: String.self))
            }
            if let runBy {
                // Applied by the task that makes it (an attachment), not by a task of its own.
                record.taskID = runBy
            } else if !needsApproval {
                record.taskID = try await Self.enqueue(session, tasks, record, context: context).id
            }
            try await session.run("""
                INSERT INTO \(Self.table(session)) (id, status, idempotency_key, body, created_at)
                VALUES (\(bind: record.id), \(bind: record.status), \(bind: context.idempotencyKey), \(bind: try JSONColumn.encode(record)),
                    \(bind: StoreTime.encode(now)))
                """)
            try await Audit.append(session, context: context, action: "nett.changeset.\(needsApproval ? "propose" : "create")",
                                   resource: Self.resource(record), tenantID: nil, projectID: nil, beforeVersion: nil, afterVersion: 1)
            return record
        }
    }

    static func resource(_ record: ChangesetRecord) -> ResourceRef {
        ResourceRef(kind: "network-changeset", id: record.id, name: record.kind)
    }

    static func enqueue(_ session: Session, _ tasks: Tasks, _ record: ChangesetRecord, context: OperationContext) async throws -> TaskRecord {
        try await tasks.enqueue(session, kind: applyKind, service: service, resource: resource(record), tenantID: nil, projectID: nil,
                                context: context, params: try JSONColumn.encode(["changeset": record.id]),
                                deadline: .seconds(Int64(record.confirmWithin) + 900))
    }

    /// An admin other than its author approves a changeset that waits for approval; its task is queued.
    public func approve(_ id: String, context: OperationContext) async throws -> ChangesetRecord {
        let tasks = self.tasks
        return try await database.transaction { session in
            var record = try await Self.load(session, id)
            guard record.status == "pending-approval" else {
                throw DataverketError(.conflict, "changeset \(id) is \(record.status); only a changeset pending approval can be approved")
            }
            guard record.createdBy != context.actor else {
                throw DataverketError(.forbidden, "\(context.actor) proposed changeset \(id); another admin must approve it")
            }
            record.approvedBy = context.actor
            record.status = "queued"
            record.updatedAt = Date()
            record.taskID = try await Self.enqueue(session, tasks, record, context: context).id
            try await Self.save(session, record)
            try await Audit.append(session, context: context, action: "nett.changeset.approve", resource: Self.resource(record),
                                   tenantID: nil, projectID: nil, beforeVersion: 1, afterVersion: 2)
            return record
        }
    }

    /// The changeset created with `key` (as `Idempotency-Key`), if any.
    public func find(idempotencyKey key: String) async throws -> ChangesetRecord? {
        try await database.read { session in
            try await session.first("SELECT body FROM \(Self.table(session)) WHERE idempotency_key = \(bind: key)").map {
                try JSONColumn.decode(ChangesetRecord.self, try $0.decode(column: "body", as: String.self))
            }
        }
    }

    public func get(_ id: String) async throws -> ChangesetRecord {
        try await database.read { session in try await Self.load(session, id) }
    }

    public func list(limit: Int?, cursor: String?) async throws -> Page<ChangesetRecord> {
        let limit = try Paging.limit(limit)
        let before = try Paging.decode(cursor)
        return try await database.read { session in
            var query = SQLQueryString("SELECT body FROM \(Self.table(session)) WHERE 1 = 1")
            if let before { query.appendInterpolation(unsafeRaw: " AND id < "); query.appendInterpolation(bind: before) }
            query.appendInterpolation(unsafeRaw: " ORDER BY id DESC LIMIT ")
            query.appendInterpolation(bind: limit + 1)
            let rows = try await session.all(query)
            return Paging.page(try rows.map { try JSONColumn.decode(ChangesetRecord.self, try $0.decode(column: "body", as: String.self)) },
                               limit: limit) { $0.id }
        }
    }

    /// The intent of the newest applied `apply` or `accept` changeset: what the network should be.
    public func applied() async throws -> NetworkIntent? {
        try await database.read { session in
            let rows = try await session.all("""
                SELECT body FROM \(Self.table(session)) WHERE status = 'applied' ORDER BY id DESC LIMIT 50
                """)
            for row in rows {
                let record = try JSONColumn.decode(ChangesetRecord.self, try row.decode(column: "body", as: String.self))
                if record.kind != "remediate" && record.devices == nil { return record.intent }
            }
            return nil
        }
    }

    func update(_ id: String, _ change: @Sendable (inout ChangesetRecord) -> Void) async throws -> ChangesetRecord {
        try await database.transaction { session in
            var record = try await Self.load(session, id)
            change(&record)
            record.updatedAt = Date()
            try await Self.save(session, record)
            return record
        }
    }

    static func load(_ session: Session, _ id: String) async throws -> ChangesetRecord {
        guard let row = try await session.first("SELECT body FROM \(table(session)) WHERE id = \(bind: id)") else {
            throw DataverketError.notFound("changeset", id)
        }
        return try JSONColumn.decode(ChangesetRecord.self, try row.decode(column: "body", as: String.self))
    }

    static func save(_ session: Session, _ record: ChangesetRecord) async throws {
        try await session.run("""
            UPDATE \(table(session)) SET status = \(bind: record.status), body = \(bind: try JSONColumn.encode(record)) WHERE id = \(bind: record.id)
            """)
    }
}

/// Nett's changesets, devices and drift over one control plane.
public struct NettPlane: Sendable {
    public let changesets: Changesets
    /// Nil when no devices file is configured: changesets are refused, drift is empty.
    public let devices: NetworkDevices?
    public let logger: Logger

    public init(engine: TaskEngine, devices: NetworkDevices?, logger: Logger) {
        self.changesets = Changesets(database: engine.database, tasks: engine.tasks)
        self.devices = devices
        self.logger = logger
    }

    public var rollout: Rollout? { devices.map { Rollout(devices: $0, logger: logger) } }

    public func requireDevices() throws(DataverketError) -> NetworkDevices {
        guard let devices else {
            throw DataverketError(.notConfigured, "no network devices are configured: set DV_NETT_DEVICES to a devices file (scripts/lab fabric up writes one)")
        }
        return devices
    }

    /// Verifies the intent, plans it per device, and queues it (or, for `accept`, waits for approval).
    public func propose(_ intent: NetworkIntent, kind: String = "apply", description: String? = nil, devices only: [String]? = nil,
                        confirmWithin: Int = 120, needsApproval: Bool = false, context: OperationContext) async throws -> ChangesetRecord {
        let report = IntentVerifier.verify(intent)
        if !report.ok {
            // The verdict comes before anything else, devices included: a 422 naming every problem.
            return try await changesets.create(intent, kind: kind, description: description, devices: only, confirmWithin: confirmWithin,
                                               plan: [], needsApproval: needsApproval, context: context)
        }
        let devices = try requireDevices()
        if let only {
            let known = Set(devices.targets(for: intent).map(\.name))
            for name in only where !known.contains(name) {
                throw DataverketError.invalid("devices", "\(name) is not a device of this intent with a driver (\(known.sorted().joined(separator: ", ")))")
            }
        }
        let plan = await Rollout(devices: devices, logger: logger).plan(intent, only: only.map(Set.init))
        return try await changesets.create(intent, kind: kind, description: description, devices: only, confirmWithin: confirmWithin,
                                           plan: plan, needsApproval: needsApproval, context: context)
    }

    /// Reads every device (or one) back and compares it with what the applied intent renders.
    public func drift(device: String? = nil) async throws -> [DriftItem] {
        guard let devices, let intent = try await changesets.applied() else { return [] }
        let targets = devices.targets(for: intent, only: device.map { [$0] })
        if let device, targets.isEmpty { throw DataverketError.notFound("device", device) }
        var items: [DriftItem] = []
        for target in targets {
            let rendered = try devices.renderer(for: target).render(intent, device: target.name)
            let running = try await devices.driver(for: target).runningConfig()
            items += DriftDetector.compare(device: target.name, driver: target.driver, rendered: rendered, running: running)
        }
        return items
    }

    /// Pushes the applied intent to one device again.
    public func remediate(device: String, context: OperationContext) async throws -> ChangesetRecord {
        guard let intent = try await changesets.applied() else {
            throw DataverketError(.conflict, "no intent has been applied yet; nothing to remediate towards")
        }
        return try await propose(intent, kind: "remediate", description: "remediate drift on \(device)", devices: [device], context: context)
    }

    /// Folds a device's drift into the applied intent, as a changeset waiting for an admin's approval.
    public func accept(device: String, context: OperationContext) async throws -> ChangesetRecord {
        guard let intent = try await changesets.applied() else { throw DataverketError(.conflict, "no intent has been applied yet") }
        let items = try await drift(device: device)
        guard !items.isEmpty else { throw DataverketError(.conflict, "\(device) has no drift to accept") }
        let folded = try DriftDetector.fold(items, into: intent)
        return try await propose(folded, kind: "accept", description: "accept drift on \(device): "
                                    + items.map { "\($0.kind) \($0.object)" }.joined(separator: ", "),
                                 needsApproval: true, context: context)
    }

    /// The task that applies a changeset. Not retried: a failed rollout has rolled itself back, and applying it
    /// again is the operator's decision. Each device's configuration is stored with the changeset before its
    /// commit; if the worker applying it is lost (its confirm timers are lost with it), the task is given up on
    /// its next delivery and the compensation restores those checkpoints.
    public var taskKinds: [TaskKind] {
        let changesets = self.changesets
        let rollout = self.rollout
        let logger = self.logger
        return [TaskKind(name: Changesets.applyKind, retry: RetryPolicy(maxAttempts: 1), timeout: .seconds(3600), handler: { execution in
            let parameters = try JSONColumn.decode([String: String].self, execution.task.params)
            guard let id = parameters["changeset"] else { throw PermanentFailure("the task names no changeset") }
            guard let rollout else { throw PermanentFailure("no network devices are configured (DV_NETT_DEVICES)") }
            try await Self.run(changeset: id, changesets: changesets, rollout: rollout, execution: execution, logger: logger)
        }, compensation: { execution in
            let parameters = try JSONColumn.decode([String: String].self, execution.task.params)
            guard let id = parameters["changeset"] else { return nil }
            return try await Self.giveUp(id, reason: execution.task.reason ?? "the task was given up", changesets: changesets, rollout: rollout)
        }), attachKind]
    }

    /// Rolls a changeset out (`applying` → `applied`, `rolled-back` or `failed`, with its report); a failed rollout
    /// throws its failure as permanent.
    static func run(changeset id: String, changesets: Changesets, rollout: Rollout, execution: TaskExecution, logger: Logger) async throws {
        let record = try await changesets.update(id) { $0.status = "applying" }
        let report: RolloutReport
        do {
            report = try await rollout.apply(record.intent, only: record.devices.map(Set.init),
                                             confirmWithin: .seconds(Int64(record.confirmWithin)), checkpoint: { saved in
                _ = try await changesets.update(id) { $0.checkpoints = ($0.checkpoints ?? []) + [saved] }
            }, progress: { note in
                try await execution.progress(50, note)
            })
        } catch {
            // Cancelled or broken before a report: say so on the changeset rather than leave it `applying`.
            _ = try? await changesets.update(id) { record in
                record.status = "failed"
                record.report = RolloutReport(steps: [], probes: [], failure: "\(error)", seconds: 0)
                record.checkpoints = nil
            }
            throw error
        }
        let final = report.steps.contains { $0.state == "failed" && $0.error?.hasPrefix("rollback failed") == true } ? "failed"
            : report.ok ? "applied" : (report.steps.contains { $0.state == "rolled-back" } ? "rolled-back" : "failed")
        _ = try await changesets.update(id) { record in
            record.status = final
            record.report = report
            record.checkpoints = nil
        }
        logger.info("changeset finished", metadata: ["changeset": "\(id)", "status": "\(final)", "seconds": "\(report.seconds)"])
        if let failure = report.failure { throw PermanentFailure("changeset \(id) \(final): \(failure)") }
    }

    /// A changeset whose task is given up. One still `applying` (its worker was lost mid-rollout) gets every stored
    /// checkpoint restored and ends `rolled-back`, or `failed` when nothing had been committed. If a device cannot be
    /// restored, the changeset is `failed` with its checkpoints kept and the compensation throws, so the engine tries
    /// it again (a changeset `failed` with checkpoints still owes their restore). One still `queued` (cancelled, or
    /// its deadline passed) ends `failed` with the reason. Anything else has finished already.
    static func giveUp(_ id: String, reason: String, changesets: Changesets, rollout: Rollout?) async throws -> String? {
        let record = try await changesets.get(id)
        let saved = record.checkpoints ?? []
        if record.status == "queued" {
            _ = try await changesets.update(id) { record in
                record.status = "failed"
                record.report = RolloutReport(steps: [], probes: [], failure: reason, seconds: 0)
            }
            return nil
        }
        guard record.status == "applying" || (record.status == "failed" && !saved.isEmpty) else { return nil }
        guard !saved.isEmpty else {
            _ = try await changesets.update(id) { record in
                record.status = "failed"
                record.report = RolloutReport(steps: [], probes: [], failure: "\(reason); no device had been committed", seconds: 0)
            }
            return "no device had been committed"
        }
        guard let rollout else {
            throw DataverketError(.unavailable, "changeset \(id) has \(saved.count) checkpoints to restore, but this worker has no devices (DV_NETT_DEVICES)")
        }
        let steps = await rollout.restore(saved)
        let failed = steps.filter { $0.state == "failed" }
        let summary = "restored \(steps.count - failed.count) of \(saved.count) devices from the checkpoints stored before their commits"
        _ = try await changesets.update(id) { record in
            record.status = failed.isEmpty ? "rolled-back" : "failed"
            record.report = RolloutReport(steps: steps, probes: [], failure: "\(reason); \(summary)", seconds: 0)
            if failed.isEmpty { record.checkpoints = nil }
        }
        if let first = failed.first {
            throw DataverketError(.unavailable, "\(first.device) (\(first.driver)): \(first.error ?? "not restored")")
        }
        return summary
    }

    /// The worker for Nett's task kinds, one task at a time (a rollout owns the devices).
    public func worker(engine: TaskEngine, bus: any Bus, logger: Logger, ackWait: Duration = .seconds(30)) -> TaskWorker {
        engine.worker(service: Changesets.service, kinds: taskKinds, bus: bus, logger: logger, ackWait: ackWait, concurrency: 1)
    }

    /// The worker and its heartbeat, and the drift watcher.
    public func services(engine: TaskEngine, bus: any Bus, logger: Logger, worker: Bool = true,
                         driftInterval: Duration = .seconds(60), datacenter: String? = nil) -> [any Service] {
        var services: [any Service] = [DriftWatcher(plane: self, interval: driftInterval, logger: logger)]
        if worker { services += workerServices(engine: engine, bus: bus, logger: logger, datacenter: datacenter) }
        return services
    }

    /// The worker and the heartbeat that says it runs: `nett` is healthy where a worker with devices runs (what a
    /// step waiting for Nett — a deploy's attachments — checks), degraded where it has none.
    public func workerServices(engine: TaskEngine, bus: any Bus, logger: Logger, ackWait: Duration = .seconds(30),
                               datacenter: String? = nil) -> [any Service] {
        [worker(engine: engine, bus: bus, logger: logger, ackWait: ackWait), heartbeat(bus: bus, logger: logger, datacenter: datacenter)]
    }

    /// Nett's heartbeat (`dv.health.nett`).
    public func heartbeat(bus: any Bus, logger: Logger, datacenter: String? = nil, interval: Duration = .seconds(2)) -> HeartbeatPublisher {
        let instance = "nett-\(ULID.make())"
        let configured = devices != nil
        return HeartbeatPublisher(bus: bus, interval: interval, logger: logger) {
            Heartbeat(service: Changesets.service, instance: instance, version: "1", datacenter: datacenter,
                      status: configured ? "healthy" : "degraded",
                      detail: configured ? nil : "no network devices are configured (DV_NETT_DEVICES)")
        }
    }
}

/// Reads the devices back periodically and logs drift (what `dvnet drift` shows on demand).
public struct DriftWatcher: Service {
    let plane: NettPlane
    let interval: Duration
    let logger: Logger

    public func run() async throws {
        // A service lives as long as its run(): without devices there is nothing to watch, but it still waits.
        guard plane.devices != nil else { return try await gracefulShutdown() }
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                do {
                    for item in try await plane.drift() {
                        logger.warning("network drift", metadata: ["device": "\(item.device)", "driver": "\(item.driver)",
                                                                    "kind": "\(item.kind)", "object": "\(item.object)"])
                    }
                } catch {
                    logger.warning("drift read-back failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}
