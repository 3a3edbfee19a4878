/// Asynchronous, informational client events (see `NATSClient.events`).
public struct NATSClientEvent: Sendable, CustomStringConvertible {
    public struct Kind: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case connected, disconnected, reconnected, slowConsumer, serverError, closed, lameDuck, serversDiscovered
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Initial connection established.
        public static let connected = Kind(.connected)
        /// Connection lost; the client is reconnecting (or closing, if reconnect is disabled).
        public static let disconnected = Kind(.disconnected)
        /// Reconnected; subscriptions were restored and buffered publishes flushed.
        public static let reconnected = Kind(.reconnected)
        /// A subscription's buffer was full and messages were dropped (`sid`, `droppedMessages` set).
        public static let slowConsumer = Kind(.slowConsumer)
        /// The server sent a non-fatal `-ERR` (e.g. permissions violation).
        public static let serverError = Kind(.serverError)
        /// The client is closed for good.
        public static let closed = Kind(.closed)
        /// The connected server entered lame duck mode and will shut down soon.
        public static let lameDuck = Kind(.lameDuck)
        /// New cluster servers were learned from INFO `connect_urls`.
        public static let serversDiscovered = Kind(.serversDiscovered)

        public var description: String { base.rawValue }
    }

    public var kind: Kind
    public var sid: UInt64?
    public var droppedMessages: Int?
    public var error: NATSError?

    public init(kind: Kind, sid: UInt64? = nil, droppedMessages: Int? = nil, error: NATSError? = nil) {
        self.kind = kind
        self.sid = sid
        self.droppedMessages = droppedMessages
        self.error = error
    }

    public var description: String {
        var s = "NATSClientEvent(\(kind)"
        if let sid { s += ", sid: \(sid)" }
        if let droppedMessages { s += ", dropped: \(droppedMessages)" }
        if let error { s += ", error: \(error)" }
        return s + ")"
    }
}
