import DataverketCore
import DataverketStore
import Foundation
import JWTKit
import SQLKit
import AsyncHTTPClient

/// Who a request acts as, once its credential is verified.
public struct Principal: Sendable, Hashable {
    /// `user:<name>`, `sa:<name>` (service account) or `service:<name>`.
    public var subject: String
    /// The refresh-token family (session) the access token belongs to.
    public var session: String
    /// The groups the upstream identity provider put the user in at login (bindings of `group:<name>` are
    /// among `bindings`).
    public var groups: [String]
    public var bindings: [RoleBinding]

    public init(subject: String, session: String, groups: [String] = [], bindings: [RoleBinding]) {
        self.subject = subject
        self.session = session
        self.groups = groups
        self.bindings = bindings
    }

    /// Whether the principal holds `role` at platform scope.
    public func holds(_ role: Role) -> Bool {
        bindings.contains { $0.role == role.name && $0.scopeKind == "platform" }
    }
}

/// A platform role (DESIGN.md "Identity").
public struct Role: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    private init(_ name: String) { self.name = name }
    public static let platformAdmin = Role("platform-admin")
    public static let `operator` = Role("operator")
    public static let tenantAdmin = Role("tenant-admin")
    public static let projectAdmin = Role("project-admin")
    public static let member = Role("member")
    public static let viewer = Role("viewer")
    public static let all: [Role] = [.platformAdmin, .operator, .tenantAdmin, .projectAdmin, .member, .viewer]
    public init?(named name: String) {
        guard let role = Self.all.first(where: { $0.name == name }) else { return nil }
        self = role
    }
    public var description: String { name }
}

/// A role held by a subject at a scope: `platform` (scope id `*`), `tenant` or `project` (their ids).
public struct RoleBinding: Sendable, Hashable, Codable {
    public var id: String
    public var subject: String
    public var role: String
    public var scopeKind: String
    public var scopeID: String
}

/// What a login or refresh returns: a short-lived signed access token and an opaque refresh token.
public struct SessionTokens: Sendable, Hashable, Codable {
    public var accessToken: String
    public var refreshToken: String
    /// Seconds until the access token expires.
    public var expiresIn: Int
    public var subject: String
}

/// A public signing key as published in the JWKS (RFC 7517, EC P-256).
public struct PublicJWK: Sendable, Hashable, Codable {
    public var kty = "EC"
    public var crv = "P-256"
    public var alg = "ES256"
    public var use = "sig"
    public var kid: String
    public var x: String
    public var y: String
}

/// The claims of Dataverket's access tokens.
struct AccessClaims: JWTPayload {
    var iss: IssuerClaim
    var sub: SubjectClaim
    var aud: AudienceClaim
    var exp: ExpirationClaim
    var iat: IssuedAtClaim
    var jti: IDClaim
    /// The session (refresh-token family): revoking it revokes its access tokens too.
    var sid: String
    /// Upstream groups from the login (single sign-on only); their role bindings apply to the subject.
    var groups: [String]? = nil

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
    }
}
