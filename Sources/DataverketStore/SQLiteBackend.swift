import Foundation
import DataverketCore
import Logging
import SQLKit
import SQLiteKit
import SQLiteNIO
import Synchronization

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
            lease.release()
            return result
        } catch {
            lease.release()
            throw error
        }
    }

    public func withReadConnection<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        guard let reader = await readers.acquire() else { return try await withConnection(body) }
        do {
            let result = try await body(reader.sql(queryLogLevel: .trace))
            readers.release(reader)
            return result
        } catch {
            readers.release(reader)
            throw error
        }
    }

    public func run() async {
        try? await gracefulShutdownSafeSleep()
    }

    public func close() async throws {
        for reader in readers.drain() { try? await reader.close() }
        try await connection.close()
    }
}

/// A fixed set of connections lent out one caller at a time, waiters served in arrival order; `acquire` is nil for an
/// empty (or drained) pool. A lock held for a few array operations, never across a suspension: taking an idle
/// connection and giving one back cost no hop onto another executor.
final class ConnectionPool<Connection: Sendable>: Sendable {
    private struct State {
        var idle: [Connection]
        var waiters: [CheckedContinuation<Connection, Never>] = []
        var head = 0
    }

    private let state: Mutex<State>
    private let size: Int

    init(_ connections: [Connection]) {
        self.state = Mutex(State(idle: connections))
        self.size = connections.count
    }

    func acquire() async -> Connection? {
        guard size > 0 else { return nil }
        if let connection = state.withLock({ $0.idle.popLast() }) { return connection }
        return await withCheckedContinuation { (continuation: CheckedContinuation<Connection, Never>) in
            let ready = state.withLock { state -> Connection? in
                if let connection = state.idle.popLast() { return connection }
                state.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    func release(_ connection: Connection) {
        let next = state.withLock { state -> CheckedContinuation<Connection, Never>? in
            guard state.head < state.waiters.count else {
                state.idle.append(connection)
                return nil
            }
            let next = state.waiters[state.head]
            state.head += 1
            if state.head > 64, state.head * 2 > state.waiters.count {
                state.waiters.removeFirst(state.head)
                state.head = 0
            }
            return next
        }
        next?.resume(returning: connection)
    }

    /// The idle connections, taken out for closing.
    func drain() -> [Connection] {
        state.withLock { state in
            defer { state.idle = [] }
            return state.idle
        }
    }
}

/// Sleeps until the surrounding task is cancelled.
func gracefulShutdownSafeSleep() async throws {
    while !Task.isCancelled {
        try await Task.sleep(for: .seconds(3600))
    }
}

/// A fair async mutex: waiters are resumed in arrival order (a pool of one).
final class FIFOLease: Sendable {
    private let pool = ConnectionPool([true])

    func acquire() async {
        _ = await pool.acquire()
    }

    func release() {
        pool.release(true)
    }
}
