import DataverketCore
import Logging
import SQLKit

/// Which SQL engine a database runs on.
public struct BackendKind: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    private init(_ name: String) { self.name = name }
    public static let sqlite = BackendKind("sqlite")
    public static let postgres = BackendKind("postgres")
    public var description: String { name }
}

/// An engine that can lend out one SQL connection at a time.
public protocol DatabaseBackend: Sendable {
    var kind: BackendKind { get }
    /// Runs `body` with exclusive use of one connection.
    func withConnection<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T
    /// Runs `body`, which only reads, with exclusive use of one connection (SQLite: a read-only one beside the writer).
    func withReadConnection<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T
    /// Keeps background machinery (connection pools) alive; returns when cancelled.
    func run() async
    func close() async throws
}

extension DatabaseBackend {
    public func withReadConnection<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await withConnection(body)
    }
}

/// The store: one SQL layer over SQLite (embedded default) and PostgreSQL.
///
/// Bounded contexts address their tables through `Session.table(_:_:)`, which renders a schema-qualified
/// name on PostgreSQL (`tenancy.projects`) and a prefixed name on SQLite (`tenancy_projects`), so one
/// schema per context exists where the engine has schemas and every query is written once.
public struct Database: Sendable {
    public let backend: any DatabaseBackend
    public let logger: Logger
    /// Signalled after every committed transaction in this process (the outbox relay waits on it).
    public let commits = Signal()

    public init(backend: any DatabaseBackend, logger: Logger) {
        self.backend = backend
        self.logger = logger
    }

    public var kind: BackendKind { backend.kind }

    /// Runs `body` while the backend's background machinery (the PostgreSQL pool) runs, then stops that machinery.
    /// The one place the task group around `backend.run()` is written.
    public func whileRunning<T: Sendable>(_ body: () async throws -> T) async -> Result<T, any Error> {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await backend.run() }
            defer { group.cancelAll() }
            do { return .success(try await body()) } catch { return .failure(error) }
        }
    }

    /// Reads outside an explicit transaction.
    public func read<T: Sendable>(_ body: @Sendable (Session) async throws -> T) async throws -> T {
        let kind = self.kind
        do {
            return try await backend.withReadConnection { sql in try await body(Session(sql: sql, kind: kind)) }
        } catch {
            throw StoreErrors.translate(error)
        }
    }

    /// Runs `body` in one transaction: everything it writes commits together or not at all.
    public func transaction<T: Sendable>(_ body: @Sendable (Session) async throws -> T) async throws -> T {
        let kind = self.kind
        do {
            return try await backend.withConnection { sql in
                try await sql.raw(kind == .sqlite ? "BEGIN IMMEDIATE" : "BEGIN").run()
                do {
                    let result = try await body(Session(sql: sql, kind: kind))
                    try await sql.raw("COMMIT").run()
                    commits.signal()
                    return result
                } catch {
                    // Not cancellable: a cancelled caller must not leave the (single, on SQLite) connection
                    // inside an open transaction, or every later BEGIN on it would fail.
                    await Task { try? await sql.raw("ROLLBACK").run() }.value
                    throw error
                }
            }
        } catch {
            throw StoreErrors.translate(error)
        }
    }

    /// `SELECT 1`, bounded by `timeout`: the readiness probe.
    public func ping(timeout: Duration = .seconds(2)) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.read { try await $0.sql.raw("SELECT 1").run() } }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw DataverketError(.unavailable, "store did not answer within \(timeout)")
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }
}

/// One connection in use, inside or outside a transaction.
public struct Session: Sendable {
    public let sql: any SQLDatabase
    public let kind: BackendKind

    public init(sql: any SQLDatabase, kind: BackendKind) {
        self.sql = sql
        self.kind = kind
    }

    /// The table `name` of bounded context `schema`.
    public func table(_ schema: String, _ name: String) -> TableName {
        TableName(schema: schema, name: name, qualified: kind == .postgres)
    }

    /// Runs a statement, returning the rows.
    public func all(_ query: SQLQueryString) async throws -> [any SQLRow] {
        try await sql.raw(query).all()
    }

    public func first(_ query: SQLQueryString) async throws -> (any SQLRow)? {
        try await sql.raw(query).first()
    }

    public func run(_ query: SQLQueryString) async throws {
        try await sql.raw(query).run()
    }

    /// Runs an UPDATE/DELETE and returns how many rows it touched — the statement needs a `RETURNING` clause.
    public func affected(_ query: SQLQueryString) async throws -> Int {
        try await sql.raw(query).all().count
    }
}

/// A table reference rendered per engine.
public struct TableName: SQLExpression, Sendable, CustomStringConvertible {
    public let schema: String
    public let name: String
    public let qualified: Bool

    public func serialize(to serializer: inout SQLSerializer) {
        if qualified {
            SQLIdentifier(schema).serialize(to: &serializer)
            serializer.write(".")
            SQLIdentifier(name).serialize(to: &serializer)
        } else {
            SQLIdentifier("\(schema)_\(name)").serialize(to: &serializer)
        }
    }

    public var description: String { qualified ? "\(schema).\(name)" : "\(schema)_\(name)" }
}

/// A level-triggered wake-up signal within one process: any number signal, waiters wake (all of them).
/// A signal with no waiter is remembered until the next wait.
public struct Signal: Sendable {
    private let state = SignalState()

    public init() {}

    public func signal() {
        Task { await state.fire() }
    }

    /// Waits for a signal or `timeout`, whichever comes first (or until the task is cancelled).
    public func wait(timeout: Duration) async {
        let state = self.state
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await state.wait() }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }
}

actor SignalState {
    private var pending = false
    private var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    private var nextID: UInt64 = 0

    func fire() {
        if waiters.isEmpty {
            pending = true
        } else {
            let current = waiters
            waiters.removeAll()
            for waiter in current.values { waiter.resume() }
        }
    }

    /// Returns at the next signal, or at once when one is pending; cancellation ends the wait.
    func wait() async {
        if pending {
            pending = false
            return
        }
        let id = nextID
        nextID += 1
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                if Task.isCancelled {
                    continuation.resume()
                } else {
                    waiters[id] = continuation
                }
            }
        } onCancel: {
            Task { await self.cancel(id) }
        }
    }

    private func cancel(_ id: UInt64) {
        waiters.removeValue(forKey: id)?.resume()
    }
}
