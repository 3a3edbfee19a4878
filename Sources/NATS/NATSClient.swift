import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL

/// A NATS connection with automatic reconnect, subscriptions, request/reply and publish buffering.
///
/// The actor is the I/O shell: the decisions (reconnect, server rotation, backoff, the reconnect buffer, the request
/// mux and its deadlines) are taken by ``ClientStateMachine``; the actor feeds it events and runs the actions it
/// returns (`runStateMachineActions`). The jobs are split over files: connecting (`NATSClient+Connect`), losing and
/// closing the connection (`+Reconnect`), publishing (`+Publish`), subscriptions (`+Subscriptions`), requests
/// (`+Requests`) and timers (`+Timers`).
public actor NATSClient {

    /// Connection state, as a small value type (not an enum, so it can grow).
    public struct State: Sendable, Hashable, CustomStringConvertible {
        private let raw: Int
        private init(_ raw: Int) { self.raw = raw }
        public static let connecting = State(0)
        public static let connected = State(1)
        public static let reconnecting = State(2)
        public static let closed = State(3)
        public var description: String { ["connecting", "connected", "reconnecting", "closed"][raw] }
    }

    /// A connection that completed its handshake, until the state machine installs or discards it.
    struct EstablishedConnection: Sendable {
        var channel: any Channel
        var info: NATSServerInfo
        var closed: EventLoopFuture<NATSError?>
    }

    public nonisolated let options: NATSOptions
    let logger: Logger
    let clock: NATSClientClock
    var stateMachine: ClientStateMachine
    var sslContext: NIOSSLContext?

    public internal(set) var serverInfo: NATSServerInfo?
    var channel: (any Channel)?
    /// Identifies the installed channel, so a late close notification of an earlier one is ignored.
    var generation = 0
    var establishedConnection: EstablishedConnection?
    var connectTask: Task<Void, Never>?
    var startContinuation: CheckedContinuation<Void, any Error>?

    var nextSID: UInt64 = 1
    /// Where the channel delivers each live subscription's messages, by sid. What to subscribe to is the state
    /// machine's (`SubscriptionSpec`).
    var subscriptions: [UInt64: SubscriptionSink] = [:]

    struct InFlight: Sendable {
        var count = 0
        var bytes = 0
    }
    let inFlight = NIOLockedValueBox(InFlight())
    /// Commands on their way to the current channel's event loop (`write(_:cost:to:)`).
    var writeBatch: WriteBatch?
    static let maxInFlightWrites = 1024
    static let maxInFlightBytes = 1 << 20

    // Request/reply mux: one wildcard inbox subscription; the waiting callers by token.
    var muxPrefix: String?
    var muxTask: Task<Void, Never>?
    var requestContinuations: [String: CheckedContinuation<NATSMessage, any Error>] = [:]
    /// Drawn once: the prefix of every token this client makes (`nextToken`).
    let tokenPrefix = NATSClient.randomToken(length: 11)
    var tokenSequence: UInt64 = 0

    // Timers asked for by the state machine (`scheduleTimer`/`cancelTimer`), each run by a task sleeping on `clock`
    // until its deadline. `timerEpoch` tells a fire of a timer that was moved or cancelled meanwhile from a live one.
    var timers: [ClientStateMachine.TimerID: ScheduledTimer] = [:]
    var timerEpoch: UInt64 = 0

    /// Informational events (connected, disconnected, reconnected, slow consumer, server error, closed).
    /// Bounded: keeps the newest 1024 unread events. Finishes when the client closes.
    public nonisolated let events: AsyncStream<NATSClientEvent>
    let eventContinuation: AsyncStream<NATSClientEvent>.Continuation

    init(options: NATSOptions, servers: [NATSServerAddress], logger: Logger, clock: NATSClientClock) {
        self.options = options
        self.logger = logger
        self.clock = clock
        self.stateMachine = ClientStateMachine(servers: servers, options: options)
        (events, eventContinuation) = AsyncStream.makeStream(of: NATSClientEvent.self, bufferingPolicy: .bufferingNewest(1024))
    }

    deinit {
        // Safety net if the client is dropped without close(): do not leak the socket.
        channel?.close(promise: nil)
        connectTask?.cancel()
        for timer in timers.values { timer.task.cancel() }
        muxTask?.cancel()
        eventContinuation.finish()
    }

    /// Connects to the first reachable server in `options.servers`.
    public static func connect(_ options: NATSOptions, logger: Logger) async throws -> NATSClient {
        try await connect(options, logger: logger, clock: ContinuousClock())
    }

    /// As `connect(_:logger:)`, with the clock that runs the reconnect backoff and request deadlines.
    static func connect<C: Clock>(_ options: NATSOptions, logger: Logger, clock: C) async throws -> NATSClient where C.Duration == Duration {
        guard !options.servers.isEmpty else {
            throw NATSError(code: .invalidArgument, message: "no servers configured")
        }
        let servers = try options.servers.map { try NATSServerAddress(parsing: $0) }
        let client = NATSClient(options: options, servers: servers, logger: logger, clock: NATSClientClock(clock))
        try await client.start()
        return client
    }

    public var state: State { stateMachine.state }
    /// Number of successful reconnects.
    public var reconnectCount: Int { stateMachine.connection.reconnectCount }
    public var isConnected: Bool { state == .connected }

    /// Servers in the reconnect pool (configured plus discovered), as `host:port`.
    public var knownServers: [String] {
        stateMachine.connection.servers.map { $0.host.contains(":") ? "[\($0.host)]:\($0.port)" : "\($0.host):\($0.port)" }
    }

    var lastError: NATSError? { stateMachine.connection.lastError }

    /// A jitter sample in [0, 1) for the reconnect backoff.
    func nextJitter() -> Double {
        Double.random(in: 0..<1)
    }

    // MARK: Running the state machine's actions

    /// Runs `actions` in order. No suspension points: the state machine's view and the actor's stay in step.
    func runStateMachineActions(_ actions: [ClientStateMachine.Action]) {
        for action in actions {
            switch action {
            case .connect(let server):
                startConnectAttempt(to: server)
            case .installConnection:
                installConnection()
            case .discardConnection:
                establishedConnection?.channel.close(promise: nil)
                establishedConnection = nil
            case .replaySubscriptions(let specs):
                replaySubscriptions(specs)
            case .flushBuffer(let publishes):
                flushBuffer(publishes)
            case .scheduleTimer(let id, let deadline):
                scheduleTimer(id, deadline: deadline)
            case .cancelTimer(let id):
                cancelTimer(id)
            case .emit(let kind, let error):
                emit(kind, error: error)
            case .failStart(let error):
                eventContinuation.finish()
                startContinuation?.resume(throwing: error)
                startContinuation = nil
            case .closeClient(let error, let dropped):
                closeClient(error, droppedPublishes: dropped)
            case .succeedRequest(let token, let message):
                requestContinuations.removeValue(forKey: token)?.resume(returning: message)
            case .failRequest(let token, let failure):
                requestContinuations.removeValue(forKey: token)?.resume(throwing: failure.error)
            }
        }
    }

    private func emit(_ kind: NATSClientEvent.Kind, error: NATSError?) {
        switch kind {
        case .connected:
            eventContinuation.yield(NATSClientEvent(kind: .connected))
            startContinuation?.resume()
            startContinuation = nil
        case .reconnected:
            let server = stateMachine.connection.servers[stateMachine.connection.serverIndex]
            eventContinuation.yield(NATSClientEvent(kind: .reconnected))
            logger.info("NATS reconnected", metadata: ["reconnects": "\(reconnectCount)", "server": "\(server.host):\(server.port)"])
        case .disconnected:
            logger.info("NATS connection lost", metadata: ["error": "\(error.map { "\($0)" } ?? "none")"])
            eventContinuation.yield(NATSClientEvent(kind: .disconnected, error: error))
        case .lameDuck:
            logger.info("NATS server entered lame duck mode")
            eventContinuation.yield(NATSClientEvent(kind: .lameDuck))
        case .serversDiscovered:
            logger.debug("NATS discovered servers", metadata: ["known": "\(stateMachine.connection.servers.count)"])
            eventContinuation.yield(NATSClientEvent(kind: .serversDiscovered))
        default:
            eventContinuation.yield(NATSClientEvent(kind: kind, error: error))
        }
    }

    /// A token for an inbox or a request: the client's random prefix and the next number of its sequence in base 62
    /// (NUID-style) — unique for the client's life, and no random draw per request.
    func nextToken() -> String {
        tokenSequence &+= 1
        var number = tokenSequence
        var digits = [UInt8](repeating: Self.tokenAlphabet[0], count: 11)
        for index in stride(from: 10, through: 0, by: -1) {
            digits[index] = Self.tokenAlphabet[Int(number % 62)]
            number /= 62
        }
        return tokenPrefix + String(decoding: digits, as: UTF8.self)
    }

    static let tokenAlphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    static func randomToken(length: Int = 22) -> String {
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
        var rng = SystemRandomNumberGenerator()
        var bytes = [UInt8]()
        bytes.reserveCapacity(length)
        for _ in 0..<length { bytes.append(alphabet[Int.random(in: 0..<alphabet.count, using: &rng)]) }
        return String(decoding: bytes, as: UTF8.self)
    }
}
