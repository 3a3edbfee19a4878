import DataverketCore
import NettIntent
import DataverketStore
import SQLKit

extension IPAM {
    // MARK: addresses

    /// Allocates the next free address of `prefix` (an ID, or a CIDR in `vrf`; not a container). The same
    /// `idempotencyKey` returns the address allocated under it before (`idempotency-key-reused` if that was
    /// from another prefix); an exhausted prefix is a `conflict`.
    public func allocateAddress(in prefix: String, vrf: String = IPAM.globalVRF, dnsName: String? = nil, assignedTo: String? = nil,
                                tenant: String? = nil, description: String? = nil, status: AllocationStatus = .active,
                                idempotencyKey: String? = nil, context: OperationContext) async throws -> IPAddressRecord {
        let key = try Rules.idempotencyKey(idempotencyKey)
        let dnsName = try Rules.dnsName(dnsName)
        try Validation.checkText(assignedTo, field: "assignedTo", max: 256)
        let tenant = try Rules.optionalName(tenant, field: "tenant")
        try Validation.checkText(description, field: "description", max: 1024)
        let database = self.database
        let vrfName = vrf.lowercased()
        // On PostgreSQL a prefix given by ID is not read first: the allocation statement checks it.
        let known: PrefixRecord? = database.kind == .postgres && ResourceID.looksLikeID(prefix)
            ? nil : try await database.read { try await Self.findPrefix($0, prefix, vrf: vrfName) }
        if let known { try Self.checkAllocatable(known) }
        let poolID = known?.id ?? prefix
        let auditor = self.auditor
        let pools = self.pools, logger = self.logger
        let chunkHalf = Int64(pools.chunk / 2)
        let now = StoreTime.now()
        let describe: PoolEngine.Describe = {
            let pool = try await database.read { try await Self.findPrefix($0, poolID, vrf: vrfName) }
            try Self.checkAllocatable(pool)
            return (pool.prefix, "prefix \(pool.prefix) in VRF \(pool.vrf) has no free address")
        }
        @Sendable func audit(_ session: Session, _ record: IPAddressRecord) async throws {
            try await auditor?(session, context, IPAMAuditEntry(
                action: "nett.address.allocate", resourceKind: "address", resourceID: record.id,
                resourceName: "\(record.vrf)/\(record.cidrNotation)", beforeVersion: nil, afterVersion: 1))
        }
        var statement: (@Sendable (Bool) async throws -> PoolEngine.Outcome<IPAddressRecord>)?
        if database.kind == .postgres {
            // One statement takes a free row and inserts its address: without a key or an auditor it is the
            // whole transaction (one round trip, one commit); otherwise it runs inside one with them.
            statement = { blocking in
                let run: @Sendable (Session) async throws -> PoolEngine.Outcome<IPAddressRecord> = { session in
                    if let key, let existing = try await Self.addressByKey(session, key) { return .existing(existing) }
                    let id = ResourceID.generate(prefix: "ip").rawValue
                    guard let row = try await session.first(Self.takeAndInsert(
                        session, pool: poolID, id: id, status: status, dnsName: dnsName, assignedTo: assignedTo, tenant: tenant,
                        description: description, key: key, now: now, blocking: blocking))
                    else { return .empty }
                    guard try Column.optional(row, "id") != nil else {
                        // The address was in use (a stale free row, now consumed) or the key was taken meanwhile.
                        if let key, try await Self.addressByKey(session, key) != nil { throw PoolEngine.Replay() }
                        return .retry
                    }
                    let record = try Self.address(row)
                    try await audit(session, record)
                    if let frontier = try Column.optionalInt64(row, "pool_frontier"), let slot = try Column.optionalInt64(row, "taken_slot"),
                       frontier - slot == chunkHalf {
                        return .allocatedRefillAhead(record, trigger: slot)
                    }
                    return .allocated(record)
                }
                let outcome = key == nil && auditor == nil ? try await database.read(run) : try await database.transaction(run)
                if case .allocatedRefillAhead(let record, let trigger) = outcome {
                    // This allocation took the slot half a chunk before the frontier: materialize the next chunk now,
                    // after its commit, so the others do not find the pool empty.
                    do {
                        let (network, _) = try await describe()
                        try await pools.refillAhead(pool: poolID, kind: .addresses, network: network, trigger: trigger)
                    } catch {
                        logger.warning("refilling ahead failed", metadata: ["pool": "\(poolID)", "error": "\(error)"])
                    }
                    return .allocated(record)
                }
                return outcome
            }
        }
        return try await pools.allocate(
            pool: poolID, kind: .addresses, idempotencyKey: key, describe: describe,
            conflict: "the address allocation conflicts with an existing address",
            lookup: { session, key in try await Self.addressByKey(session, key) },
            matches: { $0.prefixID == poolID },
            insert: { session, slot in
                guard let pool = known, let address = pool.prefix.network.advanced(by: UInt128(slot)) else { return nil }
                let record = IPAddressRecord(
                    id: ResourceID.generate(prefix: "ip").rawValue, vrf: pool.vrf, address: address, length: pool.prefix.length, prefixID: pool.id,
                    status: status, dnsName: dnsName, assignedTo: assignedTo, tenant: tenant, description: description, idempotencyKey: key,
                    version: 1, createdAt: StoreTime.decode(now))
                guard try await Self.insertAddress(session, record, slot: slot, onConflictNothing: true) else { return nil }
                try await audit(session, record)
                return record
            },
            statement: statement)
    }

    /// PostgreSQL: take the lowest free row nobody holds and insert its address, in one statement. No row: the
    /// pool has no free row (or the prefix cannot allocate); a row without `id`: the insert conflicted.
    static func takeAndInsert(_ session: Session, pool: String, id: String, status: AllocationStatus, dnsName: String?, assignedTo: String?,
                              tenant: String?, description: String?, key: String?, now: Int64, blocking: Bool) -> SQLQueryString {
        let free = table(session, "free"), prefixes = table(session, "prefixes"), addresses = table(session, "addresses")
        let lock = blocking ? "FOR UPDATE" : "FOR UPDATE SKIP LOCKED"
        return """
            WITH p AS (SELECT vrf, length, family FROM \(prefixes) WHERE id = \(bind: pool) AND status IN ('active', 'reserved')),
            taken AS (
                DELETE FROM \(free) WHERE pool = \(bind: pool) AND EXISTS (SELECT 1 FROM p) AND slot = (
                    SELECT slot FROM \(free) WHERE pool = \(bind: pool) ORDER BY slot LIMIT 1 \(unsafeRaw: lock))
                RETURNING slot, address, a_hi, a_lo),
            ins AS (
                INSERT INTO \(addresses) (id, vrf, address, length, family, a_hi, a_lo, prefix_id, slot, status, dns_name, assigned_to, tenant,
                    description, idempotency_key, version, created_at, updated_at)
                SELECT \(bind: id), p.vrf, taken.address, p.length, p.family, taken.a_hi, taken.a_lo, \(bind: pool), taken.slot,
                    \(bind: status.rawValue), \(bind: dnsName), \(bind: assignedTo), \(bind: tenant), \(bind: description), \(bind: key), 1,
                    \(bind: now), \(bind: now)
                FROM taken, p
                ON CONFLICT DO NOTHING
                RETURNING *)
            SELECT taken.slot AS taken_slot, pl.frontier AS pool_frontier, ins.*
            FROM taken LEFT JOIN ins ON true LEFT JOIN \(table(session, "pools")) pl ON pl.id = \(bind: pool)
            """
    }

    static func checkAllocatable(_ prefix: PrefixRecord) throws(DataverketError) {
        switch prefix.status {
        case .container:
            throw .invalid("prefix", "\(prefix.prefix) is a container: addresses are allocated from the prefixes inside it")
        case .deprecated:
            throw .invalid("prefix", "\(prefix.prefix) is deprecated: nothing more is allocated from it")
        case .active, .reserved:
            break
        }
    }

    /// Records an address by hand. It must lie in a non-container prefix of its VRF (422 naming the prefix
    /// it is outside of) and not be an IPv4 network or broadcast address (unless the prefix is a pool).
    public func createAddress(_ spec: AddressSpec, context: OperationContext) async throws -> IPAddressRecord {
        let (address, givenLength) = try Self.parseAddress(spec.address)
        let dnsName = try Rules.dnsName(spec.dnsName)
        try Validation.checkText(spec.assignedTo, field: "assignedTo", max: 256)
        let tenant = try Rules.optionalName(spec.tenant, field: "tenant")
        try Validation.checkText(spec.description, field: "description", max: 1024)
        let vrfName = spec.vrf.lowercased()
        return try await database.transaction { session in
            let vrf = try await Self.findVRF(session, vrfName)
            let prefix: PrefixRecord
            if let ref = spec.prefix {
                prefix = try await Self.findPrefix(session, ref, vrf: vrf.name)
                guard prefix.prefix.contains(address) else {
                    throw DataverketError.invalid("address", "\(address) is outside prefix \(prefix.prefix)")
                }
            } else {
                guard let found = try await Self.innermostPool(session, containing: address, vrf: vrf.name) else {
                    throw DataverketError.invalid("address", "no prefix in VRF \(vrf.name) holds \(address): create one first")
                }
                prefix = found
            }
            guard prefix.status != .container else {
                throw DataverketError.invalid("address", "\(address) is in container \(prefix.prefix): addresses belong to the prefixes inside it")
            }
            let length = givenLength ?? prefix.prefix.length
            guard length >= prefix.prefix.length else {
                throw DataverketError.invalid("address", "\(address)/\(length) is wider than its prefix \(prefix.prefix)")
            }
            let offset = prefix.prefix.offset(of: address)
            if address.family == .v4, !prefix.isPool, prefix.prefix.hostBits >= 2 {
                if offset == 0 { throw DataverketError.invalid("address", "\(address) is the network address of \(prefix.prefix)") }
                if offset == prefix.prefix.lastOffset { throw DataverketError.invalid("address", "\(address) is the broadcast address of \(prefix.prefix)") }
            }
            if let row = try await session.first("""
                SELECT id FROM \(Self.table(session, "addresses")) WHERE vrf = \(bind: vrf.name) AND address = \(bind: address.description)
                """) {
                throw DataverketError(.alreadyExists, "address \(address) is already allocated in VRF \(vrf.name) (\(try Column.string(row, "id")))")
            }
            let slot = offset <= UInt128(Self.slotCap) ? Int64(offset) : nil
            // Shared: a refill must not materialize this slot while it is being taken.
            if let slot, let state = try await PoolEngine.lock(session, id: prefix.id, exclusive: false), slot >= state.first, slot <= state.last {
                try await PoolEngine.claim(session, pool: prefix.id, slot: slot)
            }
            let record = IPAddressRecord(
                id: ResourceID.generate(prefix: "ip").rawValue, vrf: vrf.name, address: address, length: length, prefixID: prefix.id,
                status: spec.status, dnsName: dnsName, assignedTo: spec.assignedTo, tenant: tenant, description: spec.description,
                idempotencyKey: nil, version: 1, createdAt: StoreTime.decode(StoreTime.now()))
            _ = try await Self.insertAddress(session, record, slot: slot, onConflictNothing: false)
            try await audit(session, context, "create", kind: "address", id: record.id, name: "\(vrf.name)/\(record.cidrNotation)")
            return record
        }
    }

    /// Addresses in address order (VRF, family, value).
    public func addresses(_ filter: AddressFilter = AddressFilter(), limit: Int? = nil, cursor: String? = nil) async throws -> Page<IPAddressRecord> {
        let limit = try Paging.limit(limit)
        let after = try Paging.decode(cursor, parts: 4)
        let dnsName = try Rules.dnsName(filter.dnsName)
        return try await database.read { session in
            var query: SQLQueryString = "SELECT * FROM \(Self.table(session, "addresses")) WHERE 1 = 1"
            if let vrf = filter.vrf { query.raw(" AND vrf = "); query.value(vrf.lowercased()) }
            if let prefix = filter.prefix {
                let record = try await Self.findPrefix(session, prefix, vrf: (filter.vrf ?? Self.globalVRF).lowercased())
                query.raw(" AND prefix_id = "); query.value(record.id)
            }
            if let assignedTo = filter.assignedTo { query.raw(" AND assigned_to = "); query.value(assignedTo) }
            if let dnsName { query.raw(" AND dns_name = "); query.value(dnsName) }
            if let after {
                query.raw(" AND (vrf, family, a_hi, a_lo) > (")
                query.value(after[0]); query.raw(", "); query.value(try Paging.int(after[1])); query.raw(", ")
                query.value(try Paging.int(after[2])); query.raw(", "); query.value(try Paging.int(after[3])); query.raw(")")
            }
            query.raw(" ORDER BY vrf, family, a_hi, a_lo LIMIT ")
            query.value(limit + 1)
            return Paging.page(try await session.all(query).map(Self.address), limit: limit) { item in
                let split = Split(item.address)
                return [item.vrf, "\(item.address.family.rawValue)", "\(split.hi)", "\(split.lo)"]
            }
        }
    }

    /// An address by ID, or by its text (`10.0.0.5` or `10.0.0.5/24`) in `vrf`.
    public func address(_ ref: String, vrf: String = IPAM.globalVRF) async throws -> IPAddressRecord {
        try await database.read { try await Self.findAddress($0, ref, vrf: vrf.lowercased()) }
    }

    /// Releases (deletes) an address; its slot becomes free for the next allocation.
    public func releaseAddress(_ ref: String, vrf: String = IPAM.globalVRF, context: OperationContext) async throws {
        let vrfName = vrf.lowercased()
        try await database.transaction { session in
            let record = try await Self.findAddress(session, ref, vrf: vrfName)
            let state = try await PoolEngine.lock(session, id: record.prefixID, exclusive: false)
            guard let row = try await session.first("""
                DELETE FROM \(Self.table(session, "addresses")) WHERE id = \(bind: record.id) RETURNING slot
                """) else { throw DataverketError.notFound("address", ref) }
            if let state, let slot = try Column.optionalInt64(row, "slot"), try await !Self.inRange(session, prefix: record.prefixID, slot: slot) {
                let network = try await Self.findPrefix(session, record.prefixID, vrf: record.vrf).prefix
                try await PoolEngine.giveBack(session, pool: record.prefixID, state: state, slots: [slot], network: network)
            }
            try await audit(session, context, "release", kind: "address", id: record.id, name: "\(record.vrf)/\(record.cidrNotation)",
                            before: record.version, after: nil)
        }
    }

    static func inRange(_ session: Session, prefix: String, slot: Int64) async throws -> Bool {
        try await session.first("""
            SELECT id FROM \(table(session, "ip_ranges")) WHERE prefix_id = \(bind: prefix) AND first_slot <= \(bind: slot) AND last_slot >= \(bind: slot)
            """) != nil
    }

    /// `a.b.c.d` or `a.b.c.d/len` (host bits allowed: it is an address with its mask length).
    static func parseAddress(_ text: String) throws(DataverketError) -> (IPAddress, Int?) {
        let trimmed = text.trimmingWhitespace()
        guard let slash = trimmed.firstIndex(of: "/") else { return (try IPAddress.parse(trimmed), nil) }
        let address = try IPAddress.parse(String(trimmed[..<slash]))
        let lengthText = trimmed[trimmed.index(after: slash)...]
        guard lengthText.allSatisfy({ $0.isASCII && $0.isNumber }), (1...3).contains(lengthText.count), let length = Int(lengthText),
              length <= address.family.bitWidth
        else { throw .invalid("address", "'\(text)': the length must be 0–\(address.family.bitWidth)") }
        return (address, length)
    }

    /// Inserts an address row; with `onConflictNothing`, returns false instead of failing on a duplicate.
    static func insertAddress(_ session: Session, _ record: IPAddressRecord, slot: Int64?, onConflictNothing: Bool) async throws -> Bool {
        let split = Split(record.address)
        let now = StoreTime.encode(record.createdAt)
        var query: SQLQueryString = """
            INSERT INTO \(table(session, "addresses")) (id, vrf, address, length, family, a_hi, a_lo, prefix_id, slot, status, dns_name,
                assigned_to, tenant, description, idempotency_key, version, created_at, updated_at)
            VALUES (\(bind: record.id), \(bind: record.vrf), \(bind: record.address.description), \(bind: record.length),
                \(bind: record.address.family.rawValue), \(bind: split.hi), \(bind: split.lo), \(bind: record.prefixID), \(bind: slot),
                \(bind: record.status.rawValue), \(bind: record.dnsName), \(bind: record.assignedTo), \(bind: record.tenant),
                \(bind: record.description), \(bind: record.idempotencyKey), 1, \(bind: now), \(bind: now))
            """
        if onConflictNothing { query.raw(" ON CONFLICT DO NOTHING") }
        query.raw(" RETURNING id")
        return try await session.first(query) != nil
    }

    /// The innermost non-container prefix of `vrf` holding `address`.
    static func innermostPool(_ session: Session, containing address: IPAddress, vrf: String) async throws -> PrefixRecord? {
        let split = Split(address)
        var query: SQLQueryString = "SELECT * FROM \(table(session, "prefixes")) WHERE vrf = \(bind: vrf) AND family = \(bind: address.family.rawValue)"
        query.raw(" AND (s_hi, s_lo) <= "); query.split(split)
        query.raw(" AND (e_hi, e_lo) >= "); query.split(split)
        query.raw(" ORDER BY length DESC LIMIT 1")
        return try await session.first(query).map(prefix)
    }

    static func findAddress(_ session: Session, _ ref: String, vrf: String) async throws -> IPAddressRecord {
        var query: SQLQueryString = "SELECT * FROM \(table(session, "addresses")) WHERE "
        if ResourceID.looksLikeID(ref) {
            query.raw("id = "); query.value(ref)
        } else {
            query.raw("vrf = "); query.value(vrf); query.raw(" AND address = "); query.value(try parseAddress(ref).0.description)
        }
        guard let row = try await session.first(query) else {
            throw DataverketError.notFound("address", ResourceID.looksLikeID(ref) ? ref : "\(ref) in VRF \(vrf)")
        }
        return try address(row)
    }

    static func addressByKey(_ session: Session, _ key: String) async throws -> IPAddressRecord? {
        try await session.first("SELECT * FROM \(table(session, "addresses")) WHERE idempotency_key = \(bind: key)").map(address)
    }

    static func address(_ row: any SQLRow) throws -> IPAddressRecord {
        IPAddressRecord(id: try Column.string(row, "id"), vrf: try Column.string(row, "vrf"), address: try Column.address(row, "address"),
                        length: Int(try Column.int64(row, "length")), prefixID: try Column.string(row, "prefix_id"),
                        status: try Column.enumValue(row, "status"), dnsName: try Column.optional(row, "dns_name"),
                        assignedTo: try Column.optional(row, "assigned_to"), tenant: try Column.optional(row, "tenant"),
                        description: try Column.optional(row, "description"), idempotencyKey: try Column.optional(row, "idempotency_key"),
                        version: try Column.int64(row, "version"), createdAt: try Column.date(row))
    }

    // MARK: IP ranges

    /// Records a range of addresses inside one non-container prefix; allocation skips it. Ranges of a VRF
    /// never overlap (422 naming the other one).
    public func createRange(_ spec: IPRangeSpec, context: OperationContext) async throws -> IPRangeRecord {
        let start = try IPAddress.parse(spec.start, field: "start"), end = try IPAddress.parse(spec.end, field: "end")
        guard start.family == end.family else { throw DataverketError.invalid("end", "\(start) and \(end) are of different families") }
        guard start <= end else { throw DataverketError.invalid("end", "\(end) is before \(start)") }
        try Validation.checkText(spec.description, field: "description", max: 1024)
        let vrfName = spec.vrf.lowercased()
        return try await database.transaction { session in
            let vrf = try await Self.findVRF(session, vrfName)
            guard let prefix = try await Self.innermostPool(session, containing: start, vrf: vrf.name), prefix.status != .container else {
                throw DataverketError.invalid("start", "no prefix in VRF \(vrf.name) holds \(start): create one first")
            }
            guard prefix.prefix.contains(end) else {
                throw DataverketError.invalid("end", "the range \(start)–\(end) is outside prefix \(prefix.prefix)")
            }
            guard let state = try await PoolEngine.lock(session, id: prefix.id, exclusive: true) else {
                throw DataverketError(.conflict, "prefix \(prefix.prefix) is being deleted")
            }
            let table = Self.table(session, "ip_ranges")
            var overlap: SQLQueryString = "SELECT start_address, end_address FROM \(table) WHERE prefix_id = \(bind: prefix.id) AND (s_hi, s_lo) <= "
            overlap.split(Split(end))
            overlap.raw(" AND (e_hi, e_lo) >= ")
            overlap.split(Split(start))
            if let row = try await session.first(overlap) {
                throw DataverketError.invalid("start", "the range \(start)–\(end) overlaps the range \(try Column.string(row, "start_address"))–"
                                              + "\(try Column.string(row, "end_address")) in VRF \(vrf.name)")
            }
            let firstOffset = prefix.prefix.offset(of: start), lastOffset = prefix.prefix.offset(of: end)
            let slots: ClosedRange<Int64>? = firstOffset > UInt128(Self.slotCap)
                ? nil : Int64(firstOffset)...Int64(min(lastOffset, UInt128(Self.slotCap)))
            let now = StoreTime.now()
            let record = IPRangeRecord(id: ResourceID.generate(prefix: "rng").rawValue, vrf: vrf.name, prefixID: prefix.id, start: start, end: end,
                                       status: spec.status, description: spec.description, version: 1, createdAt: StoreTime.decode(now))
            let s = Split(start), e = Split(end)
            try await session.run("""
                INSERT INTO \(table) (id, vrf, prefix_id, start_address, end_address, family, s_hi, s_lo, e_hi, e_lo, first_slot, last_slot, status,
                    description, version, created_at, updated_at)
                VALUES (\(bind: record.id), \(bind: vrf.name), \(bind: prefix.id), \(bind: start.description), \(bind: end.description),
                    \(bind: start.family.rawValue), \(bind: s.hi), \(bind: s.lo), \(bind: e.hi), \(bind: e.lo), \(bind: slots?.lowerBound),
                    \(bind: slots?.upperBound), \(bind: spec.status.rawValue), \(bind: spec.description), 1, \(bind: now), \(bind: now))
                """)
            if let slots, slots.lowerBound < state.frontier {
                try await PoolEngine.withdraw(session, pool: prefix.id, range: slots)
            }
            try await audit(session, context, "create", kind: "range", id: record.id, name: "\(vrf.name)/\(start)-\(end)")
            return record
        }
    }

    public func ranges(vrf: String? = nil, limit: Int? = nil, cursor: String? = nil) async throws -> Page<IPRangeRecord> {
        let limit = try Paging.limit(limit)
        let after = try Paging.decode(cursor, parts: 4)
        return try await database.read { session in
            var query: SQLQueryString = "SELECT * FROM \(Self.table(session, "ip_ranges")) WHERE 1 = 1"
            if let vrf { query.raw(" AND vrf = "); query.value(vrf.lowercased()) }
            if let after {
                query.raw(" AND (vrf, family, s_hi, s_lo) > (")
                query.value(after[0]); query.raw(", "); query.value(try Paging.int(after[1])); query.raw(", ")
                query.value(try Paging.int(after[2])); query.raw(", "); query.value(try Paging.int(after[3])); query.raw(")")
            }
            query.raw(" ORDER BY vrf, family, s_hi, s_lo LIMIT ")
            query.value(limit + 1)
            return Paging.page(try await session.all(query).map(Self.range), limit: limit) { item in
                let split = Split(item.start)
                return [item.vrf, "\(item.start.family.rawValue)", "\(split.hi)", "\(split.lo)"]
            }
        }
    }

    /// A range by ID, or by its start address in `vrf`.
    public func range(_ ref: String, vrf: String = IPAM.globalVRF) async throws -> IPRangeRecord {
        try await database.read { try await Self.findRange($0, ref, vrf: vrf.lowercased()) }
    }

    /// Deletes a range; its addresses not in use become allocatable again.
    public func deleteRange(_ ref: String, vrf: String = IPAM.globalVRF, context: OperationContext) async throws {
        let vrfName = vrf.lowercased()
        try await database.transaction { session in
            let record = try await Self.findRange(session, ref, vrf: vrfName)
            let state = try await PoolEngine.lock(session, id: record.prefixID, exclusive: true)
            let table = Self.table(session, "ip_ranges")
            guard let row = try await session.first("DELETE FROM \(table) WHERE id = \(bind: record.id) RETURNING first_slot, last_slot") else {
                throw DataverketError.notFound("IP range", ref)
            }
            if let state, let first = try Column.optionalInt64(row, "first_slot"), let last = try Column.optionalInt64(row, "last_slot"),
               first < state.frontier {
                let upper = min(last, state.frontier - 1, state.last), lower = max(first, state.first)
                if lower <= upper {
                    let used = Set(try await session.all("""
                        SELECT slot FROM \(Self.table(session, "addresses")) WHERE prefix_id = \(bind: record.prefixID)
                        AND slot >= \(bind: lower) AND slot <= \(bind: upper)
                        """).map { try Column.int64($0, "slot") })
                    var others: [ClosedRange<Int64>] = []
                    for other in try await session.all("SELECT first_slot, last_slot FROM \(table) WHERE prefix_id = \(bind: record.prefixID)") {
                        if let a = try Column.optionalInt64(other, "first_slot"), let b = try Column.optionalInt64(other, "last_slot") { others.append(a...b) }
                    }
                    let slots = (lower...upper).filter { slot in !used.contains(slot) && !others.contains { $0.contains(slot) } }
                    let network = try await Self.findPrefix(session, record.prefixID, vrf: record.vrf).prefix
                    try await PoolEngine.giveBack(session, pool: record.prefixID, state: state, slots: slots, network: network)
                }
            }
            try await audit(session, context, "delete", kind: "range", id: record.id, name: "\(record.vrf)/\(record.start)-\(record.end)",
                            before: record.version, after: nil)
        }
    }

    static func findRange(_ session: Session, _ ref: String, vrf: String) async throws -> IPRangeRecord {
        var query: SQLQueryString = "SELECT * FROM \(table(session, "ip_ranges")) WHERE "
        if ResourceID.looksLikeID(ref) {
            query.raw("id = "); query.value(ref)
        } else {
            query.raw("vrf = "); query.value(vrf); query.raw(" AND start_address = "); query.value(try IPAddress.parse(ref, field: "range").description)
        }
        guard let row = try await session.first(query) else { throw DataverketError.notFound("IP range", ref) }
        return try range(row)
    }

    static func range(_ row: any SQLRow) throws -> IPRangeRecord {
        IPRangeRecord(id: try Column.string(row, "id"), vrf: try Column.string(row, "vrf"), prefixID: try Column.string(row, "prefix_id"),
                      start: try Column.address(row, "start_address"), end: try Column.address(row, "end_address"),
                      status: try Column.enumValue(row, "status"), description: try Column.optional(row, "description"),
                      version: try Column.int64(row, "version"), createdAt: try Column.date(row))
    }
}
