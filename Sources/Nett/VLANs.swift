import DataverketCore
import NettIntent
import DataverketStore
import SQLKit

extension IPAM {
    // MARK: VLAN groups

    /// A VLAN group: an ID space `minVID...maxVID` (within 1–4094), an allocation pool of its VIDs.
    public func createVLANGroup(_ spec: VLANGroupSpec, context: OperationContext) async throws -> VLANGroupRecord {
        let name = try Rules.name(spec.name)
        let scope = try Rules.optionalName(spec.scope, field: "scope")
        try Validation.checkText(spec.description, field: "description", max: 1024)
        guard (1...4094).contains(spec.minVID) else { throw DataverketError.invalid("minVID", "must be 1–4094, got \(spec.minVID)") }
        guard (1...4094).contains(spec.maxVID) else { throw DataverketError.invalid("maxVID", "must be 1–4094, got \(spec.maxVID)") }
        guard spec.minVID <= spec.maxVID else { throw DataverketError.invalid("maxVID", "\(spec.maxVID) is below minVID \(spec.minVID)") }
        let now = StoreTime.now()
        let record = VLANGroupRecord(id: ResourceID.generate(prefix: "vlg").rawValue, name: name, scope: scope, minVID: spec.minVID, maxVID: spec.maxVID,
                                     description: spec.description, version: 1, createdAt: StoreTime.decode(now))
        return try await database.transaction { session in
            let table = Self.table(session, "vlan_groups")
            if let row = try await session.first("SELECT id FROM \(table) WHERE name = \(bind: name)") {
                throw DataverketError(.alreadyExists, "VLAN group '\(name)' already exists (\(try Column.string(row, "id")))")
            }
            try await session.run("""
                INSERT INTO \(table) (id, name, scope, min_vid, max_vid, description, version, created_at, updated_at)
                VALUES (\(bind: record.id), \(bind: name), \(bind: scope), \(bind: spec.minVID), \(bind: spec.maxVID), \(bind: spec.description),
                    1, \(bind: now), \(bind: now))
                """)
            try await PoolEngine.create(session, id: record.id, kind: .vlans, first: Int64(spec.minVID), last: Int64(spec.maxVID))
            try await audit(session, context, "create", kind: "vlan-group", id: record.id, name: name)
            return record
        }
    }

    public func vlanGroups(limit: Int? = nil, cursor: String? = nil) async throws -> Page<VLANGroupRecord> {
        let limit = try Paging.limit(limit)
        let after = try Paging.decode(cursor, parts: 1)?[0] ?? ""
        return try await database.read { session in
            let rows = try await session.all("""
                SELECT * FROM \(Self.table(session, "vlan_groups")) WHERE name > \(bind: after) ORDER BY name LIMIT \(bind: limit + 1)
                """)
            return Paging.page(try rows.map(Self.vlanGroup), limit: limit) { [$0.name] }
        }
    }

    public func vlanGroup(_ ref: String) async throws -> VLANGroupRecord {
        try await database.read { try await Self.findVLANGroup($0, ref) }
    }

    /// Deletes an empty VLAN group (`conflict` while it has VLANs).
    public func deleteVLANGroup(_ ref: String, context: OperationContext) async throws {
        try await database.transaction { session in
            let group = try await Self.findVLANGroup(session, ref)
            _ = try await PoolEngine.lock(session, id: group.id, exclusive: true)
            if let row = try await session.first("SELECT vid FROM \(Self.table(session, "vlans")) WHERE group_id = \(bind: group.id) LIMIT 1") {
                throw DataverketError(.conflict, "VLAN group '\(group.name)' still has VLAN \(try Column.int64(row, "vid")); release its VLANs first")
            }
            try await PoolEngine.drop(session, id: group.id)
            try await session.run("DELETE FROM \(Self.table(session, "vlan_groups")) WHERE id = \(bind: group.id)")
            try await audit(session, context, "delete", kind: "vlan-group", id: group.id, name: group.name, before: group.version, after: nil)
        }
    }

    static func findVLANGroup(_ session: Session, _ ref: String) async throws -> VLANGroupRecord {
        let byID = ResourceID.looksLikeID(ref)
        guard let row = try await session.first("""
            SELECT * FROM \(table(session, "vlan_groups")) WHERE \(unsafeRaw: byID ? "id" : "name") = \(bind: byID ? ref : ref.lowercased())
            """) else { throw DataverketError.notFound("VLAN group", ref) }
        return try vlanGroup(row)
    }

    static func vlanGroup(_ row: any SQLRow) throws -> VLANGroupRecord {
        VLANGroupRecord(id: try Column.string(row, "id"), name: try Column.string(row, "name"), scope: try Column.optional(row, "scope"),
                        minVID: Int(try Column.int64(row, "min_vid")), maxVID: Int(try Column.int64(row, "max_vid")),
                        description: try Column.optional(row, "description"), version: try Column.int64(row, "version"), createdAt: try Column.date(row))
    }

    // MARK: VLANs

    /// Records a VLAN with a chosen ID: 422 if the ID is outside its group's range, `already-exists` if the
    /// ID or name is taken in the group.
    public func createVLAN(_ spec: VLANSpec, context: OperationContext) async throws -> VLANRecord {
        let name = try Rules.name(spec.name)
        let tenant = try Rules.optionalName(spec.tenant, field: "tenant")
        try Validation.checkText(spec.description, field: "description", max: 1024)
        guard (1...4094).contains(spec.vid) else { throw DataverketError.invalid("vid", "a VLAN ID is 1–4094, got \(spec.vid)") }
        return try await database.transaction { session in
            let group = try await Self.findVLANGroup(session, spec.group)
            guard (group.minVID...group.maxVID).contains(spec.vid) else {
                throw DataverketError.invalid("vid", "VLAN ID \(spec.vid) is outside group '\(group.name)' range \(group.minVID)–\(group.maxVID)")
            }
            try await Self.checkVLANFree(session, group: group, vid: spec.vid, name: name)
            _ = try await PoolEngine.lock(session, id: group.id, exclusive: false)
            try await PoolEngine.claim(session, pool: group.id, slot: Int64(spec.vid))
            let record = VLANRecord(id: ResourceID.generate(prefix: "vln").rawValue, group: group.name, groupID: group.id, vid: spec.vid, name: name,
                                    tenant: tenant, status: spec.status, description: spec.description, idempotencyKey: nil, version: 1,
                                    createdAt: StoreTime.decode(StoreTime.now()))
            _ = try await Self.insertVLAN(session, record, onConflictNothing: false)
            try await audit(session, context, "create", kind: "vlan", id: record.id, name: "\(group.name)/\(spec.vid)")
            return record
        }
    }

    /// Allocates the lowest free VLAN ID of `group`, named `name` (default `vlan<vid>`).
    public func allocateVLAN(in group: String, name: String? = nil, tenant: String? = nil, status: AllocationStatus = .active,
                             description: String? = nil, idempotencyKey: String? = nil, context: OperationContext) async throws -> VLANRecord {
        let key = try Rules.idempotencyKey(idempotencyKey)
        let name = try name.map { text throws(DataverketError) in try Rules.name(text) }
        let tenant = try Rules.optionalName(tenant, field: "tenant")
        try Validation.checkText(description, field: "description", max: 1024)
        let group = try await database.read { try await Self.findVLANGroup($0, group) }
        let auditor = self.auditor
        return try await pools.allocate(
            pool: group.id, kind: .vlans, idempotencyKey: key,
            describe: { (nil, "VLAN group '\(group.name)' has no free VLAN ID in \(group.minVID)–\(group.maxVID)") },
            conflict: "a VLAN named '\(name ?? "")' already exists in group '\(group.name)'",
            lookup: { session, key in try await Self.vlanByKey(session, key) },
            matches: { $0.groupID == group.id && (name == nil || $0.name == name) },
            insert: { session, slot in
                let vid = Int(slot)
                let record = VLANRecord(id: ResourceID.generate(prefix: "vln").rawValue, group: group.name, groupID: group.id, vid: vid,
                                        name: name ?? "vlan\(vid)", tenant: tenant, status: status, description: description, idempotencyKey: key,
                                        version: 1, createdAt: StoreTime.decode(StoreTime.now()))
                guard try await Self.insertVLAN(session, record, onConflictNothing: true) else { return nil }
                try await auditor?(session, context, IPAMAuditEntry(
                    action: "nett.vlan.allocate", resourceKind: "vlan", resourceID: record.id, resourceName: "\(group.name)/\(vid)",
                    beforeVersion: nil, afterVersion: 1))
                return record
            })
    }

    public func vlans(group: String? = nil, limit: Int? = nil, cursor: String? = nil) async throws -> Page<VLANRecord> {
        let limit = try Paging.limit(limit)
        let after = try Paging.decode(cursor, parts: 2)
        return try await database.read { session in
            var query: SQLQueryString = "SELECT * FROM \(Self.table(session, "vlans")) WHERE 1 = 1"
            if let group { query.raw(" AND group_name = "); query.value(group.lowercased()) }
            if let after {
                query.raw(" AND (group_name, vid) > ("); query.value(after[0]); query.raw(", "); query.value(try Paging.int(after[1])); query.raw(")")
            }
            query.raw(" ORDER BY group_name, vid LIMIT ")
            query.value(limit + 1)
            return Paging.page(try await session.all(query).map(Self.vlan), limit: limit) { [$0.group, "\($0.vid)"] }
        }
    }

    /// A VLAN by ID, or by VID within `group`.
    public func vlan(_ ref: String, group: String? = nil) async throws -> VLANRecord {
        try await database.read { try await Self.findVLAN($0, ref, group: group) }
    }

    /// Releases (deletes) a VLAN; `conflict` while a prefix is on it.
    public func releaseVLAN(_ ref: String, group: String? = nil, context: OperationContext) async throws {
        try await database.transaction { session in
            let record = try await Self.findVLAN(session, ref, group: group)
            if let row = try await session.first("SELECT prefix FROM \(Self.table(session, "prefixes")) WHERE vlan_id = \(bind: record.id) LIMIT 1") {
                throw DataverketError(.conflict, "VLAN \(record.group)/\(record.vid) carries prefix \(try Column.string(row, "prefix"))")
            }
            let state = try await PoolEngine.lock(session, id: record.groupID, exclusive: false)
            try await session.run("DELETE FROM \(Self.table(session, "vlans")) WHERE id = \(bind: record.id)")
            if let state { try await PoolEngine.giveBack(session, pool: record.groupID, state: state, slots: [Int64(record.vid)]) }
            try await audit(session, context, "release", kind: "vlan", id: record.id, name: "\(record.group)/\(record.vid)",
                            before: record.version, after: nil)
        }
    }

    static func checkVLANFree(_ session: Session, group: VLANGroupRecord, vid: Int, name: String) async throws {
        let table = Self.table(session, "vlans")
        if let row = try await session.first("SELECT name FROM \(table) WHERE group_id = \(bind: group.id) AND vid = \(bind: vid)") {
            throw DataverketError(.alreadyExists, "VLAN ID \(vid) is already used in group '\(group.name)' (by '\(try Column.string(row, "name"))')")
        }
        if let row = try await session.first("SELECT vid FROM \(table) WHERE group_id = \(bind: group.id) AND name = \(bind: name)") {
            throw DataverketError(.alreadyExists, "a VLAN named '\(name)' already exists in group '\(group.name)' (ID \(try Column.int64(row, "vid")))")
        }
    }

    static func insertVLAN(_ session: Session, _ record: VLANRecord, onConflictNothing: Bool) async throws -> Bool {
        let now = StoreTime.encode(record.createdAt)
        var query: SQLQueryString = """
            INSERT INTO \(table(session, "vlans")) (id, group_id, group_name, vid, name, tenant, status, description, idempotency_key,
                version, created_at, updated_at)
            VALUES (\(bind: record.id), \(bind: record.groupID), \(bind: record.group), \(bind: record.vid), \(bind: record.name),
                \(bind: record.tenant), \(bind: record.status.rawValue), \(bind: record.description), \(bind: record.idempotencyKey),
                1, \(bind: now), \(bind: now))
            """
        if onConflictNothing { query.raw(" ON CONFLICT DO NOTHING") }
        query.raw(" RETURNING id")
        return try await session.first(query) != nil
    }

    static func findVLAN(_ session: Session, _ ref: String, group: String?) async throws -> VLANRecord {
        var query: SQLQueryString = "SELECT * FROM \(table(session, "vlans")) WHERE "
        if ResourceID.looksLikeID(ref) {
            query.raw("id = "); query.value(ref)
        } else {
            guard let vid = Int(ref), let group else {
                throw DataverketError.invalid("vlan", "'\(ref)' is neither a VLAN's ID nor a VID with its group")
            }
            query.raw("group_name = "); query.value(group.lowercased()); query.raw(" AND vid = "); query.value(vid)
        }
        guard let row = try await session.first(query) else {
            throw DataverketError.notFound("VLAN", group.map { "\($0)/\(ref)" } ?? ref)
        }
        return try vlan(row)
    }

    static func vlanByKey(_ session: Session, _ key: String) async throws -> VLANRecord? {
        try await session.first("SELECT * FROM \(table(session, "vlans")) WHERE idempotency_key = \(bind: key)").map(vlan)
    }

    static func vlan(_ row: any SQLRow) throws -> VLANRecord {
        VLANRecord(id: try Column.string(row, "id"), group: try Column.string(row, "group_name"), groupID: try Column.string(row, "group_id"),
                   vid: Int(try Column.int64(row, "vid")), name: try Column.string(row, "name"), tenant: try Column.optional(row, "tenant"),
                   status: try Column.enumValue(row, "status"), description: try Column.optional(row, "description"),
                   idempotencyKey: try Column.optional(row, "idempotency_key"), version: try Column.int64(row, "version"), createdAt: try Column.date(row))
    }
}
