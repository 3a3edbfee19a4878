import AsyncHTTPClient
import Crypto
import DataverketCore
import Foundation
import JWTKit
import Logging
import NIOCore
import NIOFoundationCompat

/// The external OpenID Connect provider people log in with (ZITADEL in production): Identitet sends the
/// browser there with the authorization-code flow (PKCE and a nonce) and trusts only an ID token it verified
/// itself — issuer, audience, signature from the provider's JWKS, expiry and nonce.
public struct UpstreamIdentityProvider: Sendable, Hashable {
    /// The provider's issuer URL; its discovery document must name exactly this issuer.
    public var issuer: String
    public var clientID: String
    /// Sent with HTTP Basic authentication at the token endpoint; `nil` for a public client.
    public var clientSecret: String?
    public var scopes: [String]
    /// The ID-token claim whose value names the Dataverket user (`user:<value>`).
    public var usernameClaim: String
    /// The ID-token claim listing the user's groups (`group:<name>` bindings apply to the user). An object
    /// (as ZITADEL's project-roles claim) counts its keys.
    public var groupsClaim: String

    public init(issuer: String, clientID: String, clientSecret: String? = nil, scopes: [String] = ["openid", "profile", "email"],
                usernameClaim: String = "sub", groupsClaim: String = "groups") {
        self.issuer = issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.scopes = scopes
        self.usernameClaim = usernameClaim
        self.groupsClaim = groupsClaim
    }
}

/// Who the upstream provider says logged in, once its ID token verified.
public struct UpstreamIdentity: Sendable, Hashable {
    public var subject: String
    public var upstreamSubject: String
    public var groups: [String]
    public var email: String?
    public var name: String?
}

/// The claims Identitet checks on an upstream ID token; the username and groups claims are read from the
/// verified payload separately, because their names are configuration.
struct UpstreamIDClaims: JWTPayload {
    var iss: IssuerClaim
    var sub: SubjectClaim
    var aud: AudienceClaim
    var exp: ExpirationClaim
    var iat: IssuedAtClaim?
    var nonce: String?
    var azp: String?

    func verify(using algorithm: some JWTAlgorithm) async throws {
        // A minute of leeway for clock skew between the provider and us.
        try exp.verifyNotExpired(currentDate: Date().addingTimeInterval(-UpstreamOIDC.clockSkew))
    }
}

/// Talks to the upstream provider: discovery, JWKS, the code exchange, ID-token verification. Every request
/// is bounded in time and size.
actor UpstreamOIDC {
    static let clockSkew: TimeInterval = 60
    static let maxResponseBytes = 1 << 20
    static let requestTimeout: TimeAmount = .seconds(10)

    struct Metadata: Decodable, Sendable {
        var issuer: String
        var authorizationEndpoint: String
        var tokenEndpoint: String
        var jwksURI: String
        enum CodingKeys: String, CodingKey {
            case issuer
            case authorizationEndpoint = "authorization_endpoint"
            case tokenEndpoint = "token_endpoint"
            case jwksURI = "jwks_uri"
        }
    }

    let configuration: UpstreamIdentityProvider
    let http: HTTPClient
    private var metadata: (value: Metadata, until: ContinuousClock.Instant)?
    private var keys: (collection: JWTKeyCollection, fetched: ContinuousClock.Instant)?

    init(configuration: UpstreamIdentityProvider, http: HTTPClient) {
        self.configuration = configuration
        self.http = http
    }

    /// Trusts `collection` as the provider's keys without fetching them (tests).
    func install(keys collection: JWTKeyCollection) {
        keys = (collection, .now)
    }

    /// Where to send the browser: the provider's authorization endpoint with state, nonce and PKCE (S256).
    func authorizationURL(redirectURI: String, state: String, nonce: String, codeVerifier: String) async throws -> String {
        let endpoint = try await discover().authorizationEndpoint
        guard var components = URLComponents(string: endpoint) else {
            throw Self.failure("the identity provider's authorization endpoint is not a URL: \(endpoint)")
        }
        components.queryItems = (components.queryItems ?? []) + [
            URLQueryItem(name: "response_type", value: "code"),
            URLQueryItem(name: "client_id", value: configuration.clientID),
            URLQueryItem(name: "redirect_uri", value: redirectURI),
            URLQueryItem(name: "scope", value: configuration.scopes.joined(separator: " ")),
            URLQueryItem(name: "state", value: state),
            URLQueryItem(name: "nonce", value: nonce),
            URLQueryItem(name: "code_challenge", value: Self.codeChallenge(codeVerifier)),
            URLQueryItem(name: "code_challenge_method", value: "S256"),
        ]
        guard let url = components.string else { throw Self.failure("cannot build the authorization URL") }
        return url
    }

    /// Exchanges an authorization code for the provider's ID token (the access token is not used).
    func exchange(code: String, redirectURI: String, codeVerifier: String) async throws -> String {
        let endpoint = try await discover().tokenEndpoint
        var form = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI), ("code_verifier", codeVerifier)]
        var request = HTTPClientRequest(url: endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        if let secret = configuration.clientSecret {
            let credentials = Self.formEncode(configuration.clientID) + ":" + Self.formEncode(secret)
            request.headers.add(name: "Authorization", value: "Basic " + Data(credentials.utf8).base64EncodedString())
        } else {
            form.append(("client_id", configuration.clientID))
        }
        request.body = .bytes(ByteBuffer(string: form.map { Self.formEncode($0.0) + "=" + Self.formEncode($0.1) }.joined(separator: "&")))
        let (status, body) = try await send(request)
        struct TokenResponse: Decodable { var id_token: String?; var error: String?; var error_description: String? }
        let response = try? JSONDecoder().decode(TokenResponse.self, from: body)
        guard status == 200, let idToken = response?.id_token else {
            let reason = [response?.error, response?.error_description].compactMap { $0 }.joined(separator: ": ")
            throw Self.failure("the identity provider refused the code exchange (HTTP \(status)\(reason.isEmpty ? "" : ", \(reason)"))")
        }
        return idToken
    }

    /// Verifies an ID token — signature from the provider's JWKS, issuer, audience (and `azp` when there are
    /// several), expiry, nonce — and maps it to a Dataverket user and groups.
    func verify(idToken: String, nonce expectedNonce: String) async throws -> UpstreamIdentity {
        guard idToken.utf8.count <= 16_384 else { throw Self.denied("the ID token is too long") }
        let claims = try await verifySignature(idToken)
        guard claims.iss.value == configuration.issuer else {
            throw Self.denied("the ID token was issued by \(claims.iss.value), not \(configuration.issuer)")
        }
        guard claims.aud.value.contains(configuration.clientID) else { throw Self.denied("the ID token is not for client \(configuration.clientID)") }
        if claims.aud.value.count > 1, claims.azp != configuration.clientID {
            throw Self.denied("the ID token has several audiences and its authorized party is not \(configuration.clientID)")
        }
        if let iat = claims.iat?.value, iat.timeIntervalSinceNow > Self.clockSkew { throw Self.denied("the ID token was issued in the future") }
        guard let nonce = claims.nonce, Self.constantTimeEqual(nonce, expectedNonce) else {
            throw Self.denied("the ID token's nonce does not match this login (replayed or mixed-up response)")
        }
        return try map(payload: try Self.payload(of: idToken), upstreamSubject: claims.sub.value)
    }

    func map(payload: [String: any Sendable], upstreamSubject: String) throws -> UpstreamIdentity {
        guard let username = payload[configuration.usernameClaim] as? String else {
            throw Self.denied("the ID token has no \(configuration.usernameClaim) claim to name the user by")
        }
        let subject = "user:" + username
        do {
            try Identitet.validate(subject: subject, scopeKind: "platform", scopeID: "*")
        } catch {
            throw Self.denied("the user name '\(username)' from claim \(configuration.usernameClaim) is not usable (letters, digits, - _ . @; at most 123 characters)")
        }
        let rawGroups: [String]
        switch payload[configuration.groupsClaim] {
        case let list as [Any]: rawGroups = list.compactMap { $0 as? String }
        case let single as String: rawGroups = [single]
        case let object as [String: Any]: rawGroups = Array(object.keys)
        default: rawGroups = []
        }
        let groups = Set(rawGroups).filter { (try? Identitet.validate(subject: "group:" + $0, scopeKind: "platform", scopeID: "*")) != nil }
        return UpstreamIdentity(subject: subject, upstreamSubject: upstreamSubject, groups: groups.sorted(),
                                email: payload["email"] as? String, name: payload["name"] as? String)
    }

    /// Asymmetric algorithms only: a provider's JWKS may omit `alg`, and then the token's header picks it.
    static let acceptedAlgorithms: Set<String> = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]

    private func verifySignature(_ token: String) async throws -> UpstreamIDClaims {
        let header = token.split(separator: ".", maxSplits: 1).first.flatMap { Self.base64URLDecode(String($0)) }
            .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        guard let algorithm = header?["alg"] as? String, Self.acceptedAlgorithms.contains(algorithm) else {
            throw Self.denied("the ID token is not signed with an accepted algorithm (\(Self.acceptedAlgorithms.sorted().joined(separator: ", ")))")
        }
        let collection = try await jwks(refresh: false)
        do {
            return try await collection.verify(token, as: UpstreamIDClaims.self)
        } catch let error as JWTError where error.errorType == .unknownKID {
            // The provider may have rotated its keys: fetch them again (at most every 30 s) and retry once.
            do {
                return try await jwks(refresh: true).verify(token, as: UpstreamIDClaims.self)
            } catch {
                throw Self.explain(error)
            }
        } catch {
            throw Self.explain(error)
        }
    }

    private static func explain(_ error: any Error) -> DataverketError {
        if let error = error as? DataverketError { return error }
        if let jwt = error as? JWTError {
            switch jwt.errorType {
            case .claimVerificationFailure: return denied("the ID token expired")
            case .signatureVerificationFailed, .unknownKID: return denied("the ID token's signature does not verify with the provider's keys")
            default: break
            }
        }
        return denied("the ID token is malformed")
    }

    private func discover() async throws -> Metadata {
        if let metadata, metadata.until > .now { return metadata.value }
        let url = configuration.issuer + "/.well-known/openid-configuration"
        let (status, body) = try await send(HTTPClientRequest(url: url))
        guard status == 200, let document = try? JSONDecoder().decode(Metadata.self, from: body) else {
            throw Self.failure("the identity provider's discovery document at \(url) is not usable (HTTP \(status))")
        }
        guard document.issuer == configuration.issuer else {
            throw Self.failure("the identity provider at \(configuration.issuer) names itself \(document.issuer); configure the issuer it names")
        }
        metadata = (document, .now.advanced(by: .seconds(3600)))
        return document
    }

    private func jwks(refresh: Bool) async throws -> JWTKeyCollection {
        if let keys, !refresh || keys.fetched.duration(to: .now) < .seconds(30) { return keys.collection }
        let url = try await discover().jwksURI
        let (status, body) = try await send(HTTPClientRequest(url: url))
        guard status == 200 else { throw Self.failure("the identity provider's JWKS at \(url) answered HTTP \(status)") }
        let collection = JWTKeyCollection()
        do {
            try await collection.add(jwksJSON: String(decoding: body, as: UTF8.self))
        } catch {
            throw Self.failure("the identity provider's JWKS at \(url) is not usable: \(error)")
        }
        keys = (collection, .now)
        return collection
    }

    private func send(_ request: HTTPClientRequest) async throws -> (UInt, Data) {
        do {
            let response = try await http.execute(request, timeout: Self.requestTimeout)
            let body = try await response.body.collect(upTo: Self.maxResponseBytes)
            return (response.status.code, Data(buffer: body))
        } catch let error as DataverketError {
            throw error
        } catch {
            throw DataverketError(.unavailable, "the identity provider at \(request.url) is unreachable: \(error)", cause: error)
        }
    }

    static func payload(of token: String) throws -> [String: any Sendable] {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let data = base64URLDecode(String(parts[1])),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { throw denied("the ID token is malformed") }
        return object.mapValues { Sendability($0).value }
    }

    static func codeChallenge(_ verifier: String) -> String {
        base64URL(Data(SHA256.hash(data: Data(verifier.utf8))))
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func base64URLDecode(_ text: String) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64)
    }

    /// `application/x-www-form-urlencoded` for one key or value: everything but unreserved characters escaped.
    static func formEncode(_ text: String) -> String {
        let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        return text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    static func denied(_ message: String) -> DataverketError { DataverketError(.accessDenied, message) }
    static func failure(_ message: String) -> DataverketError { DataverketError(.unavailable, message) }
}

/// JSON values from `JSONSerialization` carried across actors: strings, numbers, lists and objects of them.
private struct Sendability {
    let value: any Sendable
    init(_ any: Any) {
        switch any {
        case let string as String: value = string
        case let number as NSNumber: value = number.stringValue
        case let list as [Any]: value = list.map { Sendability($0).value }
        case let object as [String: Any]: value = object.mapValues { Sendability($0).value }
        default: value = String(describing: any)
        }
    }
}
