import Crypto
import DataverketCore
import DataverketStore
import Foundation
import Logging
import DataverketTasks
import SQLKit

/// The rows behind machines: transitions with their audit record and event, saving, loading, decoding.
extension Machines {
    static func resource(_ record: MachineRecord) -> ResourceRef {
        ResourceRef(kind: "machine", id: record.id, name: record.name)
    }

    /// Applies `event` to `record`, saves it, audits it, announces the state entered and queues the next step's task.
    static func transition(_ session: Session, _ record: MachineRecord, _ event: MachineEvent, options: MachineActionOptions,
                           tasks: Tasks, lifecycle: MachineLifecycle, context: OperationContext) async throws -> (MachineRecord, TaskRecord?) {
        let now = Date()
        let change = try lifecycle.apply(event, to: record.machine, at: now)
        var next = record
        next.state = change.to
        next.failedDeploys = change.machine.failedDeploys
        next.lastTransition = now
        next.deadline = lifecycle.deadline(of: change.machine)
        if case .action(let action) = event {
            switch action {
            case .allocate:
                next.role = options.role ?? "worker"
                next.cluster = options.cluster
            case .release where record.state == .allocated:
                next.role = nil
                next.cluster = nil
            default: break
            }
        }
        if change.to == .available, record.state.name == .wiping {
            next.role = nil
            next.cluster = nil
            next.installDisk = nil
        }
        var task: TaskRecord?
        if let step = change.to.step {
            let parameters = StepParameters(machineID: record.id, networks: options.networks)
            task = try await tasks.enqueue(
                session, kind: Kind.kind(for: step), service: Maskin.service, resource: resource(record), tenantID: nil,
                projectID: nil, context: context, params: try JSONColumn.encode(parameters),
                deadline: lifecycle.deadlines.duration(for: step) + .seconds(60))
            next.taskID = task?.id
        }
        let before = record.version
        try await save(session, &next)
        let action: String = switch event {
        case .action(let action): "maskin.machine.\(action.name.rawValue)"
        case .task(let report):
            switch report {
            case .succeeded(let step): "maskin.machine.\(step).succeeded"
            case .failed(let step, _): "maskin.machine.\(step).failed"
            case .timedOut(let step): "maskin.machine.\(step).timed-out"
            }
        }
        try await Self.record(session, next, action: action, subject: change.subject, from: record.state, event: event,
                              beforeVersion: before, context: context)
        return (next, task)
    }

    /// Writes the audit record and the `dv.maskin.evt.machine.<state>` event.
    static func record(_ session: Session, _ record: MachineRecord, action: String, subject: String, from: MachineState?,
                       event: MachineEvent?, beforeVersion: Int64?, context: OperationContext) async throws {
        try await Audit.append(session, context: context, action: action, resource: resource(record), tenantID: nil,
                               projectID: nil, beforeVersion: beforeVersion, afterVersion: record.version)
        let payload = MachineChangeEvent(machine: record.id, name: record.name, from: from, to: record.state,
                                         event: event.map { "\($0)" }, taskID: record.taskID)
        let cloudEvent = CloudEvent(
            source: "/dataverket/maskin", type: subject, subject: record.id, data: try JSONText(encoding: payload),
            correlationid: context.correlationID, causationid: context.taskID, tenant: nil, project: nil, actor: context.actor)
        try await Outbox.append(session, event: cloudEvent, resourceKey: record.id)
    }

    static func save(_ session: Session, _ record: inout MachineRecord) async throws {
        let before = record.version
        record.version += 1
        record.updatedAt = Date()
        let saved = try await session.affected("""
            UPDATE \(session.table("maskin", "machines")) SET state_name = \(bind: record.state.name.rawValue),
                state = \(bind: try JSONColumn.encode(record.state)), failed_deploys = \(bind: record.failedDeploys),
                last_transition = \(bind: StoreTime.encode(record.lastTransition)),
                deadline_at = \(bind: record.deadline.map(StoreTime.encode)), task_id = \(bind: record.taskID),
                role = \(bind: record.role), cluster = \(bind: record.cluster), install_disk = \(bind: record.installDisk),
                version = \(bind: record.version), updated_at = \(bind: StoreTime.encode(record.updatedAt))
            WHERE id = \(bind: record.id) AND version = \(bind: before) RETURNING id
            """)
        guard saved == 1 else {
            throw DataverketError(.conflict, "machine '\(record.name)' changed meanwhile; re-read it and retry")
        }
    }

    /// A machine by ID or name; on PostgreSQL `lock` takes its row lock for the transaction.
    static func load(_ session: Session, _ reference: String, lock: Bool) async throws -> MachineRecord {
        let table = session.table("maskin", "machines")
        let row: (any SQLRow)?
        if lock, session.kind == .postgres {
            row = try await session.first("SELECT * FROM \(table) WHERE id = \(bind: reference) OR name = \(bind: reference) FOR UPDATE")
        } else {
            row = try await session.first("SELECT * FROM \(table) WHERE id = \(bind: reference) OR name = \(bind: reference)")
        }
        guard let row else { throw DataverketError.notFound("machine", reference) }
        return try decode(row)
    }

    static func decode(_ row: any SQLRow) throws -> MachineRecord {
        func date(_ column: String) throws -> Date? { try row.decode(column: column, as: Int64?.self).map(StoreTime.decode) }
        return MachineRecord(
            id: try row.decode(column: "id", as: String.self), name: try row.decode(column: "name", as: String.self),
            device: try row.decode(column: "device", as: String?.self), datacenter: try row.decode(column: "datacenter", as: String?.self),
            mac: try row.decode(column: "mac", as: String.self), uuid: try row.decode(column: "uuid", as: String?.self),
            serial: try row.decode(column: "serial", as: String?.self), arch: try row.decode(column: "arch", as: String?.self),
            bmc: try JSONColumn.decode(BMCConfig.self, try row.decode(column: "bmc", as: String.self)),
            console: try row.decode(column: "console", as: String?.self), role: try row.decode(column: "role", as: String?.self),
            cluster: try row.decode(column: "cluster", as: String?.self),
            installDisk: try row.decode(column: "install_disk", as: String?.self),
            state: try JSONColumn.decode(MachineState.self, try row.decode(column: "state", as: String.self)),
            failedDeploys: try row.decode(column: "failed_deploys", as: Int.self),
            lastTransition: StoreTime.decode(try row.decode(column: "last_transition", as: Int64.self)),
            deadline: try date("deadline_at"), taskID: try row.decode(column: "task_id", as: String?.self),
            power: try row.decode(column: "power_state", as: String?.self).flatMap(PowerState.init(rawValue:)),
            powerObservedAt: try date("power_observed_at"), bmcError: try row.decode(column: "bmc_error", as: String?.self),
            bmcFailingSince: try date("bmc_failing_since"),
            bmcCredentialsRefusedAt: try date("bmc_refused_at"), bmcRefusedCredentials: try row.decode(column: "bmc_refused", as: String?.self),
            facts: try row.decode(column: "facts", as: String?.self).map { try JSONColumn.decode(SystemFacts.self, $0) },
            networks: try row.decode(column: "networks", as: String?.self).map { try JSONColumn.decode([String].self, $0) },
            version: try row.decode(column: "version", as: Int64.self),
            createdAt: StoreTime.decode(try row.decode(column: "created_at", as: Int64.self)),
            updatedAt: StoreTime.decode(try row.decode(column: "updated_at", as: Int64.self)))
    }
}
