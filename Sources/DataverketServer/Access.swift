import DataverketCore
import Foundation
import HTTPTypes
import Identitet
import Logging
import OpenAPIRuntime

/// What each API operation needs (DESIGN.md "Identity"). Every operation of the OpenAPI document has a
/// rule here; an operation without one is refused (fail closed) and the RBAC matrix test fails.
enum AccessPolicy {
    /// Who may call an operation.
    struct Rule: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// Platform roles that grant it.
        let roles: Set<Role>
        private init(_ name: String, _ roles: Set<Role>, scoped: Bool = false) {
            self.name = name
            self.roles = roles
            self.scoped = scoped
        }
        /// No credential needed: probes and discovery.
        static let anyone = Rule("anyone", [])
        /// No credential needed, but limited per source address: the endpoints that exchange credentials.
        static let credentialExchange = Rule("credential-exchange", [])
        /// Any valid credential.
        static let authenticated = Rule("authenticated", [])
        /// Reading platform state.
        static let read = Rule("read", [.platformAdmin, .operator, .viewer])
        /// Changing tenancy.
        static let write = Rule("write", [.platformAdmin])
        /// Deleting tenancy.
        static let destructive = Rule("destructive", [.platformAdmin])
        /// Running and steering engine tasks (built-in kinds, cancellation).
        static let operate = Rule("operate", [.platformAdmin, .operator])
        /// Who may do what: role bindings, service accounts, API keys.
        static let administer = Rule("administer", [.platformAdmin])
        /// Tenancy: platform roles as `read`/`write`/`destructive`; roles bound at a tenant or project are
        /// checked by the handler against the resource (`TenancyAccess`).
        static let tenancyRead = Rule("tenancy-read", read.roles, scoped: true)
        static let tenancyWrite = Rule("tenancy-write", write.roles, scoped: true)
        static let tenancyDestructive = Rule("tenancy-destructive", destructive.roles, scoped: true)
        /// Whether callers with tenant- or project-scoped roles get through to the handler.
        let scoped: Bool
        var description: String { name }
    }

    static let rules: [String: Rule] = [
        "getHealth": .anyone, "getReadiness": .anyone, "getMetrics": .anyone,
        "getOpenIDConfiguration": .anyone, "getJWKS": .anyone, "createToken": .credentialExchange, "revokeToken": .credentialExchange,
        "startDeviceAuthorization": .credentialExchange, "showDeviceVerification": .credentialExchange,
        "beginDeviceVerification": .credentialExchange, "completeDeviceVerification": .credentialExchange,
        "whoAmI": .authenticated,
        "listServiceHealth": .read,
        "listTenants": .tenancyRead, "getTenant": .tenancyRead, "createTenant": .write, "updateTenant": .tenancyWrite,
        "deleteTenant": .tenancyDestructive,
        "listProjects": .tenancyRead, "getProject": .tenancyRead, "createProject": .tenancyWrite, "updateProject": .tenancyWrite,
        "deleteProject": .tenancyDestructive,
        "listEnvironments": .tenancyRead, "getEnvironment": .tenancyRead, "createEnvironment": .tenancyWrite,
        "updateEnvironment": .tenancyWrite, "deleteEnvironment": .tenancyDestructive,
        "listTasks": .read, "getTask": .read, "createTask": .operate, "cancelTask": .operate,
        "listAudit": .read,
        "exportInventory": .read, "listInventoryDevices": .read, "getInventoryDevice": .read, "traceInventoryCable": .read,
        "getRackElevation": .read, "getInventoryCapacity": .read, "listInventoryDrift": .read, "listInventoryApprovals": .read,
        "getInventoryApproval": .read,
        "applyInventory": .operate, "createInventoryObservation": .operate, "approveInventoryChange": .operate,
        "rejectInventoryChange": .operate,
        "listMachines": .read, "getMachine": .read, "listDiscoveredMachines": .read,
        "enrollMachine": .operate, "actOnMachine": .operate, "powerMachine": .operate,
        "listNetworkPrefixes": .read, "listNetworkAddresses": .read, "planNetworkIntent": .read,
        "createNetworkPrefix": .operate, "allocateNetworkPrefix": .operate, "allocateNetworkAddress": .operate,
        "releaseNetworkAddress": .operate,
        "listNetworkVRFs": .read, "getNetworkVRF": .read, "getNetworkPrefix": .read, "getNetworkAddress": .read,
        "listNetworkVLANGroups": .read, "listNetworkVLANs": .read, "listNetworkASNPools": .read, "listNetworkASNs": .read,
        "createNetworkVRF": .operate, "deleteNetworkVRF": .operate, "deleteNetworkPrefix": .operate, "createNetworkAddress": .operate,
        "createNetworkVLANGroup": .operate, "createNetworkVLAN": .operate, "allocateNetworkVLAN": .operate, "releaseNetworkVLAN": .operate,
        "listNetworkChangesets": .read, "getNetworkChangeset": .read, "listNetworkDrift": .read, "listNetworkDNS": .read,
        "listNetworkDevices": .read, "getNetworkDevice": .read,
        "createNetworkChangeset": .operate, "remediateNetworkDrift": .operate, "acceptNetworkDrift": .operate,
        "approveNetworkChangeset": .administer,
        "createNetworkASNPool": .operate, "allocateNetworkASN": .operate, "releaseNetworkASN": .operate,
        "listRoleBindings": .administer, "createRoleBinding": .administer, "deleteRoleBinding": .administer,
        "listServiceAccounts": .administer, "createServiceAccount": .administer, "createAPIKey": .administer,
        "revokeAPIKey": .administer,
    ]

    /// Whether `principal` may call an operation under `rule` by its platform roles.
    static func allows(_ principal: Principal, _ rule: Rule) -> Bool {
        if rule == .anyone || rule == .credentialExchange || rule == .authenticated { return true }
        return rule.roles.contains { principal.holds($0) }
    }

    /// Whether the request goes on to the handler: platform roles grant it, or the rule is scoped and the
    /// caller holds a role at some tenant or project (the handler then checks that one).
    static func admits(_ principal: Principal, _ rule: Rule) -> Bool {
        allows(principal, rule) || (rule.scoped && principal.bindings.contains { $0.scopeKind == "tenant" || $0.scopeKind == "project" })
    }
}

/// Authenticates the bearer token and authorizes the operation, for every generated operation. The
/// verified subject becomes the request's actor (audit records, task rows, event envelopes).
struct AccessMiddleware: ServerMiddleware {
    let identity: Identitet
    let limiter: RateLimiter
    let logger: Logger

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, metadata: ServerRequestMetadata, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        guard let rule = AccessPolicy.rules[operationID] else {
            throw DataverketError(.forbidden, "operation \(operationID) has no access rule; refused")
        }
        if rule == .anyone { return try await next(request, body, metadata) }
        if rule == .credentialExchange {
            return try await limited("address:\(RequestScope.current?.sourceAddress ?? "unknown")", .anonymous, request) {
                try await next(request, body, metadata)
            }
        }
        let principal: Principal
        do {
            principal = try await authenticate(request)
        } catch {
            // Failed credentials cost the caller's address a token too: guessing is throttled like the token endpoints.
            let decision = limiter.take("address:\(RequestScope.current?.sourceAddress ?? "unknown")", .anonymous)
            if !decision.allowed {
                return Self.tooMany(request, retryAfter: decision.retryAfter, headers: [:],
                                    "too many requests with missing or invalid credentials; retry in \(decision.retryAfter) s")
            }
            throw error
        }
        guard AccessPolicy.admits(principal, rule) else {
            let roles = rule.roles.map(\.name).sorted().joined(separator: ", ")
            throw DataverketError(.forbidden, "\(principal.subject) may not \(operationID): it needs one of the roles \(roles)")
        }
        var scope = RequestScope.current ?? RequestScope(correlationID: ULID.make(), sourceAddress: nil, actor: principal.subject,
                                                        logger: logger, path: "")
        scope.actor = principal.subject
        scope.principal = principal
        scope.logger[metadataKey: "actor"] = "\(principal.subject)"
        let routeClass: RouteClass = switch request.method {
        case .get, .head: .reads
        case .delete: .destructive
        default: .writes
        }
        return try await RequestScope.$current.withValue(scope) {
            try await limited(principal.subject, routeClass, request) {
                guard routeClass == .destructive, let tenant = Self.tenant(in: request.path ?? "") else {
                    return try await next(request, body, metadata)
                }
                guard limiter.beginDestructive(tenant: tenant) else {
                    return Self.tooMany(request, retryAfter: 1, headers: [:],
                                        "tenant \(tenant) already has \(limiter.policy.concurrentDestructivePerTenant) destructive requests in flight")
                }
                do {
                    let response = try await next(request, body, metadata)
                    limiter.endDestructive(tenant: tenant)
                    return response
                } catch {
                    limiter.endDestructive(tenant: tenant)
                    throw error
                }
            }
        }
    }

    private func authenticate(_ request: HTTPRequest) async throws -> Principal {
        guard let header = request.headerFields[.authorization] else {
            throw DataverketError(.unauthenticated, "this operation needs a bearer token (Authorization: Bearer …); log in with `dvid login`")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw DataverketError(.unauthenticated, "the Authorization header must be `Bearer <token>`")
        }
        return try await identity.authenticate(credential: String(parts[1]).trimmingCharacters(in: .whitespaces))
    }

    /// Takes a token for `actor` in `routeClass`: 429 with `Retry-After` when none is left; `RateLimit-*`
    /// headers on every answer either way.
    private func limited(_ actor: String, _ routeClass: RouteClass, _ request: HTTPRequest,
                         _ body: () async throws -> (HTTPResponse, HTTPBody?)) async throws -> (HTTPResponse, HTTPBody?) {
        let decision = limiter.take(actor, routeClass)
        let headers: [HTTPField.Name: String] = [
            .rateLimitLimit: String(decision.limit), .rateLimitRemaining: String(decision.remaining), .rateLimitReset: String(decision.reset),
        ]
        guard decision.allowed else {
            return Self.tooMany(request, retryAfter: decision.retryAfter, headers: headers,
                                "\(actor) exceeded \(decision.limit) \(routeClass.rawValue) requests; retry in \(decision.retryAfter) s")
        }
        var (response, responseBody) = try await body()
        for (name, value) in headers { response.headerFields[name] = value }
        return (response, responseBody)
    }

    private static func tooMany(_ request: HTTPRequest, retryAfter: Int, headers: [HTTPField.Name: String],
                                _ message: String) -> (HTTPResponse, HTTPBody?) {
        let document = ProblemDocument(DataverketError(.rateLimited, message), instance: request.path,
                                       correlationID: RequestScope.current?.correlationID)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var response = HTTPResponse(status: .tooManyRequests)
        response.headerFields[.contentType] = "application/problem+json"
        response.headerFields[.retryAfter] = String(retryAfter)
        for (name, value) in headers { response.headerFields[name] = value }
        return (response, HTTPBody((try? encoder.encode(document)).map { Array($0) } ?? []))
    }

    /// The tenant a `/v1/tenants/{tenant}/…` path is about.
    static func tenant(in path: String) -> String? {
        let parts = path.split(separator: "?", maxSplits: 1).first?.split(separator: "/") ?? []
        guard parts.count >= 3, parts[0] == "v1", parts[1] == "tenants" else { return nil }
        return String(parts[2])
    }
}

/// A request without a body (no `Content-Type`, and no bytes announced) reaches the generated code as no body,
/// so an operation whose body is optional (an approval's note) is not refused for zero bytes that are not JSON.
struct EmptyBodyMiddleware: ServerMiddleware {
    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, metadata: ServerRequestMetadata, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        guard let body, request.headerFields[.contentType] == nil, request.headerFields[.transferEncoding] == nil,
              (request.headerFields[.contentLength] ?? "0") == "0" else {
            return try await next(request, body, metadata)
        }
        if case .known(let length) = body.length, length > 0 { return try await next(request, body, metadata) }
        return try await next(request, nil, metadata)
    }
}

extension HTTPField.Name {
    static let rateLimitLimit = HTTPField.Name("RateLimit-Limit")!
    static let rateLimitRemaining = HTTPField.Name("RateLimit-Remaining")!
    static let rateLimitReset = HTTPField.Name("RateLimit-Reset")!
}
