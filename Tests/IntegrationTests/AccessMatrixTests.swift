import Crypto
import DataverketBus
import DataverketCore
@testable import DataverketServer
import DataverketTestSupport
import Foundation
import Identitet
import Maskin
import Nett
import NIOHTTP1
import Sentral
import Testing
import Yams

/// The OpenAPI document.
let openAPIPath = repositoryPath("Sources/DataverketAPI/openapi.yaml")

/// One operation of the OpenAPI document.
struct APIOperation: Sendable {
    let id: String
    /// `GET`, `POST`, `PATCH`, `DELETE`, …
    let method: String
    /// The path template, e.g. `/v1/tenants/{tenant}`.
    let path: String
    /// Whether it takes `If-Match` (the tenancy updates, where it is required, and deletes).
    let takesIfMatch: Bool
    /// The media type of its request body; nil when it has none.
    let bodyType: String?
}

enum APIDocument {
    /// Every operation of the document, in document order.
    static func operations() throws -> [APIOperation] {
        let document = try #require(try Yams.compose(yaml: String(contentsOfFile: openAPIPath, encoding: .utf8)))
        let paths = try #require(document["paths"]?.mapping, "the document has paths")
        var operations: [APIOperation] = []
        for (path, item) in paths {
            let template = try #require(path.string)
            let shared = item["parameters"]?.sequence.map { Array($0) } ?? []
            for (method, operation) in try #require(item.mapping, "\(template)") {
                guard let method = method.string, ["get", "put", "post", "patch", "delete"].contains(method) else { continue }
                let parameters = shared + (operation["parameters"]?.sequence.map { Array($0) } ?? [])
                operations.append(APIOperation(
                    id: try #require(operation["operationId"]?.string, "\(method) \(template) has an operationId"),
                    method: method.uppercased(), path: template,
                    takesIfMatch: parameters.contains { $0["$ref"]?.string?.hasPrefix("#/components/parameters/IfMatch") == true },
                    bodyType: operation["requestBody"]?["content"]?.mapping?.keys.first?.string))
            }
        }
        return operations
    }
}

/// What each operation needs, written down apart from `AccessPolicy.rules` (the table under test) and
/// `TenancyAccess` (the tenancy checks under test). `IdentityTests.accessMatrix` compares the rule table with
/// it in-process; `AccessMatrixTests` compares the server's answers over HTTP with it.
enum ExpectedAccess {
    /// No credential needed: probes, discovery, and the endpoints that exchange credentials.
    static let open: Set<String> = ["getHealth", "getReadiness", "getMetrics", "getOpenIDConfiguration", "getJWKS", "createToken",
                                    "revokeToken", "startDeviceAuthorization", "showDeviceVerification",
                                    "beginDeviceVerification", "completeDeviceVerification"]
    /// Any valid credential, whatever its roles.
    static let authenticated: Set<String> = ["whoAmI"]
    /// Reading platform state: viewer, operator and platform-admin at platform scope.
    static let platformReads: Set<String> = [
        "listServiceHealth", "listTasks", "getTask", "listAudit",
        "exportInventory", "listInventoryDevices", "getInventoryDevice", "traceInventoryCable", "getRackElevation",
        "getInventoryCapacity", "listInventoryDrift", "listInventoryApprovals", "getInventoryApproval",
        "listMachines", "getMachine", "listDiscoveredMachines",
        "listNetworkPrefixes", "listNetworkAddresses", "planNetworkIntent",
        "listNetworkVRFs", "getNetworkVRF", "getNetworkPrefix", "getNetworkAddress", "listNetworkVLANGroups",
        "listNetworkVLANs", "listNetworkASNPools", "listNetworkASNs",
        "listNetworkChangesets", "getNetworkChangeset", "listNetworkDrift", "listNetworkDNS",
        "listNetworkDevices", "getNetworkDevice",
    ]
    /// Running things: operator and platform-admin.
    static let operate: Set<String> = [
        "createTask", "cancelTask", "applyInventory", "createInventoryObservation", "approveInventoryChange",
        "rejectInventoryChange", "enrollMachine", "actOnMachine", "powerMachine",
        "createNetworkPrefix", "allocateNetworkPrefix", "allocateNetworkAddress", "releaseNetworkAddress",
        "createNetworkVRF", "deleteNetworkVRF", "deleteNetworkPrefix", "createNetworkAddress",
        "createNetworkVLANGroup", "createNetworkVLAN", "allocateNetworkVLAN", "releaseNetworkVLAN",
        "createNetworkASNPool", "allocateNetworkASN", "releaseNetworkASN",
        "createNetworkChangeset", "remediateNetworkDrift", "acceptNetworkDrift",
    ]
    /// Platform-admin only: who may do what, new tenants, approving network changesets.
    static let administer: Set<String> = [
        "createTenant", "approveNetworkChangeset",
        "listRoleBindings", "createRoleBinding", "deleteRoleBinding", "listServiceAccounts", "createServiceAccount",
        "createAPIKey", "revokeAPIKey",
    ]
    /// Tenancy below the tenant list: platform roles as `platformReads` (reads) or `administer` (the rest); roles
    /// bound at a tenant or project get what `TenancyNeed.expectation` says.
    static let tenancy: [String: TenancyNeed] = [
        "listTenants": .init(.read, .tenants),
        "getTenant": .init(.read, .tenant), "updateTenant": .init(.write, .tenant), "deleteTenant": .init(.delete, .tenant),
        "listProjects": .init(.read, .projects), "createProject": .init(.write, .projects),
        "getProject": .init(.read, .project), "updateProject": .init(.write, .project), "deleteProject": .init(.delete, .project),
        "listEnvironments": .init(.read, .project), "createEnvironment": .init(.write, .project),
        "getEnvironment": .init(.read, .project), "updateEnvironment": .init(.write, .project),
        "deleteEnvironment": .init(.delete, .project),
    ]

    /// Everything a platform viewer may call beyond `open` and `authenticated`.
    static var reads: Set<String> { platformReads.union(tenancy.filter { $0.value.kind == .read }.keys) }
    static var all: Set<String> {
        open.union(authenticated).union(platformReads).union(operate).union(administer).union(tenancy.keys)
    }
}

/// What a tenancy operation does, and to what.
struct TenancyNeed: Sendable {
    enum Kind: Sendable { case read, write, delete }
    /// The tenant list; one tenant itself; a tenant's projects (listing, creating); one project and its environments.
    enum Target: Sendable { case tenants, tenant, projects, project }
    let kind: Kind
    let target: Target
    init(_ kind: Kind, _ target: Target) {
        self.kind = kind
        self.target = target
    }

    /// The answer to `role`, bound at `scope`, on tenant A (or its project `web`), as ADR 007 and `TenancyAccess`
    /// promise: the tenant list always (filtered); from the other tenant, nothing exists (404); at A, reads, and
    /// what the role may change (403 otherwise). A tenant itself is deleted by platform-admins only.
    func expectation(_ role: Role, at scope: AccessMatrixTests.Scope) -> AccessMatrixTests.Expectation {
        if target == .tenants { return .success }
        guard scope.home == .a else { return .hidden }
        let atTenant: Role? = scope.isProject ? nil : role
        let atProject: Role? = scope.isProject ? role : nil
        func among(_ role: Role?, _ roles: Set<Role>) -> Bool { role.map { roles.contains($0) } ?? false }
        let granted = switch (kind, target) {
        case (.read, _): true
        case (.write, .tenant): atTenant == .tenantAdmin
        case (.write, .projects): among(atTenant, [.tenantAdmin, .member])
        case (.write, _): among(atTenant, [.tenantAdmin, .member]) || among(atProject, [.projectAdmin, .member])
        case (.delete, .project): atTenant == .tenantAdmin || atProject == .projectAdmin
        case (.delete, _): false
        }
        return granted ? .success : .forbidden
    }
}

/// Issue 16 §2: every operation of the OpenAPI document, over HTTP (router mode, SQLite), for every kind of caller —
/// no token, a tampered token, each platform role, and each tenant role bound at tenant A (plus a project-admin of
/// A's project) or at tenant B — always on tenant A's resources. Each answer is compared with `ExpectedAccess`; the
/// matrix of answers is `docs/access-matrix.md`, which the test checks (or, with `DV_WRITE_ACCESS_MATRIX=1`, writes).
///
/// "Editor" of a tenant is the role `member`: it creates and changes the tenant's projects and environments but may
/// not change the tenant itself or delete anything (tenant-admin may; `Role.all` has no other tenant-level role).
@Suite("Access matrix")
struct AccessMatrixTests {
    /// Where a caller's role is bound: a tenant, or that tenant's project `web`.
    struct Scope: Sendable {
        enum Home: String, Sendable { case a = "A", b = "B" }
        let home: Home
        let isProject: Bool
        static func tenant(_ home: Home) -> Scope { Scope(home: home, isProject: false) }
        static func project(_ home: Home) -> Scope { Scope(home: home, isProject: true) }
    }

    enum Credential: Sendable {
        case none, tampered, platform(Role), scoped(Role, Scope)
    }

    struct Caller: Sendable {
        let label: String
        let credential: Credential
        init(_ label: String, _ credential: Credential) {
            self.label = label
            self.credential = credential
        }
        var isViewer: Bool {
            switch credential {
            case .platform(let role), .scoped(let role, _): role == .viewer
            case .none, .tampered: false
            }
        }
        var scope: Scope? {
            if case .scoped(_, let scope) = credential { return scope }
            return nil
        }
    }

    static let callers: [Caller] = [
        Caller("no token", .none), Caller("tampered", .tampered),
        Caller("platform-admin", .platform(.platformAdmin)), Caller("operator", .platform(.operator)), Caller("viewer", .platform(.viewer)),
        Caller("A tenant-admin", .scoped(.tenantAdmin, .tenant(.a))), Caller("A member", .scoped(.member, .tenant(.a))),
        Caller("A viewer", .scoped(.viewer, .tenant(.a))), Caller("A/web project-admin", .scoped(.projectAdmin, .project(.a))),
        Caller("B tenant-admin", .scoped(.tenantAdmin, .tenant(.b))), Caller("B member", .scoped(.member, .tenant(.b))),
        Caller("B viewer", .scoped(.viewer, .tenant(.b))), Caller("B/web project-admin", .scoped(.projectAdmin, .project(.b))),
    ]

    /// What an answer must be.
    enum Expectation: Sendable, CustomStringConvertible {
        /// 401, 403, 404 (the resource is invisible to the caller), 2xx.
        case unauthenticated, forbidden, hidden, success
        /// Past authorization: anything but 401, 403, 429 and 5xx (2xx, a validation error, a 404 for a made-up id, a conflict).
        case admitted

        func holds(_ status: Int) -> Bool {
            switch self {
            case .unauthenticated: status == 401
            case .forbidden: status == 403
            case .hidden: status == 404
            case .success: (200..<300).contains(status)
            case .admitted: ![401, 403, 429].contains(status) && status < 500
            }
        }

        var description: String {
            switch self {
            case .unauthenticated: "401"
            case .forbidden: "403"
            case .hidden: "404"
            case .success: "2xx"
            case .admitted: "past authorization"
            }
        }
    }

    /// What `credential` must get from `operation` on tenant A's resources.
    static func expectation(_ operation: String, _ credential: Credential) -> Expectation {
        let access = ExpectedAccess.self
        if access.open.contains(operation) { return .admitted }
        switch credential {
        case .none, .tampered:
            return .unauthenticated
        case .platform(let role):
            let reads = access.authenticated.union(access.reads)
            return switch role {
            case .platformAdmin: .admitted
            case .operator: reads.union(access.operate).contains(operation) ? .admitted : .forbidden
            case .viewer: reads.contains(operation) ? .admitted : .forbidden
            default: access.authenticated.contains(operation) ? .admitted : .forbidden
            }
        case .scoped(let role, let scope):
            if access.authenticated.contains(operation) { return .admitted }
            return access.tenancy[operation]?.expectation(role, at: scope) ?? .forbidden
        }
    }

    /// POSTs that change nothing, which a viewer may therefore call: a plan is computed and returned.
    static let readOnlyPosts: Set<String> = ["planNetworkIntent"]

    /// Made-up values for path parameters outside tenancy (a 404 is as good an answer as any once authorized).
    static let madeUp: [String: String] = [
        "binding": "rb_01M8000000000000000000000Z", "account": "matrix-ghost", "key": "key_01M8000000000000000000000Z",
        "task": "tsk_01M8000000000000000000000Z", "machine": "ghost", "address": "10.99.0.1", "vrf": "ghost",
        "prefix": "10.99.0.0%2F24", "vlan": "4000", "asn": "65099", "changeset": "chg_01M8000000000000000000000Z",
        "device": "osl1-spine9", "interface": "eth0", "rack": "ghost", "approval": "apr_01M8000000000000000000000Z",
    ]

    /// A request body: a valid one where that is cheap (the tenancy operations, so that what the roles may do
    /// succeeds), otherwise an empty object; authorization is decided before the body is read.
    static func body(_ operation: APIOperation, round: Int) -> String? {
        guard let type = operation.bodyType else { return nil }
        if type == "application/x-www-form-urlencoded" { return "userCode=BCDF-GHJK" }
        return switch operation.id {
        case "createTenant": #"{"name":"made-\#(round)"}"#
        case "createProject", "createEnvironment": #"{"name":"matrix"}"#
        case "updateTenant", "updateProject", "updateEnvironment": #"{"description":"access matrix"}"#
        case "createTask": #"{"kind":"noop"}"#
        case "createServiceAccount": #"{"name":"matrix-\#(round)"}"#
        case "createRoleBinding": #"{"subject":"user:matrix-probe","role":"viewer"}"#
        default: "{}"
        }
    }

    /// Reads first, then writes, deletes last and deepest first, so that every caller finds A as it was made.
    static func callOrder(_ operations: [APIOperation]) -> [APIOperation] {
        func rank(_ operation: APIOperation) -> Int {
            switch operation.method {
            case "GET": 0
            case "DELETE": 100 - operation.path.split(separator: "/").count
            default: 1
            }
        }
        return operations.enumerated().sorted { (rank($0.element), $0.offset) < (rank($1.element), $1.offset) }.map(\.element)
    }

    /// The status class a matrix cell shows.
    static func cell(_ status: Int) -> String {
        [401, 403, 404].contains(status) ? "\(status)" : "\(status / 100)xx"
    }

    @Test("every operation × every caller over HTTP: 401 without a valid token, 403 where no role grants it, nothing across tenants, no 5xx")
    func everyOperationEveryCaller() async throws {
        let operations = try APIDocument.operations()
        #expect(Set(operations.map(\.id)) == ExpectedAccess.all, "an expectation for every operation, and none for others")
        #expect(Set(operations.map(\.id)).count == operations.count, "each operationId once")

        try await Self.withEveryPlane { server in
            // Answers per operation id, one per caller in `callers` order.
            var answers: [String: [Int]] = [:]
            for (round, caller) in Self.callers.enumerated() {
                // Fresh tenants A and B (each with project web and environment prod) for every caller: one caller's
                // deletes do not change what the next one finds.
                let a = try await Self.tenant(server, "acme-\(round)")
                let b = try await Self.tenant(server, "bolt-\(round)")
                let authorization: String
                switch caller.credential {
                case .none:
                    authorization = ""
                case .tampered:
                    authorization = "Bearer " + tamperedSignature(server.token)
                case .platform(let role):
                    authorization = "Bearer " + (try await server.token(for: "user:matrix-\(round)", roles: [role]))
                case .scoped(let role, let scope):
                    let home = scope.home == .a ? a : b
                    authorization = "Bearer " + (try await server.token(
                        for: "user:matrix-\(round)", roles: [role], scopeKind: scope.isProject ? "project" : "tenant",
                        scopeID: scope.isProject ? home.project : home.tenant))
                    // The tenant list shows the caller its own tenant and no other.
                    let listed = try await server.raw(.GET, "/v1/tenants?limit=1000", headers: ["Authorization": authorization])
                    let items = (try JSONSerialization.jsonObject(with: Data(listed.body.utf8)) as? [String: Any])?["items"] as? [[String: Any]]
                    #expect(listed.status == 200 && items?.compactMap { $0["name"] as? String } == [home.name],
                            "\(caller.label) lists \(listed.body.prefix(300))")
                }

                let values = Self.madeUp.merging(["tenant": a.name, "project": "web", "environment": "prod"]) { $1 }
                for operation in Self.callOrder(operations) {
                    var path = operation.path
                    for (name, value) in values {
                        path = path.replacingOccurrences(of: "{\(name)}", with: value)
                    }
                    #expect(!path.contains("{"), "a value for every path parameter of \(operation.path)")
                    var headers = ["Authorization": authorization]
                    if operation.takesIfMatch { headers["If-Match"] = "*" }
                    let response = try await server.raw(HTTPMethod(rawValue: operation.method), path, body: Self.body(operation, round: round),
                                                        headers: headers, contentType: operation.bodyType ?? "application/json")
                    let status = response.status
                    answers[operation.id, default: []].append(status)

                    let call = "\(caller.label): \(operation.method) \(path) (\(operation.id)) answered \(status) \(response.body.prefix(300))"
                    let expected = Self.expectation(operation.id, caller.credential)
                    #expect(expected.holds(status), "expected \(expected): \(call)")
                    // The invariants on their own, whatever the expectation above says.
                    #expect(status < 500, "no 5xx: \(call)")
                    let success = (200..<300).contains(status)
                    if caller.scope?.home == .b, path.hasPrefix("/v1/tenants/\(a.name)") {
                        #expect(!success, "a role in tenant B succeeded on tenant A: \(call)")
                    }
                    if caller.isViewer, operation.method != "GET", !ExpectedAccess.open.contains(operation.id),
                       !Self.readOnlyPosts.contains(operation.id) {
                        #expect(!success, "a viewer changed something: \(call)")
                    }
                }
            }
            try Self.check(Self.document(operations, answers))
        }
    }

    /// A tenant with project `web` and its environment `prod`: the name and the IDs role bindings name.
    static func tenant(_ server: TestServer, _ name: String) async throws -> (name: String, tenant: String, project: String) {
        let tenancy = server.sentral.tenancy
        let tenant = try await tenancy.createTenant(.init(name: name), context: testContext).0
        let project = try await tenancy.createProject(tenant: name, .init(name: "web"), context: testContext).0
        _ = try await tenancy.createEnvironment(tenant: name, project: "web", .init(name: "prod"), context: testContext)
        return (name, tenant.fields.id, project.fields.id)
    }

    /// A router-mode server on SQLite with the planes the API serves wired in — Maskin, Nett with devices that never
    /// answer, single sign-on with a provider that is never reached — so that every operation gets past its plane
    /// (DNS is not configured: its list answers empty, saying so). No task runner: project deletions stay queued, and the answers do not depend on timing.
    static func withEveryPlane(_ body: @Sendable @escaping (TestServer) async throws -> Void) async throws {
        let bus = InProcessBus(logger: quietLogger)
        try await bus.provision()
        try await withDatabase(.sqlite) { database in
            let sentral = ControlPlane(database: database, bus: bus)
            let maskin = MaskinPlane(sentral: sentral, sealingKey: SymmetricKey(size: .bits256),
                                     boot: BootConfiguration(publicURL: "http://127.0.0.1:9"),
                                     connector: BMCConnector(httpClient: .shared, logger: quietLogger), logger: quietLogger)
            let nett = NettPlane(sentral: sentral, devices: NetworkChangesetAPITests.unreachableDevices(), logger: quietLogger)
            let upstream = UpstreamIdentityProvider(issuer: "http://127.0.0.1:9", clientID: "dataverket-matrix", clientSecret: "unused")
            try await runServer(sentral, mode: .router, worker: false, bus: bus, maskin: maskin, nett: nett, upstream: upstream, body)
        }
    }

    static let documentPath = repositoryPath("docs/access-matrix.md")

    /// The matrix as Markdown: one row per operation in document order, one column per caller.
    static func document(_ operations: [APIOperation], _ answers: [String: [Int]]) -> String {
        var lines = [
            "# Access matrix",
            "",
            "Every operation of [the OpenAPI document](../openapi/dataverket.yaml), called over HTTP by every kind of caller, and",
            "the class of each answer. Written by `Tests/IntegrationTests/AccessMatrixTests.swift`, which also checks",
            "every answer against what the access rules promise (`ExpectedAccess` there): do not edit by hand. The test fails",
            "when the server answers differently from this file; after an intended change, regenerate it with",
            "`DV_WRITE_ACCESS_MATRIX=1 swift test --filter AccessMatrix` and review the diff.",
            "",
            "Every caller acts on tenant A's resources (A, its project `web`, its environment `prod`; made-up IDs elsewhere),",
            "on a fresh A and B of its own, in the order reads, writes, deletes. The server runs in router mode on SQLite with",
            "Maskin, Nett and single sign-on wired in but no task runner and no PowerDNS.",
            "",
            "Callers: **no token**; **tampered** (a platform-admin's token with one signature character changed);",
            "**platform-admin**, **operator**, **viewer** bound at platform scope; **A …** a role bound at tenant A",
            "(`member` is the editor: it changes A's projects and environments, not A itself, and deletes nothing);",
            "**A/web project-admin** bound at A's project `web`; **B …** the same roles bound in tenant B.",
            "",
            "Cells: `2xx` success; `401` no valid credential; `403` the caller's roles do not allow it; `404` not found — for",
            "tenancy, what the caller may not see; `4xx` another client error, after authorization (validation, conflict);",
            "No operation answers `5xx` (DNS runs without PowerDNS here: its list is empty, saying it is not configured).",
            "",
        ]
        lines.append("| operation | rule | " + callers.map(\.label).joined(separator: " | ") + " |")
        lines.append("|---|---|" + String(repeating: "---|", count: callers.count))
        for operation in operations {
            let cells = (answers[operation.id] ?? []).map(cell)
            let rule = AccessPolicy.rules[operation.id]?.name ?? "none"
            lines.append("| `\(operation.method) \(operation.path)` \(operation.id) | \(rule) | " + cells.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes the matrix with `DV_WRITE_ACCESS_MATRIX=1`; otherwise checks that the committed one is the same.
    static func check(_ document: String) throws {
        if ProcessInfo.processInfo.environment["DV_WRITE_ACCESS_MATRIX"] == "1" {
            try document.write(toFile: documentPath, atomically: true, encoding: .utf8)
            return
        }
        let committed = (try? String(contentsOfFile: documentPath, encoding: .utf8)) ?? ""
        guard committed != document else { return }
        let (old, new) = (committed.split(separator: "\n"), document.split(separator: "\n"))
        let changed = zip(old, new).filter { $0 != $1 }.prefix(10).map { "committed: \($0)\n   server: \($1)" }
        Issue.record("""
            docs/access-matrix.md differs from the server's answers (\(old.count) lines committed, \(new.count) now); \
            regenerate it with DV_WRITE_ACCESS_MATRIX=1 if the change is intended:
            \(changed.joined(separator: "\n"))
            """)
    }
}
