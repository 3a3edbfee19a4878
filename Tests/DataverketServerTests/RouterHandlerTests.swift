import DataverketBus
import DataverketCore
@testable import DataverketServer
import DataverketStore
import DataverketTasks
import DataverketTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Identitet
import NIOCore
import Testing

/// Handlers in Hummingbird's router mode: the whole middleware chain and the generated router over an embedded
/// SQLite store and the in-process bus, no listener and no peer. Live servers stay for the end-to-end suites.
@Suite("Server handlers (router mode)")
struct RouterHandlerTests {
    struct Harness: Sendable {
        let client: any TestClientProtocol
        let database: Database
        let token: String

        func request(_ method: HTTPRequest.Method, _ uri: String, body: String? = nil, token: String? = nil,
                     contentType: String? = "application/json", headers: [String: String] = [:]) async throws -> TestResponse {
            var fields = HTTPFields()
            if let contentType { fields[.contentType] = contentType }
            if let bearer = token ?? self.token as String?, !bearer.isEmpty { fields[.authorization] = "Bearer \(bearer)" }
            for (name, value) in headers { fields[HTTPField.Name(name)!] = value }
            return try await client.execute(uri: uri, method: method, headers: fields, body: body.map { ByteBuffer(string: $0) })
        }
    }

    /// Runs `body` against the server's application in router mode over a fresh SQLite store.
    static func withRouter(_ body: @escaping @Sendable (Harness) async throws -> Void) async throws {
        try await withTemporaryDatabase(.sqlite, label: "dv-router", migrations: ControlPlane.migrations) { database in
            let bus = InProcessBus(logger: quietLogger)
            try await bus.provision()
            var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
            configuration.rateLimits = .loadTesting
            let identity = Identitet(database: database, issuer: configuration.issuer, masterKey: .random())
            try await identity.prepare()
            try await identity.bind("user:router-admin", .platformAdmin, by: "test")
            let token = try await identity.issueSession(for: "user:router-admin").accessToken
            let app = try DataverketServer.makeApplication(
                sentral: ControlPlane(database: database, bus: bus), identity: identity, configuration: configuration, logger: quietLogger,
                bus: bus, worker: false)
            try await app.test(.router) { client in
                try await body(Harness(client: client, database: database, token: token))
            }
        }
    }

    /// The problem+json body of `response`, checked for what every problem has.
    static func problem(_ response: TestResponse, status: HTTPResponse.Status) throws -> [String: Any] {
        #expect(response.status == status, "\(String(buffer: response.body))")
        #expect(response.headers[.contentType] == "application/problem+json")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any])
        #expect(object["status"] as? Int == Int(status.code))
        #expect((object["type"] as? String)?.hasPrefix("https://dataverket.dev/problems/") == true)
        return object
    }

    @Test("no credential or a forged one: 401 problem+json, nothing created")
    func unauthorized() async throws {
        try await Self.withRouter { harness in
            _ = try Self.problem(try await harness.request(.get, "/v1/tenants", token: ""), status: .unauthorized)
            _ = try Self.problem(try await harness.request(.post, "/v1/tenants", body: #"{"name":"acme"}"#, token: "forged.jwt.value"),
                                 status: .unauthorized)
            let list = try await harness.request(.get, "/v1/tenants")
            #expect(list.status == .ok)
            #expect(!String(buffer: list.body).contains("acme"))
        }
    }

    @Test("NUL is refused wherever it hides — path, query, JSON string — before it reaches the store")
    func nulRefused() async throws {
        try await Self.withRouter { harness in
            _ = try Self.problem(try await harness.request(.get, "/v1/tenants/ac%00me"), status: .badRequest)
            _ = try Self.problem(try await harness.request(.get, "/v1/inventory/devices?rack=r%00"), status: .badRequest)
            _ = try Self.problem(try await harness.request(.post, "/v1/tenants", body: #"{"name":"acme","description":"a\u0000b"}"#),
                                 status: .unprocessableContent)
            // An escaped backslash followed by the text u0000 is no NUL.
            let fine = try await harness.request(.post, "/v1/tenants", body: #"{"name":"acme","description":"a\\u0000b"}"#)
            #expect(fine.status == .created, "\(String(buffer: fine.body))")
        }
        #expect(BodyGuardMiddleware.containsEscapedNUL(Array(#""\u0000""#.utf8)))
        #expect(!BodyGuardMiddleware.containsEscapedNUL(Array(#""\\u0000""#.utf8)))
        #expect(BodyGuardMiddleware.containsEscapedNUL(Array(#""\u00001""#.utf8)))
        #expect(!BodyGuardMiddleware.containsEscapedNUL(Array(#""\u0001 \n""#.utf8)))
    }

    @Test("a known path with a method it does not answer is 405 with Allow; an unknown path stays 404")
    func methodNotAllowed() async throws {
        try await Self.withRouter { harness in
            for (method, path, allow) in [(HTTPRequest.Method.trace, "/v1/tenants", "GET, HEAD, POST"), (.delete, "/v1/tenants", "GET, HEAD, POST"),
                                          (.post, "/v1/tenants/acme", "DELETE, GET, HEAD, PATCH"), (.put, "/healthz", "GET, HEAD"),
                                          // A literal segment wins over a parameter, as in the router.
                                          (.get, "/v1/network/asns/allocate", "POST"), (.post, "/v1/network/asns/asn_x", "DELETE")] {
                let response = try await harness.request(method, path)
                let problem = try Self.problem(response, status: .methodNotAllowed)
                #expect(response.headers[.allow] == allow, "\(method) \(path): \(response.headers[.allow] ?? "no Allow")")
                #expect(problem["type"] as? String == "https://dataverket.dev/problems/method-not-allowed")
            }
            _ = try Self.problem(try await harness.request(.get, "/v1/no-such-thing"), status: .notFound)
            _ = try Self.problem(try await harness.request(.trace, "/v1/tenants/acme/nothing"), status: .notFound)
        }
    }

    @Test("malformed, wrong media type, oversized and conflicting tenants are refused with their problem; the first stays")
    func badInput() async throws {
        try await Self.withRouter { harness in
            _ = try Self.problem(try await harness.request(.post, "/v1/tenants", body: "{\"name\": "), status: .badRequest)
            _ = try Self.problem(try await harness.request(.post, "/v1/tenants", body: "name=acme", contentType: "application/x-www-form-urlencoded"),
                                 status: .unsupportedMediaType)
            let huge = "{\"name\":\"big\",\"description\":\"\(String(repeating: "x", count: 1_100_000))\"}"
            _ = try Self.problem(try await harness.request(.post, "/v1/tenants", body: huge), status: .contentTooLarge)
            _ = try Self.problem(try await harness.request(.post, "/v1/tenants", body: #"{"name":"Not_A_Label"}"#), status: .unprocessableContent)
            #expect(try await harness.request(.post, "/v1/tenants", body: #"{"name":"acme"}"#).status == .created)
            _ = try Self.problem(try await harness.request(.post, "/v1/tenants", body: #"{"name":"acme"}"#), status: .conflict)
            _ = try Self.problem(try await harness.request(.get, "/v1/tenants?limit=1001"), status: .unprocessableContent)
            _ = try Self.problem(try await harness.request(.get, "/v1/tenants?cursor=not-a-cursor"), status: .badRequest)
            let list = try await harness.request(.get, "/v1/tenants?limit=1000")
            #expect(list.status == .ok)
            #expect(String(buffer: list.body).contains("\"acme\""))
            #expect(!String(buffer: list.body).contains("\"big\""))
        }
    }

    @Test("a role binding through the API is audited in its own transaction, under the request's correlation ID")
    func roleBindingAudited() async throws {
        try await Self.withRouter { harness in
            let created = try await harness.request(.post, "/v1/identity/role-bindings", body: #"{"subject":"user:kari","role":"viewer"}"#,
                                                    headers: ["X-Correlation-ID": "router-corr-1"])
            #expect(created.status == .created, "\(String(buffer: created.body))")
            let records = try await AuditLog(database: harness.database).list(AuditFilter(action: "role.bind"), limit: 10, cursor: nil).items
            #expect(records.count == 1)
            #expect(records.first?.actor == "user:router-admin")
            #expect(records.first?.correlationID == "router-corr-1")
            _ = try Self.problem(try await harness.request(.post, "/v1/identity/role-bindings", body: #"{"subject":"nobody","role":"viewer"}"#),
                                 status: .unprocessableContent)
            #expect(try await AuditLog(database: harness.database).list(AuditFilter(action: "role.bind"), limit: 10, cursor: nil).items.count == 1,
                    "a refused binding leaves no audit record")
        }
    }
}
