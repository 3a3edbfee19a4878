import DataverketAPI
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
        #expect(RequestShapeMiddleware.containsEscapedNUL(Array(#""\u0000""#.utf8)))
        #expect(!RequestShapeMiddleware.containsEscapedNUL(Array(#""\\u0000""#.utf8)))
        #expect(RequestShapeMiddleware.containsEscapedNUL(Array(#""\u00001""#.utf8)))
        #expect(!RequestShapeMiddleware.containsEscapedNUL(Array(#""\u0001 \n""#.utf8)))
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

    @Test("the credential is checked before what the request says: 401 whatever else is wrong with it, 405 before either")
    func authenticationFirst() async throws {
        try await Self.withRouter { harness in
            for (method, uri, body, contentType) in [
                (HTTPRequest.Method.get, "/v1/audit?resource=a%00b&limit=0.5", nil, "application/json"),
                (.get, "/v1/inventory/drift?staleAfter=31536001", nil, "application/json"),
                (.post, "/v1/tenants", "{\"name\": ", "application/json"),
                (.post, "/v1/tenants", "name=acme", "application/x-www-form-urlencoded"),
                (.post, "/v1/tenants", #"{"name":"acme","description":null}"#, "application/json"),
                (.patch, "/v1/tenants/acme", #"{"description":"x"}"#, "application/json"),
            ] as [(HTTPRequest.Method, String, String?, String)] {
                let problem = try Self.problem(try await harness.request(method, uri, body: body, token: "", contentType: contentType),
                                               status: .unauthorized)
                #expect(problem["type"] as? String == "https://dataverket.dev/problems/unauthenticated", "\(method) \(uri)")
            }
            // A method the path does not have is 405 whatever the query holds.
            _ = try Self.problem(try await harness.request(.trace, "/v1/audit?resource=a%00b"), status: .methodNotAllowed)
            // With the credential, the same requests get what is wrong with them.
            _ = try Self.problem(try await harness.request(.get, "/v1/audit?resource=a%00b"), status: .badRequest)
            _ = try Self.problem(try await harness.request(.patch, "/v1/tenants/acme", body: #"{"description":"x"}"#), status: .init(code: 428))
        }
    }

    @Test("If-Match is decoded as the generated clients encode it; an empty or undecodable one is malformed, not ignored")
    func ifMatchAsSent() async throws {
        try await Self.withRouter { harness in
            #expect(try await harness.request(.post, "/v1/tenants", body: #"{"name":"acme"}"#).status == .created)
            for garbled in ["", "a% b", "%2"] {
                _ = try Self.problem(try await harness.request(.delete, "/v1/tenants/acme", headers: ["If-Match": garbled]), status: .badRequest)
                _ = try Self.problem(try await harness.request(.patch, "/v1/tenants/acme", body: #"{"description":"x"}"#, headers: ["If-Match": garbled]),
                                     status: .badRequest)
            }
            #expect(try await harness.request(.get, "/v1/tenants/acme").status == .ok, "no garbled precondition deleted it")
            // `"1"` percent-encoded, as the generated Swift client sends it.
            #expect(try await harness.request(.patch, "/v1/tenants/acme", body: #"{"description":"x"}"#, headers: ["If-Match": "%221%22"]).status == .ok)
            #expect(try await harness.request(.delete, "/v1/tenants/acme", headers: ["If-Match": "%222%22"]).status == .noContent)
        }
    }

    @Test("null is no value in this API: refused anywhere in a body, every one named; an absent field is fine")
    func nullRefused() async throws {
        try await Self.withRouter { harness in
            let nested = try Self.problem(try await harness.request(.post, "/v1/inventory/observations", body: """
                {"source":"lldp","serial":"s1","interfaces":[{"name":"eth0","neighbor":null},{"name":"eth1","mac":null}]}
                """), status: .unprocessableContent)
            #expect((nested["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String }
                == ["interfaces[0].neighbor", "interfaces[1].mac"])
            for body in [#"{"name":"acme","description":null}"#, "null", #"{"name":"acme","labels":{"a":null}}"#] {
                let problem = try Self.problem(try await harness.request(.post, "/v1/tenants", body: body), status: .unprocessableContent)
                #expect((problem["detail"] as? String)?.contains("null is not a value in this API") == true, "\(body)")
            }
            for (uri, body) in [("/v1/identity/service-accounts", #"{"name":"ci","description":null}"#),
                                ("/v1/network/vrfs", #"{"name":"red","description":null}"#),
                                ("/v1/network/asn-pools", #"{"name":"p","first":1,"last":2,"description":null}"#),
                                ("/v1/network/vlan-groups", #"{"name":"g","minVID":1,"maxVID":2,"description":null}"#),
                                ("/v1/network/prefixes", #"{"prefix":"10.0.0.0/8","vrf":null}"#),
                                ("/v1/inventory/apply", #"{"files":[{"name":"a.yaml","content":""}],"reason":null}"#),
                                ("/v1/tasks", #"{"kind":"saga-demo","failAtStep":null}"#)] {
                _ = try Self.problem(try await harness.request(.post, uri, body: body), status: .unprocessableContent)
            }
            // Nothing was made of them; left out, the same fields are fine.
            #expect(try await harness.request(.get, "/v1/tenants/acme").status == .notFound)
            #expect(try await harness.request(.post, "/v1/tenants", body: #"{"name":"acme"}"#).status == .created)
            // "null" inside a string is text, not null.
            #expect(try await harness.request(.post, "/v1/tenants", body: #"{"name":"beta","description":"null"}"#).status == .created)
        }
        #expect(throws: DataverketError.self) { try RequestShapeMiddleware.refuseNulls(NSNull()) }
        #expect(throws: Never.self) { try RequestShapeMiddleware.refuseNulls(["a": [1, "null", ["b": false]]] as [String: Any]) }
    }

    @Test("query values outside the document's bounds are 422 with what the bound is; the bounds themselves are fine")
    func queryBounds() async throws {
        try await Self.withRouter { harness in
            let long64 = String(repeating: "d", count: 64), long63 = String(repeating: "d", count: 63)
            let refused = [
                "/v1/inventory/drift?staleAfter=31536001", "/v1/inventory/drift?staleAfter=0", "/v1/inventory/drift?datacenter=\(long64)",
                "/v1/inventory/drift?device=\(long64)", "/v1/inventory/export?datacenter=\(long64)",
                "/v1/inventory/export?kind=devices&name=\(String(repeating: "n", count: 201))", "/v1/inventory/capacity?datacenter=\(long64)",
                "/v1/inventory/devices?rack=\(long64)", "/v1/inventory/devices?tag=\(long64)", "/v1/inventory/devices?pool=Not_A_Pool",
                "/v1/network/prefixes?vrf=\(long64)", "/v1/network/prefixes?vrf=Global", "/v1/network/prefixes?vrf=a_b",
                "/v1/network/addresses?vrf=-x", "/v1/network/vlans?group=x..y", "/v1/network/asns?pool=\(long64)",
                "/v1/network/prefixes/10.0.0.0%2F8?vrf=Red", "/v1/network/drift?device=\(long64)",
                "/v1/identity/role-bindings?subject=\(String(repeating: "s", count: 129))", "/v1/tasks?kind=\(String(repeating: "k", count: 129))",
                "/v1/tasks?resource=\(String(repeating: "r", count: 65))", "/v1/audit?actor=\(String(repeating: "a", count: 257))",
                "/v1/audit?action=\(String(repeating: "a", count: 129))", "/v1/audit?resource=\(String(repeating: "r", count: 65))",
            ]
            for uri in refused {
                let problem = try Self.problem(try await harness.request(.get, uri), status: .unprocessableContent)
                #expect(problem["type"] as? String == "https://dataverket.dev/problems/invalid-argument", "\(uri)")
            }
            for uri in ["/v1/inventory/drift?staleAfter=31536000&datacenter=\(long63)", "/v1/inventory/drift?staleAfter=1",
                        "/v1/inventory/export?datacenter=\(long63)", "/v1/inventory/devices?rack=\(long63)&pool=pol_01M8000000000000000000000Z",
                        "/v1/network/prefixes?vrf=global", "/v1/network/prefixes?vrf=vrf_01M8000000000000000000000Z",
                        "/v1/identity/role-bindings?subject=\(String(repeating: "s", count: 128))"] {
                let response = try await harness.request(.get, uri)
                #expect(response.status == .ok, "\(uri): \(String(buffer: response.body))")
            }
        }
    }

    @Test("body bounds the handlers check: site file names, observation sizes and counts, route targets, names (not folded)")
    func bodyBounds() async throws {
        try await Self.withRouter { harness in
            let refused: [(String, String)] = [
                ("/v1/inventory/apply", #"{"files":[{"name":"","content":""}]}"#),
                ("/v1/inventory/apply", "{\"files\":[{\"name\":\"\(String(repeating: "f", count: 513))\",\"content\":\"\"}]}"),
                ("/v1/inventory/observations", #"{"source":"bmc","serial":"s","hardware":{"disks":[{"name":"a","type":"ssd","sizeGB":-1}],"gpus":[]}}"#),
                ("/v1/inventory/observations", #"{"source":"bmc","serial":"s","hardware":{"disks":[{"name":"a","type":"ssd","sizeGB":1000000001}],"gpus":[]}}"#),
                ("/v1/inventory/observations", #"{"source":"bmc","serial":"s","hardware":{"disks":[],"gpus":[{"model":"x","count":1025}]}}"#),
                ("/v1/inventory/observations", #"{"source":"bmc","serial":"s","hardware":{"cpu":{"model":"x","sockets":65,"cores":1},"disks":[],"gpus":[]}}"#),
                ("/v1/inventory/observations", #"{"source":"lldp","serial":"s","interfaces":[{"name":""}]}"#),
                ("/v1/inventory/observations", #"{"source":"lldp","serial":""}"#),
                ("/v1/inventory/observations", #"{"source":"lldp","device":"bad_name"}"#),
                ("/v1/network/vrfs", "{\"name\":\"red\",\"importTargets\":[\((1...65).map { "\"65000:\($0)\"" }.joined(separator: ","))]}"),
                ("/v1/network/vrfs", #"{"name":"red","tenant":""}"#),
                ("/v1/network/vrfs", #"{"name":"Red"}"#),
                ("/v1/network/vlan-groups", #"{"name":"g","scope":"OSL1"}"#),
                // A timestamp with anything after it (Foundation's ISO 8601 parser took the valid prefix; the contract
                // fuzz's negative pass found it).
                ("/v1/inventory/observations", #"{"source":"bmc","device":"r","observedAt":"1364-10-08T03:17:34Z*"}"#),
                ("/v1/inventory/observations", #"{"source":"bmc","device":"r","observedAt":"2026-12-07T10:00:00"}"#),
            ]
            for (uri, body) in refused {
                let response = try await harness.request(.post, uri, body: body)
                let problem = try Self.problem(response, status: .unprocessableContent)
                #expect(problem["type"] as? String == "https://dataverket.dev/problems/invalid-argument", "\(uri) \(body.prefix(120))")
            }
            #expect(try await harness.request(.post, "/v1/network/vrfs", body: #"{"name":"red","tenant":"acme"}"#).status == .created)
            let observed = try await harness.request(.post, "/v1/inventory/observations", body: """
                {"source":"bmc","device":"Node-1","hardware":{"cpu":{"model":"x","sockets":64,"cores":100000},"disks":[{"name":"a","type":"ssd","sizeGB":1000000000}],"gpus":[{"model":"g","count":1024}]}}
                """)
            #expect(observed.status == .created, "\(String(buffer: observed.body))")
            for stamp in ["2026-12-07T10:00:00Z", "2026-12-07T10:00:00.123456Z", "2026-12-07T11:00:00+01:00"] {
                let dated = try await harness.request(.post, "/v1/inventory/observations", body: #"{"source":"bmc","device":"r","observedAt":"\#(stamp)"}"#)
                #expect(dated.status == .created, "\(stamp): \(String(buffer: dated.body))")
            }
            #expect(RFC3339DateTranscoder.date("2026-12-07T10:00:00Z ") == nil && RFC3339DateTranscoder.date("2026-12-07") == nil)
            #expect(RFC3339DateTranscoder.date("2026-12-07T10:00:00Z") == Date(timeIntervalSince1970: 1_796_637_600))
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
