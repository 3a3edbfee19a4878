import DataverketCore
import NettIntent
import DataverketStore
import Logging
import SQLKit

/// IP address management over the store: VRFs, aggregates, prefixes, IP ranges, addresses, VLAN groups and
/// VLANs, ASN pools and ASNs — and allocation of the next free child prefix, address, VLAN ID or ASN.
///
/// Every mutation is one transaction (with its audit record, when an auditor is wired). Allocation is
/// transactional per pool and never takes a global lock (see `PoolEngine` and ADR 010); prefix changes lock
/// their VRF's row, so the overlap check of one VRF cannot race with itself. References are IDs or natural
/// keys: a VRF, VLAN group or ASN pool by name; a prefix by CIDR and an address by its text, within a VRF; a
/// VLAN by VID within its group; an ASN by number within its pool.
public struct IPAM: Sendable {
    public static let globalVRF = "global"

    public let database: Database
    public let logger: Logger
    public let auditor: IPAMAuditor?
    let pools: PoolEngine

    /// `allocationChunk`: how many free slots a pool materializes at a time.
    public init(database: Database, logger: Logger, auditor: IPAMAuditor? = nil, allocationChunk: Int = 1024) {
        precondition(allocationChunk > 0)
        self.database = database
        self.logger = logger
        self.auditor = auditor
        self.pools = PoolEngine(database: database, chunk: allocationChunk)
    }

    func audit(_ session: Session, _ context: OperationContext, _ action: String, kind: String, id: String, name: String?,
               before: Int64? = nil, after: Int64? = 1) async throws {
        try await auditor?(session, context, IPAMAuditEntry(
            action: "nett.\(kind).\(action)", resourceKind: kind, resourceID: id, resourceName: name, beforeVersion: before, afterVersion: after))
    }

    static func table(_ session: Session, _ name: String) -> TableName { session.table("nett", name) }

    // MARK: VRFs

    public func createVRF(_ spec: VRFSpec, context: OperationContext) async throws -> VRFRecord {
        let name = try Rules.name(spec.name)
        if let rd = spec.routeDistinguisher { try Rules.checkRouteValue(rd, field: "routeDistinguisher") }
        try Validation.checkCount(spec.importTargets.count, field: "importTargets", max: 64)
        try Validation.checkCount(spec.exportTargets.count, field: "exportTargets", max: 64)
        for target in spec.importTargets { try Rules.checkRouteValue(target, field: "importTargets") }
        for target in spec.exportTargets { try Rules.checkRouteValue(target, field: "exportTargets") }
        let tenant = try Rules.optionalName(spec.tenant, field: "tenant")
        try Validation.checkText(spec.description, field: "description", max: 1024)
        let imports = Array(Set(spec.importTargets)).sorted(), exports = Array(Set(spec.exportTargets)).sorted()
        let now = StoreTime.now()
        let record = VRFRecord(id: ResourceID.generate(prefix: "vrf").rawValue, name: name, routeDistinguisher: spec.routeDistinguisher,
                               importTargets: imports, exportTargets: exports, tenant: tenant, description: spec.description,
                               version: 1, createdAt: StoreTime.decode(now))
        return try await database.transaction { session in
            let table = Self.table(session, "vrfs")
            if let row = try await session.first("SELECT id FROM \(table) WHERE name = \(bind: name)") {
                throw DataverketError(.alreadyExists, "VRF '\(name)' already exists (\(try Column.string(row, "id")))")
            }
            if let rd = spec.routeDistinguisher, let row = try await session.first("SELECT name FROM \(table) WHERE rd = \(bind: rd)") {
                throw DataverketError(.alreadyExists, "route distinguisher \(rd) is already used by VRF '\(try Column.string(row, "name"))'")
            }
            try await session.run("""
                INSERT INTO \(table) (id, name, rd, import_targets, export_targets, tenant, description, version, created_at, updated_at)
                VALUES (\(bind: record.id), \(bind: name), \(bind: spec.routeDistinguisher), \(bind: imports.joined(separator: ",")),
                    \(bind: exports.joined(separator: ",")), \(bind: tenant), \(bind: spec.description), 1, \(bind: now), \(bind: now))
                """)
            try await audit(session, context, "create", kind: "vrf", id: record.id, name: name)
            return record
        }
    }

    public func vrfs(limit: Int? = nil, cursor: String? = nil) async throws -> Page<VRFRecord> {
        let limit = try Paging.limit(limit)
        let after = try Paging.decode(cursor, parts: 1)?[0] ?? ""
        return try await database.read { session in
            let rows = try await session.all("""
                SELECT * FROM \(Self.table(session, "vrfs")) WHERE name > \(bind: after) ORDER BY name LIMIT \(bind: limit + 1)
                """)
            return Paging.page(try rows.map(Self.vrf), limit: limit) { [$0.name] }
        }
    }

    public func vrf(_ ref: String) async throws -> VRFRecord {
        try await database.read { try await Self.findVRF($0, ref) }
    }

    public func deleteVRF(_ ref: String, context: OperationContext) async throws {
        try await database.transaction { session in
            let vrf = try await Self.findVRF(session, ref, lock: true)
            guard vrf.name != Self.globalVRF else { throw DataverketError(.conflict, "the global VRF cannot be deleted") }
            for (table, what) in [("prefixes", "prefixes"), ("addresses", "addresses"), ("ip_ranges", "IP ranges")] {
                let rows = try await session.all("SELECT id FROM \(Self.table(session, table)) WHERE vrf = \(bind: vrf.name) LIMIT 1")
                if !rows.isEmpty { throw DataverketError(.conflict, "VRF '\(vrf.name)' still has \(what); delete them first") }
            }
            try await session.run("DELETE FROM \(Self.table(session, "vrfs")) WHERE id = \(bind: vrf.id)")
            try await audit(session, context, "delete", kind: "vrf", id: vrf.id, name: vrf.name, before: vrf.version, after: nil)
        }
    }

    static func findVRF(_ session: Session, _ ref: String, lock: Bool = false) async throws -> VRFRecord {
        let column = ResourceID.looksLikeID(ref) ? "id" : "name"
        let key = column == "name" ? ref.lowercased() : ref
        var query: SQLQueryString = "SELECT * FROM \(table(session, "vrfs")) WHERE \(unsafeRaw: column) = \(bind: key)"
        if lock, session.kind == .postgres { query.raw(" FOR UPDATE") }
        guard let row = try await session.first(query) else { throw DataverketError.notFound("VRF", ref) }
        return try vrf(row)
    }

    static func vrf(_ row: any SQLRow) throws -> VRFRecord {
        VRFRecord(id: try Column.string(row, "id"), name: try Column.string(row, "name"), routeDistinguisher: try Column.optional(row, "rd"),
                  importTargets: Column.list(try Column.string(row, "import_targets")),
                  exportTargets: Column.list(try Column.string(row, "export_targets")), tenant: try Column.optional(row, "tenant"),
                  description: try Column.optional(row, "description"), version: try Column.int64(row, "version"), createdAt: try Column.date(row))
    }

    // MARK: aggregates

    public func createAggregate(_ spec: AggregateSpec, context: OperationContext) async throws -> AggregateRecord {
        let cidr = try CIDR.parse(spec.prefix)
        try Validation.checkText(spec.rir, field: "rir", max: 64)
        try Validation.checkText(spec.description, field: "description", max: 1024)
        let now = StoreTime.now()
        let record = AggregateRecord(id: ResourceID.generate(prefix: "agg").rawValue, prefix: cidr, rir: spec.rir, description: spec.description,
                                     version: 1, createdAt: StoreTime.decode(now))
        return try await database.transaction { session in
            let table = Self.table(session, "aggregates")
            // Aggregates never overlap: the first found names the other one.
            var query: SQLQueryString = "SELECT prefix FROM \(table) WHERE family = \(bind: cidr.family.rawValue) AND "
            Self.overlapCondition(&query, cidr)
            if let row = try await session.first(query) {
                let other = try Column.string(row, "prefix")
                if other == cidr.description { throw DataverketError(.alreadyExists, "aggregate \(cidr) already exists") }
                throw DataverketError.invalid("prefix", "aggregate \(cidr) overlaps aggregate \(other)")
            }
            let start = Split(cidr.first), end = Split(cidr.last)
            try await session.run("""
                INSERT INTO \(table) (id, prefix, family, length, s_hi, s_lo, e_hi, e_lo, rir, description, version, created_at, updated_at)
                VALUES (\(bind: record.id), \(bind: cidr.description), \(bind: cidr.family.rawValue), \(bind: cidr.length), \(bind: start.hi),
                    \(bind: start.lo), \(bind: end.hi), \(bind: end.lo), \(bind: spec.rir), \(bind: spec.description), 1, \(bind: now), \(bind: now))
                """)
            try await audit(session, context, "create", kind: "aggregate", id: record.id, name: cidr.description)
            return record
        }
    }

    public func aggregates(limit: Int? = nil, cursor: String? = nil) async throws -> Page<AggregateRecord> {
        let limit = try Paging.limit(limit)
        let after = try Paging.decode(cursor, parts: 4)
        return try await database.read { session in
            var query: SQLQueryString = "SELECT * FROM \(Self.table(session, "aggregates"))"
            if let after {
                query.raw(" WHERE (family, s_hi, s_lo, length) > (")
                query.value(try Paging.int(after[0])); query.raw(", "); query.value(try Paging.int(after[1])); query.raw(", ")
                query.value(try Paging.int(after[2])); query.raw(", "); query.value(try Paging.int(after[3])); query.raw(")")
            }
            query.raw(" ORDER BY family, s_hi, s_lo, length LIMIT ")
            query.value(limit + 1)
            return Paging.page(try await session.all(query).map(Self.aggregate), limit: limit) { item in
                let split = Split(item.prefix.network)
                return ["\(item.prefix.family.rawValue)", "\(split.hi)", "\(split.lo)", "\(item.prefix.length)"]
            }
        }
    }

    /// An aggregate by ID or CIDR.
    public func aggregate(_ ref: String) async throws -> AggregateRecord {
        try await database.read { try await Self.findAggregate($0, ref) }
    }

    public func deleteAggregate(_ ref: String, context: OperationContext) async throws {
        try await database.transaction { session in
            let record = try await Self.findAggregate(session, ref)
            try await session.run("DELETE FROM \(Self.table(session, "aggregates")) WHERE id = \(bind: record.id)")
            try await audit(session, context, "delete", kind: "aggregate", id: record.id, name: record.prefix.description, before: record.version, after: nil)
        }
    }

    static func findAggregate(_ session: Session, _ ref: String) async throws -> AggregateRecord {
        let key = ResourceID.looksLikeID(ref) ? ref : try CIDR.parse(ref).description
        guard let row = try await session.first("""
            SELECT * FROM \(table(session, "aggregates")) WHERE \(unsafeRaw: ResourceID.looksLikeID(ref) ? "id" : "prefix") = \(bind: key)
            """) else { throw DataverketError.notFound("aggregate", ref) }
        return try aggregate(row)
    }

    static func aggregate(_ row: any SQLRow) throws -> AggregateRecord {
        AggregateRecord(id: try Column.string(row, "id"), prefix: try Column.cidr(row), rir: try Column.optional(row, "rir"),
                        description: try Column.optional(row, "description"), version: try Column.int64(row, "version"), createdAt: try Column.date(row))
    }

    /// `(s_hi, s_lo) <= end AND (e_hi, e_lo) >= start`: the stored block overlaps `cidr`.
    static func overlapCondition(_ query: inout SQLQueryString, _ cidr: CIDR, prefix: String = "") {
        query.raw("(\(prefix)s_hi, \(prefix)s_lo) <= ")
        query.split(Split(cidr.last))
        query.raw(" AND (\(prefix)e_hi, \(prefix)e_lo) >= ")
        query.split(Split(cidr.first))
    }
}
