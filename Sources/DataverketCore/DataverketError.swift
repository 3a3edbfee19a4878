/// The one error type of Dataverket's libraries: a stable code, a message for humans, an optional cause.
///
/// Codes are a closed-for-callers set of static values rather than a public enum, so new codes can be
/// added without breaking anyone who switches over them.
public struct DataverketError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case malformedRequest = "malformed-request"
            case invalidArgument = "invalid-argument"
            case notFound = "not-found"
            case alreadyExists = "already-exists"
            case conflict = "conflict"
            case preconditionFailed = "precondition-failed"
            case preconditionRequired = "precondition-required"
            case payloadTooLarge = "payload-too-large"
            case unsupportedMediaType = "unsupported-media-type"
            case idempotencyKeyReused = "idempotency-key-reused"
            case unavailable = "unavailable"
            case notConfigured = "not-configured"
            case methodNotAllowed = "method-not-allowed"
            case unauthenticated = "unauthenticated"
            case forbidden = "forbidden"
            case rateLimited = "rate-limited"
            case authorizationPending = "authorization-pending"
            case slowDown = "slow-down"
            case expiredToken = "expired-token"
            case accessDenied = "access-denied"
            case storeFailure = "store-failure"
            case `internal` = "internal"
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The request could not be parsed (bad JSON, bad cursor, bad header syntax). HTTP 400.
        public static let malformedRequest = Code(.malformedRequest)
        /// The request parsed but a field is invalid. HTTP 422.
        public static let invalidArgument = Code(.invalidArgument)
        /// The resource does not exist (or the caller may not see it). HTTP 404.
        public static let notFound = Code(.notFound)
        /// A resource with that name already exists in its scope. HTTP 409.
        public static let alreadyExists = Code(.alreadyExists)
        /// The request conflicts with the resource's current state. HTTP 409.
        public static let conflict = Code(.conflict)
        /// `If-Match` named a version that is no longer current. HTTP 412.
        public static let preconditionFailed = Code(.preconditionFailed)
        /// The operation needs `If-Match`. HTTP 428.
        public static let preconditionRequired = Code(.preconditionRequired)
        /// The request body is larger than the server accepts. HTTP 413.
        public static let payloadTooLarge = Code(.payloadTooLarge)
        /// The request body has a media type the operation does not accept. HTTP 415.
        public static let unsupportedMediaType = Code(.unsupportedMediaType)
        /// An `Idempotency-Key` was reused with a different request. HTTP 422.
        public static let idempotencyKeyReused = Code(.idempotencyKeyReused)
        /// No valid credential: missing, malformed, expired, revoked, or not for this server. HTTP 401.
        public static let unauthenticated = Code(.unauthenticated)
        /// The caller may see the resource but not do this to it. HTTP 403.
        public static let forbidden = Code(.forbidden)
        /// The caller sent too many requests; `Retry-After` says when to try again. HTTP 429.
        public static let rateLimited = Code(.rateLimited)
        /// Device flow (RFC 8628): the user has not approved the login yet; poll again after the interval. HTTP 400.
        public static let authorizationPending = Code(.authorizationPending)
        /// Device flow: polled faster than the interval; add 5 seconds to it. HTTP 400.
        public static let slowDown = Code(.slowDown)
        /// Device flow: the device code expired or was used; start again. HTTP 400.
        public static let expiredToken = Code(.expiredToken)
        /// Device flow: the user (or the identity provider) refused the login. HTTP 400.
        public static let accessDenied = Code(.accessDenied)
        /// A dependency (the store, the bus) is unreachable. HTTP 503.
        public static let unavailable = Code(.unavailable)
        /// The feature is not configured on this server (a setting is missing): not a fault, and not temporary.
        /// HTTP 404, with the setting named in the message.
        public static let notConfigured = Code(.notConfigured)
        /// The path exists, but not with this method. HTTP 405, with `Allow`.
        public static let methodNotAllowed = Code(.methodNotAllowed)
        /// The store failed in a way that is not the caller's fault. HTTP 500.
        public static let storeFailure = Code(.storeFailure)
        /// A bug. HTTP 500.
        public static let `internal` = Code(.internal)

        /// The stable, kebab-case identifier (used in problem `type` URIs).
        public var description: String { base.rawValue }
    }

    /// One invalid field of a request.
    public struct FieldViolation: Sendable, Hashable, Codable {
        public var field: String
        public var message: String
        public init(field: String, message: String) {
            self.field = field
            self.message = message
        }
    }

    public var code: Code
    public var message: String
    public var cause: (any Error)?
    public var violations: [FieldViolation]

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil, violations: [FieldViolation] = []) {
        self.code = code
        self.message = message
        self.cause = cause
        self.violations = violations
    }

    public var description: String {
        var text = "\(code): \(message)"
        if let cause { text += " (cause: \(cause))" }
        return text
    }
}

extension DataverketError {
    public static func notFound(_ kind: String, _ ref: String) -> DataverketError {
        DataverketError(.notFound, "\(kind) '\(ref)' not found")
    }

    public static func invalid(_ field: String, _ message: String) -> DataverketError {
        DataverketError(.invalidArgument, "\(field): \(message)", violations: [.init(field: field, message: message)])
    }
}
