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
    private func write(_ command: NATSHandlerCommand, cost: Int, to channel: any Channel) async throws {
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
    }

    /// Runs `.flushBuffer`: writes the publishes buffered while disconnected, in order, on the new connection.
    func flushBuffer(_ publishes: [BufferedPublish]) {
        guard let channel else { return }
        for publish in publishes {
            channel.write(publish.command, promise: nil)
        }
        channel.flush()
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
        channel.writeAndFlush(NATSHandlerCommand.ping(promise), promise: nil)
        defer { timer.cancel() }
        try await promise.futureResult.get()
    }
}
