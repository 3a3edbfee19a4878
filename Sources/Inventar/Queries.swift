#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import DataverketCore
import DataverketStore
import SQLKit

/// Which devices to list; every set field narrows the list (each is an indexed column).
public struct DeviceFilter: Sendable, Hashable, Codable {
    public var datacenter: String?
    public var failureDomain: String?
    public var rack: String?
    public var role: DeviceRole?
    public var kind: DeviceKind?
    public var tag: String?
    public var pool: String?
    /// Only devices with no allocation (`allocatedTo` unset).
    public var freeOnly: Bool

    public init(datacenter: String? = nil, failureDomain: String? = nil, rack: String? = nil, role: DeviceRole? = nil,
                kind: DeviceKind? = nil, tag: String? = nil, pool: String? = nil, freeOnly: Bool = false) {
        self.datacenter = datacenter?.lowercased()
        self.failureDomain = failureDomain?.lowercased()
        self.rack = rack?.lowercased()
        self.role = role
        self.kind = kind
        self.tag = tag
        self.pool = pool?.lowercased()
        self.freeOnly = freeOnly
    }
}

/// A stored device with its interfaces, cabling and bookkeeping.
public struct DeviceRecord: Sendable, Hashable, Codable {
    public var id: String
    public var device: Device
    public var interfaces: [InterfaceRecord]
    public var allocatedTo: String?
    public var managedBy: ManagedBy
    public var version: Int64
}

/// A stored interface and the far end of its link, if cabled.
public struct InterfaceRecord: Sendable, Hashable, Codable {
    public var interface: Interface
    public var linkedTo: Endpoint?
}

extension Inventory {
    static func table(_ session: Session, _ name: String) -> TableName { session.table("inventory", name) }

    /// Devices matching `filter`, by name, a page at a time (keyset pagination in SQL), each with its
    /// interfaces (one query per page, not per device).
    public func devices(_ filter: DeviceFilter = DeviceFilter(), limit: Int? = nil, cursor: String? = nil) async throws -> Page<DeviceRecord> {
        let limit = try Paging.limit(limit)
        let after = try Paging.decode(cursor) ?? ""
        return try await database.read { session in
            var query: SQLQueryString = "SELECT d.* FROM \(Self.table(session, "devices")) d"
            if let tag = filter.tag {
                query.appendInterpolation(unsafeRaw: " JOIN \(Self.table(session, "device_tags")) t ON t.device = d.name AND t.tag = ")
                query.appendInterpolation(bind: tag)
            }
            query.appendInterpolation(unsafeRaw: " WHERE d.name > ")
            query.appendInterpolation(bind: after)
            for (column, value) in [("datacenter", filter.datacenter), ("failure_domain", filter.failureDomain), ("rack", filter.rack),
                                    ("role", filter.role?.rawValue), ("kind", filter.kind?.rawValue), ("pool", filter.pool)] {
                guard let value else { continue }
                query.appendInterpolation(unsafeRaw: " AND d.\(column) = ")
                query.appendInterpolation(bind: value)
            }
            if filter.freeOnly { query.appendInterpolation(unsafeRaw: " AND d.allocated_to IS NULL") }
            query.appendInterpolation(unsafeRaw: " ORDER BY d.name LIMIT ")
            query.appendInterpolation(bind: limit + 1)
            let rows = try await session.all(query)
            let records = try await Self.records(session, rows: Array(rows.prefix(limit)))
            return Page(items: records, nextCursor: rows.count > limit ? Paging.encode(records.last!.device.name) : nil)
        }
    }

    /// Device rows → records, with the interfaces and link ends of all of them in two queries.
    static func records(_ session: Session, rows: [any SQLRow]) async throws -> [DeviceRecord] {
        guard !rows.isEmpty else { return [] }
        let names = try rows.map { try Column.string($0, "name") }
        var interfaces: [String: [InterfaceRecord]] = [:]
        var query: SQLQueryString = "SELECT * FROM \(table(session, "interfaces")) WHERE device IN "
        query.bindList(names)
        query.appendInterpolation(unsafeRaw: " ORDER BY device, name")
        var ends: [Endpoint: Endpoint] = [:]
        var endQuery: SQLQueryString = "SELECT * FROM \(table(session, "link_ends")) WHERE device IN "
        endQuery.bindList(names)
        for row in try await session.all(endQuery) {
            ends[Endpoint(device: try Column.string(row, "device"), interface: try Column.string(row, "interface"))] =
                Endpoint(device: try Column.string(row, "far_device"), interface: try Column.string(row, "far_interface"))
        }
        for row in try await session.all(query) {
            let interface = try Column.interface(row)
            interfaces[interface.device, default: []].append(InterfaceRecord(interface: interface, linkedTo: ends[interface.endpoint]))
        }
        return try rows.map { row in
            let device = try Column.device(row)
            return DeviceRecord(
                id: try Column.string(row, "id"), device: device, interfaces: interfaces[device.name] ?? [],
                allocatedTo: try Column.optional(row, "allocated_to"), managedBy: try Column.enumValue(row, "managed_by"),
                version: try row.decode(column: "version", as: Int64.self))
        }
    }

    /// One device with its interfaces and cabling.
    public func device(_ name: String) async throws -> DeviceRecord {
        try await database.read { session in
            let rows = try await session.all("SELECT * FROM \(Self.table(session, "devices")) WHERE name = \(bind: name.lowercased())")
            guard let record = try await Self.records(session, rows: rows).first else { throw DataverketError.notFound("device", name) }
            return record
        }
    }

    /// One object by kind and name. Failure domains and rooms are named `datacenter/name`; interfaces
    /// `device:interface`; a link by either of its ends (`device:interface`).
    public func object(_ kind: ObjectKind, _ name: String) async throws -> StoredObject {
        try await database.read { session in
            let t = Self.table(session, RowSpec.table(kind))
            let row: (any SQLRow)?
            switch kind {
            case .failureDomain, .room:
                let parts = name.lowercased().split(separator: "/", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw DataverketError.invalid("name", "a \(kind.rawValue) is named datacenter/name") }
                row = try await session.first("SELECT * FROM \(t) WHERE datacenter = \(bind: parts[0]) AND name = \(bind: parts[1])")
            case .interface, .link:
                guard let end = Endpoint(parsing: name) else { throw DataverketError.invalid("name", "a \(kind.rawValue) is named device:interface") }
                if kind == .interface {
                    row = try await session.first("SELECT * FROM \(t) WHERE device = \(bind: end.device) AND name = \(bind: end.interface)")
                } else {
                    row = try await session.first("""
                        SELECT l.* FROM \(t) l JOIN \(Self.table(session, "link_ends")) e ON e.link_id = l.id
                        WHERE e.device = \(bind: end.device) AND e.interface = \(bind: end.interface)
                        """)
                }
            default:
                row = try await session.first("SELECT * FROM \(t) WHERE name = \(bind: name.lowercased())")
            }
            guard let row else { throw DataverketError.notFound(kind.rawValue, name) }
            return try Column.stored(kind, row)
        }
    }

    /// The stored inventory of `datacenters` (all when nil) as a model: export it with `SiteWriter` to get a
    /// site file that applies as a no-op.
    public func export(datacenters: [String]? = nil) async throws -> SiteModel {
        try await database.read { session in
            var names = datacenters?.map { $0.lowercased() }
            if names == nil {
                names = try await session.all("SELECT name FROM \(Self.table(session, "datacenters"))").map { try Column.string($0, "name") }
            }
            let state = try await Self.loadState(session, datacenters: names ?? [])
            return SiteModel(objects: state.values.map(\.object)).sorted()
        }
    }

    // MARK: rack elevation

    /// A rack unit by unit, top to bottom, plus its zero-U equipment.
    public func elevation(rack name: String) async throws -> RackElevation {
        try await database.read { session in
            guard let rackRow = try await session.first("SELECT * FROM \(Self.table(session, "racks")) WHERE name = \(bind: name.lowercased())") else {
                throw DataverketError.notFound("rack", name)
            }
            guard case .rack(let rack) = try Column.stored(.rack, rackRow).object else { throw DataverketError(.internal, "not a rack") }
            let rows = try await session.all("""
                SELECT name, kind, role, position, height FROM \(Self.table(session, "devices")) WHERE rack = \(bind: rack.name) ORDER BY position, name
                """)
            var units = (1...rack.units).reversed().map { RackElevation.Unit(unit: $0, device: nil, kind: nil, role: nil, isBase: false, height: 0) }
            var zeroU: [String] = []
            for row in rows {
                let device = try Column.string(row, "name")
                guard let position = try Column.optionalInt(row, "position") else {
                    zeroU.append(device)
                    continue
                }
                let height = try Column.int(row, "height")
                for unit in position..<(position + height) where (1...rack.units).contains(unit) {
                    let index = rack.units - unit
                    units[index] = RackElevation.Unit(
                        unit: unit, device: device, kind: try Column.enumValue(row, "kind"),
                        role: try Column.optional(row, "role").flatMap(DeviceRole.init(rawValue:)), isBase: unit == position, height: height)
                }
            }
            return RackElevation(rack: rack, units: units, zeroU: zeroU)
        }
    }

    // MARK: cable trace

    /// Follows the link on `device:interface` to its far end. Every device kind is an endpoint (there are no
    /// patch panels in the model yet), so a trace is one hop.
    public func trace(device: String, interface: String) async throws -> CableTrace {
        try await database.read { session in
            let start = Endpoint(device: device.lowercased(), interface: interface)
            let row = try await session.first("""
                SELECT l.*, e.far_device, e.far_interface FROM \(Self.table(session, "link_ends")) e
                JOIN \(Self.table(session, "links")) l ON l.id = e.link_id
                WHERE e.device = \(bind: start.device) AND e.interface = \(bind: start.interface)
                """)
            let far = try row.map { Endpoint(device: try Column.string($0, "far_device"), interface: try Column.string($0, "far_interface")) }
            let ends = [start] + (far.map { [$0] } ?? [])
            var query: SQLQueryString = """
                SELECT i.*, d.kind AS device_kind, d.rack AS device_rack, d.position AS device_position
                FROM \(Self.table(session, "interfaces")) i JOIN \(Self.table(session, "devices")) d ON d.name = i.device WHERE
                """
            for (index, end) in ends.enumerated() {
                query.appendInterpolation(unsafeRaw: index == 0 ? " (i.device = " : " OR (i.device = ")
                query.appendInterpolation(bind: end.device)
                query.appendInterpolation(unsafeRaw: " AND i.name = ")
                query.appendInterpolation(bind: end.interface)
                query.appendInterpolation(unsafeRaw: ")")
            }
            var found: [Endpoint: CableTrace.End] = [:]
            for row in try await session.all(query) {
                let interface = try Column.interface(row)
                found[interface.endpoint] = CableTrace.End(
                    interface: interface, deviceKind: try Column.enumValue(row, "device_kind"),
                    rack: try Column.optional(row, "device_rack"), position: try Column.optionalInt(row, "device_position"))
            }
            guard let origin = found[start] else { throw DataverketError.notFound("interface", start.description) }
            let link = try row.map { try Column.stored(.link, $0) }.flatMap { stored -> Link? in
                if case .link(let link) = stored.object { return link }
                return nil
            }
            return CableTrace(start: origin, link: link, far: far.flatMap { found[$0] })
        }
    }

    // MARK: capacity

    /// Server capacity per datacenter (all datacenters when nil): totals, allocated, free. One aggregate query.
    public func capacity(datacenter: String? = nil) async throws -> [CapacitySummary] {
        try await database.read { session in
            var query: SQLQueryString = """
                SELECT datacenter, COUNT(*) AS servers,
                    CAST(SUM(CASE WHEN allocated_to IS NULL THEN 0 ELSE 1 END) AS BIGINT) AS servers_allocated,
                    CAST(SUM(cpu_cores) AS BIGINT) AS cpu, CAST(SUM(memory_gib) AS BIGINT) AS mem,
                    CAST(SUM(gpu_count) AS BIGINT) AS gpu, CAST(SUM(storage_gb) AS BIGINT) AS storage,
                    CAST(SUM(CASE WHEN allocated_to IS NULL THEN 0 ELSE cpu_cores END) AS BIGINT) AS cpu_allocated,
                    CAST(SUM(CASE WHEN allocated_to IS NULL THEN 0 ELSE memory_gib END) AS BIGINT) AS mem_allocated,
                    CAST(SUM(CASE WHEN allocated_to IS NULL THEN 0 ELSE gpu_count END) AS BIGINT) AS gpu_allocated,
                    CAST(SUM(CASE WHEN allocated_to IS NULL THEN 0 ELSE storage_gb END) AS BIGINT) AS storage_allocated
                FROM \(Self.table(session, "devices")) WHERE kind = 'server'
                """
            if let datacenter {
                query.appendInterpolation(unsafeRaw: " AND datacenter = ")
                query.appendInterpolation(bind: datacenter.lowercased())
            }
            query.appendInterpolation(unsafeRaw: " GROUP BY datacenter ORDER BY datacenter")
            return try await session.all(query).map { row in
                func int(_ column: String) throws -> Int { Int(try row.decode(column: column, as: Int64?.self) ?? 0) }
                let total = CapacitySummary.Resources(servers: try int("servers"), cpuCores: try int("cpu"), memoryGiB: try int("mem"),
                                                      gpus: try int("gpu"), storageGB: try int("storage"))
                let allocated = CapacitySummary.Resources(
                    servers: try int("servers_allocated"), cpuCores: try int("cpu_allocated"), memoryGiB: try int("mem_allocated"),
                    gpus: try int("gpu_allocated"), storageGB: try int("storage_allocated"))
                return CapacitySummary(datacenter: try Column.string(row, "datacenter"), total: total, allocated: allocated)
            }
        }
    }
}

/// A rack's units, top (highest U) first.
public struct RackElevation: Sendable, Hashable, Codable {
    public struct Unit: Sendable, Hashable, Codable {
        public var unit: Int
        public var device: String?
        public var kind: DeviceKind?
        public var role: DeviceRole?
        /// Whether this is the device's lowest unit (its position).
        public var isBase: Bool
        public var height: Int
    }

    public var rack: Rack
    public var units: [Unit]
    /// Devices in the rack without a unit position (vertical PDUs).
    public var zeroU: [String]

    /// The text elevation `dv rack show` prints.
    public func render() -> String {
        let width = max(24, (units.compactMap { $0.device?.count }.max() ?? 0) + 22)
        var out = "Rack \(rack.name): \(rack.datacenter) / \(rack.room) / failure domain \(rack.failureDomain), \(rack.units)U"
        if rack.feedA != nil || rack.feedB != nil {
            out += ", power A: \(rack.feedA ?? "-"), B: \(rack.feedB ?? "-")"
        }
        out += "\n     ┌" + String(repeating: "─", count: width) + "┐\n"
        for unit in units {
            var cell = ""
            if let device = unit.device {
                if unit.isBase || unit.height == 1 {
                    cell = device + (unit.height > 1 ? " (\(unit.height)U)" : "")
                    cell += "  " + [unit.kind?.rawValue, unit.role?.rawValue].compactMap { $0 }.joined(separator: "/")
                } else {
                    cell = "  ⋮ \(device)"
                }
            }
            let label = "U" + (unit.unit < 10 ? "0\(unit.unit)" : "\(unit.unit)")
            out += label.padding(toLength: 5, withPad: " ", startingAt: 0) + "│ " + cell.padding(toLength: width - 1, withPad: " ", startingAt: 0) + "│\n"
        }
        out += "     └" + String(repeating: "─", count: width) + "┘\n"
        let used = units.filter { $0.device != nil }.count
        out += "\(used)/\(units.count) units used"
        if !zeroU.isEmpty { out += "; zero-U: \(zeroU.joined(separator: ", "))" }
        return out + "\n"
    }
}

/// A cable from one interface to the far end.
public struct CableTrace: Sendable, Hashable, Codable {
    public struct End: Sendable, Hashable, Codable {
        public var interface: Interface
        public var deviceKind: DeviceKind
        public var rack: String?
        public var position: Int?

        var text: String {
            let place = rack.map { r in position.map { "\(r) U\($0)" } ?? r } ?? "unracked"
            return "\(interface.endpoint) (\(deviceKind.rawValue), \(place)\(interface.speedMbps.map { ", \(Speed.render($0))" } ?? ""))"
        }
    }

    public var start: End
    /// Nil when the interface is not cabled.
    public var link: Link?
    public var far: End?

    public func render() -> String {
        guard let link, let far else { return "\(start.text) is not cabled\n" }
        let cable = [link.cable?.rawValue, link.label].compactMap { $0 }.joined(separator: " ")
        return "\(start.text) ──\(cable.isEmpty ? "" : " \(cable) ")──▶ \(far.text)\n"
    }
}

/// Server capacity of one datacenter.
public struct CapacitySummary: Sendable, Hashable, Codable {
    public struct Resources: Sendable, Hashable, Codable {
        public var servers: Int
        public var cpuCores: Int
        public var memoryGiB: Int
        public var gpus: Int
        public var storageGB: Int

        public init(servers: Int, cpuCores: Int, memoryGiB: Int, gpus: Int, storageGB: Int) {
            self.servers = servers
            self.cpuCores = cpuCores
            self.memoryGiB = memoryGiB
            self.gpus = gpus
            self.storageGB = storageGB
        }

        static func - (lhs: Resources, rhs: Resources) -> Resources {
            Resources(servers: lhs.servers - rhs.servers, cpuCores: lhs.cpuCores - rhs.cpuCores, memoryGiB: lhs.memoryGiB - rhs.memoryGiB,
                      gpus: lhs.gpus - rhs.gpus, storageGB: lhs.storageGB - rhs.storageGB)
        }
    }

    public var datacenter: String
    public var total: Resources
    public var allocated: Resources
    public var free: Resources { total - allocated }

    public init(datacenter: String, total: Resources, allocated: Resources) {
        self.datacenter = datacenter
        self.total = total
        self.allocated = allocated
    }
}
