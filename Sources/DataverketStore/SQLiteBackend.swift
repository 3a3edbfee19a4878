import Foundation
import DataverketCore
import Logging
import SQLKit
import SQLiteKit
import SQLiteNIO

/// The embedded default: one SQLite file in WAL mode; one writer connection lent out in FIFO order, and a few
/// read-only connections for `Database.read`.
///
/// SQLite allows one writer at a time; a single writer connection makes that explicit, so transactions never
/// fail with SQLITE_BUSY and ordering is fair. In WAL mode readers neither block the writer nor wait for it, so reads
/// run on their own connections (`PRAGMA query_only`: a write there fails loudly) and do not queue behind writes.
/// Like a read on PostgreSQL outside a transaction, each statement of a read sees what was committed when it started.
public struct SQLiteBackend: DatabaseBackend {
    public var kind: BackendKind { .sqlite }
    private let connection: SQLiteConnection
    private let lease = FIFOLease()
    private let readers: ConnectionPool<SQLiteConnection>
    private let logger: Logger

    /// Read-only connections beside the writer.
    public static let defaultReaders = 3

    public static func open(path: String, readers: Int = defaultReaders, logger: Logger) async throws -> SQLiteBackend {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        let sql = connection.sql(queryLogLevel: .trace)
        for pragma in ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON"] {
            try await sql.raw(SQLQueryString(pragma)).run()
        }
        var readOnly: [SQLiteConnection] = []
        for _ in 0..<max(0, readers) {
            let reader = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
            // A checkpoint or the writer's recovery can make a reader wait a moment: wait rather than fail.
            for pragma in ["PRAGMA query_only=ON", "PRAGMA busy_timeout=10000"] {
                try await reader.sql(queryLogLevel: .trace).raw(SQLQueryString(pragma)).run()
            }
            readOnly.append(reader)
        }
        return SQLiteBackend(connection: connection, readers: ConnectionPool(readOnly), logger: logger)
    }

    private init(connection: SQLiteConnection, readers: ConnectionPool<SQLiteConnection>, logger: Logger) {
        self.connection = connection
        self.readers = readers
        self.logger = logger
    }

    public func withConnection<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        await lease.acquire()
        do {
            let result = try await body(connection.sql(queryLogLevel: .trace))
            await lease.release()
            return result
        } catch {
            await lease.release()
            throw error
        }
    }

    public func withReadConnection<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        guard let reader = await readers.acquire() else { return try await withConnection(body) }
        do {
            let result = try await body(reader.sql(queryLogLevel: .trace))
            await readers.release(reader)
            return result
        } catch {
            await readers.release(reader)
            throw error
        }
    }

    public func run() async {
        try? await gracefulShutdownSafeSleep()
    }

    public func close() async throws {
        for reader in await readers.drain() { try? await reader.close() }
        try await connection.close()
    }
}

/// A fixed set of connections lent out one caller at a time, waiters served in arrival order; `acquire` is nil for an
/// empty (or drained) pool.
actor ConnectionPool<Connection: Sendable> {
    private var idle: [Connection]
    private let size: Int
    private var waiters: [CheckedContinuation<Connection, Never>] = []
    private var head = 0

    init(_ connections: [Connection]) {
        self.idle = connections
        self.size = connections.count
    }

    func acquire() async -> Connection? {
        guard size > 0 else { return nil }
        if let connection = idle.popLast() { return connection }
        return await withCheckedContinuation { waiters.append($0) }
    }

    func release(_ connection: Connection) {
        guard head < waiters.count else {
            idle.append(connection)
            return
        }
        let next = waiters[head]
        head += 1
        if head > 64, head * 2 > waiters.count {
            waiters.removeFirst(head)
            head = 0
        }
        next.resume(returning: connection)
    }

    /// The idle connections, taken out for closing.
    func drain() -> [Connection] {
        defer { idle = [] }
        return idle
    }
}

/// Sleeps until the surrounding task is cancelled.
func gracefulShutdownSafeSleep() async throws {
    while !Task.isCancelled {
        try await Task.sleep(for: .seconds(3600))
    }
}

/// A fair async mutex: waiters are resumed in arrival order.
actor FIFOLease {
    private var held = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var head = 0

    func acquire() async {
        if !held {
            held = true
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func release() {
        if head < waiters.count {
            let next = waiters[head]
            head += 1
            if head > 64, head * 2 > waiters.count {
                waiters.removeFirst(head)
                head = 0
            }
            next.resume()
        } else {
            held = false
        }
    }
}
