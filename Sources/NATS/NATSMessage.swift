import NIOCore

/// A message delivered by the server (MSG or HMSG).
public struct NATSMessage: Sendable, Hashable {
    public var subject: String
    /// The subscription id the server routed this message to.
    public var sid: UInt64
    public var replyTo: String?
    public var headers: NATSHeaders?
    public var payload: ByteBuffer

    public init(subject: String, sid: UInt64, replyTo: String? = nil, headers: NATSHeaders? = nil, payload: ByteBuffer) {
        self.subject = subject
        self.sid = sid
        self.replyTo = replyTo
        self.headers = headers
        self.payload = payload
    }

    /// Status code from the header block, if any (503, 408, 404, 409, 100, ...).
    public var status: Int? { headers?.status }

    public var payloadBytes: [UInt8] { Array(payload.readableBytesView) }
    public var payloadString: String { String(buffer: payload) }
}

/// Operations the server sends.
enum NATSServerOp: Sendable, Hashable {
    case info(NATSServerInfo)
    case msg(NATSMessage)
    case ping
    case pong
    case ok
    case err(String)
}

/// Operations the client sends.
enum NATSClientOp: Sendable, Hashable {
    case connect(ConnectInfo)
    case pub(subject: String, reply: String?, headers: NATSHeaders?, payload: ByteBuffer)
    case sub(subject: String, queue: String?, sid: UInt64)
    case unsub(sid: UInt64, max: Int?)
    case ping
    case pong
}
