import DataverketCore
import NettIntent
import DataverketStore
import Logging
import SQLKit

/// What an allocation pool hands out, and where the allocated rows live.
enum PoolKind: String, Sendable {
    /// A prefix's addresses; a slot is the offset from the network address.
    case addresses
    /// A VLAN group's IDs; a slot is the VID.
    case vlans
    /// An ASN pool's numbers; a slot is the ASN.
    case asns

    var table: String { rawValue }
    var ownerColumn: String {
        switch self {
        case .addresses: "prefix_id"
        case .vlans: "group_id"
        case .asns: "pool_id"
        }
    }
    var slotColumn: String {
        switch self {
        case .addresses: "slot"
        case .vlans: "vid"
        case .asns: "asn"
        }
    }
}

/// The pool's row, read under a lock.
struct PoolState: Sendable {
    var first: Int64
    var last: Int64
    var frontier: Int64
}

/// Allocation from pools of pre-materialized free rows.
///
/// A pool's free slots are rows of `nett.free`, materialized a chunk at a time (`refill`, under the pool row's
/// lock, skipping slots in use and excluded ranges) up to `frontier`. An allocation is one short transaction:
/// delete the lowest free row nobody else holds (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so concurrent
/// allocations from one pool never wait for each other and their commits share WAL flushes), insert the
/// allocated row (its unique constraint is the final guard), commit. No lock is held across pools; the pool
/// row is locked only to refill, to release and by hand-made allocations (shared), never by an allocation.
struct PoolEngine: Sendable {
    let database: Database
    let chunk: Int

    /// Attempts before an allocation gives up under contention (each one a short transaction).
    static let maxAttempts = 200

    static func create(_ session: Session, id: String, kind: PoolKind, first: Int64, last: Int64) async throws {
        try await session.run("""
            INSERT INTO \(session.table("nett", "pools")) (id, kind, first_slot, last_slot, frontier)
            VALUES (\(bind: id), \(bind: kind.rawValue), \(bind: first), \(bind: last), \(bind: first))
            """)
    }

    static func drop(_ session: Session, id: String) async throws {
        try await session.run("DELETE FROM \(session.table("nett", "free")) WHERE pool = \(bind: id)")
        try await session.run("DELETE FROM \(session.table("nett", "pools")) WHERE id = \(bind: id)")
    }

    /// Reads the pool row, locked: `exclusive` keeps out everyone who locks it (refills, range changes),
    /// shared keeps out only exclusive lockers (a refill must not materialize a slot being taken by hand).
    static func lock(_ session: Session, id: String, exclusive: Bool, skipLocked: Bool = false) async throws -> PoolState? {
        var query: SQLQueryString = "SELECT first_slot, last_slot, frontier FROM \(session.table("nett", "pools")) WHERE id = \(bind: id)"
        if session.kind == .postgres { query.raw((exclusive ? " FOR UPDATE" : " FOR SHARE") + (skipLocked ? " SKIP LOCKED" : "")) }
        guard let row = try await session.first(query) else { return nil }
        return PoolState(first: try Column.int64(row, "first_slot"), last: try Column.int64(row, "last_slot"), frontier: try Column.int64(row, "frontier"))
    }

    /// A slot taken by hand: removes its free row if it was materialized. The caller holds the pool lock (shared).
    static func claim(_ session: Session, pool: String, slot: Int64) async throws {
        try await session.run("DELETE FROM \(session.table("nett", "free")) WHERE pool = \(bind: pool) AND slot = \(bind: slot)")
    }

    /// Slots given back (released, or no longer excluded): free rows for those already materialized. The
    /// caller holds the pool lock (at least shared) and has checked the slots are not in use or excluded.
    static func giveBack(_ session: Session, pool: String, state: PoolState, slots: [Int64], network: CIDR? = nil) async throws {
        let materialized = slots.filter { $0 >= state.first && $0 <= state.last && $0 < state.frontier }
        try await insertFree(session, pool: pool, slots: materialized, network: network)
    }

    /// Removes the free rows of slots `range` (a range of addresses becoming excluded).
    static func withdraw(_ session: Session, pool: String, range: ClosedRange<Int64>) async throws {
        try await session.run("""
            DELETE FROM \(session.table("nett", "free")) WHERE pool = \(bind: pool)
            AND slot >= \(bind: range.lowerBound) AND slot <= \(bind: range.upperBound)
            """)
    }

    /// Free rows for `slots`; an address pool's (`network` given) carry the address itself, so an allocation
    /// can insert it without computing it.
    static func insertFree(_ session: Session, pool: String, slots: [Int64], network: CIDR? = nil) async throws {
        let table = session.table("nett", "free")
        for start in stride(from: 0, to: slots.count, by: 2000) {
            let part = slots[start..<min(slots.count, start + 2000)]
            var query: SQLQueryString = "INSERT INTO \(table) (pool, slot, address, a_hi, a_lo) VALUES "
            for (index, slot) in part.enumerated() {
                query.raw(index == 0 ? "(" : ", (")
                query.value(pool)
                query.raw(", ")
                query.value(slot)
                if let address = network?.network.advanced(by: UInt128(slot)) {
                    let split = Split(address)
                    query.raw(", ")
                    query.value(address.description)
                    query.raw(", ")
                    query.value(split.hi)
                    query.raw(", ")
                    query.value(split.lo)
                    query.raw(")")
                } else {
                    query.raw(", NULL, NULL, NULL)")
                }
            }
            query.raw(" ON CONFLICT DO NOTHING")
            try await session.run(query)
        }
    }

    /// Takes the lowest free slot: one the other transactions are not holding (or, `blocking`, waits for the
    /// holder of the lowest one). Nil when none is free.
    static func take(_ session: Session, pool: String, blocking: Bool) async throws -> Int64? {
        let table = session.table("nett", "free")
        let lock = session.kind == .postgres ? (blocking ? " FOR UPDATE" : " FOR UPDATE SKIP LOCKED") : ""
        let row = try await session.first("""
            DELETE FROM \(table) WHERE pool = \(bind: pool) AND slot = (
                SELECT slot FROM \(table) WHERE pool = \(bind: pool) ORDER BY slot LIMIT 1\(unsafeRaw: lock))
            RETURNING slot
            """)
        return try row.map { try Column.int64($0, "slot") }
    }

    static func inUse(_ session: Session, kind: PoolKind, pool: String, slot: Int64) async throws -> Bool {
        try await session.first("""
            SELECT id FROM \(session.table("nett", kind.table)) WHERE \(unsafeRaw: kind.ownerColumn) = \(bind: pool)
            AND \(unsafeRaw: kind.slotColumn) = \(bind: slot)
            """) != nil
    }

    enum Refill: Sendable { case refilled, pending, busy, exhausted }

    /// Materializes the next chunk of a pool's slots in its own transaction, under the pool row's lock:
    /// `pending` if free rows already exist (someone refilled, or holders may still give theirs back),
    /// `exhausted` if every slot has been materialized and none is free.
    /// `busy`: another client is refilling right now (nobody queues on the pool row behind it).
    func refill(pool: String, kind: PoolKind, network: CIDR?) async throws -> Refill {
        let chunk = Int64(self.chunk)
        return try await database.transaction { session in
            guard var state = try await Self.lock(session, id: pool, exclusive: true, skipLocked: true) else {
                if try await session.first("SELECT id FROM \(session.table("nett", "pools")) WHERE id = \(bind: pool)") != nil { return .busy }
                throw DataverketError(.notFound, "the allocation pool \(pool) no longer exists")
            }
            if try await session.first("SELECT slot FROM \(session.table("nett", "free")) WHERE pool = \(bind: pool) LIMIT 1") != nil {
                return .pending
            }
            return try await Self.materialize(session, pool: pool, kind: kind, network: network, state: &state, chunk: chunk) ? .refilled : .exhausted
        }
    }

    /// Materializes the next chunk ahead of need, when an allocation took the slot `trigger` half a chunk
    /// before the frontier: clients rarely find the pool empty. Skipped if another client holds the pool row
    /// or the frontier has moved on.
    func refillAhead(pool: String, kind: PoolKind, network: CIDR?, trigger: Int64) async throws {
        let chunk = Int64(self.chunk)
        try await database.transaction { session in
            guard var state = try await Self.lock(session, id: pool, exclusive: true, skipLocked: true),
                  state.frontier <= state.last, state.frontier - trigger <= chunk / 2
            else { return }
            _ = try await Self.materialize(session, pool: pool, kind: kind, network: network, state: &state, chunk: chunk)
        }
    }

    /// Inserts free rows from the frontier on, chunk by chunk, until some slot is free (true) or the pool is
    /// spent (false). The caller holds the pool row exclusively.
    static func materialize(_ session: Session, pool: String, kind: PoolKind, network: CIDR?, state: inout PoolState,
                            chunk: Int64) async throws -> Bool {
        var excluded: [ClosedRange<Int64>] = []
        if kind == .addresses {
            for row in try await session.all("""
                SELECT first_slot, last_slot FROM \(session.table("nett", "ip_ranges")) WHERE prefix_id = \(bind: pool)
                """) {
                if let first = try Column.optionalInt64(row, "first_slot"), let last = try Column.optionalInt64(row, "last_slot") {
                    excluded.append(first...last)
                }
            }
        }
        // Advance chunk by chunk until some slot is free or the pool is spent.
        while state.frontier <= state.last {
            let end = state.frontier + min(chunk - 1, state.last - state.frontier)
            let used = Set(try await session.all("""
                SELECT \(unsafeRaw: kind.slotColumn) AS slot FROM \(session.table("nett", kind.table))
                WHERE \(unsafeRaw: kind.ownerColumn) = \(bind: pool)
                AND \(unsafeRaw: kind.slotColumn) >= \(bind: state.frontier) AND \(unsafeRaw: kind.slotColumn) <= \(bind: end)
                """).map { try Column.int64($0, "slot") })
            let free = (state.frontier...end).filter { slot in !used.contains(slot) && !excluded.contains { $0.contains(slot) } }
            try await Self.insertFree(session, pool: pool, slots: free, network: network)
            state.frontier = end + 1
            try await session.run("""
                UPDATE \(session.table("nett", "pools")) SET frontier = \(bind: state.frontier) WHERE id = \(bind: pool)
                """)
            if !free.isEmpty { return true }
        }
        return false
    }

    enum Outcome<R: Sendable>: Sendable {
        case existing(R)
        case allocated(R)
        case empty
        /// A stale free row was consumed: try again.
        case retry
        /// Allocated, and the caller should materialize the next chunk (it took the slot `trigger`).
        case allocatedRefillAhead(R, trigger: Int64)
    }

    /// What an allocation needs to know only when the pool looks empty: the network (address pools) and the
    /// exhaustion message; it also re-validates the pool's owner (throws if it can no longer allocate).
    typealias Describe = @Sendable () async throws -> (network: CIDR?, exhausted: String)

    /// A concurrent allocation with the same idempotency key committed first: roll back and return its result.
    struct Replay: Error {}

    /// Allocates the lowest free slot of `pool` and inserts the allocated row with `insert` (which returns
    /// nil if the row conflicts, i.e. the slot was taken by hand meanwhile: the next slot is tried). With an
    /// idempotency key, a row already allocated under it is returned instead (if `matches` it: the same pool
    /// and request; else `idempotency-key-reused`). `exhausted` is the conflict message when nothing is free.
    func allocate<R: Sendable>(
        pool: String, kind: PoolKind, idempotencyKey key: String?, describe: @escaping Describe, conflict: String,
        lookup: @escaping @Sendable (Session, String) async throws -> R?,
        matches: @escaping @Sendable (R) -> Bool,
        insert: @escaping @Sendable (Session, Int64) async throws -> R?,
        statement: (@Sendable (_ blocking: Bool) async throws -> Outcome<R>)? = nil
    ) async throws -> R {
        var blocking = false
        var pendingInARow = 0
        for attempt in 0..<Self.maxAttempts {
            let outcome: Outcome<R>
            do {
                let takeBlocking = blocking
                if let statement {
                    outcome = try await statement(takeBlocking)
                } else {
                    outcome = try await database.transaction { session in
                    if let key, let existing = try await lookup(session, key) { return .existing(existing) }
                    while true {
                        guard let slot = try await Self.take(session, pool: pool, blocking: takeBlocking) else { return .empty }
                        if let record = try await insert(session, slot) { return .allocated(record) }
                        if let key, try await lookup(session, key) != nil { throw Replay() }
                        // The slot was in use (taken by hand meanwhile): its stale free row is gone with this
                        // transaction; try the next. Any other conflict (a name in use) is the caller's.
                        guard try await Self.inUse(session, kind: kind, pool: pool, slot: slot) else {
                            throw DataverketError(.alreadyExists, conflict)
                        }
                    }
                    }
                }
            } catch is Replay {
                continue
            }
            switch outcome {
            case .retry:
                continue
            case .allocated(let record), .allocatedRefillAhead(let record, _):
                return record
            case .existing(let record):
                guard matches(record) else {
                    throw DataverketError(.idempotencyKeyReused, "idempotency key '\(key ?? "")' was used for a different allocation")
                }
                return record
            case .empty:
                let (network, exhausted) = try await describe()
                switch try await refill(pool: pool, kind: kind, network: network) {
                case .refilled:
                    blocking = false
                    pendingInARow = 0
                case .busy:
                    // Another client is materializing rows: give it a moment instead of queueing on the pool row.
                    blocking = false
                    try await Task.sleep(for: .milliseconds(min(20, 1 + attempt)))
                case .pending:
                    // Free rows exist but others hold them: try around them once more, then wait for a holder.
                    pendingInARow += 1
                    blocking = pendingInARow > 1
                case .exhausted:
                    throw DataverketError(.conflict, exhausted)
                }
            }
        }
        throw DataverketError(.unavailable, "allocation from \(pool) did not settle after \(Self.maxAttempts) attempts; try again")
    }
}
