import DataverketCore
import NettIntent
import DataverketStore
import SQLKit

extension IPAM {
    // MARK: ASN pools

    /// An ASN pool `first...last` (1–4294967294). Pools never overlap (422 naming the other), so no ASN can
    /// be handed out twice from two pools.
    public func createASNPool(_ spec: ASNPoolSpec, context: OperationContext) async throws -> ASNPoolRecord {
        let name = try Rules.name(spec.name)
        try Validation.checkText(spec.description, field: "description", max: 1024)
        let valid: ClosedRange<Int64> = 1...4_294_967_294
        guard valid.contains(spec.first) else { throw DataverketError.invalid("first", "an ASN is 1–4294967294, got \(spec.first)") }
        guard valid.contains(spec.last) else { throw DataverketError.invalid("last", "an ASN is 1–4294967294, got \(spec.last)") }
        guard spec.first <= spec.last else { throw DataverketError.invalid("last", "\(spec.last) is below first \(spec.first)") }
        let now = StoreTime.now()
        let record = ASNPoolRecord(id: ResourceID.generate(prefix: "asp").rawValue, name: name, first: spec.first, last: spec.last,
                                   description: spec.description, version: 1, createdAt: StoreTime.decode(now))
        return try await database.transaction { session in
            let table = Self.table(session, "asn_pools")
            if let row = try await session.first("SELECT id FROM \(table) WHERE name = \(bind: name)") {
                throw DataverketError(.alreadyExists, "ASN pool '\(name)' already exists (\(try Column.string(row, "id")))")
            }
            if let row = try await session.first("""
                SELECT name, first_asn, last_asn FROM \(table) WHERE first_asn <= \(bind: spec.last) AND last_asn >= \(bind: spec.first)
                """) {
                throw DataverketError.invalid("first", "ASN pool \(name) (\(spec.first)–\(spec.last)) overlaps pool '\(try Column.string(row, "name"))' "
                                              + "(\(try Column.int64(row, "first_asn"))–\(try Column.int64(row, "last_asn")))")
            }
            try await session.run("""
                INSERT INTO \(table) (id, name, first_asn, last_asn, description, version, created_at, updated_at)
                VALUES (\(bind: record.id), \(bind: name), \(bind: spec.first), \(bind: spec.last), \(bind: spec.description), 1, \(bind: now), \(bind: now))
                """)
            try await PoolEngine.create(session, id: record.id, kind: .asns, first: spec.first, last: spec.last)
            try await audit(session, context, "create", kind: "asn-pool", id: record.id, name: name)
            return record
        }
    }

    public func asnPools(limit: Int? = nil, cursor: String? = nil) async throws -> Page<ASNPoolRecord> {
        let limit = try Paging.limit(limit)
        let after = try Paging.decode(cursor, parts: 1)?[0] ?? ""
        return try await database.read { session in
            let rows = try await session.all("""
                SELECT * FROM \(Self.table(session, "asn_pools")) WHERE name > \(bind: after) ORDER BY name LIMIT \(bind: limit + 1)
                """)
            return Paging.page(try rows.map(Self.asnPool), limit: limit) { [$0.name] }
        }
    }

    public func asnPool(_ ref: String) async throws -> ASNPoolRecord {
        try await database.read { try await Self.findASNPool($0, ref) }
    }

    /// Deletes an empty ASN pool (`conflict` while it has ASNs).
    public func deleteASNPool(_ ref: String, context: OperationContext) async throws {
        try await database.transaction { session in
            let pool = try await Self.findASNPool(session, ref)
            _ = try await PoolEngine.lock(session, id: pool.id, exclusive: true)
            if let row = try await session.first("SELECT asn FROM \(Self.table(session, "asns")) WHERE pool_id = \(bind: pool.id) LIMIT 1") {
                throw DataverketError(.conflict, "ASN pool '\(pool.name)' still has ASN \(try Column.int64(row, "asn")); release its ASNs first")
            }
            try await PoolEngine.drop(session, id: pool.id)
            try await session.run("DELETE FROM \(Self.table(session, "asn_pools")) WHERE id = \(bind: pool.id)")
            try await audit(session, context, "delete", kind: "asn-pool", id: pool.id, name: pool.name, before: pool.version, after: nil)
        }
    }

    static func findASNPool(_ session: Session, _ ref: String) async throws -> ASNPoolRecord {
        let byID = ResourceID.looksLikeID(ref)
        guard let row = try await session.first("""
            SELECT * FROM \(table(session, "asn_pools")) WHERE \(unsafeRaw: byID ? "id" : "name") = \(bind: byID ? ref : ref.lowercased())
            """) else { throw DataverketError.notFound("ASN pool", ref) }
        return try asnPool(row)
    }

    static func asnPool(_ row: any SQLRow) throws -> ASNPoolRecord {
        ASNPoolRecord(id: try Column.string(row, "id"), name: try Column.string(row, "name"), first: try Column.int64(row, "first_asn"),
                      last: try Column.int64(row, "last_asn"), description: try Column.optional(row, "description"),
                      version: try Column.int64(row, "version"), createdAt: try Column.date(row))
    }

    // MARK: ASNs

    /// Records a chosen ASN: 422 outside its pool's range, `already-exists` if taken.
    public func createASN(_ spec: ASNSpec, context: OperationContext) async throws -> ASNRecord {
        let tenant = try Rules.optionalName(spec.tenant, field: "tenant")
        try Validation.checkText(spec.description, field: "description", max: 1024)
        return try await database.transaction { session in
            let pool = try await Self.findASNPool(session, spec.pool)
            guard (pool.first...pool.last).contains(spec.asn) else {
                throw DataverketError.invalid("asn", "ASN \(spec.asn) is outside pool '\(pool.name)' range \(pool.first)–\(pool.last)")
            }
            if let row = try await session.first("""
                SELECT id FROM \(Self.table(session, "asns")) WHERE pool_id = \(bind: pool.id) AND asn = \(bind: spec.asn)
                """) {
                throw DataverketError(.alreadyExists, "ASN \(spec.asn) is already allocated from pool '\(pool.name)' (\(try Column.string(row, "id")))")
            }
            _ = try await PoolEngine.lock(session, id: pool.id, exclusive: false)
            try await PoolEngine.claim(session, pool: pool.id, slot: spec.asn)
            let record = ASNRecord(id: ResourceID.generate(prefix: "asn").rawValue, pool: pool.name, poolID: pool.id, asn: spec.asn, tenant: tenant,
                                   description: spec.description, idempotencyKey: nil, version: 1, createdAt: StoreTime.decode(StoreTime.now()))
            _ = try await Self.insertASN(session, record, onConflictNothing: false)
            try await audit(session, context, "create", kind: "asn", id: record.id, name: "\(pool.name)/\(spec.asn)")
            return record
        }
    }

    /// Allocates the lowest free ASN of `pool`.
    public func allocateASN(from pool: String, tenant: String? = nil, description: String? = nil, idempotencyKey: String? = nil,
                            context: OperationContext) async throws -> ASNRecord {
        let key = try Rules.idempotencyKey(idempotencyKey)
        let tenant = try Rules.optionalName(tenant, field: "tenant")
        try Validation.checkText(description, field: "description", max: 1024)
        let pool = try await database.read { try await Self.findASNPool($0, pool) }
        let auditor = self.auditor
        return try await pools.allocate(
            pool: pool.id, kind: .asns, idempotencyKey: key,
            describe: { (nil, "ASN pool '\(pool.name)' has no free ASN in \(pool.first)–\(pool.last)") },
            conflict: "the ASN allocation conflicts with an existing ASN",
            lookup: { session, key in try await Self.asnByKey(session, key) },
            matches: { $0.poolID == pool.id },
            insert: { session, slot in
                let record = ASNRecord(id: ResourceID.generate(prefix: "asn").rawValue, pool: pool.name, poolID: pool.id, asn: slot, tenant: tenant,
                                       description: description, idempotencyKey: key, version: 1, createdAt: StoreTime.decode(StoreTime.now()))
                guard try await Self.insertASN(session, record, onConflictNothing: true) else { return nil }
                try await auditor?(session, context, IPAMAuditEntry(
                    action: "nett.asn.allocate", resourceKind: "asn", resourceID: record.id, resourceName: "\(pool.name)/\(slot)",
                    beforeVersion: nil, afterVersion: 1))
                return record
            })
    }

    public func asns(pool: String? = nil, limit: Int? = nil, cursor: String? = nil) async throws -> Page<ASNRecord> {
        let limit = try Paging.limit(limit)
        let after = try Paging.decode(cursor, parts: 2)
        return try await database.read { session in
            var query: SQLQueryString = "SELECT * FROM \(Self.table(session, "asns")) WHERE 1 = 1"
            if let pool { query.raw(" AND pool_name = "); query.value(pool.lowercased()) }
            if let after {
                query.raw(" AND (pool_name, asn) > ("); query.value(after[0]); query.raw(", "); query.value(try Paging.int(after[1])); query.raw(")")
            }
            query.raw(" ORDER BY pool_name, asn LIMIT ")
            query.value(limit + 1)
            return Paging.page(try await session.all(query).map(Self.asn), limit: limit) { [$0.pool, "\($0.asn)"] }
        }
    }

    /// An ASN by ID, or by number within `pool`.
    public func asn(_ ref: String, pool: String? = nil) async throws -> ASNRecord {
        try await database.read { try await Self.findASN($0, ref, pool: pool) }
    }

    /// Releases (deletes) an ASN; it becomes free for the next allocation.
    public func releaseASN(_ ref: String, pool: String? = nil, context: OperationContext) async throws {
        try await database.transaction { session in
            let record = try await Self.findASN(session, ref, pool: pool)
            let state = try await PoolEngine.lock(session, id: record.poolID, exclusive: false)
            try await session.run("DELETE FROM \(Self.table(session, "asns")) WHERE id = \(bind: record.id)")
            if let state { try await PoolEngine.giveBack(session, pool: record.poolID, state: state, slots: [record.asn]) }
            try await audit(session, context, "release", kind: "asn", id: record.id, name: "\(record.pool)/\(record.asn)",
                            before: record.version, after: nil)
        }
    }

    static func insertASN(_ session: Session, _ record: ASNRecord, onConflictNothing: Bool) async throws -> Bool {
        let now = StoreTime.encode(record.createdAt)
        var query: SQLQueryString = """
            INSERT INTO \(table(session, "asns")) (id, pool_id, pool_name, asn, tenant, description, idempotency_key, version, created_at, updated_at)
            VALUES (\(bind: record.id), \(bind: record.poolID), \(bind: record.pool), \(bind: record.asn), \(bind: record.tenant),
                \(bind: record.description), \(bind: record.idempotencyKey), 1, \(bind: now), \(bind: now))
            """
        if onConflictNothing { query.raw(" ON CONFLICT DO NOTHING") }
        query.raw(" RETURNING id")
        return try await session.first(query) != nil
    }

    static func findASN(_ session: Session, _ ref: String, pool: String?) async throws -> ASNRecord {
        var query: SQLQueryString = "SELECT * FROM \(table(session, "asns")) WHERE "
        if ResourceID.looksLikeID(ref) {
            query.raw("id = "); query.value(ref)
        } else {
            guard let number = Int64(ref) else { throw DataverketError.invalid("asn", "'\(ref)' is neither an ASN's ID nor a number") }
            query.raw("asn = "); query.value(number)
            if let pool { query.raw(" AND pool_name = "); query.value(pool.lowercased()) }
        }
        guard let row = try await session.first(query) else { throw DataverketError.notFound("ASN", pool.map { "\($0)/\(ref)" } ?? ref) }
        return try asn(row)
    }

    static func asnByKey(_ session: Session, _ key: String) async throws -> ASNRecord? {
        try await session.first("SELECT * FROM \(table(session, "asns")) WHERE idempotency_key = \(bind: key)").map(asn)
    }

    static func asn(_ row: any SQLRow) throws -> ASNRecord {
        ASNRecord(id: try Column.string(row, "id"), pool: try Column.string(row, "pool_name"), poolID: try Column.string(row, "pool_id"),
                  asn: try Column.int64(row, "asn"), tenant: try Column.optional(row, "tenant"), description: try Column.optional(row, "description"),
                  idempotencyKey: try Column.optional(row, "idempotency_key"), version: try Column.int64(row, "version"), createdAt: try Column.date(row))
    }
}
