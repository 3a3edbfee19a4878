import NIOCore

/// Subscriptions: the registry by sid, SUB/UNSUB, and replaying the live subscriptions on a new connection.
extension NATSClient {

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
        subscriptions[sid] = sink
        stateMachine.subscribed(SubscriptionSpec(sid: sid, subject: subject, queue: queue))
        if state == .connected, let channel {
            enqueue(NATSHandlerCommand.subscribe(sink: sink, subject: subject, queue: queue, max: nil), to: channel)
        }
        return NATSSubscription(sid: sid, subject: subject, queue: queue, stream: stream, sink: sink, client: self)
    }

    /// Unsubscribes. With `max`, the server (and client) stop after `max` messages in total.
    public func unsubscribe(sid: UInt64, max: Int? = nil) throws {
        guard let sink = subscriptions[sid] else { return }
        if let max {
            guard max > 0 else { throw NATSError(code: .invalidArgument, message: "max must be positive") }
            if sink.setMax(max) {
                removeSubscription(sid: sid)
                sink.finish()
                if let channel { enqueue(NATSHandlerCommand.unsubscribe(sid: sid, max: nil), to: channel) }
            } else if state == .connected {
                if let channel { enqueue(NATSHandlerCommand.unsubscribe(sid: sid, max: max), to: channel) }
            }
            return
        }
        removeSubscription(sid: sid)
        sink.finish()
        if state == .connected {
            if let channel { enqueue(NATSHandlerCommand.unsubscribe(sid: sid, max: nil), to: channel) }
        }
    }

    private func sequenceTerminated(sid: UInt64) {
        guard let sink = removeSubscription(sid: sid) else { return }
        sink.finish()
        if state == .connected {
            if let channel { enqueue(NATSHandlerCommand.unsubscribe(sid: sid, max: nil), to: channel) }
        }
    }

    /// Forgets subscription `sid`, here and in the state machine (no more replays).
    @discardableResult
    private func removeSubscription(sid: UInt64) -> SubscriptionSink? {
        stateMachine.unsubscribed(sid: sid)
        return subscriptions.removeValue(forKey: sid)
    }

    /// Runs `.replaySubscriptions`: SUB (with what is left of an auto-unsubscribe max) for each subscription, in the
    /// given (sid) order, on the new connection. One whose sink finished meanwhile (its max reached) is forgotten.
    func replaySubscriptions(_ specs: [SubscriptionSpec]) {
        guard let channel else { return }
        for spec in specs {
            guard let sink = subscriptions[spec.sid], !sink.isFinished else {
                removeSubscription(sid: spec.sid)
                continue
            }
            enqueue(NATSHandlerCommand.subscribe(sink: sink, subject: spec.subject, queue: spec.queue, max: sink.remaining), to: channel)
        }
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
