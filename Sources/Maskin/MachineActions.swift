import Crypto
import DataverketCore
import DataverketStore
import Foundation
import Logging
import DataverketTasks
import SQLKit

/// Enrollment and the actions an operator takes on a machine; each is a lifecycle transition with its task.
extension Machines {
    /// Records a machine (`enrolled`) and, unless asked not to, starts verifying its BMC.
    public func enroll(_ request: MachineEnrollment, context: OperationContext) async throws -> (MachineRecord, TaskRecord?) {
        let spec = try MachineIdentity.validate(request)
        let lifecycle = self.lifecycle
        return try await database.transaction { session in
            let table = session.table("maskin", "machines")
            if let row = try await session.first("""
                SELECT name, mac, uuid FROM \(table)
                WHERE name = \(bind: spec.name) OR mac = \(bind: spec.mac) OR uuid = \(bind: spec.uuid ?? "-")
                """) {
                let name = try row.decode(column: "name", as: String.self)
                let what = name == spec.name ? "name" : (try row.decode(column: "mac", as: String.self) == spec.mac ? "MAC \(spec.mac)" : "UUID")
                throw DataverketError(.alreadyExists, "machine '\(name)' already has this \(what)")
            }
            let now = Date()
            let record = MachineRecord(
                id: ResourceID.generate(prefix: "mch", now: now).rawValue, name: spec.name, device: spec.device,
                datacenter: spec.datacenter, mac: spec.mac, uuid: spec.uuid, serial: spec.serial, arch: spec.arch, bmc: spec.bmc,
                console: spec.console, role: nil, cluster: nil, installDisk: nil, state: .enrolled, failedDeploys: 0,
                lastTransition: now, deadline: nil, taskID: nil, power: nil, powerObservedAt: nil, bmcError: nil,
                bmcFailingSince: nil, bmcCredentialsRefusedAt: nil, bmcRefusedCredentials: nil, facts: nil, version: 1, createdAt: now, updatedAt: now)
            try await session.run("""
                INSERT INTO \(table) (id, name, device, datacenter, mac, uuid, serial, arch, bmc, console, state_name, state,
                    failed_deploys, last_transition, version, created_at, updated_at)
                VALUES (\(bind: record.id), \(bind: record.name), \(bind: record.device), \(bind: record.datacenter),
                    \(bind: record.mac), \(bind: record.uuid), \(bind: record.serial), \(bind: record.arch),
                    \(bind: try JSONColumn.encode(record.bmc)), \(bind: record.console), 'enrolled',
                    \(bind: try JSONColumn.encode(record.state)), 0, \(bind: StoreTime.encode(now)), 1,
                    \(bind: StoreTime.encode(now)), \(bind: StoreTime.encode(now)))
                """)
            try await session.run("DELETE FROM \(session.table("maskin", "discovered")) WHERE mac = \(bind: record.mac)")
            try await Self.record(session, record, action: "maskin.machine.enroll", subject: MachineState.enrolled.eventSubject,
                                  from: nil, event: nil, beforeVersion: nil, context: context)
            guard spec.verify else { return (record, nil) }
            return try await Self.transition(session, record, .action(.verify), options: MachineActionOptions(), tasks: tasks,
                                             lifecycle: lifecycle, context: context)
        }
    }

    /// Applies an operator's action: a conflict (409, listing the allowed actions) when the state does not allow it.
    /// Entering an in-progress state queues the task that does its step, in the same transaction.
    public func act(_ reference: String, action: MachineAction, options: MachineActionOptions = MachineActionOptions(),
                    context: OperationContext) async throws -> (MachineRecord, TaskRecord?) {
        try Self.validate(options, for: action)
        let tasks = self.tasks
        let lifecycle = self.lifecycle
        let (before, after, task) = try await database.transaction { session in
            var record = try await Self.load(session, reference, lock: true)
            if action == .verify, record.bmcRefusedCredentials != nil {
                // An operator asking to verify is asking to try the refused credentials once more.
                try await Self.clearBMCRefusal(session, record.id)
                record.bmcRefusedCredentials = nil
                record.bmcCredentialsRefusedAt = nil
            }
            let (next, task) = try await Self.transition(session, record, .action(action), options: options, tasks: tasks,
                                                         lifecycle: lifecycle, context: context)
            return (record, next, task)
        }
        // Taken out of a running step (maintenance): the step's task stops too, and undoes what it did.
        if before.state.isInProgress, !after.state.isInProgress, let running = before.taskID,
           let current = try? await tasks.get(running), !current.state.isTerminal {
            _ = try? await tasks.cancel(running, context: context)
        }
        return (after, task)
    }

    /// A task's report on its step. A stale report (the machine left that step: swept, maintained) is logged and
    /// ignored; returns the machine as it is afterwards.
    @discardableResult
    public func report(_ machineID: String, _ event: MachineTaskEvent, context: OperationContext) async throws -> MachineRecord {
        let tasks = self.tasks
        let lifecycle = self.lifecycle
        let logger = self.logger
        return try await database.transaction { session in
            let record = try await Self.load(session, machineID, lock: true)
            do {
                return try await Self.transition(session, record, .task(event), options: MachineActionOptions(), tasks: tasks,
                                                 lifecycle: lifecycle, context: context).0
            } catch let error as DataverketError where error.code == .conflict {
                logger.notice("stale step report ignored", metadata: ["machine": "\(record.name)", "report": "\(event)",
                                                                     "state": "\(record.state.name)"])
                return record
            }
        }
    }

    /// Queues a power action. Not a lifecycle transition: refused while a step is running (it owns the power) and
    /// for retired machines.
    public func power(_ reference: String, action: PowerAction, context: OperationContext) async throws -> (MachineRecord, TaskRecord) {
        let tasks = self.tasks
        return try await database.transaction { session in
            var record = try await Self.load(session, reference, lock: true)
            if record.state.isInProgress || record.state.isTerminal {
                throw DataverketError(.conflict, "machine is \(record.state): power is not changed while \(record.state.name == .retired ? "retired" : "its \(record.state.step!) step runs"); wait for it or cancel task \(record.taskID ?? "-")")
            }
            let task = try await tasks.enqueue(
                session, kind: Kind.power, service: Maskin.service, resource: Self.resource(record), tenantID: nil, projectID: nil,
                context: context, params: try JSONColumn.encode(StepParameters(machineID: record.id, power: action)),
                deadline: .seconds(600))
            let before = record.version
            record.taskID = task.id
            try await Self.save(session, &record)
            try await Audit.append(session, context: context, action: "maskin.machine.power.\(action.rawValue)",
                                   resource: Self.resource(record), tenantID: nil, projectID: nil, beforeVersion: before,
                                   afterVersion: record.version)
            return (record, task)
        }
    }

    static func validate(_ options: MachineActionOptions, for action: MachineAction) throws(DataverketError) {
        if let role = options.role, !["controlplane", "worker"].contains(role) {
            throw .invalid("role", "must be controlplane or worker, got '\(role.prefix(30))'")
        }
        if let cluster = options.cluster { try Validation.checkName(cluster, field: "cluster") }
        try Validation.checkText(options.reason, field: "reason", max: MachineLifecycle.maxReasonLength)
        if let networks = options.networks {
            guard networks.count <= 64 else { throw .invalid("networks", "at most 64 networks") }
            for network in networks { try Validation.checkName(network, field: "networks") }
        }
        if case .allocate = action, options.cluster == nil {
            throw .invalid("cluster", "allocate needs the cluster the machine joins")
        }
    }
}
