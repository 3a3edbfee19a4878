/// Connection lifecycle of one `NATSClient`, without I/O: the initial connect through the configured servers, reconnect
/// after a loss with exponential backoff (cap, jitter) round-robin through the known servers (configured plus those
/// discovered from INFO `connect_urls`), giving up after `maxAttempts`, the bounded buffer of publishes made while
/// disconnected, and the subscriptions to restore on each new connection.
struct ReconnectStateMachine: Sendable {
    typealias Action = ClientStateMachine.Action

    struct Configuration: Sendable {
        var reconnect: NATSReconnectPolicy
        /// Max bytes of publishes buffered while disconnected.
        var reconnectBufferSize: Int
        /// Add servers from INFO `connect_urls` to the pool.
        var discoverServers: Bool
        /// The pool never grows beyond this many servers.
        var maxServers: Int

        init(reconnect: NATSReconnectPolicy = .default, reconnectBufferSize: Int = 8 << 20, discoverServers: Bool = true, maxServers: Int = 64) {
            self.reconnect = reconnect
            self.reconnectBufferSize = reconnectBufferSize
            self.discoverServers = discoverServers
            self.maxServers = maxServers
        }

        init(options: NATSOptions) {
            self.init(reconnect: options.reconnect, reconnectBufferSize: options.reconnectBufferSize, discoverServers: options.discoverServers)
        }
    }

    enum State: Sendable, Hashable {
        /// Created; `start()` not called yet.
        case idle
        /// Initial connect: trying `servers[index]` (each configured server once, in order).
        case connecting(index: Int)
        case connected
        /// Connection lost; the backoff timer runs. `attempt` reconnect attempts have been made so far.
        case waitingToReconnect(attempt: Int)
        /// Reconnect attempt number `attempt` (1-based) is in flight.
        case reconnecting(attempt: Int)
        case closed
    }

    enum PublishDecision: Sendable, Equatable {
        /// Connected: write it to the socket.
        case write
        /// Disconnected: buffered, sent after the next connect.
        case buffered
        case fail(NATSError)
    }

    let configuration: Configuration
    private(set) var state: State = .idle
    /// Configured servers, then discovered ones.
    private(set) var servers: [NATSServerAddress]
    /// Index in `servers` of the current (or last) connection.
    private(set) var serverIndex = 0
    /// Successful reconnects.
    private(set) var reconnectCount = 0
    /// Why the last connection or attempt failed; the cause of the closing error.
    private(set) var lastError: NATSError?
    private(set) var buffer: [BufferedPublish] = []
    private(set) var bufferedBytes = 0
    /// Live subscriptions by sid: replayed (SUB) on every new connection.
    private(set) var subscriptions: [UInt64: SubscriptionSpec] = [:]
    private var startErrors: [String] = []

    init(servers: [NATSServerAddress], configuration: Configuration) {
        precondition(!servers.isEmpty, "no servers")
        self.servers = servers
        self.configuration = configuration
    }

    var clientState: NATSClient.State {
        switch state {
        case .idle, .connecting: .connecting
        case .connected: .connected
        case .waitingToReconnect, .reconnecting: .reconnecting
        case .closed: .closed
        }
    }

    // MARK: Events

    mutating func start() -> [Action] {
        guard case .idle = state else { return [] }
        state = .connecting(index: 0)
        return [.connect(to: servers[0])]
    }

    mutating func connected(info: NATSServerInfo) -> [Action] {
        let event: NATSClientEvent.Kind
        switch state {
        case .connecting(let index):
            serverIndex = index
            startErrors.removeAll()
            event = .connected
        case .reconnecting:
            reconnectCount += 1
            event = .reconnected
        case .idle, .connected, .waitingToReconnect, .closed:
            // Closed while the attempt was in flight (or a connection nobody asked for).
            return [.discardConnection]
        }
        state = .connected
        var actions: [Action] = [.installConnection]
        actions += mergeDiscoveredServers(info)
        if !subscriptions.isEmpty {
            actions.append(.replaySubscriptions(subscriptions.values.sorted { $0.sid < $1.sid }))
        }
        if !buffer.isEmpty {
            actions.append(.flushBuffer(buffer))
            buffer.removeAll()
            bufferedBytes = 0
        }
        actions.append(.emit(event, error: nil))
        return actions
    }

    mutating func connectFailed(_ error: any Error, now: Duration, jitter: Double) -> [Action] {
        switch state {
        case .connecting(let index):
            if let e = error as? NATSError, e.code == .authorizationViolation {
                state = .closed
                lastError = e
                return [.failStart(e)]
            }
            let server = servers[index]
            startErrors.append("\(server.host):\(server.port): \(error)")
            if index + 1 < servers.count {
                state = .connecting(index: index + 1)
                return [.connect(to: servers[index + 1])]
            }
            let e = NATSError(code: .connectionFailed, message: "could not connect to any server: \(startErrors.joined(separator: "; "))")
            state = .closed
            lastError = e
            startErrors.removeAll()
            return [.failStart(e)]
        case .reconnecting(let attempt):
            lastError = (error as? NATSError) ?? NATSError(code: .connectionFailed, message: "reconnect failed", cause: error)
            return backOff(afterAttempts: attempt, now: now, jitter: jitter)
        case .idle, .connected, .waitingToReconnect, .closed:
            return []
        }
    }

    mutating func connectionLost(_ error: NATSError?, now: Duration, jitter: Double) -> [Action] {
        guard case .connected = state else { return [] }
        lastError = error
        var actions: [Action] = [.emit(.disconnected, error: error)]
        guard configuration.reconnect.enabled else {
            actions += close(error ?? NATSError(code: .connectionClosed, message: "connection lost"))
            return actions
        }
        actions += backOff(afterAttempts: 0, now: now, jitter: jitter)
        return actions
    }

    /// The backoff timer fired: try the next server (the one just lost goes last).
    mutating func reconnectTimerFired() -> [Action] {
        guard case .waitingToReconnect(let attempt) = state else { return [] }
        serverIndex = (serverIndex + 1) % servers.count
        state = .reconnecting(attempt: attempt + 1)
        return [.connect(to: servers[serverIndex])]
    }

    mutating func serverInfoUpdated(_ info: NATSServerInfo) -> [Action] {
        guard case .connected = state else { return [] }
        var actions = mergeDiscoveredServers(info)
        if info.ldm == true {
            actions.append(.emit(.lameDuck, error: nil))
        }
        return actions
    }

    mutating func publish(_ publish: BufferedPublish) -> PublishDecision {
        switch state {
        case .connected:
            return .write
        case .idle, .connecting, .waitingToReconnect, .reconnecting:
            let cost = publish.cost
            guard bufferedBytes + cost <= configuration.reconnectBufferSize else {
                return .fail(NATSError(code: .reconnectBufferFull, message: "reconnect buffer full (\(bufferedBytes) of \(configuration.reconnectBufferSize) bytes)"))
            }
            bufferedBytes += cost
            buffer.append(publish)
            return .buffered
        case .closed:
            return .fail(NATSError(code: .closed, message: "client is closed", cause: lastError))
        }
    }

    /// A subscription was made; it is replayed on every new connection until `unsubscribed`.
    mutating func subscribed(_ subscription: SubscriptionSpec) {
        guard state != .closed else { return }
        subscriptions[subscription.sid] = subscription
    }

    /// The subscription ended (unsubscribed, its max reached, its sequence dropped): no more replays.
    mutating func unsubscribed(sid: UInt64) {
        subscriptions.removeValue(forKey: sid)
    }

    /// Terminal. Cancels the backoff timer; buffered publishes are dropped, subscriptions forgotten.
    mutating func close(_ error: NATSError) -> [Action] {
        var actions: [Action] = []
        switch state {
        case .closed:
            return []
        case .waitingToReconnect:
            actions.append(.cancelTimer(.reconnect))
        case .idle, .connecting, .connected, .reconnecting:
            break
        }
        state = .closed
        lastError = error
        let dropped = buffer.count
        buffer.removeAll()
        bufferedBytes = 0
        subscriptions.removeAll()
        actions.append(.closeClient(error, droppedPublishes: dropped))
        return actions
    }

    // MARK: Helpers

    /// After `attempts` failed (or, with 0, none yet): wait, or give up.
    private mutating func backOff(afterAttempts attempts: Int, now: Duration, jitter: Double) -> [Action] {
        let policy = configuration.reconnect
        if let maxAttempts = policy.maxAttempts, attempts >= maxAttempts {
            return close(NATSError(code: .connectionClosed, message: "gave up reconnecting after \(attempts) attempts", cause: lastError))
        }
        state = .waitingToReconnect(attempt: attempts)
        return [.scheduleTimer(.reconnect, deadline: now + policy.delay(forAttempt: attempts, random: jitter))]
    }

    private mutating func mergeDiscoveredServers(_ info: NATSServerInfo) -> [Action] {
        guard configuration.discoverServers, let urls = info.connectURLs, !urls.isEmpty else { return [] }
        let tls = servers[serverIndex].tls
        var added = 0
        for url in urls where servers.count < configuration.maxServers {
            guard var address = try? NATSServerAddress(parsing: url) else { continue }
            address.tls = tls
            if !servers.contains(where: { $0.host == address.host && $0.port == address.port }) {
                servers.append(address)
                added += 1
            }
        }
        return added > 0 ? [.emit(.serversDiscovered, error: nil)] : []
    }
}
