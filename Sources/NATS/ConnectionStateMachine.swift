/// Pure protocol state machine for one NATS connection (no I/O).
///
/// Consumes events (channel active, decoded server ops, ping timer, close, errors, channel inactive)
/// and returns the action the I/O layer must perform.
struct ConnectionStateMachine: Sendable {
    enum State: Sendable, Hashable {
        case initialized
        case waitingForInfo
        /// CONNECT + PING sent; waiting for the PONG that proves the server accepted CONNECT.
        case waitingForConnectPong(NATSServerInfo)
        case connected(NATSServerInfo)
        case closing
        case closed
    }

    enum Action: Sendable, Hashable {
        case none
        /// Optionally upgrade to TLS, then send CONNECT followed by PING.
        case sendConnect(ConnectInfo, upgradeToTLS: Bool)
        case sendPong
        /// Send a keep-alive PING.
        case sendPing
        case handshakeComplete(NATSServerInfo)
        case deliver(NATSMessage)
        /// A PONG arrived: complete the oldest outstanding PING.
        case pongReceived
        case serverInfoUpdated(NATSServerInfo)
        /// Non-fatal server error (e.g. permissions violation).
        case reportServerError(NATSError)
        /// Close the channel; fail the handshake if still in progress.
        case closeConnection(NATSError)
        /// The channel is gone. `error` is nil for a requested close.
        case connectionClosed(NATSError?)
    }

    struct Configuration: Sendable, Hashable {
        var connectInfo: ConnectInfo
        /// The client insists on TLS (tls:// URL or TLS configuration supplied).
        var requireTLS: Bool
        var maxPingsOut: Int
    }

    private(set) var state: State = .initialized
    private(set) var pingsOut = 0
    private(set) var closeError: NATSError?
    let configuration: Configuration

    init(configuration: Configuration) {
        self.configuration = configuration
    }

    var isConnected: Bool {
        if case .connected = state { return true }
        return false
    }

    mutating func channelActive() -> Action {
        guard case .initialized = state else { return .none }
        state = .waitingForInfo
        return .none
    }

    mutating func received(_ op: NATSServerOp) -> Action {
        switch (state, op) {
        case (.closing, _), (.closed, _):
            return .none

        case (.waitingForInfo, .info(let info)):
            state = .waitingForConnectPong(info)
            var connect = configuration.connectInfo
            let tls = configuration.requireTLS || info.tlsRequired == true
            connect.tlsRequired = tls
            if info.headers == false {
                connect.headers = false
                connect.noResponders = false
            }
            return .sendConnect(connect, upgradeToTLS: tls)
        case (.waitingForInfo, .ping):
            return .sendPong
        case (.waitingForInfo, .err(let text)):
            return close(with: Self.classify(serverError: text))
        case (.waitingForInfo, _):
            return close(with: .protocolViolation("expected INFO as first server operation"))

        case (.waitingForConnectPong(let info), .pong):
            state = .connected(info)
            pingsOut = 0
            return .handshakeComplete(info)
        case (.waitingForConnectPong, .ping):
            return .sendPong
        case (.waitingForConnectPong, .ok):
            return .none
        case (.waitingForConnectPong(var current), .info(let info)):
            current = info
            state = .waitingForConnectPong(current)
            return .none
        case (.waitingForConnectPong, .err(let text)):
            return close(with: Self.classify(serverError: text))
        case (.waitingForConnectPong, .msg):
            return close(with: .protocolViolation("MSG before handshake completed"))

        case (.connected, .msg(let message)):
            return .deliver(message)
        case (.connected, .ping):
            return .sendPong
        case (.connected, .pong):
            pingsOut = 0
            return .pongReceived
        case (.connected, .ok):
            return .none
        case (.connected, .info(let info)):
            state = .connected(info)
            return .serverInfoUpdated(info)
        case (.connected, .err(let text)):
            let error = Self.classify(serverError: text)
            let lower = text.lowercased()
            if lower.hasPrefix("permissions violation") || lower.hasPrefix("invalid subject") {
                return .reportServerError(error)
            }
            return close(with: error)

        case (.initialized, _):
            return close(with: .protocolViolation("data before channel became active"))
        }
    }

    /// The keep-alive timer fired.
    mutating func pingTimerFired() -> Action {
        guard case .connected = state else { return .none }
        if pingsOut >= configuration.maxPingsOut {
            return close(with: NATSError(code: .staleConnection, message: "no PONG for \(pingsOut) PINGs"))
        }
        pingsOut += 1
        return .sendPing
    }

    /// Decoding or I/O failed.
    mutating func errorCaught(_ error: any Error) -> Action {
        let natsError = (error as? NATSError) ?? NATSError(code: .connectionClosed, message: "channel error", cause: error)
        return close(with: natsError)
    }

    /// The user asked to close this connection.
    mutating func closeRequested() -> Action {
        switch state {
        case .closing, .closed:
            return .none
        default:
            state = .closing
            closeError = nil
            return .closeConnection(NATSError(code: .closed, message: "connection closed by client"))
        }
    }

    mutating func channelInactive() -> Action {
        switch state {
        case .closed:
            return .none
        case .closing:
            state = .closed
            return .connectionClosed(closeError)
        default:
            state = .closed
            let error = closeError ?? NATSError(code: .connectionClosed, message: "connection closed by peer")
            closeError = error
            return .connectionClosed(error)
        }
    }

    private mutating func close(with error: NATSError) -> Action {
        switch state {
        case .closing, .closed:
            return .none
        default:
            state = .closing
            closeError = error
            return .closeConnection(error)
        }
    }

    static func classify(serverError text: String) -> NATSError {
        let lower = text.lowercased()
        if lower.contains("authorization") || lower.contains("authentication") || lower.contains("user authentication") {
            return NATSError(code: .authorizationViolation, message: text)
        }
        if lower.contains("stale connection") {
            return NATSError(code: .staleConnection, message: text)
        }
        if lower.contains("maximum payload") {
            return NATSError(code: .payloadTooLarge, message: text)
        }
        if lower.contains("tls required") {
            return NATSError(code: .tlsFailure, message: text)
        }
        return NATSError(code: .serverError, message: text)
    }
}
