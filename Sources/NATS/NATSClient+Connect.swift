import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// Connecting: the initial connect, each connect attempt the state machine asks for (`.connect(to:)`), installing a
/// connection that completed its handshake, and asynchronous INFO updates.
extension NATSClient {

    /// Builds the TLS context, then lets the state machine walk the configured servers; returns once connected,
    /// throws when no server could be reached (or one refused the credentials).
    func start() async throws {
        if let tls = options.tls {
            do {
                sslContext = try NIOSSLContext(configuration: tls)
            } catch {
                throw NATSError(code: .tlsFailure, message: "invalid TLS configuration", cause: error)
            }
        }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            startContinuation = continuation
            runStateMachineActions(stateMachine.start())
        }
    }

    /// Runs `.connect(to:)`: connects and handshakes in a task, then reports the outcome to the state machine.
    func startConnectAttempt(to server: NATSServerAddress) {
        connectTask = Task {
            do {
                let connection = try await self.establish(server)
                self.connectAttemptSucceeded(connection)
            } catch {
                self.connectAttemptFailed(error)
            }
        }
    }

    private func connectAttemptSucceeded(_ connection: EstablishedConnection) {
        connectTask = nil
        establishedConnection = connection
        runStateMachineActions(stateMachine.connected(info: connection.info))
        // Installed or discarded by now; never left behind.
        if let leftover = establishedConnection {
            leftover.channel.close(promise: nil)
            establishedConnection = nil
        }
    }

    private func connectAttemptFailed(_ error: any Error) {
        connectTask = nil
        logger.debug("NATS connect attempt failed", metadata: ["error": "\(error)"])
        runStateMachineActions(stateMachine.connectFailed(error, now: clock.now, jitter: nextJitter()))
    }

    /// TCP connect, TLS, INFO/CONNECT/PING/PONG handshake, all bounded by `connectTimeout`.
    private func establish(_ server: NATSServerAddress) async throws -> EstablishedConnection {
        let eventLoop = options.eventLoopGroup.next()
        let handshake = eventLoop.makePromise(of: NATSServerInfo.self)
        let closed = eventLoop.makePromise(of: NATSError?.self)
        var connect = ConnectInfo()
        connect.verbose = options.verbose
        connect.pedantic = options.pedantic
        connect.name = options.name
        connect.echo = options.echo
        connect.headers = options.headers
        connect.noResponders = options.headers
        connect.user = server.user ?? options.user
        connect.pass = server.password ?? options.password
        connect.authToken = options.token
        if connect.user != nil, connect.pass == nil, options.token == nil, server.user != nil {
            // nats://token@host form
            connect.authToken = connect.user
            connect.user = nil
        }
        let configuration = NATSChannelHandler.Configuration(
            stateMachine: .init(connectInfo: connect, requireTLS: server.tls || options.tls != nil, maxPingsOut: max(1, options.maxPingsOut)),
            sslContext: sslContext,
            serverHostname: server.host.first?.isNumber == true || server.host.contains(":") ? nil : server.host,
            pingInterval: options.pingInterval.timeAmount,
            onEvent: { [eventContinuation] event in eventContinuation.yield(event) },
            onInfo: { [weak self] info in
                guard let self else { return }
                Task { await self.serverInfoUpdated(info) }
            },
            coalescesFlushes: true
        )
        let logger = self.logger
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(options.connectTimeout.timeAmount)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = NATSChannelHandler(configuration: configuration, handshakePromise: handshake, closedPromise: closed, logger: logger)
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: server.host, port: server.port).get()
        } catch {
            let e = NATSError(code: .connectionFailed, message: "connect to \(server.host):\(server.port) failed", cause: error)
            handshake.fail(e)
            closed.succeed(e)
            throw e
        }
        let timeout = eventLoop.scheduleTask(in: options.connectTimeout.timeAmount) {
            handshake.fail(NATSError(code: .timeout, message: "NATS handshake timed out"))
            channel.close(promise: nil)
        }
        do {
            let info = try await handshake.futureResult.get()
            timeout.cancel()
            return EstablishedConnection(channel: channel, info: info, closed: closed.futureResult)
        } catch {
            timeout.cancel()
            try? await channel.close()
            throw error
        }
    }

    /// Runs `.installConnection`: the connection that just completed its handshake becomes the client's.
    /// Its close is reported to `connectionLost` under a new generation, so a late report of an earlier one is ignored.
    func installConnection() {
        guard let connection = establishedConnection else { return }
        establishedConnection = nil
        generation += 1
        let gen = generation
        channel = connection.channel
        serverInfo = connection.info
        connection.closed.whenSuccess { [weak self] error in
            guard let self else { return }
            Task { await self.connectionLost(generation: gen, error: error) }
        }
        logger.debug("NATS connected", metadata: ["server": "\(connection.info.serverName ?? "?")", "subscriptions": "\(subscriptions.count)"])
    }

    /// An asynchronous INFO (cluster topology, lame duck mode).
    private func serverInfoUpdated(_ info: NATSServerInfo) {
        guard state == .connected else { return }
        serverInfo = info
        runStateMachineActions(stateMachine.serverInfoUpdated(info))
    }
}
