import Crypto
import DataverketCore
import DataverketStore
import Foundation
import Logging
import DataverketTasks
import SQLKit

/// Reading machines, their boot events and the machines the boot service discovered.
extension Machines {
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
        let after = try Paging.decodeID(cursor) ?? ""
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
}
