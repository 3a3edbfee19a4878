import DataverketCore
import NettIntent
import DataverketStore
import SQLKit

extension IPAM {
    // MARK: prefixes

    /// Creates a prefix. In one VRF, prefixes that overlap must nest inside a `container` (422 naming both
    /// otherwise); the same prefix twice is `already-exists`. A non-container prefix becomes an allocation pool
    /// for its addresses.
    public func createPrefix(_ spec: PrefixSpec, context: OperationContext) async throws -> PrefixRecord {
        let cidr = try CIDR.parse(spec.prefix)
        let attributes = try PrefixAttributes(role: spec.role, status: spec.status, vlan: spec.vlan, isPool: spec.isPool, tenant: spec.tenant,
                                              datacenter: spec.datacenter, description: spec.description)
        let vrfName = spec.vrf.lowercased()
        return try await database.transaction { session in
            let vrf = try await Self.findVRF(session, vrfName, lock: true)
            var parent: PrefixRecord?
            if let parentRef = spec.parent {
                let found = try await Self.findPrefix(session, parentRef, vrf: vrf.name)
                guard found.vrf == vrf.name else {
                    throw DataverketError.invalid("parent", "\(found.prefix) is in VRF \(found.vrf), not \(vrf.name)")
                }
                guard found.prefix.contains(cidr), found.prefix != cidr else {
                    throw DataverketError.invalid("prefix", "\(cidr) is outside its parent \(found.prefix) (VRF \(vrf.name))")
                }
                parent = found
            }
            let record = try await insertPrefix(session, cidr, vrf: vrf.name, attributes, parent: parent, key: nil)
            try await audit(session, context, "create", kind: "prefix", id: record.id, name: "\(vrf.name)/\(cidr)")
            return record
        }
    }

    /// Allocates the first free child prefix of `length` bits inside container `parent` (an ID or CIDR in
    /// `vrf`). `conflict` when none is free; the same `idempotencyKey` returns the prefix it allocated before.
    public func allocatePrefix(from parent: String, vrf: String = IPAM.globalVRF, length: Int, role: PrefixRole? = nil,
                               status: PrefixStatus = .active, isPool: Bool = false, vlan: String? = nil, tenant: String? = nil,
                               datacenter: String? = nil, description: String? = nil, idempotencyKey: String? = nil,
                               context: OperationContext) async throws -> PrefixRecord {
        let key = try Rules.idempotencyKey(idempotencyKey)
        let attributes = try PrefixAttributes(role: role, status: status, vlan: vlan, isPool: isPool, tenant: tenant, datacenter: datacenter,
                                              description: description)
        let vrfName = vrf.lowercased()
        do {
            return try await database.transaction { session in
                // A parent given by ID names its own VRF.
                let lockedVRF = ResourceID.looksLikeID(parent) ? try await Self.findPrefix(session, parent, vrf: vrfName).vrf : vrfName
                let vrf = try await Self.findVRF(session, lockedVRF, lock: true)
                let container = try await Self.findPrefix(session, parent, vrf: vrf.name)
                if let key, let existing = try await Self.prefixByKey(session, key) {
                    return try Self.replay(existing, parent: container, length: length, key: key)
                }
                guard container.status == .container else {
                    throw DataverketError.invalid("parent", "\(container.prefix) is not a container (status \(container.status.rawValue)): "
                                                  + "child prefixes are allocated from containers")
                }
                guard length > container.prefix.length, length <= container.prefix.family.bitWidth else {
                    throw DataverketError.invalid("length", "a child of \(container.prefix) must be /\(container.prefix.length + 1)–/\(container.prefix.family.bitWidth), got /\(length)")
                }
                let inside = try await Self.overlapping(session, container.prefix, vrf: vrf.name).filter { $0.prefix.length > container.prefix.length }
                guard let child = container.prefix.firstFree(length: length, avoiding: inside.map(\.prefix)) else {
                    throw DataverketError(.conflict, "prefix \(container.prefix) in VRF \(vrf.name) has no free /\(length)")
                }
                let record = try await insertPrefix(session, child, vrf: vrf.name, attributes, parent: container, key: key)
                try await audit(session, context, "allocate", kind: "prefix", id: record.id, name: "\(vrf.name)/\(child)")
                return record
            }
        } catch let error as DataverketError where error.code == .alreadyExists && key != nil {
            // The same key allocated concurrently in another VRF's transaction.
            let existing = try await database.read { try await Self.prefixByKey($0, key!) }
            let container = try await prefix(parent, vrf: vrfName)
            guard let existing else { throw error }
            return try Self.replay(existing, parent: container, length: length, key: key!)
        }
    }

    static func replay(_ existing: PrefixRecord, parent: PrefixRecord, length: Int, key: String) throws(DataverketError) -> PrefixRecord {
        guard existing.parentID == parent.id, existing.prefix.length == length else {
            throw DataverketError(.idempotencyKeyReused, "idempotency key '\(key)' was used for a different allocation (\(existing.prefix))")
        }
        return existing
    }

    public func prefixes(_ filter: PrefixFilter = PrefixFilter(), limit: Int? = nil, cursor: String? = nil) async throws -> Page<PrefixRecord> {
        let limit = try Paging.limit(limit)
        let after = try Paging.decode(cursor, parts: 5)
        let within = try filter.within.map { text throws(DataverketError) in try CIDR.parse(text, field: "within") }
        return try await database.read { session in
            var query: SQLQueryString = "SELECT * FROM \(Self.table(session, "prefixes")) WHERE 1 = 1"
            if let vrf = filter.vrf { query.raw(" AND vrf = "); query.value(vrf.lowercased()) }
            if let role = filter.role { query.raw(" AND role = "); query.value(role.rawValue) }
            if let status = filter.status { query.raw(" AND status = "); query.value(status.rawValue) }
            if let family = filter.family ?? within?.family { query.raw(" AND family = "); query.value(family.rawValue) }
            if let datacenter = filter.datacenter { query.raw(" AND datacenter = "); query.value(datacenter.lowercased()) }
            if let tenant = filter.tenant { query.raw(" AND tenant = "); query.value(tenant.lowercased()) }
            if let within {
                query.raw(" AND (s_hi, s_lo) >= "); query.split(Split(within.first))
                query.raw(" AND (e_hi, e_lo) <= "); query.split(Split(within.last))
                query.raw(" AND length > "); query.value(within.length)
            }
            if let after {
                query.raw(" AND (vrf, family, s_hi, s_lo, length) > (")
                query.value(after[0]); query.raw(", "); query.value(try Paging.int(after[1])); query.raw(", ")
                query.value(try Paging.int(after[2])); query.raw(", "); query.value(try Paging.int(after[3])); query.raw(", ")
                query.value(try Paging.int(after[4])); query.raw(")")
            }
            query.raw(" ORDER BY vrf, family, s_hi, s_lo, length LIMIT ")
            query.value(limit + 1)
            return Paging.page(try await session.all(query).map(Self.prefix), limit: limit) { item in
                let split = Split(item.prefix.network)
                return [item.vrf, "\(item.prefix.family.rawValue)", "\(split.hi)", "\(split.lo)", "\(item.prefix.length)"]
            }
        }
    }

    /// A prefix by ID, or by CIDR in `vrf`.
    public func prefix(_ ref: String, vrf: String = IPAM.globalVRF) async throws -> PrefixRecord {
        try await database.read { try await Self.findPrefix($0, ref, vrf: vrf.lowercased()) }
    }

    /// Deletes a prefix that holds no prefixes, addresses or ranges (else `conflict`), with its pool.
    public func deletePrefix(_ ref: String, vrf: String = IPAM.globalVRF, context: OperationContext) async throws {
        let vrfName = vrf.lowercased()
        try await database.transaction { session in
            let lockedVRF = ResourceID.looksLikeID(ref) ? try await Self.findPrefix(session, ref, vrf: vrfName).vrf : vrfName
            _ = try await Self.findVRF(session, lockedVRF, lock: true)
            let record = try await Self.findPrefix(session, ref, vrf: lockedVRF)
            if let row = try await session.first("SELECT prefix FROM \(Self.table(session, "prefixes")) WHERE parent_id = \(bind: record.id) LIMIT 1") {
                throw DataverketError(.conflict, "prefix \(record.prefix) still contains prefix \(try Column.string(row, "prefix")); delete it first")
            }
            _ = try await PoolEngine.lock(session, id: record.id, exclusive: true)
            if let row = try await session.first("SELECT address FROM \(Self.table(session, "addresses")) WHERE prefix_id = \(bind: record.id) LIMIT 1") {
                throw DataverketError(.conflict, "prefix \(record.prefix) still has address \(try Column.string(row, "address")); release its addresses first")
            }
            if let row = try await session.first("SELECT start_address FROM \(Self.table(session, "ip_ranges")) WHERE prefix_id = \(bind: record.id) LIMIT 1") {
                throw DataverketError(.conflict, "prefix \(record.prefix) still has the IP range starting at \(try Column.string(row, "start_address"))")
            }
            try await PoolEngine.drop(session, id: record.id)
            try await session.run("DELETE FROM \(Self.table(session, "prefixes")) WHERE id = \(bind: record.id)")
            try await audit(session, context, "delete", kind: "prefix", id: record.id, name: "\(record.vrf)/\(record.prefix)",
                            before: record.version, after: nil)
        }
    }

    /// Validated attributes of a prefix to insert.
    struct PrefixAttributes: Sendable {
        var role: PrefixRole?
        var status: PrefixStatus
        var vlan: String?
        var isPool: Bool
        var tenant: String?
        var datacenter: String?
        var description: String?

        init(role: PrefixRole?, status: PrefixStatus, vlan: String?, isPool: Bool, tenant: String?, datacenter: String?,
             description: String?) throws(DataverketError) {
            self.role = role
            self.status = status
            self.vlan = vlan
            self.isPool = isPool
            self.tenant = try Rules.optionalName(tenant, field: "tenant")
            self.datacenter = try Rules.optionalName(datacenter, field: "datacenter")
            try Validation.checkText(description, field: "description", max: 1024)
            self.description = description
            if isPool, status == .container { throw .invalid("isPool", "a container is not an address pool") }
        }
    }

    /// Inserts a prefix after the overlap rules; the caller holds the VRF's lock. Re-parents the prefixes a
    /// new container encloses and makes a non-container an address pool.
    func insertPrefix(_ session: Session, _ cidr: CIDR, vrf: String, _ attributes: PrefixAttributes, parent explicitParent: PrefixRecord?,
                      key: String?) async throws -> PrefixRecord {
        if let vlan = attributes.vlan {
            guard try await session.first("SELECT id FROM \(Self.table(session, "vlans")) WHERE id = \(bind: vlan)") != nil else {
                throw DataverketError.invalid("vlan", "VLAN \(vlan) does not exist")
            }
        }
        let overlapping = try await Self.overlapping(session, cidr, vrf: vrf)
        if let same = overlapping.first(where: { $0.prefix == cidr }) {
            throw DataverketError(.alreadyExists, "prefix \(cidr) already exists in VRF \(vrf) (\(same.id))")
        }
        for other in overlapping {
            if other.prefix.contains(cidr), other.status != .container {
                throw DataverketError.invalid("prefix", "\(cidr) overlaps \(other.prefix) (\(other.id)) in VRF \(vrf): "
                                              + "\(other.prefix) is \(other.status.rawValue), and only a container may hold other prefixes")
            }
            if cidr.contains(other.prefix), attributes.status != .container {
                throw DataverketError.invalid("prefix", "\(cidr) overlaps \(other.prefix) (\(other.id)) in VRF \(vrf): "
                                              + "only a container may hold other prefixes")
            }
        }
        // The innermost enclosing container (an explicit parent must be one of them).
        let parent = overlapping.filter { $0.prefix.contains(cidr) }.max { $0.prefix.length < $1.prefix.length }
        if let explicitParent {
            guard explicitParent.status == .container else {
                throw DataverketError.invalid("parent", "\(explicitParent.prefix) is not a container (status \(explicitParent.status.rawValue))")
            }
        }
        let now = StoreTime.now()
        let record = PrefixRecord(id: ResourceID.generate(prefix: "pfx").rawValue, vrf: vrf, prefix: cidr, parentID: parent?.id, role: attributes.role,
                                  status: attributes.status, vlan: attributes.vlan, isPool: attributes.isPool, tenant: attributes.tenant,
                                  datacenter: attributes.datacenter, description: attributes.description, idempotencyKey: key, version: 1,
                                  createdAt: StoreTime.decode(now))
        let start = Split(cidr.first), end = Split(cidr.last)
        let table = Self.table(session, "prefixes")
        try await session.run("""
            INSERT INTO \(table) (id, vrf, prefix, family, length, s_hi, s_lo, e_hi, e_lo, parent_id, role, status, vlan_id, is_pool,
                tenant, datacenter, description, idempotency_key, version, created_at, updated_at)
            VALUES (\(bind: record.id), \(bind: vrf), \(bind: cidr.description), \(bind: cidr.family.rawValue), \(bind: cidr.length),
                \(bind: start.hi), \(bind: start.lo), \(bind: end.hi), \(bind: end.lo), \(bind: record.parentID), \(bind: attributes.role?.rawValue),
                \(bind: attributes.status.rawValue), \(bind: attributes.vlan), \(bind: attributes.isPool ? 1 : 0), \(bind: attributes.tenant),
                \(bind: attributes.datacenter), \(bind: attributes.description), \(bind: key), 1, \(bind: now), \(bind: now))
            """)
        // A new container adopts the prefixes it encloses from its own parent.
        let adopted = overlapping.filter { cidr.contains($0.prefix) && $0.parentID == parent?.id }.map(\.id)
        for id in adopted {
            try await session.run("UPDATE \(table) SET parent_id = \(bind: record.id), version = version + 1 WHERE id = \(bind: id)")
        }
        if attributes.status != .container {
            let bounds = Self.addressSlots(cidr, isPool: attributes.isPool)
            try await PoolEngine.create(session, id: record.id, kind: .addresses, first: bounds.lowerBound, last: bounds.upperBound)
        }
        return record
    }

    /// The highest slot (offset) an address pool materializes: IPv6 /64s are not enumerable in full.
    static let slotCap: Int64 = 1 << 62

    /// A prefix's allocatable offsets: IPv4 skips the network and broadcast addresses (except /31 and /32),
    /// IPv6 the subnet-router anycast address (except /127 and /128); a pool skips nothing.
    static func addressSlots(_ cidr: CIDR, isPool: Bool) -> ClosedRange<Int64> {
        let last = cidr.lastOffset > UInt128(slotCap) ? slotCap : Int64(cidr.lastOffset)
        if isPool || cidr.hostBits <= 1 { return 0...last }
        return cidr.family == .v4 ? 1...(last - 1) : 1...last
    }

    /// The prefixes of `vrf` that overlap `cidr` (contain it, are it, or lie inside it).
    static func overlapping(_ session: Session, _ cidr: CIDR, vrf: String) async throws -> [PrefixRecord] {
        var query: SQLQueryString = "SELECT * FROM \(table(session, "prefixes")) WHERE vrf = \(bind: vrf) AND family = \(bind: cidr.family.rawValue) AND "
        overlapCondition(&query, cidr)
        query.raw(" ORDER BY s_hi, s_lo, length")
        return try await session.all(query).map(prefix)
    }

    static func findPrefix(_ session: Session, _ ref: String, vrf: String, lock: Bool = false) async throws -> PrefixRecord {
        var query: SQLQueryString = "SELECT * FROM \(table(session, "prefixes")) WHERE "
        if ResourceID.looksLikeID(ref) {
            query.raw("id = "); query.value(ref)
        } else {
            query.raw("vrf = "); query.value(vrf); query.raw(" AND prefix = "); query.value(try CIDR.parse(ref).description)
        }
        if lock, session.kind == .postgres { query.raw(" FOR UPDATE") }
        guard let row = try await session.first(query) else {
            throw DataverketError.notFound("prefix", ResourceID.looksLikeID(ref) ? ref : "\(ref) in VRF \(vrf)")
        }
        return try prefix(row)
    }

    static func prefixByKey(_ session: Session, _ key: String) async throws -> PrefixRecord? {
        try await session.first("SELECT * FROM \(table(session, "prefixes")) WHERE idempotency_key = \(bind: key)").map(prefix)
    }

    static func prefix(_ row: any SQLRow) throws -> PrefixRecord {
        PrefixRecord(id: try Column.string(row, "id"), vrf: try Column.string(row, "vrf"), prefix: try Column.cidr(row),
                     parentID: try Column.optional(row, "parent_id"), role: try Column.optional(row, "role").flatMap(PrefixRole.init(rawValue:)),
                     status: try Column.enumValue(row, "status"), vlan: try Column.optional(row, "vlan_id"), isPool: try Column.int64(row, "is_pool") != 0,
                     tenant: try Column.optional(row, "tenant"), datacenter: try Column.optional(row, "datacenter"),
                     description: try Column.optional(row, "description"), idempotencyKey: try Column.optional(row, "idempotency_key"),
                     version: try Column.int64(row, "version"), createdAt: try Column.date(row))
    }
}
