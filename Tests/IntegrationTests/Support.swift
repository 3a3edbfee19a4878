import AsyncHTTPClient
import DataverketBus
import DataverketClient
import DataverketCore
import DataverketServer
import DataverketStore
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import Sentral
import ServiceLifecycle
import Testing

/// The store engines every integration suite runs against.
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite, postgres
    var testDescription: String { rawValue }
}

let quietLogger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

/// The PostgreSQL the test scripts started (scripts/test); loopback default. Tests fail, not skip, when it
/// is unreachable.
var postgresAdminURL: String {
    ProcessInfo.processInfo.environment["DV_TEST_POSTGRES_URL"] ?? "postgres://dataverket@127.0.0.1:55432/postgres"
}

/// Runs `body` with a fresh, migrated database of `backend`: a new SQLite file, or a new PostgreSQL database.
func withDatabase<T: Sendable>(_ backend: Backend, migrate: Bool = true, _ body: @Sendable (Database) async throws -> T) async throws -> T {
    switch backend {
    case .sqlite:
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dvtest-\(ULID.make())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = try await StoreConfiguration(databaseURL: nil, dataDirectory: directory).open(logger: quietLogger)
        if migrate { _ = try await ControlPlane(database: database).migrate() }
        let result = try await body(database)
        try await database.backend.close()
        return result
    case .postgres:
        let name = "dvtest_\(ULID.make().lowercased())"
        try await adminSQL("CREATE DATABASE \(name)")
        let url = postgresAdminURL.replacingOccurrences(of: "/postgres", with: "/\(name)")
        let database = try await StoreConfiguration(databaseURL: url, dataDirectory: "").open(logger: quietLogger)
        let result = try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await database.backend.run() }
            defer { group.cancelAll() }
            if migrate { _ = try await ControlPlane(database: database).migrate() }
            return try await body(database)
        }
        try? await adminSQL("DROP DATABASE \(name) WITH (FORCE)")
        return result
    }
}

/// Runs one statement on the admin database.
func adminSQL(_ statement: String) async throws {
    let client = PostgresClient(configuration: try PostgresBackend.configuration(url: postgresAdminURL), backgroundLogger: quietLogger)
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await client.run() }
        defer { group.cancelAll() }
        try await client.withConnection { connection in
            _ = try await connection.query(PostgresQuery(unsafeSQL: statement), logger: quietLogger)
        }
    }
}

/// A running server on a free loopback port.
struct TestServer: Sendable {
    let baseURL: String
    let database: Database
    let sentral: ControlPlane
    var client: Client { DataverketClient.make(serverURL: URL(string: baseURL)!) }

    /// A raw HTTP request, for what the SDK cannot send (malformed bodies, wrong media types).
    func raw(_ method: NIOHTTP1.HTTPMethod, _ path: String, body: String? = nil, headers: [String: String] = [:],
             contentType: String? = "application/json") async throws -> (status: Int, headers: [String: String], body: String) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 4 << 20)
        var flat: [String: String] = [:]
        for header in response.headers { flat[header.name.lowercased()] = header.value }
        return (Int(response.status.code), flat, String(buffer: bytes))
    }

    /// Decodes a problem+json body and checks the basics every problem must have.
    func problem(_ response: (status: Int, headers: [String: String], body: String)) throws -> [String: Any] {
        #expect(response.headers["content-type"] == "application/problem+json")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any])
        #expect(object["status"] as? Int == response.status)
        #expect((object["type"] as? String)?.hasPrefix("https://dataverket.dev/problems/") == true)
        return object
    }
}

/// Runs `body` against a live server on `backend`, with or without the task runner.
func withServer(_ backend: Backend, worker: Bool = true, bus: (any Bus)? = nil,
                _ body: @Sendable @escaping (TestServer) async throws -> Void) async throws {
    let bus = bus ?? InProcessBus(logger: quietLogger)
    try await bus.provision()
    try await withDatabase(backend) { database in
        try await runServer(ControlPlane(database: database, bus: bus), worker: worker, bus: bus, body)
    }
}

/// Serves `sentral` on a free loopback port for the duration of `body`.
func runServer(_ sentral: ControlPlane, worker: Bool = true, bus: any Bus,
               _ body: @Sendable @escaping (TestServer) async throws -> Void) async throws {
    var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
    configuration.datacenter = "osl1"
    try await DataverketServer.withRunning(sentral: sentral, configuration: configuration, logger: quietLogger,
                                           bus: bus, worker: worker) { port in
        try await body(TestServer(baseURL: "http://127.0.0.1:\(port)", database: sentral.database, sentral: sentral))
    }
}

let testContext = OperationContext(actor: "test:suite", correlationID: "test-correlation")
