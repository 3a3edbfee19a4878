import ArgumentParser
import DataverketCore
import DataverketStore
import Foundation
import Inventar
import Logging
import Sentral
import DataverketTasks
import DataverketServer
import SQLKit

/// `dv-bench inventory`: loads a generated inventory (default 20 datacenters × 50 racks × 40 servers: 41,000
/// devices, 200,000 interfaces, 40,000 cables) through Inventar's apply, then measures a filtered, paginated
/// device list and a cable trace — each next to the bare SQL that does the same on plain tables with the
/// same indexes, loaded and queried in the same run.
struct InventoryBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inventory", abstract: "Inventory load and queries vs raw SQL.")

    @Option(help: "Datacenters.") var datacenters = 20
    @Option(help: "Racks per datacenter.") var racks = 50
    @Option(help: "Servers per rack.") var servers = 40
    @Option(help: "Queries per measured operation.") var queries = 500
    @Option(help: "Backends: sqlite, postgres, or both (comma-separated).") var backends = "sqlite,postgres"
    @Option(help: "PostgreSQL admin URL (a fresh database is created for the run).")
    var postgresURL = ProcessInfo.processInfo.environment["DV_BENCH_POSTGRES_URL"] ?? "postgres://dataverket@127.0.0.1:55432/postgres"

    func run() async throws {
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let sites = (0..<datacenters).map { SyntheticSite.datacenter("dc\(SyntheticSite.pad($0 + 1, 2))", index: $0, racks: racks, servers: servers) }
        let devices = sites.reduce(0) { $0 + $1.devices.count }, interfaces = sites.reduce(0) { $0 + $1.interfaces.count }
        print("# dv-bench inventory — \(datacenters) datacenters × \(racks) racks × \(servers) servers: \(devices) devices, "
              + "\(interfaces) interfaces, \(sites.reduce(0) { $0 + $1.links.count }) cables; \(queries) queries per operation")
        print("backend    operation              total s   p50 ms    p99 ms    vs raw SQL")
        for backend in backends.split(separator: ",").map(String.init) {
            let (database, cleanup) = try await BenchDatabase.open(backend, postgresURL: postgresURL, logger: logger)
            try await database.whileRunning {
                let sentral = ControlPlane(database: database)
                _ = try await sentral.migrate()
                let results: [(Measurement, Measurement)]
                do {
                    results = try await measure(sentral.inventory, database: database, sites: sites)
                } catch let error as DataverketError {
                    throw DataverketError(error.code, error.message + (error.cause.map { " — \(String(reflecting: $0))" } ?? ""))
                }
                for (ours, raw) in results {
                    for m in [ours, raw] {
                        let ratio = m.name.hasPrefix("raw") ? "1.00" : String(format: "%.2f×", seconds(ours.elapsed) / seconds(raw.elapsed))
                        let cells = [backend, m.name, String(format: "%.2f", seconds(m.elapsed)), milliseconds(m.percentile(0.5)),
                                     milliseconds(m.percentile(0.99)), ratio]
                        print(tableRow(cells, [10, 22, 9, 9, 9, 0]))
                    }
                }
            }.get()
            try await cleanup()
        }
        print("(ratio = Inventar's time ÷ raw SQL's: load is one apply per datacenter — plan, validate, multi-row inserts, audit —")
        print(" against multi-row inserts alone; queries are sequential, one at a time. The raw tables carry Inventar's indexes on")
        print(" the columns they store — devices (datacenter, name), (datacenter, failure_domain, name), (rack, position), (role, name),")
        print(" (kind, name), (pool, name), (serial); tags (device); interfaces (mac) — plus the same primary keys)")
    }

    func measure(_ inventory: Inventory, database: Database, sites: [SiteModel]) async throws -> [(Measurement, Measurement)] {
        let context = OperationContext(actor: "bench", correlationID: ULID.make())
        let load = try await Measurement.run("load (apply)", count: sites.count, concurrency: 1) { index in
            _ = try await inventory.apply(sites[index], context: context)
        }
        try await RawInventory.create(database)
        let rawLoad = try await Measurement.run("raw-load (insert)", count: sites.count, concurrency: 1) { index in
            try await RawInventory.load(database, sites[index])
        }

        // A filtered page: GPU servers with tag `even` in one failure domain of a datacenter, 20 a page (the
        // page after a cursor half the time), with their interfaces and cable ends.
        let names = sites.map { $0.datacenters[0].name }
        let list = try await Measurement.run("device list (filtered)", count: queries, concurrency: 1) { index in
            let filter = DeviceFilter(datacenter: names[index % names.count], failureDomain: index % 2 == 0 ? "fd-a" : "fd-b", role: .gpu, tag: "even")
            let first = try await inventory.devices(filter, limit: 20)
            if index % 4 == 1 { _ = try await inventory.devices(filter, limit: 20, cursor: first.nextCursor) }
        }
        let rawList = try await Measurement.run("raw-device list", count: queries, concurrency: 1) { index in
            let page = try await RawInventory.page(database, datacenter: names[index % names.count],
                                                   failureDomain: index % 2 == 0 ? "fd-a" : "fd-b", after: "")
            if index % 4 == 1, let last = page.last { _ = try await RawInventory.page(database, datacenter: names[index % names.count],
                                                                                       failureDomain: index % 2 == 0 ? "fd-a" : "fd-b", after: last) }
        }
        let servers = sites.flatMap { site in site.devices.filter { $0.kind == .server }.map(\.name) }
        let trace = try await Measurement.run("cable trace", count: queries, concurrency: 1) { index in
            _ = try await inventory.trace(device: servers[(index * 7919) % servers.count], interface: "eno1")
        }
        let rawTrace = try await Measurement.run("raw-cable trace", count: queries, concurrency: 1) { index in
            try await RawInventory.trace(database, device: servers[(index * 7919) % servers.count], interface: "eno1")
        }
        return [(load, rawLoad), (list, rawList), (trace, rawTrace)]
    }
}

/// The baseline: the same rows in plain tables with the same indexes as Inventar's on the columns they share (every
/// index of `inventory.devices`, `device_tags`, `interfaces` and `link_ends` except those on columns the baseline does not
/// store: `allocated_to`, interface/link `datacenter`, `link_id`), no model, no validation, no audit.
enum RawInventory {
    static func create(_ database: Database) async throws {
        try await database.transaction { session in
            for statement in [
                "CREATE TABLE raw_devices (name TEXT PRIMARY KEY, kind TEXT NOT NULL, role TEXT, datacenter TEXT NOT NULL, failure_domain TEXT NOT NULL, rack TEXT, position BIGINT, serial TEXT, pool TEXT)",
                "CREATE INDEX raw_devices_dc_idx ON raw_devices (datacenter, name)",
                "CREATE INDEX raw_devices_fd_idx ON raw_devices (datacenter, failure_domain, name)",
                "CREATE INDEX raw_devices_rack_idx ON raw_devices (rack, position)",
                "CREATE INDEX raw_devices_role_idx ON raw_devices (role, name)",
                "CREATE INDEX raw_devices_kind_idx ON raw_devices (kind, name)",
                "CREATE INDEX raw_devices_pool_idx ON raw_devices (pool, name)",
                "CREATE INDEX raw_devices_serial_idx ON raw_devices (serial)",
                "CREATE TABLE raw_device_tags (device TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (tag, device))",
                "CREATE INDEX raw_device_tags_device_idx ON raw_device_tags (device)",
                "CREATE TABLE raw_interfaces (device TEXT NOT NULL, name TEXT NOT NULL, mac TEXT, speed_mbps BIGINT, PRIMARY KEY (device, name))",
                "CREATE INDEX raw_interfaces_mac_idx ON raw_interfaces (mac)",
                "CREATE TABLE raw_link_ends (device TEXT NOT NULL, interface TEXT NOT NULL, far_device TEXT NOT NULL, far_interface TEXT NOT NULL, PRIMARY KEY (device, interface))",
            ] {
                try await session.run(SQLQueryString(stringLiteral: statement))
            }
        }
    }

    static func load(_ database: Database, _ site: SiteModel) async throws {
        try await database.transaction { session in
            try await insert(session, "raw_devices (name, kind, role, datacenter, failure_domain, rack, position, serial, pool)",
                             site.devices.map { [$0.name, $0.kind.rawValue, $0.role?.rawValue as String?, $0.datacenter, $0.failureDomain, $0.rack,
                                                 $0.position, $0.serial, $0.pool] })
            try await insert(session, "raw_device_tags (device, tag)", site.devices.flatMap { device in device.tags.map { [device.name, $0] } })
            try await insert(session, "raw_interfaces (device, name, mac, speed_mbps)",
                             site.interfaces.map { [$0.device, $0.name, $0.mac, $0.speedMbps] })
            try await insert(session, "raw_link_ends (device, interface, far_device, far_interface)", site.links.flatMap { link in
                [[link.a.device, link.a.interface, link.b.device, link.b.interface], [link.b.device, link.b.interface, link.a.device, link.a.interface]]
            })
        }
    }

    /// Multi-row INSERTs of at most ~30,000 bound values each (SQLite allows 32,766).
    static func insert(_ session: Session, _ target: String, _ rows: [[any Encodable & Sendable]]) async throws {
        guard let width = rows.first?.count else { return }
        for chunk in stride(from: 0, to: rows.count, by: max(1, 30_000 / width)).map({ Array(rows[$0..<min(rows.count, $0 + max(1, 30_000 / width))]) }) {
            var query = SQLQueryString("INSERT INTO \(unsafeRaw: target) VALUES ")
            for (index, row) in chunk.enumerated() {
                query.appendInterpolation(unsafeRaw: index == 0 ? "(" : ", (")
                for (column, value) in row.enumerated() {
                    if column > 0 { query.appendInterpolation(unsafeRaw: ", ") }
                    query.appendInterpolation(bind: value)
                }
                query.appendInterpolation(unsafeRaw: ")")
            }
            try await session.run(query)
        }
    }

    /// GPU servers tagged `even` in a failure domain, 20 a page after `after`, with their interfaces and link ends.
    static func page(_ database: Database, datacenter: String, failureDomain: String, after: String) async throws -> [String] {
        try await database.read { session in
            let names = try await session.all("""
                SELECT d.name FROM raw_devices d JOIN raw_device_tags t ON t.device = d.name AND t.tag = 'even'
                WHERE d.name > \(bind: after) AND d.datacenter = \(bind: datacenter) AND d.failure_domain = \(bind: failureDomain) AND d.role = 'gpu'
                ORDER BY d.name LIMIT 21
                """).map { try $0.decode(column: "name", as: String.self) }
            guard !names.isEmpty else { return [] }
            var interfaces: SQLQueryString = "SELECT * FROM raw_interfaces WHERE device IN ("
            var ends: SQLQueryString = "SELECT * FROM raw_link_ends WHERE device IN ("
            for (index, name) in names.prefix(20).enumerated() {
                interfaces.appendInterpolation(unsafeRaw: index == 0 ? "" : ", ")
                interfaces.appendInterpolation(bind: name)
                ends.appendInterpolation(unsafeRaw: index == 0 ? "" : ", ")
                ends.appendInterpolation(bind: name)
            }
            interfaces.appendInterpolation(unsafeRaw: ") ORDER BY device, name")
            ends.appendInterpolation(unsafeRaw: ")")
            _ = try await session.all(ends)
            _ = try await session.all(interfaces)
            return Array(names.prefix(20))
        }
    }

    static func trace(_ database: Database, device: String, interface: String) async throws {
        try await database.read { session in
            guard let end = try await session.first("""
                SELECT far_device, far_interface FROM raw_link_ends WHERE device = \(bind: device) AND interface = \(bind: interface)
                """) else { return }
            _ = try await session.all("""
                SELECT i.*, d.kind, d.rack, d.position FROM raw_interfaces i JOIN raw_devices d ON d.name = i.device
                WHERE (i.device = \(bind: device) AND i.name = \(bind: interface))
                   OR (i.device = \(bind: try end.decode(column: "far_device", as: String.self))
                       AND i.name = \(bind: try end.decode(column: "far_interface", as: String.self)))
                """)
        }
    }
}
