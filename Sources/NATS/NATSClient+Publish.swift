import NIOConcurrencyHelpers
import NIOCore

/// Publishing: validation, the in-flight write window (backpressure) while connected, the reconnect buffer (decided by
/// the state machine) while not, and `flush`.
extension NATSClient {

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
        let publish = BufferedPublish(subject: subject, reply: reply, headers: headers, payload: payload)
        switch stateMachine.publish(publish) {
        case .write:
            guard let channel else { throw NATSError(code: .notConnected, message: "no channel") }
            try await write(publish.command, cost: size + subject.utf8.count + 32, to: channel)
        case .buffered:
            return
        case .fail(let error):
            throw error
        }
    }

    public func publish(_ subject: String, payload: [UInt8], headers: NATSHeaders? = nil, reply: String? = nil) async throws {
        try await publish(subject, payload: ByteBuffer(bytes: payload), headers: headers, reply: reply)
    }

    public func publish(_ subject: String, payload: String, headers: NATSHeaders? = nil, reply: String? = nil) async throws {
        try await publish(subject, payload: ByteBuffer(string: payload), headers: headers, reply: reply)
    }

    /// Bounded in-flight window: writes handed to the event loop but not yet written to the socket.
    /// Beyond it, wait for this write (and thus all earlier ones) to complete: backpressure instead of
    /// unbounded queueing on the (shared) event loop.
    ///
    /// Batched: the commands written while the event loop has not yet taken the last batch join it, and the loop takes
    /// them with one task, writes them in order and flushes once — one hop and one system call for a burst, not one
    /// each. Every writer of a batch shares its completion.
    private func write(_ command: NATSHandlerCommand, cost: Int, to channel: any Channel) async throws {
        let overLimit = inFlight.withLockedValue { w in w.count >= Self.maxInFlightWrites || w.bytes + cost > Self.maxInFlightBytes }
        let future = enqueue(command, cost: cost, to: channel)
        if overLimit || !channel.isWritable {
            do {
                try await future.get()
            } catch {
                throw NATSError(code: .connectionClosed, message: "publish failed: connection lost while waiting for write", cause: error)
            }
        }
    }

    /// Queues a command for `channel` behind every command queued before it — publishes, subscriptions, pings alike, so
    /// the server sees them in the order the client issued them. The future completes when it is written.
    @discardableResult
    func enqueue(_ command: NATSHandlerCommand, cost: Int = 0, to channel: any Channel) -> EventLoopFuture<Void> {
        let window = inFlight
        window.withLockedValue { w in
            w.count += 1
            w.bytes += cost
        }
        if writeBatch?.channel !== channel { writeBatch = WriteBatch(channel: channel) }
        let batch = writeBatch ?? WriteBatch(channel: channel)
        let (future, first) = batch.add(command, cost: cost)
        if first {
            channel.eventLoop.execute {
                let taken = batch.take()
                for (index, command) in taken.commands.enumerated() {
                    channel.write(command, promise: index == taken.commands.count - 1 ? taken.promise : nil)
                }
                channel.flush()
                taken.promise?.futureResult.whenComplete { _ in
                    window.withLockedValue { w in
                        w.count -= taken.commands.count
                        w.bytes -= taken.cost
                    }
                }
            }
        }
        return future
    }

    /// Runs `.flushBuffer`: writes the publishes buffered while disconnected, in order, on the new connection.
    func flushBuffer(_ publishes: [BufferedPublish]) {
        guard let channel else { return }
        for publish in publishes {
            enqueue(publish.command, to: channel)
        }
        logger.debug("NATS flushed reconnect buffer", metadata: ["publishes": "\(publishes.count)"])
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
        enqueue(NATSHandlerCommand.ping(promise), to: channel)
        defer { timer.cancel() }
        try await promise.futureResult.get()
    }
}

/// The commands written to one channel since its event loop last took them, and the promise their batch completes
/// (when its last command, and so every earlier one, is written). Shared by the client actor, which adds, and the
/// event loop, which takes.
final class WriteBatch: Sendable {
    struct Taken: Sendable {
        var commands: [NATSHandlerCommand] = []
        var cost = 0
        var promise: EventLoopPromise<Void>?
    }

    let channel: any Channel
    private let pending = NIOLockedValueBox(Taken())

    init(channel: any Channel) {
        self.channel = channel
    }

    /// Adds a command; returns the future of its batch and whether it started the batch (then the caller hands the
    /// batch to the event loop).
    func add(_ command: NATSHandlerCommand, cost: Int) -> (EventLoopFuture<Void>, first: Bool) {
        pending.withLockedValue { batch in
            batch.commands.append(command)
            batch.cost += cost
            if let promise = batch.promise { return (promise.futureResult, false) }
            let promise = channel.eventLoop.makePromise(of: Void.self)
            batch.promise = promise
            return (promise.futureResult, true)
        }
    }

    /// Everything added so far; the next `add` starts a new batch.
    func take() -> Taken {
        pending.withLockedValue { batch in
            defer { batch = Taken() }
            return batch
        }
    }
}
