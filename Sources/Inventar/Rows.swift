#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import DataverketCore
import DataverketStore
import SQLKit

/// A column value to bind.
enum SQLValue: Sendable, Hashable {
    case text(String?)
    case int(Int?)
}

extension SQLQueryString {
    mutating func bind(_ value: SQLValue) {
        switch value {
        case .text(let text): appendInterpolation(bind: text)
        case .int(let int): appendInterpolation(bind: int.map(Int64.init))
        }
    }

    /// `(?, ?, …)` of `values`.
    mutating func bindList(_ values: [String]) {
        appendInterpolation(unsafeRaw: "(")
        for (index, value) in values.enumerated() {
            if index > 0 { appendInterpolation(unsafeRaw: ", ") }
            appendInterpolation(bind: value)
        }
        appendInterpolation(unsafeRaw: ")")
    }
}


/// How each kind of object maps to its table.
struct RowSpec {
    var table: String
    /// The columns identifying the row (its name, or its scope and name).
    var key: [(String, SQLValue)]
    /// Every other column the object determines.
    var values: [(String, SQLValue)]
    var idPrefix: String

    /// `datacenterOf` gives a device's datacenter (for interfaces and links, which carry it for scoping).
    static func of(_ object: InventoryObject, datacenterOf: (String) -> String) throws -> RowSpec {
        switch object {
        case .datacenter(let x):
            return RowSpec(table: "datacenters", key: [("name", .text(x.name))], values: [
                ("display_name", .text(x.displayName)), ("country", .text(x.country)), ("jurisdiction", .text(x.jurisdiction)),
                ("region_role", .text(x.regionRole.rawValue)),
            ], idPrefix: "dc")
        case .failureDomain(let x):
            return RowSpec(table: "failure_domains", key: [("datacenter", .text(x.datacenter)), ("name", .text(x.name))],
                           values: [("description", .text(x.description))], idPrefix: "fd")
        case .room(let x):
            return RowSpec(table: "rooms", key: [("datacenter", .text(x.datacenter)), ("name", .text(x.name))],
                           values: [("description", .text(x.description))], idPrefix: "room")
        case .network(let x):
            return RowSpec(table: "networks", key: [("name", .text(x.name))], values: [
                ("datacenter", .text(x.datacenter)), ("role", .text(x.role.rawValue)), ("vlan", .int(x.vlan)), ("description", .text(x.description)),
            ], idPrefix: "net")
        case .rack(let x):
            return RowSpec(table: "racks", key: [("name", .text(x.name))], values: [
                ("datacenter", .text(x.datacenter)), ("room", .text(x.room)), ("failure_domain", .text(x.failureDomain)),
                ("units", .int(x.units)), ("feed_a", .text(x.feedA)), ("feed_b", .text(x.feedB)),
            ], idPrefix: "rack")
        case .device(let x):
            return RowSpec(table: "devices", key: [("name", .text(x.name))], values: [
                ("kind", .text(x.kind.rawValue)), ("role", .text(x.role?.rawValue)), ("vendor", .text(x.vendor)), ("model", .text(x.model)),
                ("serial", .text(x.serial)), ("asset_tag", .text(x.assetTag)), ("datacenter", .text(x.datacenter)),
                ("failure_domain", .text(x.failureDomain)), ("rack", .text(x.rack)), ("position", .int(x.position)),
                ("height", .int(x.height)), ("pool", .text(x.pool)), ("tags", .text(try JSONColumn.encode(x.tags))),
                ("power_feeds", .text(try JSONColumn.encode(x.powerFeeds))), ("hardware", .text(try JSONColumn.encode(x.hardware))),
                ("cpu_cores", .int(x.hardware.cpuCores)), ("memory_gib", .int(x.hardware.memoryGiB ?? 0)),
                ("gpu_count", .int(x.hardware.gpuCount)), ("storage_gb", .int(x.hardware.storageGB)),
                ("bmc_protocol", .text(x.bmc?.protocol.rawValue)), ("bmc_address", .text(x.bmc?.address)),
                ("bmc_credentials_ref", .text(x.bmc?.credentialsRef)),
            ], idPrefix: "dev")
        case .interface(let x):
            return RowSpec(table: "interfaces", key: [("device", .text(x.device)), ("name", .text(x.name))], values: [
                ("mac", .text(x.mac)), ("speed_mbps", .int(x.speedMbps)), ("kind", .text(x.kind.rawValue)), ("network", .text(x.network)),
                ("datacenter", .text(datacenterOf(x.device))),
            ], idPrefix: "if")
        case .link(let x):
            return RowSpec(table: "links", key: [
                ("a_device", .text(x.a.device)), ("a_interface", .text(x.a.interface)),
                ("b_device", .text(x.b.device)), ("b_interface", .text(x.b.interface)),
            ], values: [("cable", .text(x.cable?.rawValue)), ("label", .text(x.label)), ("datacenter", .text(datacenterOf(x.a.device)))],
            idPrefix: "lnk")
        }
    }

    static func table(_ kind: ObjectKind) -> String {
        switch kind {
        case .datacenter: "datacenters"
        case .failureDomain: "failure_domains"
        case .room: "rooms"
        case .network: "networks"
        case .rack: "racks"
        case .device: "devices"
        case .interface: "interfaces"
        case .link: "links"
        }
    }
}

/// Decoding rows back into inventory objects (the primitives are the store's).
extension Column {
    static func stored(_ kind: ObjectKind, _ row: any SQLRow) throws -> StoredObject {
        let object: InventoryObject
        switch kind {
        case .datacenter:
            object = .datacenter(Datacenter(
                name: try string(row, "name"), displayName: try optional(row, "display_name"), country: try string(row, "country"),
                jurisdiction: try string(row, "jurisdiction"), regionRole: try enumValue(row, "region_role")))
        case .failureDomain:
            object = .failureDomain(FailureDomain(datacenter: try string(row, "datacenter"), name: try string(row, "name"), description: try optional(row, "description")))
        case .room:
            object = .room(Room(datacenter: try string(row, "datacenter"), name: try string(row, "name"), description: try optional(row, "description")))
        case .network:
            object = .network(Network(
                name: try string(row, "name"), datacenter: try string(row, "datacenter"), role: try enumValue(row, "role"),
                vlan: try optionalInt(row, "vlan"), description: try optional(row, "description")))
        case .rack:
            object = .rack(Rack(
                name: try string(row, "name"), datacenter: try string(row, "datacenter"), room: try string(row, "room"),
                failureDomain: try string(row, "failure_domain"), units: try int(row, "units"), feedA: try optional(row, "feed_a"),
                feedB: try optional(row, "feed_b")))
        case .device:
            object = .device(try device(row))
        case .interface:
            object = .interface(try interface(row))
        case .link:
            object = .link(Link(
                a: Endpoint(device: try string(row, "a_device"), interface: try string(row, "a_interface")),
                b: Endpoint(device: try string(row, "b_device"), interface: try string(row, "b_interface")),
                cable: try optional(row, "cable").flatMap(CableType.init(rawValue:)), label: try optional(row, "label")))
        }
        return StoredObject(object: object, version: try row.decode(column: "version", as: Int64.self),
                            managedBy: try enumValue(row, "managed_by"))
    }

    static func device(_ row: any SQLRow) throws -> Device {
        var bmc: BMC?
        if let proto = try optional(row, "bmc_protocol").flatMap(BMCProtocol.init(rawValue:)), let address = try optional(row, "bmc_address") {
            bmc = BMC(protocol: proto, address: address, credentialsRef: try optional(row, "bmc_credentials_ref"))
        }
        return Device(
            name: try string(row, "name"), kind: try enumValue(row, "kind"),
            role: try optional(row, "role").flatMap(DeviceRole.init(rawValue:)), vendor: try optional(row, "vendor"),
            model: try optional(row, "model"), serial: try optional(row, "serial"), assetTag: try optional(row, "asset_tag"),
            datacenter: try string(row, "datacenter"), failureDomain: try string(row, "failure_domain"), rack: try optional(row, "rack"),
            position: try optionalInt(row, "position"), height: try int(row, "height"), pool: try optional(row, "pool"),
            tags: try JSONColumn.decode([String].self, try string(row, "tags")),
            powerFeeds: try JSONColumn.decode([String].self, try string(row, "power_feeds")),
            hardware: try JSONColumn.decode(HardwareFacts.self, try string(row, "hardware")), bmc: bmc)
    }

    static func interface(_ row: any SQLRow) throws -> Interface {
        Interface(device: try string(row, "device"), name: try string(row, "name"), mac: try optional(row, "mac"),
                  speedMbps: try optionalInt(row, "speed_mbps"), kind: try enumValue(row, "kind"), network: try optional(row, "network"))
    }
}

/// Writes object changes: multi-row INSERTs in chunks for creates, compare-and-swap UPDATE/DELETE per row.
struct RowWriter {
    let session: Session
    let managedBy: ManagedBy
    let datacenterOf: (String) -> String

    /// Bound parameters per statement: under SQLite's (32766) and PostgreSQL's (65535) limits.
    static let maxBinds = 30_000

    func t(_ name: String) -> TableName { session.table("inventory", name) }

    /// Runs `changes` in their execution order, batching consecutive creates of one kind.
    func execute(_ changes: [Change]) async throws {
        let ordered = changes.sorted(by: Change.executionOrder)
        var index = 0
        while index < ordered.count {
            let change = ordered[index]
            if change.action == .create {
                var batch: [InventoryObject] = []
                while index < ordered.count, ordered[index].action == .create, ordered[index].ref.kind == change.ref.kind {
                    if let desired = ordered[index].desired { batch.append(desired) }
                    index += 1
                }
                try await insert(batch)
                continue
            }
            switch change.action {
            case .update: try await update(change)
            case .delete: try await delete(change)
            case .create: break
            }
            index += 1
        }
    }

    func insert(_ objects: [InventoryObject]) async throws {
        guard let first = objects.first else { return }
        let now = StoreTime.now()
        var rows: [[SQLValue]] = []
        var columns: [String] = []
        var tagRows: [[SQLValue]] = []
        var endRows: [[SQLValue]] = []
        for object in objects {
            let spec = try RowSpec.of(object, datacenterOf: datacenterOf)
            if columns.isEmpty {
                columns = ["id"] + spec.key.map(\.0) + spec.values.map(\.0) + ["managed_by", "version", "created_at", "updated_at"]
            }
            let id = ResourceID.generate(prefix: spec.idPrefix).rawValue
            rows.append([.text(id)] + spec.key.map(\.1) + spec.values.map(\.1)
                        + [.text(managedBy.rawValue), .int(1), .int(Int(now)), .int(Int(now))])
            if case .device(let device) = object {
                tagRows += device.tags.map { [.text(device.name), .text($0)] }
            }
            if case .link(let link) = object {
                endRows.append([.text(link.a.device), .text(link.a.interface), .text(id), .text(link.b.device), .text(link.b.interface)])
                endRows.append([.text(link.b.device), .text(link.b.interface), .text(id), .text(link.a.device), .text(link.a.interface)])
            }
        }
        let spec = try RowSpec.of(first, datacenterOf: datacenterOf)
        try await bulkInsert(spec.table, columns: columns, rows: rows)
        try await bulkInsert("device_tags", columns: ["device", "tag"], rows: tagRows)
        try await bulkInsert("link_ends", columns: ["device", "interface", "link_id", "far_device", "far_interface"], rows: endRows)
    }

    func bulkInsert(_ table: String, columns: [String], rows: [[SQLValue]]) async throws {
        guard !rows.isEmpty else { return }
        let perStatement = max(1, Self.maxBinds / columns.count)
        var start = 0
        while start < rows.count {
            let chunk = rows[start..<min(rows.count, start + perStatement)]
            var query: SQLQueryString = "INSERT INTO \(t(table)) (\(unsafeRaw: columns.joined(separator: ", "))) VALUES "
            for (rowIndex, row) in chunk.enumerated() {
                query.appendInterpolation(unsafeRaw: rowIndex == 0 ? "(" : ", (")
                for (valueIndex, value) in row.enumerated() {
                    if valueIndex > 0 { query.appendInterpolation(unsafeRaw: ", ") }
                    query.bind(value)
                }
                query.appendInterpolation(unsafeRaw: ")")
            }
            try await session.run(query)
            start += perStatement
        }
    }

    func whereKey(_ query: inout SQLQueryString, _ key: [(String, SQLValue)]) {
        for (index, (column, value)) in key.enumerated() {
            query.appendInterpolation(unsafeRaw: index == 0 ? " WHERE \(column) = " : " AND \(column) = ")
            query.bind(value)
        }
    }

    func update(_ change: Change) async throws {
        guard let desired = change.desired, let base = change.baseVersion else { return }
        let spec = try RowSpec.of(desired, datacenterOf: datacenterOf)
        var query: SQLQueryString = "UPDATE \(t(spec.table)) SET "
        for (column, value) in spec.values {
            query.appendInterpolation(unsafeRaw: "\(column) = ")
            query.bind(value)
            query.appendInterpolation(unsafeRaw: ", ")
        }
        query.appendInterpolation(unsafeRaw: "managed_by = ")
        query.appendInterpolation(bind: managedBy.rawValue)
        query.appendInterpolation(unsafeRaw: ", version = version + 1, updated_at = ")
        query.appendInterpolation(bind: StoreTime.now())
        whereKey(&query, spec.key)
        query.appendInterpolation(unsafeRaw: " AND version = ")
        query.appendInterpolation(bind: base)
        query.appendInterpolation(unsafeRaw: " RETURNING id")
        guard try await session.affected(query) == 1 else { throw concurrent(change.ref) }
        if case .device(let device) = desired {
            try await session.run("DELETE FROM \(t("device_tags")) WHERE device = \(bind: device.name)")
            try await bulkInsert("device_tags", columns: ["device", "tag"], rows: device.tags.map { [.text(device.name), .text($0)] })
        }
    }

    func delete(_ change: Change) async throws {
        guard let current = change.current, let base = change.baseVersion else { return }
        let spec = try RowSpec.of(current, datacenterOf: datacenterOf)
        if case .device(let device) = current {
            try await session.run("DELETE FROM \(t("device_tags")) WHERE device = \(bind: device.name)")
        }
        if case .link(let link) = current {
            try await session.run("""
                DELETE FROM \(t("link_ends")) WHERE link_id IN (SELECT id FROM \(t("links"))
                    WHERE a_device = \(bind: link.a.device) AND a_interface = \(bind: link.a.interface)
                    AND b_device = \(bind: link.b.device) AND b_interface = \(bind: link.b.interface))
                """)
        }
        var query: SQLQueryString = "DELETE FROM \(t(spec.table))"
        whereKey(&query, spec.key)
        query.appendInterpolation(unsafeRaw: " AND version = ")
        query.appendInterpolation(bind: base)
        query.appendInterpolation(unsafeRaw: " RETURNING id")
        guard try await session.affected(query) == 1 else { throw concurrent(change.ref) }
    }

    func concurrent(_ ref: ObjectRef) -> DataverketError {
        DataverketError(.conflict, "\(ref) changed while the change was applied: plan again and retry")
    }
}
