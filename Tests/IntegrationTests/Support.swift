import AsyncHTTPClient
import DataverketBus
import DataverketClient
import DataverketCore
import DataverketServer
import DataverketStore
import Foundation
import Hummingbird
import OpenAPIRuntime
import HummingbirdTesting
import HTTPTypes
import Identitet
import Logging
import Maskin
import Nett
import NettIntent
import NIOCore
import NIOHTTP1
import PostgresNIO
import Sentral
import DataverketTasks
import DataverketTestSupport
import ServiceLifecycle
import Testing

/// The store engines every integration suite runs against (PostgreSQL is the one scripts/test starts; without
/// `DV_TEST_POSTGRES_URL` its cases fail, they do not skip).
typealias Backend = TestBackend

/// Runs `body` with a fresh database of `backend`, migrated by the composition root unless `migrate` is false.
func withDatabase<T: Sendable>(_ backend: Backend, migrate: Bool = true, _ body: @Sendable (Database) async throws -> T) async throws -> T {
    try await withTemporaryDatabase(backend, label: "dvtest", migrations: migrate ? ControlPlane.migrations : [], body)
}

/// Runs `body` with a fresh PostgreSQL database and its URL (for other processes to open it too).
func withPostgres<T: Sendable>(migrate: Bool = true, _ body: @Sendable (Database, String) async throws -> T) async throws -> T {
    try await withTemporaryPostgres(label: "dvtest", migrations: migrate ? ControlPlane.migrations : [], body)
}

/// The bus implementations the engine suites run against.
enum BusKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case inProcess = "in-process", jetStream = "jetstream"
    var testDescription: String { rawValue }
}

/// Runs `body` with a provisioned bus of `kind`: in-process, or JetStream on a private nats-server (its
/// own port and store, so durable consumer names never collide between tests).
func withBus<T: Sendable>(_ kind: BusKind, duplicateWindow: Duration = .seconds(120),
                          _ body: @Sendable (any Bus, LocalNATSServer?) async throws -> T) async throws -> T {
    switch kind {
    case .inProcess:
        let bus = InProcessBus(configuration: .init(duplicateWindow: duplicateWindow), logger: quietLogger)
        try await bus.provision()
        return try await body(bus, nil)
    case .jetStream:
        let server = try await LocalNATSServer.start()
        do {
            let bus = try await BusConfiguration.open(natsURL: server.url, logger: quietLogger)
            try await bus.provision()
            let result: T
            do {
                result = try await body(bus, server)
            } catch {
                await bus.close()
                throw error
            }
            await bus.close()
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }
}

/// A private `nats-server -js` (Debian's package, installed by scripts/test) on a free loopback port with
/// its own store directory; it can be restarted on the same port and store.
actor LocalNATSServer {
    let port: Int
    let storeDirectory: String
    /// A configuration file to start with, and the environment it reads (e.g. passwords).
    var configFile: String?
    var environment: [String: String] = [:]
    private var process: Process?

    nonisolated var url: String { "nats://127.0.0.1:\(port)" }

    private init(port: Int, storeDirectory: String) {
        self.port = port
        self.storeDirectory = storeDirectory
    }

    static func start(configFile: String? = nil, environment: [String: String] = [:]) async throws -> LocalNATSServer {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dv-nats-\(ULID.make())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let server = LocalNATSServer(port: try freePort(), storeDirectory: directory)
        await server.configure(configFile, environment)
        try await server.start()
        return server
    }

    private func configure(_ file: String?, _ environment: [String: String]) {
        configFile = file
        self.environment = environment
    }

    static var executable: String {
        ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"]
            .first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/bin/nats-server"
    }

    func start() async throws {
        guard process == nil else { return }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = (configFile.map { ["-c", $0] } ?? []) + ["-js", "-a", "127.0.0.1", "-p", "\(port)", "-sd", storeDirectory]
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        // Generous: after a SIGKILL the server first recovers its JetStream store, on a machine that may be busy.
        for _ in 0..<1200 {
            if portAcceptsConnections(port) { return }
            guard process.isRunning else { throw DataverketError(.unavailable, "nats-server exited at start (port \(port))") }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw DataverketError(.unavailable, "nats-server did not listen on \(port) within 30 s")
    }

    /// Kills the server with SIGKILL (no shutdown: nothing flushed, no client told), keeping its store for `start()`.
    func crash() async throws {
        guard let process else { return }
        self.process = nil
        kill(process.processIdentifier, SIGKILL)
        for _ in 0..<1200 where process.isRunning { try await Task.sleep(for: .milliseconds(25)) }
        guard !process.isRunning else { throw DataverketError(.unavailable, "nats-server \(process.processIdentifier) outlived SIGKILL by 30 s") }
    }

    /// Stops the server gracefully (SIGTERM), keeping its store for a restart.
    func halt() async {
        guard let process else { return }
        self.process = nil
        process.terminate()
        for _ in 0..<200 where process.isRunning { try? await Task.sleep(for: .milliseconds(25)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    func restart() async throws {
        await halt()
        try await start()
    }

    func stop() async {
        await halt()
        try? FileManager.default.removeItem(atPath: storeDirectory)
    }
}

/// A running server on a free loopback port, with a platform-admin session for the tests.
struct TestServer: Sendable {
    let baseURL: String
    /// In router mode: the client that hands requests straight to the server's router (no listener).
    var router: (any TestClientProtocol)? = nil
    let database: Database
    let sentral: ControlPlane
    let identity: Identitet
    /// An access token of `user:test-admin` (platform-admin).
    let token: String
    /// The server's metrics registry, read in-process (`/metrics` needs the store).
    var metrics = ServerMetrics()
    var client: Client { client(token: token) }

    /// A client presenting `token` (nil: none).
    func client(token: String?) -> Client {
        let headers = token.map { ["Authorization": "Bearer \($0)"] } ?? [:]
        if let router { return DataverketClient.make(serverURL: URL(string: baseURL)!, transport: RouterTransport(client: router), headers: headers) }
        return DataverketClient.make(serverURL: URL(string: baseURL)!, headers: headers)
    }

    /// An access token for `subject`, bound `roles` at a scope first (platform unless a tenant or project id is given).
    func token(for subject: String, roles: [Role], scopeKind: String = "platform", scopeID: String = "*") async throws -> String {
        for role in roles { try await identity.bind(subject, role, scopeKind: scopeKind, scopeID: scopeID, by: "test") }
        return try await identity.issueSession(for: subject).accessToken
    }

    /// A raw HTTP request, for what the SDK cannot send (malformed bodies, wrong media types).
    func raw(_ method: NIOHTTP1.HTTPMethod, _ path: String, body: String? = nil, headers: [String: String] = [:],
             contentType: String? = "application/json", httpClient: HTTPClient = .shared,
             timeout: TimeAmount = .seconds(30)) async throws -> (status: Int, headers: [String: String], body: String) {
        if let router { return try await routed(router, method, path, body: body, headers: headers, contentType: contentType) }
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        if !headers.keys.contains(where: { $0.lowercased() == "authorization" }) {
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        for (name, value) in headers where !value.isEmpty { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await httpClient.execute(request, timeout: timeout)
        let bytes = try await response.body.collect(upTo: 4 << 20)
        var flat: [String: String] = [:]
        for header in response.headers { flat[header.name.lowercased()] = header.value }
        return (Int(response.status.code), flat, String(buffer: bytes))
    }

    /// The `dv_http_requests_in_flight` gauge now.
    var requestsInFlight: Int {
        var buffer: [UInt8] = []
        metrics.registry.emit(into: &buffer)
        let line = String(decoding: buffer, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix("dv_http_requests_in_flight ") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") }.map { Int($0) } ?? 0
    }

    /// `raw` in router mode: the same request, handed to the router.
    private func routed(_ router: any TestClientProtocol, _ method: NIOHTTP1.HTTPMethod, _ path: String, body: String?,
                        headers: [String: String], contentType: String?) async throws -> (status: Int, headers: [String: String], body: String) {
        var fields = HTTPFields()
        if let contentType { fields[.contentType] = contentType }
        if !headers.keys.contains(where: { $0.lowercased() == "authorization" }) { fields[.authorization] = "Bearer \(token)" }
        for (name, value) in headers where !value.isEmpty { fields[try #require(HTTPField.Name(name))] = value }
        let response = try await router.executeRequest(uri: path, method: HTTPRequest.Method(method.rawValue)!, headers: fields,
                                                       body: body.map { ByteBuffer(string: $0) })
        var flat: [String: String] = [:]
        for field in response.headers { flat[field.name.canonicalName] = field.value }
        return (Int(response.status.code), flat, String(buffer: response.body))
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

/// `token` with one character of its signature changed: well-formed, but not signed by the server.
func tamperedSignature(_ token: String) -> String {
    var characters = Array(token)
    characters[characters.count - 5] = characters[characters.count - 5] == "A" ? "B" : "A"
    return String(characters)
}

/// Runs `body` against a live server on `backend`, with or without the task runner.
func withServer(_ backend: Backend, mode: ServerMode = .live, worker: Bool = true, bus: (any Bus)? = nil,
                rateLimits: RateLimitPolicy = .loadTesting, _ body: @Sendable @escaping (TestServer) async throws -> Void) async throws {
    let bus = bus ?? InProcessBus(logger: quietLogger)
    try await bus.provision()
    try await withDatabase(backend) { database in
        try await runServer(ControlPlane(database: database, bus: bus), mode: mode, worker: worker, bus: bus, rateLimits: rateLimits, body)
    }
}

/// How a test reaches the server: over HTTP on a loopback listener (end to end: the SDK's transport, the CLI,
/// browsers, other processes), or straight through the application's router (Hummingbird's router mode: the
/// same middleware, handlers and services, no socket).
enum ServerMode: Sendable {
    case live, router
}

/// The SDK's transport in router mode: each request goes to the router of the application under test.
struct RouterTransport: ClientTransport {
    let client: any TestClientProtocol

    func send(_ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String) async throws -> (HTTPResponse, HTTPBody?) {
        var bytes: ByteBuffer?
        if let body { bytes = ByteBuffer(bytes: try await [UInt8](collecting: body, upTo: 64 << 20)) }
        let response = try await client.executeRequest(uri: request.path ?? "/", method: request.method, headers: request.headerFields, body: bytes)
        return (response.head, HTTPBody(Array(buffer: response.body)))
    }
}

/// Serves `sentral` on a free loopback port for the duration of `body`.
func runServer(_ sentral: ControlPlane, mode: ServerMode = .live, worker: Bool = true, bus: any Bus, rateLimits: RateLimitPolicy = .loadTesting,
               maskin: MaskinPlane? = nil, dns: DNSSyncService? = nil, nett: NettPlane? = nil, upstream: UpstreamIdentityProvider? = nil,
               configure: (inout ServerConfiguration) -> Void = { _ in },
               _ body: @Sendable @escaping (TestServer) async throws -> Void) async throws {
    var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
    configure(&configuration)
    configuration.rateLimits = rateLimits
    configuration.datacenter = "osl1"
    configuration.issuerOverride = testIssuer
    configuration.upstreamIdentity = upstream
    let identity = Identitet(database: sentral.database, issuer: testIssuer, masterKey: .random(), upstream: upstream)
    _ = try await sentral.migrate()
    try await identity.prepare()
    try await identity.bind("user:test-admin", .platformAdmin, by: "test")
    let token = try await identity.issueSession(for: "user:test-admin").accessToken
    let metrics = configuration.metrics
    if mode == .router {
        let app = try DataverketServer.makeApplication(sentral: sentral, identity: identity, maskin: maskin, dns: dns, nett: nett,
                                                       configuration: configuration, logger: quietLogger, bus: bus, worker: worker)
        try await app.test(.router) { client in
            try await body(TestServer(baseURL: "http://router.test", router: client, database: sentral.database, sentral: sentral,
                                      identity: identity, token: token, metrics: metrics))
        }
        return
    }
    try await DataverketServer.withRunning(sentral: sentral, identity: identity, maskin: maskin, dns: dns, nett: nett,
                                           configuration: configuration, logger: quietLogger, bus: bus, worker: worker) { port in
        try await body(TestServer(baseURL: "http://127.0.0.1:\(port)", database: sentral.database, sentral: sentral,
                                  identity: identity, token: token, metrics: metrics))
    }
}

