import Crypto
import DataverketCore
import DataverketStore
import Foundation
import Logging
import Sentral
import SQLKit

/// Maskin's system of record: machines, their lifecycle transitions (each audited and announced on
/// `dv.maskin.evt.machine.<state>` through the outbox, in the same transaction), the tasks that do their steps,
/// boot tokens, boot events and discovered machines.
public struct Machines: Sendable {
    public let database: Database
    public let tasks: Tasks
    public let lifecycle: MachineLifecycle
    let logger: Logger

    /// The task kinds that do each step (commands `dv.maskin.cmd.<kind>`).
    public enum Kind {
        public static let verify = "machine-verify"
        public static let inspect = "machine-inspect"
        public static let deploy = "machine-deploy"
        public static let release = "machine-release"
        public static let wipe = "machine-wipe"
        public static let power = "machine-power"

        static func kind(for step: MachineStep) -> String {
            switch step {
            case .verify: verify
            case .inspect: inspect
            case .deploy: deploy
            case .release: release
            case .wipe: wipe
            }
        }
    }

    public init(database: Database, tasks: Tasks, lifecycle: MachineLifecycle = MachineLifecycle(), logger: Logger) {
        self.database = database
        self.tasks = tasks
        self.lifecycle = lifecycle
        self.logger = logger
    }

    // MARK: - Enrollment and actions

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
                bmcFailingSince: nil, facts: nil, version: 1, createdAt: now, updatedAt: now)
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
            let record = try await Self.load(session, reference, lock: true)
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

    // MARK: - Reads

    public func get(_ reference: String) async throws -> MachineRecord {
        try await database.read { try await Self.load($0, reference, lock: false) }
    }

    /// The machine, its allowed actions, its latest boot events (with the DHCP lease from `leases`, if given) and
    /// the last `consoleLines` lines of its console.
    public func detail(_ reference: String, dhcpLeases: String? = nil, consoleLines: Int = 20) async throws -> MachineDetail {
        let record = try await get(reference)
        var events = try await bootEvents(record.id, limit: 50)
        if let dhcpLeases, let lease = DHCPLeases.lease(for: record.mac, in: dhcpLeases) { events.insert(lease, at: 0) }
        let console = record.console.map { ConsoleLog.tail(path: String($0.dropFirst(5)), lines: consoleLines) } ?? []
        return MachineDetail(machine: record, allowedActions: lifecycle.allowedActions(from: record.state),
                             bootEvents: events, consoleTail: console)
    }

    public func list(state: MachineState.Name? = nil, limit: Int? = nil, cursor: String? = nil) async throws -> Page<MachineRecord> {
        let limit = try Paging.limit(limit)
        let after = try Paging.decode(cursor) ?? ""
        let rows = try await database.read { session in
            let table = session.table("maskin", "machines")
            if let state {
                return try await session.all("""
                    SELECT * FROM \(table) WHERE state_name = \(bind: state.rawValue) AND id > \(bind: after) ORDER BY id LIMIT \(bind: limit + 1)
                    """)
            }
            return try await session.all("SELECT * FROM \(table) WHERE id > \(bind: after) ORDER BY id LIMIT \(bind: limit + 1)")
        }
        return Paging.page(try rows.map(Self.decode), limit: limit) { $0.id }
    }

    public func bootEvents(_ machineID: String, limit: Int = 50) async throws -> [BootEvent] {
        try await database.read { session in
            let rows = try await session.all("""
                SELECT kind, detail, address, task_id, at FROM \(session.table("maskin", "boot_events"))
                WHERE machine_id = \(bind: machineID) ORDER BY at DESC, id DESC LIMIT \(bind: limit)
                """)
            return try rows.reversed().map { row in
                BootEvent(kind: BootEvent.Kind(rawValue: try row.decode(column: "kind", as: String.self)) ?? .bmc,
                          at: StoreTime.decode(try row.decode(column: "at", as: Int64.self)),
                          detail: try row.decode(column: "detail", as: String?.self),
                          address: try row.decode(column: "address", as: String?.self),
                          taskID: try row.decode(column: "task_id", as: String?.self))
            }
        }
    }

    public func discovered(limit: Int = 500) async throws -> [DiscoveredMachine] {
        try await database.read { session in
            let rows = try await session.all("""
                SELECT * FROM \(session.table("maskin", "discovered")) ORDER BY last_seen DESC LIMIT \(bind: limit)
                """)
            return try rows.map { row in
                DiscoveredMachine(
                    mac: try row.decode(column: "mac", as: String.self), uuid: try row.decode(column: "uuid", as: String?.self),
                    serial: try row.decode(column: "serial", as: String?.self), arch: try row.decode(column: "arch", as: String?.self),
                    address: try row.decode(column: "address", as: String?.self),
                    firstSeen: StoreTime.decode(try row.decode(column: "first_seen", as: Int64.self)),
                    lastSeen: StoreTime.decode(try row.decode(column: "last_seen", as: Int64.self)),
                    boots: try row.decode(column: "boots", as: Int.self))
            }
        }
    }

    // MARK: - What workers and the sweeper record

    /// Records the power state just read from the BMC (and that it answers again).
    public func observePower(_ machineID: String, _ state: PowerState) async throws {
        try await database.transaction { session in
            try await session.run("""
                UPDATE \(session.table("maskin", "machines")) SET power_state = \(bind: state.rawValue),
                    power_observed_at = \(bind: StoreTime.now()), bmc_error = NULL, bmc_failing_since = NULL
                WHERE id = \(bind: machineID)
                """)
        }
    }

    /// Records that the BMC did not answer; the lifecycle state is left alone (a BMC blip is never terminal).
    public func observeBMCFailure(_ machineID: String, _ message: String) async throws {
        let line = MachineLifecycle.oneLine(message)
        try await database.transaction { session in
            let now = StoreTime.now()
            try await session.run("""
                UPDATE \(session.table("maskin", "machines")) SET bmc_error = \(bind: line),
                    bmc_failing_since = COALESCE(bmc_failing_since, \(bind: now))
                WHERE id = \(bind: machineID)
                """)
        }
    }

    /// Stores inspected facts (and the UUID/serial when enrollment did not give them).
    public func recordFacts(_ machineID: String, _ facts: SystemFacts) async throws {
        try await database.transaction { session in
            let record = try await Self.load(session, machineID, lock: true)
            let uuid = record.uuid ?? facts.uuid.flatMap(MachineIdentity.normalizeUUID)
            try await session.run("""
                UPDATE \(session.table("maskin", "machines")) SET facts = \(bind: try JSONColumn.encode(facts)),
                    uuid = \(bind: uuid), serial = \(bind: record.serial ?? facts.serial.flatMap { MachineIdentity.isSerial($0) ? $0 : nil })
                WHERE id = \(bind: machineID)
                """)
        }
    }

    public func setInstallDisk(_ machineID: String, _ disk: String?) async throws {
        try await database.transaction { session in
            try await session.run("""
                UPDATE \(session.table("maskin", "machines")) SET install_disk = \(bind: disk) WHERE id = \(bind: machineID)
                """)
        }
    }

    public func recordBootEvent(machineID: String?, mac: String?, _ kind: BootEvent.Kind, detail: String? = nil,
                                address: String? = nil, taskID: String? = nil) async throws {
        try await database.transaction { session in
            try await Self.insertEvent(session, machineID: machineID, mac: mac, kind, detail: detail, address: address, taskID: taskID)
        }
    }

    static func insertEvent(_ session: Session, machineID: String?, mac: String?, _ kind: BootEvent.Kind, detail: String?,
                            address: String?, taskID: String?) async throws {
        try await session.run("""
            INSERT INTO \(session.table("maskin", "boot_events")) (machine_id, mac, kind, detail, address, task_id, at)
            VALUES (\(bind: machineID), \(bind: mac), \(bind: kind.rawValue), \(bind: detail.map { MachineLifecycle.oneLine($0) }),
                \(bind: address), \(bind: taskID), \(bind: StoreTime.now()))
            """)
    }

    /// Machines whose in-progress state passed its deadline at `now`.
    public func overdue(now: Date = Date()) async throws -> [MachineRecord] {
        try await database.read { session in
            try await session.all("""
                SELECT * FROM \(session.table("maskin", "machines"))
                WHERE deadline_at IS NOT NULL AND deadline_at <= \(bind: StoreTime.encode(now)) ORDER BY deadline_at LIMIT 500
                """).map(Self.decode)
        }
    }

    /// Times out a machine that is past its deadline; returns the transition, or nil when it moved on meanwhile.
    public func expire(_ machineID: String, now: Date = Date(), context: OperationContext) async throws -> MachineRecord? {
        let tasks = self.tasks
        let lifecycle = self.lifecycle
        return try await database.transaction { session in
            let record = try await Self.load(session, machineID, lock: true)
            guard let step = record.state.step, let deadline = lifecycle.deadline(of: record.machine), now >= deadline else { return nil }
            return try await Self.transition(session, record, .task(.timedOut(step)), options: MachineActionOptions(), tasks: tasks,
                                             lifecycle: lifecycle, context: context).0
        }
    }

    /// Every machine with a BMC that is not retired (the power reconciler's list), at most `limit`.
    public func reconcilable(limit: Int = 1000) async throws -> [MachineRecord] {
        try await database.read { session in
            try await session.all("""
                SELECT * FROM \(session.table("maskin", "machines")) WHERE state_name <> 'retired' ORDER BY id LIMIT \(bind: limit)
                """).map(Self.decode)
        }
    }

    // MARK: - Internals

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
            facts: try row.decode(column: "facts", as: String?.self).map { try JSONColumn.decode(SystemFacts.self, $0) },
            version: try row.decode(column: "version", as: Int64.self),
            createdAt: StoreTime.decode(try row.decode(column: "created_at", as: Int64.self)),
            updatedAt: StoreTime.decode(try row.decode(column: "updated_at", as: Int64.self)))
    }
}

/// The parameters of every machine task.
struct StepParameters: Codable, Sendable {
    var machineID: String
    var networks: [String]?
    var power: PowerAction?

    init(machineID: String, networks: [String]? = nil, power: PowerAction? = nil) {
        self.machineID = machineID
        self.networks = networks
        self.power = power
    }
}

/// The data of a `dv.maskin.evt.machine.<state>` event.
public struct MachineChangeEvent: Codable, Sendable, Hashable {
    public var machine: String
    public var name: String
    public var from: MachineState?
    public var to: MachineState
    public var event: String?
    public var taskID: String?
}

