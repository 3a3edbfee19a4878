import Logging
import NIOCore
import NIOSSL

/// Commands the client actor writes into the channel.
enum NATSHandlerCommand: Sendable {
    case publish(subject: String, reply: String?, headers: NATSHeaders?, payload: ByteBuffer)
    /// Register `sink` for its sid and send SUB (and UNSUB sid max when `max` is set).
    case subscribe(sink: SubscriptionSink, subject: String, queue: String?, max: Int?)
    /// Send UNSUB; without `max` the sink is removed immediately.
    case unsubscribe(sid: UInt64, max: Int?)
    /// Send PING; `promise` completes on the matching PONG.
    case ping(EventLoopPromise<Void>)
    /// Close gracefully.
    case close
}

/// Bridges `ConnectionStateMachine` to a NIO channel. One instance per TCP connection.
final class NATSChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = NATSHandlerCommand
    typealias OutboundOut = ByteBuffer

    struct Configuration: Sendable {
        var stateMachine: ConnectionStateMachine.Configuration
        var sslContext: NIOSSLContext?
        var serverHostname: String?
        var pingInterval: TimeAmount
        /// Called on the event loop for slow-consumer and non-fatal server error events.
        var onEvent: (@Sendable (NATSClientEvent) -> Void)? = nil
        /// Called on the event loop for asynchronous INFO updates after the handshake (cluster topology, lame duck).
        var onInfo: (@Sendable (NATSServerInfo) -> Void)? = nil
        /// Whether flushes asked for in one event-loop tick become one (`flush(context:)`); the client sets it. Off, each
        /// flush goes through at once (what a test driving the handler on an `EmbeddedChannel` expects).
        var coalescesFlushes = false
    }

    private var state: ConnectionStateMachine
    private var decoder: NIOSingleStepByteToMessageProcessor<NATSFrameDecoder>
    private var subscriptions: [UInt64: SubscriptionSink] = [:]
    private var pendingPings = CircularBuffer<EventLoopPromise<Void>?>()
    private var pingTask: RepeatedTask?
    private let configuration: Configuration
    private let handshakePromise: EventLoopPromise<NATSServerInfo>
    private let closedPromise: EventLoopPromise<NATSError?>
    private var logger: Logger
    private(set) var serverInfo: NATSServerInfo?
    /// A flush is queued on the event loop behind the writes queued so far: the flushes of one tick share it.
    private var flushQueued = false
    private var removed = false

    init(configuration: Configuration,
         handshakePromise: EventLoopPromise<NATSServerInfo>,
         closedPromise: EventLoopPromise<NATSError?>,
         logger: Logger) {
        self.configuration = configuration
        self.state = ConnectionStateMachine(configuration: configuration.stateMachine)
        self.decoder = NIOSingleStepByteToMessageProcessor(NATSFrameDecoder(), maximumBufferSize: NATSFrameDecoder.hardPayloadCap + 8192)
        self.handshakePromise = handshakePromise
        self.closedPromise = closedPromise
        self.logger = logger
    }

    // MARK: Inbound

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive {
            run(state.channelActive(), context: context)
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        run(state.channelActive(), context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        do {
            try decoder.process(buffer: buffer) { op in
                self.run(self.state.received(op), context: context)
            }
        } catch {
            run(state.errorCaught(error), context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is NIOSSLError || error is BoringSSLError {
            run(state.errorCaught(NATSError(code: .tlsFailure, message: "TLS failure", cause: error)), context: context)
            return
        }
        run(state.errorCaught(error), context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        run(state.channelInactive(), context: context)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        removed = true
        let error = NATSError(code: .connectionClosed, message: "handler removed")
        cleanup(error: error)
        closedPromise.succeed(state.closeError ?? error)
    }

    // MARK: Outbound

    /// Coalesces flushes: the client writes each command with its own flush from outside the event loop, so each
    /// arrives as a task of its own; the first flush of a burst queues one real flush behind the writes already queued,
    /// and the others ride on it — one system call per tick instead of one per message. A write queued after that
    /// flush ran queues the next one, so nothing is left unflushed.
    func flush(context: ChannelHandlerContext) {
        guard configuration.coalescesFlushes else {
            context.flush()
            return
        }
        guard !flushQueued else { return }
        flushQueued = true
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (handler, context) = bound.value
            handler.flushQueued = false
            guard !handler.removed else { return }
            context.flush()
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let command = unwrapOutboundIn(data)
        var out = context.channel.allocator.buffer(capacity: 64)
        do {
            switch command {
            case .publish(let subject, let reply, let headers, let payload):
                try NATSFrameEncoder.encode(.pub(subject: subject, reply: reply, headers: headers, payload: payload), into: &out)
            case .subscribe(let sink, let subject, let queue, let max):
                if sink.isFinished {
                    promise?.succeed()
                    return
                }
                subscriptions[sink.sid] = sink
                try NATSFrameEncoder.encode(.sub(subject: subject, queue: queue, sid: sink.sid), into: &out)
                if let max {
                    try NATSFrameEncoder.encode(.unsub(sid: sink.sid, max: max), into: &out)
                }
            case .unsubscribe(let sid, let max):
                if max == nil {
                    subscriptions.removeValue(forKey: sid)
                }
                try NATSFrameEncoder.encode(.unsub(sid: sid, max: max), into: &out)
            case .ping(let pingPromise):
                guard state.isConnected else {
                    pingPromise.fail(NATSError(code: .notConnected, message: "not connected"))
                    promise?.succeed()
                    return
                }
                pendingPings.append(pingPromise)
                try NATSFrameEncoder.encode(.ping, into: &out)
            case .close:
                run(state.closeRequested(), context: context)
                promise?.succeed()
                return
            }
        } catch {
            promise?.fail(error)
            return
        }
        context.write(wrapOutboundOut(out), promise: promise)
    }

    // MARK: Actions

    private func run(_ action: ConnectionStateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .sendConnect(let connect, let upgradeToTLS):
            if upgradeToTLS {
                do {
                    let ssl = try configuration.sslContext ?? NIOSSLContext(configuration: .makeClientConfiguration())
                    let handler = try NIOSSLClientHandler(context: ssl, serverHostname: configuration.serverHostname)
                    try context.pipeline.syncOperations.addHandler(handler, position: .first)
                } catch {
                    run(state.errorCaught(NATSError(code: .tlsFailure, message: "TLS setup failed", cause: error)), context: context)
                    return
                }
            }
            var out = context.channel.allocator.buffer(capacity: 256)
            do {
                try NATSFrameEncoder.encode(.connect(connect), into: &out)
                try NATSFrameEncoder.encode(.ping, into: &out)
            } catch {
                run(state.errorCaught(error), context: context)
                return
            }
            context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        case .sendPong:
            var out = context.channel.allocator.buffer(capacity: 6)
            out.writeString("PONG\r\n")
            context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        case .sendPing:
            pendingPings.append(nil)
            var out = context.channel.allocator.buffer(capacity: 6)
            out.writeString("PING\r\n")
            context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        case .handshakeComplete(let info):
            serverInfo = info
            logger.debug("NATS handshake complete", metadata: ["server": "\(info.serverName ?? info.serverID ?? "?")"])
            let interval = configuration.pingInterval
            if interval > .zero {
                let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                pingTask = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
                    let (handler, context) = bound.value
                    handler.run(handler.state.pingTimerFired(), context: context)
                }
            }
            handshakePromise.succeed(info)
        case .deliver(let message):
            guard let sink = subscriptions[message.sid] else { return }
            switch sink.offer(message) {
            case .delivered:
                break
            case .dropped(let total):
                if total == 1 || total % 1000 == 0 {
                    configuration.onEvent?(NATSClientEvent(kind: .slowConsumer, sid: message.sid, droppedMessages: total))
                    logger.warning("NATS slow consumer: dropping messages", metadata: ["sid": "\(message.sid)", "subject": "\(message.subject)", "dropped": "\(total)"])
                }
            case .finished:
                subscriptions.removeValue(forKey: message.sid)
            }
        case .pongReceived:
            if let promise = pendingPings.popFirst() {
                promise?.succeed()
            }
        case .serverInfoUpdated(let info):
            serverInfo = info
            configuration.onInfo?(info)
        case .reportServerError(let error):
            configuration.onEvent?(NATSClientEvent(kind: .serverError, error: error))
            logger.warning("NATS server error", metadata: ["error": "\(error.message)"])
        case .closeConnection(let error):
            if error.code != .closed {
                logger.debug("NATS closing connection", metadata: ["error": "\(error)"])
            }
            handshakePromise.fail(error)
            context.close(promise: nil)
        case .connectionClosed(let error):
            cleanup(error: error ?? NATSError(code: .closed, message: "connection closed"))
            closedPromise.succeed(error)
        }
    }

    private func cleanup(error: NATSError) {
        pingTask?.cancel()
        pingTask = nil
        handshakePromise.fail(error)
        while let p = pendingPings.popFirst() {
            p?.fail(error)
        }
        subscriptions.removeAll()
    }
}
