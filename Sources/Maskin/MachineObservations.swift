import Crypto
import DataverketCore
import DataverketStore
import Foundation
import Logging
import DataverketTasks
import SQLKit

/// What workers and the sweeper record: power, BMC failures, hardware facts, boot events, deadlines.
extension Machines {
    /// Records the power state just read from the BMC (and that it answers again).
    public func observePower(_ machineID: String, _ state: PowerState) async throws {
        try await database.transaction { session in
            try await session.run("""
                UPDATE \(session.table("maskin", "machines")) SET power_state = \(bind: state.rawValue),
                    power_observed_at = \(bind: StoreTime.now()), bmc_error = NULL, bmc_failing_since = NULL,
                    bmc_refused = NULL, bmc_refused_at = NULL
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

    /// Records that the BMC refused the credentials with `fingerprint`: nothing logs in with them again until they
    /// change (another fingerprint) or an operator verifies the machine. The lifecycle state is left alone.
    public func observeBMCRefusal(_ machineID: String, fingerprint: String, _ message: String) async throws {
        let line = MachineLifecycle.oneLine(message)
        try await database.transaction { session in
            let now = StoreTime.now()
            try await session.run("""
                UPDATE \(session.table("maskin", "machines")) SET bmc_error = \(bind: line),
                    bmc_failing_since = COALESCE(bmc_failing_since, \(bind: now)),
                    bmc_refused = \(bind: fingerprint), bmc_refused_at = \(bind: now)
                WHERE id = \(bind: machineID)
                """)
        }
    }

    static func clearBMCRefusal(_ session: Session, _ machineID: String) async throws {
        try await session.run("""
            UPDATE \(session.table("maskin", "machines")) SET bmc_refused = NULL, bmc_refused_at = NULL WHERE id = \(bind: machineID)
            """)
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
}
