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
        private init(_ name: String, _ roles: Set<Role>) {
            self.name = name
            self.roles = roles
        }
        /// No credential needed: probes, discovery, the token endpoints.
        static let anyone = Rule("anyone", [])
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
        var description: String { name }
    }

    static let rules: [String: Rule] = [
        "getHealth": .anyone, "getReadiness": .anyone, "getMetrics": .anyone,
        "getOpenIDConfiguration": .anyone, "getJWKS": .anyone, "createToken": .anyone, "revokeToken": .anyone,
        "whoAmI": .authenticated,
        "listServiceHealth": .read,
        "listTenants": .read, "getTenant": .read, "createTenant": .write, "updateTenant": .write, "deleteTenant": .destructive,
        "listProjects": .read, "getProject": .read, "createProject": .write, "updateProject": .write, "deleteProject": .destructive,
        "listEnvironments": .read, "getEnvironment": .read, "createEnvironment": .write, "updateEnvironment": .write,
        "deleteEnvironment": .destructive,
        "listTasks": .read, "getTask": .read, "createTask": .operate, "cancelTask": .operate,
        "listAudit": .read,
    ]

    /// Whether `principal` may call an operation under `rule`.
    static func allows(_ principal: Principal, _ rule: Rule) -> Bool {
        if rule == .anyone || rule == .authenticated { return true }
        return rule.roles.contains { principal.holds($0) }
    }
}

/// Authenticates the bearer token and authorizes the operation, for every generated operation. The
/// verified subject becomes the request's actor (audit records, task rows, event envelopes).
struct AccessMiddleware: ServerMiddleware {
    let identity: Identitet
    let logger: Logger

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, metadata: ServerRequestMetadata, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        guard let rule = AccessPolicy.rules[operationID] else {
            throw DataverketError(.forbidden, "operation \(operationID) has no access rule; refused")
        }
        if rule == .anyone { return try await next(request, body, metadata) }
        guard let header = request.headerFields[.authorization] else {
            throw DataverketError(.unauthenticated, "this operation needs a bearer token (Authorization: Bearer …); log in with `dvid login`")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw DataverketError(.unauthenticated, "the Authorization header must be `Bearer <token>`")
        }
        let principal = try await identity.authenticate(bearer: String(parts[1]).trimmingCharacters(in: .whitespaces))
        guard AccessPolicy.allows(principal, rule) else {
            let roles = rule.roles.map(\.name).sorted().joined(separator: ", ")
            throw DataverketError(.forbidden, "\(principal.subject) may not \(operationID): it needs one of the roles \(roles)")
        }
        var scope = RequestScope.current ?? RequestScope(correlationID: ULID.make(), sourceAddress: nil, actor: principal.subject,
                                                        logger: logger, path: "")
        scope.actor = principal.subject
        scope.principal = principal
        scope.logger[metadataKey: "actor"] = "\(principal.subject)"
        return try await RequestScope.$current.withValue(scope) {
            try await next(request, body, metadata)
        }
    }
}
