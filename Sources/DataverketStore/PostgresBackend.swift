#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import DataverketCore
import Logging
import NIOCore
import PostgresKit
import PostgresNIO
import SQLKit
import Synchronization

/// PostgreSQL through postgres-nio's pooled `PostgresClient`.
public struct PostgresBackend: DatabaseBackend {
    public var kind: BackendKind { .postgres }
    public let client: PostgresClient
    private let logger: Logger
    private let watches = ConnectionWatches()

    /// `postgres://user:password@host:port/database?sslmode=disable|prefer|require`
    public init(url: String, maxConnections: Int = 20, logger: Logger) throws {
        var configuration = try Self.configuration(url: url)
        configuration.options.maximumConnections = maxConnections
        configuration.options.minimumConnections = 0
        configuration.options.connectTimeout = .seconds(5)
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.logger = logger
    }

    public static func configuration(url: String) throws -> PostgresClient.Configuration {
        guard let components = URLComponents(string: url),
              components.scheme == "postgres" || components.scheme == "postgresql",
              let host = components.host, !host.isEmpty
        else {
            throw DataverketError(.invalidArgument, "DV_DATABASE_URL must look like postgres://user:password@host:port/database")
        }
        let user = components.user ?? "postgres"
        let password = components.password
        let database = components.path.count > 1 ? String(components.path.dropFirst()) : nil
        let sslmode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "disable"
        let tls: PostgresClient.Configuration.TLS
        switch sslmode {
        case "disable": tls = .disable
        case "prefer", "allow": tls = .prefer(.clientDefault)
        case "require", "verify-ca", "verify-full": tls = .require(.clientDefault)
        default: throw DataverketError(.invalidArgument, "unsupported sslmode '\(sslmode)' (disable, prefer, require)")
        }
        return PostgresClient.Configuration(
            host: host, port: components.port ?? 5432, username: user,
            password: password?.removingPercentEncoding ?? password, database: database, tls: tls
        )
    }

    public func withConnection<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        let (logger, watches) = (self.logger, self.watches)
        let leased = Leased()
        do {
            return try await client.withConnection { connection in
                leased.mark()
                return try await body(WatchedSQLDatabase(base: connection.sql(queryLogLevel: .trace, logger: logger),
                                                         watch: watches.watch(connection)))
            }
        } catch where !leased.value && !(error is PSQLError) && !(error is CancellationError) {
            // No connection to be had: after failing to connect for a while (15 s) the pool's circuit breaker opens and
            // fails every request at once until a connection succeeds again. That is the database being unreachable.
            throw DataverketError(.unavailable, "the database is unreachable", cause: NoConnection(underlying: error))
        }
    }

    public func run() async {
        await client.run()
    }

    public func close() async throws {}
}

/// Whether a `withConnection` got as far as a connection.
private final class Leased: Sendable {
    private let leased = Mutex(false)
    func mark() { leased.withLock { $0 = true } }
    var value: Bool { leased.withLock { $0 } }
}

/// The pool could not lend a connection (its circuit breaker is open): the database is unreachable.
struct NoConnection: Error, CustomStringConvertible {
    let underlying: any Error
    var description: String { "no connection to the database could be made (\(underlying))" }
}

// MARK: - Statements on a connection that closed under them

// postgres-nio 1.33 drops a statement sent on a connection whose channel has just closed — the server crashed or shut
// down under it, typically between two statements of a transaction — before it reaches the connection's handler, and
// its caller then waits forever (upstream fixed it after 1.33.2, the last release: `PostgresConnection.query` now
// cascades the failed write to the query; drop this when a release has it). The chaos test's PostgreSQL crash left
// the outbox relay and the task projector stuck that way for good. So every statement is registered with a watch on
// its connection, and statements the connection has not answered shortly after it closed fail as unreachable, which
// the callers treat as "wait for the store and try again".

/// One watch per open connection of the pool, keyed by connection ID (unique within the pool).
final class ConnectionWatches: Sendable {
    private let watches = Mutex<[PostgresConnection.ID: ConnectionWatch]>([:])

    func watch(_ connection: PostgresConnection) -> ConnectionWatch {
        let id = connection.id
        let (watch, isNew) = watches.withLock { all -> (ConnectionWatch, Bool) in
            if let existing = all[id] { return (existing, false) }
            let watch = ConnectionWatch(eventLoop: connection.eventLoop)
            all[id] = watch
            return (watch, true)
        }
        if isNew {
            // One callback per connection, not per statement: pooled connections live long.
            connection.closeFuture.whenComplete { [self] _ in
                self.watches.withLock { _ = $0.removeValue(forKey: id) }
                watch.connectionClosed()
            }
        }
        return watch
    }
}

/// The statements of one connection that have not been answered yet.
final class ConnectionWatch: Sendable {
    private struct State {
        var closed = false
        var next = 0
        var pending: [Int: EventLoopPromise<Void>] = [:]
    }
    private let state = Mutex(State())
    let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    /// Registers a statement's outcome; nil if the connection has closed already.
    func register(_ promise: EventLoopPromise<Void>) -> Int? {
        state.withLock { state in
            guard !state.closed else { return nil }
            state.next += 1
            state.pending[state.next] = promise
            return state.next
        }
    }

    /// The statement was answered; true if it was still pending (its caller gets this answer).
    func answered(_ token: Int) -> Bool {
        state.withLock { $0.pending.removeValue(forKey: token) != nil }
    }

    /// The connection closed: statements it answers in the next moment (the ones it had received fail as it closes)
    /// are left alone; those still unanswered after that were never sent, and fail.
    func connectionClosed() {
        state.withLock { $0.closed = true }
        eventLoop.scheduleTask(in: .milliseconds(200)) {
            let dropped = self.state.withLock { state -> [EventLoopPromise<Void>] in
                defer { state.pending.removeAll() }
                return Array(state.pending.values)
            }
            for promise in dropped { promise.fail(ChannelError.ioOnClosedChannel) }
        }
    }
}

/// A connection's `SQLDatabase` whose statements fail, rather than hang, when the connection closes under them.
struct WatchedSQLDatabase: SQLDatabase {
    let base: any SQLDatabase
    let watch: ConnectionWatch

    var logger: Logger { base.logger }
    var eventLoop: any EventLoop { base.eventLoop }
    var version: (any SQLDatabaseReportedVersion)? { base.version }
    var dialect: any SQLDialect { base.dialect }
    var queryLogLevel: Logger.Level? { base.queryLogLevel }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> ()) -> EventLoopFuture<Void> {
        let promise = base.eventLoop.makePromise(of: Void.self)
        guard let token = watch.register(promise) else {
            promise.fail(ChannelError.ioOnClosedChannel)
            return promise.futureResult
        }
        let watch = self.watch
        base.execute(sql: query, onRow).whenComplete { result in
            if watch.answered(token) { promise.completeWith(result) }
        }
        return promise.futureResult
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> ()) async throws {
        try await execute(sql: query, onRow).get()
    }
}
