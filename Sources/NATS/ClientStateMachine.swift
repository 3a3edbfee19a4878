import NIOCore

/// The client's decisions, without I/O: connection lifecycle, server rotation, reconnect backoff, the reconnect
/// buffer (``ReconnectStateMachine``) and the request mux (``RequestMuxStateMachine``). `NATSClient` feeds it
/// events and runs the actions it returns (`runStateMachineActions`); time comes in as `now`, randomness as
/// `jitter`, so tests drive it with a made-up clock and no sockets.
///
/// Time is a `Duration` since an arbitrary origin (the client's clock at creation): "instants" here are offsets.
struct ClientStateMachine: Sendable {
    /// The timers the state machine asks for. At most one of each runs at a time.
    enum TimerID: Sendable, Hashable, CustomStringConvertible {
        /// Backoff before the next reconnect attempt.
        case reconnect
        /// The earliest deadline of the pending requests.
        case requestDeadline

        var description: String {
            switch self {
            case .reconnect: "reconnect"
            case .requestDeadline: "requestDeadline"
            }
        }
    }

    enum Action: Sendable, Equatable {
        /// Open a connection to `server` (TCP, TLS, handshake); report `connected` or `connectFailed`.
        case connect(to: NATSServerAddress)
        /// Use the connection that just completed its handshake.
        case installConnection
        /// A connection completed after the client closed: close it.
        case discardConnection
        /// Send SUB for these subscriptions (every live one, in sid order) on the new connection, before the buffered
        /// publishes (a buffered request's reply must find the inbox subscription).
        case replaySubscriptions([SubscriptionSpec])
        /// Write the publishes buffered while disconnected, in this order.
        case flushBuffer([BufferedPublish])
        /// Start (or move) timer `id`; report `timerFired(id)` at `deadline`.
        case scheduleTimer(TimerID, deadline: Duration)
        case cancelTimer(TimerID)
        /// Yield an event on `NATSClient.events`.
        case emit(NATSClientEvent.Kind, error: NATSError?)
        /// The initial connect failed for good: `connect(_:logger:)` throws `error`.
        case failStart(NATSError)
        /// Terminal: close the connection, end the subscriptions, emit `.closed` and finish the event stream.
        /// `droppedPublishes` buffered publishes were never sent.
        case closeClient(NATSError, droppedPublishes: Int)
        case succeedRequest(token: String, NATSMessage)
        case failRequest(token: String, RequestMuxStateMachine.Failure)
    }

    private(set) var connection: ReconnectStateMachine
    private(set) var requests = RequestMuxStateMachine()

    init(servers: [NATSServerAddress], configuration: ReconnectStateMachine.Configuration) {
        connection = ReconnectStateMachine(servers: servers, configuration: configuration)
    }

    init(servers: [NATSServerAddress], options: NATSOptions) {
        self.init(servers: servers, configuration: .init(options: options))
    }

    var state: NATSClient.State { connection.clientState }

    // MARK: Connection events

    /// The client was created: connect to the first configured server.
    mutating func start() -> [Action] {
        connection.start()
    }

    /// The connection asked for by `.connect(to:)` completed its handshake.
    mutating func connected(info: NATSServerInfo) -> [Action] {
        closingRequestsIfNeeded(connection.connected(info: info))
    }

    /// The connection asked for by `.connect(to:)` failed.
    mutating func connectFailed(_ error: any Error, now: Duration, jitter: Double) -> [Action] {
        closingRequestsIfNeeded(connection.connectFailed(error, now: now, jitter: jitter))
    }

    /// The installed connection closed (`error` nil: closed without a reason).
    mutating func connectionLost(_ error: NATSError?, now: Duration, jitter: Double) -> [Action] {
        closingRequestsIfNeeded(connection.connectionLost(error, now: now, jitter: jitter))
    }

    /// An asynchronous INFO on the installed connection.
    mutating func serverInfoUpdated(_ info: NATSServerInfo) -> [Action] {
        connection.serverInfoUpdated(info)
    }

    mutating func timerFired(_ id: TimerID, now: Duration) -> [Action] {
        switch id {
        case .reconnect: closingRequestsIfNeeded(connection.reconnectTimerFired())
        case .requestDeadline: requests.timerFired(now: now)
        }
    }

    /// `close()`, or `drain()` after its flush.
    mutating func closeRequested() -> [Action] {
        closingRequestsIfNeeded(connection.close(NATSError(code: .closed, message: "client closed")))
    }

    // MARK: Publishing

    /// Whether a publish goes to the socket now, was buffered for the next connection, or fails.
    mutating func publish(_ publish: BufferedPublish) -> ReconnectStateMachine.PublishDecision {
        connection.publish(publish)
    }

    // MARK: Subscriptions

    mutating func subscribed(_ subscription: SubscriptionSpec) {
        connection.subscribed(subscription)
    }

    mutating func unsubscribed(sid: UInt64) {
        connection.unsubscribed(sid: sid)
    }

    // MARK: Requests

    /// Before publishing the request: a reply arriving before `requestStarted` is kept for it.
    mutating func requestReserved(token: String) {
        requests.reserve(token: token)
    }

    /// Publishing the request failed: forget the token.
    mutating func requestAbandoned(token: String) {
        requests.abandon(token: token)
    }

    /// The request was published and its caller waits: resolve now (early reply, cancelled) or arm its deadline.
    mutating func requestStarted(token: String, subject: String, timeout: Duration, now: Duration, cancelled: Bool) -> [Action] {
        requests.start(token: token, subject: subject, timeout: timeout, now: now, cancelled: cancelled)
    }

    mutating func responseArrived(token: String, _ message: NATSMessage) -> [Action] {
        requests.responseArrived(token: token, message)
    }

    mutating func requestCancelled(token: String) -> [Action] {
        requests.cancel(token: token)
    }

    /// When the connection machine shuts the client down, pending requests fail with the same error,
    /// before the client closes.
    private mutating func closingRequestsIfNeeded(_ actions: [Action]) -> [Action] {
        guard let index = actions.firstIndex(where: { if case .closeClient = $0 { true } else { false } }),
              case .closeClient(let error, _) = actions[index]
        else { return actions }
        var result = actions
        result.insert(contentsOf: requests.close(error), at: index)
        return result
    }
}

/// A subscription as the state machine knows it: what to send SUB for on a new connection.
struct SubscriptionSpec: Sendable, Hashable {
    var sid: UInt64
    var subject: String
    var queue: String?

    init(sid: UInt64, subject: String, queue: String? = nil) {
        self.sid = sid
        self.subject = subject
        self.queue = queue
    }
}

/// A publish accepted while disconnected, sent on the next connection.
struct BufferedPublish: Sendable, Hashable {
    var subject: String
    var reply: String?
    var headers: NATSHeaders?
    var payload: ByteBuffer

    init(subject: String, reply: String? = nil, headers: NATSHeaders? = nil, payload: ByteBuffer) {
        self.subject = subject
        self.reply = reply
        self.headers = headers
        self.payload = payload
    }

    /// What it counts against `reconnectBufferSize`.
    var cost: Int {
        payload.readableBytes + (headers?.encodedLength ?? 0) + subject.utf8.count + (reply?.utf8.count ?? 0) + 32
    }

    var command: NATSHandlerCommand {
        .publish(subject: subject, reply: reply, headers: headers, payload: payload)
    }
}
