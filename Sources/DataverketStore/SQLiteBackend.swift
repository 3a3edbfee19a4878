import Foundation
import DataverketCore
import Logging
import SQLKit
import SQLiteKit
import SQLiteNIO

/// The embedded default: one SQLite file in WAL mode, one connection lent out in FIFO order.
///
/// SQLite allows one writer at a time; a single connection makes that explicit, so transactions never
/// fail with SQLITE_BUSY and ordering is fair.
public struct SQLiteBackend: DatabaseBackend {
    public var kind: BackendKind { .sqlite }
    private let connection: SQLiteConnection
    private let lease = FIFOLease()
    private let logger: Logger

    public static func open(path: String, logger: Logger) async throws -> SQLiteBackend {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        let sql = connection.sql(queryLogLevel: .trace)
        for pragma in ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON"] {
            try await sql.raw(SQLQueryString(pragma)).run()
        }
        return SQLiteBackend(connection: connection, logger: logger)
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

    public func run() async {
        try? await gracefulShutdownSafeSleep()
    }

    public func close() async throws {
        try await connection.close()
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
