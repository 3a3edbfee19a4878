import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// A NATS connection with automatic reconnect, subscriptions, request/reply and publish buffering.
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

    private struct SubscriptionRecord: Sendable {
        var subject: String
        var queue: String?
        var sink: SubscriptionSink
    }

    private struct PendingRequest {
        var continuation: CheckedContinuation<NATSMessage, any Error>
        var timeoutTask: Task<Void, Never>
    }

    public nonisolated let options: NATSOptions
    private let logger: Logger
    private var servers: [NATSServerAddress]
    private static let maxServers = 64
    private var sslContext: NIOSSLContext?

    public private(set) var state: State = .connecting
    public private(set) var serverInfo: NATSServerInfo?
    /// Number of successful reconnects.
    public private(set) var reconnectCount = 0
    private var channel: (any Channel)?
    private var generation = 0
    private var serverIndex = 0
    private var nextSID: UInt64 = 1
    private var subscriptions: [UInt64: SubscriptionRecord] = [:]
    private var reconnectBuffer: [NATSHandlerCommand] = []
    private var reconnectBufferBytes = 0
    private var reconnectTask: Task<Void, Never>?
    private var lastError: NATSError?
    private struct InFlight: Sendable {
        var count = 0
        var bytes = 0
    }
    private let inFlight = NIOLockedValueBox(InFlight())
    private static let maxInFlightWrites = 1024
    private static let maxInFlightBytes = 1 << 20

    // Request/reply mux: one wildcard inbox subscription.
    private var muxPrefix: String?
    private var pendingRequests: [String: PendingRequest] = [:]
    private var reservedTokens: Set<String> = []
    private var earlyResponses: [String: NATSMessage] = [:]
    private var muxTask: Task<Void, Never>?

    /// Informational events (connected, disconnected, reconnected, slow consumer, server error, closed).
    /// Bounded: keeps the newest 1024 unread events. Finishes when the client closes.
    public nonisolated let events: AsyncStream<NATSClientEvent>
    private let eventContinuation: AsyncStream<NATSClientEvent>.Continuation

    private init(options: NATSOptions, servers: [NATSServerAddress], logger: Logger) {
        self.options = options
        self.servers = servers
        self.logger = logger
        (events, eventContinuation) = AsyncStream.makeStream(of: NATSClientEvent.self, bufferingPolicy: .bufferingNewest(1024))
    }

    deinit {
        // Safety net if the client is dropped without close(): do not leak the socket.
        channel?.close(promise: nil)
        reconnectTask?.cancel()
        muxTask?.cancel()
        eventContinuation.finish()
    }

    /// Connects to the first reachable server in `options.servers`.
    public static func connect(_ options: NATSOptions, logger: Logger) async throws -> NATSClient {
        guard !options.servers.isEmpty else {
            throw NATSError(code: .invalidArgument, message: "no servers configured")
        }
        let servers = try options.servers.map { try NATSServerAddress(parsing: $0) }
        let client = NATSClient(options: options, servers: servers, logger: logger)
        try await client.start()
        return client
    }

    private func start() async throws {
        if let tls = options.tls {
            do {
                sslContext = try NIOSSLContext(configuration: tls)
            } catch {
                throw NATSError(code: .tlsFailure, message: "invalid TLS configuration", cause: error)
            }
        }
        var errors: [String] = []
        for (index, server) in servers.enumerated() {
            do {
                let (channel, info, closed) = try await establish(server)
                serverIndex = index
                adopt(channel: channel, info: info, closed: closed)
                eventContinuation.yield(NATSClientEvent(kind: .connected))
                return
            } catch let error as NATSError where error.code == .authorizationViolation {
                state = .closed
                eventContinuation.finish()
                throw error
            } catch {
                errors.append("\(server.host):\(server.port): \(error)")
            }
        }
        state = .closed
        eventContinuation.finish()
        throw NATSError(code: .connectionFailed, message: "could not connect to any server: \(errors.joined(separator: "; "))")
    }

    // MARK: Connection management

    private func establish(_ server: NATSServerAddress) async throws -> (any Channel, NATSServerInfo, EventLoopFuture<NATSError?>) {
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
            }
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
            return (channel, info, closed.futureResult)
        } catch {
            timeout.cancel()
            try? await channel.close()
            throw error
        }
    }

    /// Installs a freshly handshaken channel: resubscribes, flushes buffered publishes. No suspension points.
    private func adopt(channel: any Channel, info: NATSServerInfo, closed: EventLoopFuture<NATSError?>) {
        generation += 1
        let gen = generation
        self.channel = channel
        self.serverInfo = info
        mergeDiscoveredServers(info)
        closed.whenSuccess { [weak self] error in
            guard let self else { return }
            Task { await self.connectionLost(generation: gen, error: error) }
        }
        for sid in subscriptions.keys.sorted() {
            guard let record = subscriptions[sid] else { continue }
            if record.sink.isFinished {
                subscriptions.removeValue(forKey: sid)
                continue
            }
            channel.write(NATSHandlerCommand.subscribe(sink: record.sink, subject: record.subject, queue: record.queue, max: record.sink.remaining), promise: nil)
        }
        let buffered = reconnectBuffer
        reconnectBuffer.removeAll()
        reconnectBufferBytes = 0
        for command in buffered {
            channel.write(command, promise: nil)
        }
        channel.flush()
        state = .connected
        logger.debug("NATS connected", metadata: ["server": "\(info.serverName ?? "?")", "resubscribed": "\(subscriptions.count)", "flushed": "\(buffered.count)"])
    }

    private func serverInfoUpdated(_ info: NATSServerInfo) {
        guard state == .connected else { return }
        serverInfo = info
        mergeDiscoveredServers(info)
        if info.ldm == true {
            logger.info("NATS server entered lame duck mode")
            eventContinuation.yield(NATSClientEvent(kind: .lameDuck))
        }
    }

    private func mergeDiscoveredServers(_ info: NATSServerInfo) {
        guard options.discoverServers, let urls = info.connectURLs, !urls.isEmpty else { return }
        let tls = servers[serverIndex].tls
        var added = 0
        for url in urls where servers.count < Self.maxServers {
            guard var address = try? NATSServerAddress(parsing: url) else { continue }
            address.tls = tls
            if !servers.contains(where: { $0.host == address.host && $0.port == address.port }) {
                servers.append(address)
                added += 1
            }
        }
        if added > 0 {
            logger.debug("NATS discovered servers", metadata: ["added": "\(added)", "known": "\(servers.count)"])
            eventContinuation.yield(NATSClientEvent(kind: .serversDiscovered))
        }
    }

    /// Servers in the reconnect pool (configured plus discovered), as `host:port`.
    public var knownServers: [String] {
        servers.map { $0.host.contains(":") ? "[\($0.host)]:\($0.port)" : "\($0.host):\($0.port)" }
    }

    private func connectionLost(generation gen: Int, error: NATSError?) {
        guard gen == generation, state != .closed else { return }
        channel = nil
        lastError = error
        logger.info("NATS connection lost", metadata: ["error": "\(error.map { "\($0)" } ?? "none")"])
        eventContinuation.yield(NATSClientEvent(kind: .disconnected, error: error))
        guard options.reconnect.enabled else {
            shutdown(error ?? NATSError(code: .connectionClosed, message: "connection lost"))
            return
        }
        state = .reconnecting
        reconnectTask = Task { await self.reconnectLoop() }
    }

    private func reconnectLoop() async {
        var attempt = 0
        var rng = SystemRandomNumberGenerator()
        while state == .reconnecting {
            if let maxAttempts = options.reconnect.maxAttempts, attempt >= maxAttempts {
                shutdown(NATSError(code: .connectionClosed, message: "gave up reconnecting after \(attempt) attempts", cause: lastError))
                return
            }
            let delay = options.reconnect.delay(forAttempt: attempt, random: Double.random(in: 0..<1, using: &rng))
            do {
                try await Task.sleep(for: delay)
            } catch {
                return
            }
            guard state == .reconnecting, !Task.isCancelled else { return }
            // Rotate through the pool: the server we just lost goes last.
            serverIndex = (serverIndex + 1) % servers.count
            let server = servers[serverIndex]
            attempt += 1
            do {
                let (channel, info, closed) = try await establish(server)
                guard state == .reconnecting else {
                    channel.close(promise: nil)
                    return
                }
                reconnectCount += 1
                adopt(channel: channel, info: info, closed: closed)
                eventContinuation.yield(NATSClientEvent(kind: .reconnected))
                logger.info("NATS reconnected", metadata: ["attempts": "\(attempt)", "server": "\(server.host):\(server.port)"])
                return
            } catch {
                lastError = (error as? NATSError) ?? NATSError(code: .connectionFailed, message: "reconnect failed", cause: error)
                logger.debug("NATS reconnect attempt failed", metadata: ["attempt": "\(attempt)", "error": "\(error)"])
            }
        }
    }

    /// Terminal: finishes all subscriptions and fails pending requests.
    private func shutdown(_ error: NATSError) {
        guard state != .closed else { return }
        state = .closed
        lastError = error
        reconnectTask?.cancel()
        reconnectTask = nil
        if let channel {
            channel.writeAndFlush(NATSHandlerCommand.close, promise: nil)
            channel.close(promise: nil)
        }
        channel = nil
        let subs = subscriptions
        subscriptions.removeAll()
        for record in subs.values { record.sink.finish() }
        let pending = pendingRequests
        pendingRequests.removeAll()
        for p in pending.values {
            p.timeoutTask.cancel()
            p.continuation.resume(throwing: error)
        }
        reconnectBuffer.removeAll()
        reconnectBufferBytes = 0
        muxTask?.cancel()
        muxTask = nil
        eventContinuation.yield(NATSClientEvent(kind: .closed, error: error.code == .closed ? nil : error))
        eventContinuation.finish()
    }

    // MARK: Public API

    public var isConnected: Bool { state == .connected }

    /// Publishes a message. While reconnecting, the publish is buffered (up to `reconnectBufferSize` bytes,
    /// beyond that it throws `.reconnectBufferFull`). When the socket's write buffer is above its high-water mark,
    /// the call waits until the message is written (backpressure) instead of buffering without bound.
    public func publish(_ subject: String, payload: ByteBuffer = ByteBuffer(), headers: NATSHeaders? = nil, reply: String? = nil) async throws {
        try NATSFrameEncoder.validateSubject(subject, allowWildcards: false)
        if let reply { try NATSFrameEncoder.validateSubject(reply, allowWildcards: false) }
        let headers = headers.flatMap { $0.isEmpty ? nil : $0 }
        if let headers {
            guard options.headers, serverInfo?.headers != false else {
                throw NATSError(code: .invalidArgument, message: "headers are not supported on this connection")
            }
            try headers.validate()
        }
        let size = payload.readableBytes + (headers?.encodedLength ?? 0)
        let maxPayload = serverInfo?.maxPayload ?? NATSFrameDecoder.defaultMaxPayload
        guard size <= maxPayload else {
            throw NATSError(code: .payloadTooLarge, message: "message of \(size) bytes exceeds max_payload \(maxPayload)")
        }
        let command = NATSHandlerCommand.publish(subject: subject, reply: reply, headers: headers, payload: payload)
        switch state {
        case .connected:
            guard let channel else { throw NATSError(code: .notConnected, message: "no channel") }
            // Bounded in-flight window: writes handed to the event loop but not yet written to the socket.
            // Beyond it, wait for this write (and thus all earlier ones) to complete: backpressure instead of
            // unbounded queueing on the (shared) event loop.
            let cost = size + subject.utf8.count + 32
            let window = inFlight
            let overLimit = window.withLockedValue { w -> Bool in
                w.count += 1
                w.bytes += cost
                return w.count > Self.maxInFlightWrites || w.bytes > Self.maxInFlightBytes
            }
            let promise = channel.eventLoop.makePromise(of: Void.self)
            let future = promise.futureResult
            channel.writeAndFlush(command, promise: promise)
            future.whenComplete { _ in
                window.withLockedValue { w in
                    w.count -= 1
                    w.bytes -= cost
                }
            }
            if overLimit || !channel.isWritable {
                do {
                    try await future.get()
                } catch {
                    throw NATSError(code: .connectionClosed, message: "publish failed: connection lost while waiting for write", cause: error)
                }
            }
        case .connecting, .reconnecting:
            let cost = size + subject.utf8.count + (reply?.utf8.count ?? 0) + 32
            guard reconnectBufferBytes + cost <= options.reconnectBufferSize else {
                throw NATSError(code: .reconnectBufferFull, message: "reconnect buffer full (\(reconnectBufferBytes) of \(options.reconnectBufferSize) bytes)")
            }
            reconnectBufferBytes += cost
            reconnectBuffer.append(command)
        default:
            throw NATSError(code: .closed, message: "client is closed", cause: lastError)
        }
    }

    public func publish(_ subject: String, payload: [UInt8], headers: NATSHeaders? = nil, reply: String? = nil) async throws {
        try await publish(subject, payload: ByteBuffer(bytes: payload), headers: headers, reply: reply)
    }

    public func publish(_ subject: String, payload: String, headers: NATSHeaders? = nil, reply: String? = nil) async throws {
        try await publish(subject, payload: ByteBuffer(string: payload), headers: headers, reply: reply)
    }

    /// PING/PONG round trip: when it returns, the server has processed everything published before.
    public func flush(timeout: Duration = .seconds(5)) async throws {
        guard state == .connected, let channel else {
            throw NATSError(code: state == .closed ? .closed : .notConnected, message: "flush requires a connection")
        }
        let promise = channel.eventLoop.makePromise(of: Void.self)
        let timer = channel.eventLoop.scheduleTask(in: timeout.timeAmount) {
            promise.fail(NATSError(code: .timeout, message: "flush timed out"))
        }
        channel.writeAndFlush(NATSHandlerCommand.ping(promise), promise: nil)
        defer { timer.cancel() }
        try await promise.futureResult.get()
    }

    /// Subscribes to `subject` (wildcards allowed), optionally in a queue group.
    /// The returned sequence buffers at most `bufferSize` messages; excess messages are dropped
    /// and counted in `droppedMessages` (slow consumer).
    public func subscribe(_ subject: String, queue: String? = nil, bufferSize: Int? = nil) throws -> NATSSubscription {
        try NATSFrameEncoder.validateSubject(subject, allowWildcards: true)
        if let queue { try NATSFrameEncoder.validateQueue(queue) }
        guard state != .closed else { throw NATSError(code: .closed, message: "client is closed", cause: lastError) }
        let capacity = max(1, bufferSize ?? options.subscriptionBufferSize)
        let sid = nextSID
        nextSID += 1
        let (stream, continuation) = AsyncStream.makeStream(of: NATSMessage.self, bufferingPolicy: .bufferingOldest(capacity))
        continuation.onTermination = { [weak self] _ in
            guard let self else { return }
            Task { await self.sequenceTerminated(sid: sid) }
        }
        let sink = SubscriptionSink(sid: sid, continuation: continuation)
        subscriptions[sid] = SubscriptionRecord(subject: subject, queue: queue, sink: sink)
        if state == .connected, let channel {
            channel.writeAndFlush(NATSHandlerCommand.subscribe(sink: sink, subject: subject, queue: queue, max: nil), promise: nil)
        }
        return NATSSubscription(sid: sid, subject: subject, queue: queue, stream: stream, sink: sink, client: self)
    }

    /// Unsubscribes. With `max`, the server (and client) stop after `max` messages in total.
    public func unsubscribe(sid: UInt64, max: Int? = nil) throws {
        guard let record = subscriptions[sid] else { return }
        if let max {
            guard max > 0 else { throw NATSError(code: .invalidArgument, message: "max must be positive") }
            if record.sink.setMax(max) {
                subscriptions.removeValue(forKey: sid)
                record.sink.finish()
                channel?.writeAndFlush(NATSHandlerCommand.unsubscribe(sid: sid, max: nil), promise: nil)
            } else if state == .connected {
                channel?.writeAndFlush(NATSHandlerCommand.unsubscribe(sid: sid, max: max), promise: nil)
            }
            return
        }
        subscriptions.removeValue(forKey: sid)
        record.sink.finish()
        if state == .connected {
            channel?.writeAndFlush(NATSHandlerCommand.unsubscribe(sid: sid, max: nil), promise: nil)
        }
    }

    private func sequenceTerminated(sid: UInt64) {
        guard let record = subscriptions.removeValue(forKey: sid) else { return }
        record.sink.finish()
        if state == .connected {
            channel?.writeAndFlush(NATSHandlerCommand.unsubscribe(sid: sid, max: nil), promise: nil)
        }
    }

    /// A fresh unique inbox subject.
    public func newInbox() -> String {
        "\(options.inboxPrefix).\(Self.randomToken())"
    }

    /// Request/reply over a single multiplexed inbox subscription.
    /// Throws `.noResponders` on a 503 status and `.timeout` when no reply arrives in time.
    public func request(_ subject: String, payload: ByteBuffer = ByteBuffer(), headers: NATSHeaders? = nil, timeout: Duration? = nil) async throws -> NATSMessage {
        let prefix = try ensureMux()
        let token = Self.randomToken()
        let timeout = timeout ?? options.requestTimeout
        // Reserve the token first: publish may suspend (backpressure) and the reply can arrive before
        // the continuation is registered; such early replies are parked in `earlyResponses`.
        reservedTokens.insert(token)
        do {
            try await publish(subject, payload: payload, headers: headers, reply: prefix + token)
        } catch {
            reservedTokens.remove(token)
            earlyResponses.removeValue(forKey: token)
            throw error
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<NATSMessage, any Error>) in
                reservedTokens.remove(token)
                if let early = earlyResponses.removeValue(forKey: token) {
                    if early.status == 503 {
                        continuation.resume(throwing: NATSError(code: .noResponders, message: "no responders available for request"))
                    } else {
                        continuation.resume(returning: early)
                    }
                    return
                }
                if Task.isCancelled {
                    continuation.resume(throwing: CancellationError())
                    return
                }
                let timeoutTask = Task { [weak self] in
                    do { try await Task.sleep(for: timeout) } catch { return }
                    await self?.failRequest(token: token, error: NATSError(code: .timeout, message: "request to '\(subject)' timed out after \(timeout)"))
                }
                pendingRequests[token] = PendingRequest(continuation: continuation, timeoutTask: timeoutTask)
            }
        } onCancel: {
            Task { await self.failRequest(token: token, error: CancellationError()) }
        }
    }

    public func request(_ subject: String, payload: [UInt8], headers: NATSHeaders? = nil, timeout: Duration? = nil) async throws -> NATSMessage {
        try await request(subject, payload: ByteBuffer(bytes: payload), headers: headers, timeout: timeout)
    }

    public func request(_ subject: String, payload: String, headers: NATSHeaders? = nil, timeout: Duration? = nil) async throws -> NATSMessage {
        try await request(subject, payload: ByteBuffer(string: payload), headers: headers, timeout: timeout)
    }

    private func ensureMux() throws -> String {
        if let muxPrefix { return muxPrefix }
        let prefix = "\(options.inboxPrefix).\(Self.randomToken())."
        let sub = try subscribe(prefix + "*", bufferSize: 65_536)
        muxPrefix = prefix
        muxTask = Task { [weak self] in
            for await message in sub {
                guard let self else { return }
                await self.resolveResponse(message)
            }
        }
        return prefix
    }

    private func resolveResponse(_ message: NATSMessage) {
        guard let prefix = muxPrefix, message.subject.hasPrefix(prefix) else { return }
        let token = String(message.subject.dropFirst(prefix.count))
        guard let pending = pendingRequests.removeValue(forKey: token) else {
            if reservedTokens.contains(token) { earlyResponses[token] = message }
            return
        }
        pending.timeoutTask.cancel()
        if message.status == 503 {
            pending.continuation.resume(throwing: NATSError(code: .noResponders, message: "no responders available for request"))
        } else {
            pending.continuation.resume(returning: message)
        }
    }

    private func failRequest(token: String, error: any Error) {
        guard let pending = pendingRequests.removeValue(forKey: token) else { return }
        pending.timeoutTask.cancel()
        pending.continuation.resume(throwing: error)
    }

    /// Unsubscribes everything, flushes, then closes. Buffered messages remain readable from subscriptions.
    public func drain(timeout: Duration = .seconds(5)) async {
        if state == .connected, let channel {
            for sid in subscriptions.keys.sorted() {
                channel.write(NATSHandlerCommand.unsubscribe(sid: sid, max: nil), promise: nil)
            }
            channel.flush()
            try? await flush(timeout: timeout)
        }
        await close()
    }

    /// Closes the connection for good. Subscriptions end; pending requests fail with `.closed`.
    public func close() async {
        guard state != .closed else { return }
        let channel = self.channel
        shutdown(NATSError(code: .closed, message: "client closed"))
        if let channel {
            try? await channel.closeFuture.get()
        }
    }

    static func randomToken(length: Int = 22) -> String {
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
        var rng = SystemRandomNumberGenerator()
        var bytes = [UInt8]()
        bytes.reserveCapacity(length)
        for _ in 0..<length { bytes.append(alphabet[Int.random(in: 0..<alphabet.count, using: &rng)]) }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Messages of one subscription. Ends when unsubscribed (or the auto-unsubscribe max is reached)
/// or when the client closes for good.
public struct NATSSubscription: AsyncSequence, Sendable {
    public typealias Element = NATSMessage
    public typealias AsyncIterator = AsyncStream<NATSMessage>.Iterator

    public let sid: UInt64
    public let subject: String
    public let queue: String?
    let stream: AsyncStream<NATSMessage>
    let sink: SubscriptionSink
    public let client: NATSClient

    init(sid: UInt64, subject: String, queue: String?, stream: AsyncStream<NATSMessage>, sink: SubscriptionSink, client: NATSClient) {
        self.sid = sid
        self.subject = subject
        self.queue = queue
        self.stream = stream
        self.sink = sink
        self.client = client
    }

    public func makeAsyncIterator() -> AsyncStream<NATSMessage>.Iterator {
        stream.makeAsyncIterator()
    }

    public func unsubscribe(max: Int? = nil) async throws {
        try await client.unsubscribe(sid: sid, max: max)
    }

    /// Messages dropped because the buffer was full (slow consumer).
    public var droppedMessages: Int { sink.dropped }
    /// Messages received from the server for this subscription (including dropped ones).
    public var receivedMessages: Int { sink.delivered }
}
