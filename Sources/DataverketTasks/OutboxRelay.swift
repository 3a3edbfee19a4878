import DataverketBus
import DataverketCore
import DataverketStore
import Foundation
import Logging
import ServiceLifecycle
import SQLKit

/// Publishes the transactional outbox to the bus.
///
/// Rows are published in `seq` order (so per resource in the order they were written), a batch at a time with the
/// acknowledgements pipelined, each with its event id as the bus dedupe key, and marked published after the bus
/// acknowledged them. (If one event of a batch fails and a later one is stored, the failed one is stored after it
/// on the next pass.) A relay that dies
/// between publishing and marking republishes on restart; the bus drops the duplicate (same id within the
/// duplicate window), so every event reaches the bus once. One relay is active at a time: it holds a
/// lease row (`tasks.leases`, name `outbox-relay`) that it renews while it runs; others wait for it to
/// lapse.
public struct OutboxRelay: Service {
    public let database: Database
    public let bus: any Bus
    public let logger: Logger
    public var owner: String
    public var batchSize: Int
    public var pollInterval: Duration
    public var lease: Duration
    /// The time leases are judged by, in store microseconds: injected so tests advance it instead of sleeping on it.
    public var now: @Sendable () -> Int64 = StoreTime.now

    public init(database: Database, bus: any Bus, logger: Logger, batchSize: Int = 200, pollInterval: Duration = .milliseconds(250), lease: Duration = .seconds(15)) {
        self.database = database
        self.bus = bus
        self.logger = logger
        self.owner = "relay-\(ULID.make())"
        self.batchSize = batchSize
        self.pollInterval = pollInterval
        self.lease = lease
    }

    public func run() async throws {
        logger.info("outbox relay started", metadata: ["owner": "\(owner)"])
        // Graceful shutdown cancels the loop: an unmarked batch is simply published again by the next relay.
        await cancelWhenGracefulShutdown { await loop() }
        try? await releaseLease()
        logger.info("outbox relay stopped")
    }

    private func loop() async {
        var renewed: ContinuousClock.Instant?
        while !Task.isCancelled {
            do {
                // The lease is renewed a third of the way through, not on every pass: each renewal is a commit, every
                // commit wakes the relay (`commits`), so with nothing to publish a renewal per pass kept it spinning
                // (the chaos test's process burned a core on it).
                if renewed.map({ ContinuousClock.now - $0 >= lease / 3 }) ?? true {
                    guard try await tryLease() else {
                        renewed = nil
                        try? await Task.sleep(for: pollInterval * 4)
                        continue
                    }
                    renewed = .now
                }
                let published = try await relayOnce()
                if published == 0 { await database.commits.wait(timeout: pollInterval) }
            } catch is CancellationError {
                break
            } catch {
                renewed = nil  // take the lease again before the next pass: it may have lapsed meanwhile
                logger.warning("outbox relay pass failed; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: pollInterval * 4)
            }
        }
    }

    /// Publishes up to one batch of unpublished events in order; returns how many were published.
    public func relayOnce() async throws -> Int {
        let rows = try await database.read { session in
            try await session.all("""
                SELECT seq, event_id, subject, payload FROM \(session.table("tasks", "outbox"))
                WHERE published_at IS NULL ORDER BY seq LIMIT \(bind: batchSize)
                """).map { row in
                (seq: try row.decode(column: "seq", as: Int64.self),
                 id: try row.decode(column: "event_id", as: String.self),
                 subject: try row.decode(column: "subject", as: String.self),
                 payload: try row.decode(column: "payload", as: String.self))
            }
        }
        guard !rows.isEmpty else { return 0 }
        // Pipelined: the whole batch is sent before the first acknowledgement is awaited, in `seq` order, so the
        // stream stores it in that order. Only what the bus acknowledged is marked; the rest is sent again next pass.
        let results = await bus.publish(rows.map { row in
            BusMessage(subject: row.subject, id: row.id, payload: Array(row.payload.utf8), headers: ["Content-Type": "application/cloudevents+json"])
        })
        var published: [Int64] = []
        var failure: (any Error)?
        for (row, result) in zip(rows, results) {
            switch result {
            case .success: published.append(row.seq)
            case .failure(let error): failure = failure ?? error
            }
        }
        try await markPublished(published)
        if let failure { throw failure }
        return rows.count
    }

    /// Marks exactly the rows published — never "everything up to seq N": sequence numbers are taken at
    /// insert, not at commit, so a row with a lower seq can become visible after this batch was read, and
    /// a range would mark it published without publishing it (the chaos test caught that).
    private func markPublished(_ seqs: [Int64]) async throws {
        guard !seqs.isEmpty else { return }
        try await database.transaction { session in
            var query: SQLQueryString = "UPDATE \(session.table("tasks", "outbox")) SET published_at = \(bind: StoreTime.now()) WHERE seq IN ("
            for (index, seq) in seqs.enumerated() {
                if index > 0 { query.appendInterpolation(unsafeRaw: ", ") }
                query.appendInterpolation(bind: seq)
            }
            query.appendInterpolation(unsafeRaw: ")")
            try await session.run(query)
        }
    }

    /// Takes or renews the relay lease; false while another live relay holds it.
    public func acquireLease() async throws -> Bool {
        let now = self.now()
        let expires = now + Int64(lease.components.seconds) * 1_000_000
        return try await database.transaction { session in
            let table = session.table("tasks", "leases")
            let taken = try await session.affected("""
                UPDATE \(table) SET owner = \(bind: owner), expires_at = \(bind: expires)
                WHERE name = 'outbox-relay' AND (owner = \(bind: owner) OR expires_at < \(bind: now)) RETURNING name
                """)
            if taken == 1 { return true }
            let exists = try await session.first("SELECT owner FROM \(table) WHERE name = 'outbox-relay'") != nil
            if exists { return false }
            try await session.run("""
                INSERT INTO \(table) (name, owner, expires_at) VALUES ('outbox-relay', \(bind: owner), \(bind: expires))
                """)
            return true
        }
    }

    /// `acquireLease`, treating a lost race to create the lease row as "held by another".
    func tryLease() async throws -> Bool {
        do {
            return try await acquireLease()
        } catch let error as DataverketError where error.code == .alreadyExists {
            return false
        }
    }

    private func releaseLease() async throws {
        try await database.transaction { session in
            try await session.run("""
                DELETE FROM \(session.table("tasks", "leases")) WHERE name = 'outbox-relay' AND owner = \(bind: owner)
                """)
        }
    }
}
