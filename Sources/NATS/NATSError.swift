/// Error thrown by the NATS client. `code` is stable and comparable; `message` is human readable.
public struct NATSError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case protocolViolation
            case connectionFailed
            case connectionClosed
            case notConnected
            case authorizationViolation
            case serverError
            case timeout
            case noResponders
            case reconnectBufferFull
            case invalidArgument
            case staleConnection
            case tlsFailure
            case payloadTooLarge
            case closed
            case jetStream
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The server sent bytes that do not form a valid NATS protocol frame.
        public static let protocolViolation = Code(.protocolViolation)
        /// TCP/TLS connection or handshake to a server could not be established.
        public static let connectionFailed = Code(.connectionFailed)
        /// The connection to the server was lost.
        public static let connectionClosed = Code(.connectionClosed)
        /// The operation requires a live connection and there is none.
        public static let notConnected = Code(.notConnected)
        /// The server rejected the credentials.
        public static let authorizationViolation = Code(.authorizationViolation)
        /// The server sent `-ERR`.
        public static let serverError = Code(.serverError)
        /// An operation did not complete before its deadline.
        public static let timeout = Code(.timeout)
        /// A request was published to a subject without subscribers (status 503).
        public static let noResponders = Code(.noResponders)
        /// A publish while reconnecting would exceed the reconnect buffer cap.
        public static let reconnectBufferFull = Code(.reconnectBufferFull)
        /// An argument (subject, queue, size, ...) was invalid.
        public static let invalidArgument = Code(.invalidArgument)
        /// The server did not answer `maxPingsOut` PINGs.
        public static let staleConnection = Code(.staleConnection)
        /// TLS was required but could not be set up.
        public static let tlsFailure = Code(.tlsFailure)
        /// A payload exceeds the server's `max_payload`.
        public static let payloadTooLarge = Code(.payloadTooLarge)
        /// The client was closed (by `close()`/`drain()` or after reconnect attempts were exhausted).
        public static let closed = Code(.closed)
        /// A JetStream-level failure that is not an API error (bad ack subject, unexpected reply, ...).
        public static let jetStream = Code(.jetStream)

        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String
    public var cause: (any Error & Sendable)?

    public init(code: Code, message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        if let cause {
            return "NATSError(\(code)): \(message) (cause: \(cause))"
        }
        return "NATSError(\(code)): \(message)"
    }

    /// Equality compares `code` and `message` (the cause is ignored).
    public static func == (lhs: NATSError, rhs: NATSError) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
    }

    static func protocolViolation(_ message: String) -> NATSError {
        NATSError(code: .protocolViolation, message: message)
    }
}

/// An error returned by the JetStream API (`{"error":{"code":..,"err_code":..,"description":..}}`).
public struct JetStreamError: Error, Sendable, CustomStringConvertible {
    /// HTTP-like status code (e.g. 404, 400, 503).
    public var code: Int
    /// JetStream-specific error code (e.g. 10059 stream not found, 10014 consumer not found).
    public var errCode: Int
    public var errorDescription: String

    public init(code: Int, errCode: Int, description: String) {
        self.code = code
        self.errCode = errCode
        self.errorDescription = description
    }

    public var description: String { "JetStreamError(code: \(code), err_code: \(errCode)): \(errorDescription)" }

    /// Well-known `err_code` values.
    public static let streamNotFound = 10059
    public static let consumerNotFound = 10014
    public static let streamNameInUse = 10058
    /// A stream with overlapping subjects exists (also what a concurrent create of the same stream may get).
    public static let subjectsOverlap = 10065
    public static let streamWrongLastSequence = 10071
}
