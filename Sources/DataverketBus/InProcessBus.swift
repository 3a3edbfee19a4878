import DataverketCore
import Logging

/// The embedded bus (DESIGN.md "Bus"): no servers, everything in this process, with the semantics of the
/// JetStream bus — work-queue `DV_CMD`, limits `DV_EVT` and `DV_DLQ`, `id` de-duplication within a window,
/// durable pull consumers with ack / nak(delay) / in-progress / term, redelivery after `ackWait`, bounded memory.
///
/// Nothing survives the process: this is the embedded default, not a durable store.
public actor InProcessBus: Bus {
    public struct Configuration: Sendable, Hashable {
        /// Window in which a second publish with the same `id` is acknowledged as a duplicate and not stored.
        public var duplicateWindow: Duration
        /// Messages kept per stream. Limits streams (`DV_EVT`, `DV_DLQ`) drop their oldest message when full;
        /// the work-queue stream (`DV_CMD`) rejects publishes with `.unavailable` until messages are settled.
        public var maxMessagesPerStream: Int
        /// Messages buffered per `subscribe`r; when full, newer broadcasts are dropped for that subscriber.
        public var subscriberBufferSize: Int
        /// Largest message (payload plus headers) accepted, like the NATS server's `max_payload` (1 MiB by default).
        public var maxMessageBytes: Int

        public init(duplicateWindow: Duration = .seconds(120), maxMessagesPerStream: Int = 100_000, subscriberBufferSize: Int = 1024,
                    maxMessageBytes: Int = 1 << 20) {
            self.duplicateWindow = duplicateWindow
            self.maxMessagesPerStream = maxMessagesPerStream
            self.subscriberBufferSize = subscriberBufferSize
            self.maxMessageBytes = maxMessageBytes
        }
    }

    /// Subjects of each stream; identical to the JetStream bus's stream configuration.
    struct StreamDefinition: Sendable {
        var stream: BusStream
        var subjects: [String]
        var workQueue: Bool
    }

    static let definitions: [StreamDefinition] = [
        StreamDefinition(stream: .commands, subjects: ["dv.*.cmd.>"], workQueue: true),
        StreamDefinition(stream: .events, subjects: ["dv.*.evt.>"], workQueue: false),
        StreamDefinition(stream: .deadLetters, subjects: ["dv.dlq.dv.>"], workQueue: false),
    ]

    private struct StreamState {
        var definition: StreamDefinition
        var messages: [UInt64: BusMessage] = [:]
        /// No message below this sequence is stored.
        var firstSeq: UInt64 = 1
        var lastSeq: UInt64 = 0
        var dedupe: [String: (seq: UInt64, at: ContinuousClock.Instant)] = [:]
        var dedupeOrder: [(id: String, at: ContinuousClock.Instant)] = []
        var dedupeHead = 0
    }

    struct ConsumerKey: Hashable, Sendable {
        var stream: String
        var name: String
    }

    private struct Pending {
        var deliveries: Int
        /// When it becomes deliverable again (ack-wait expiry or nak delay).
        var redeliverAt: ContinuousClock.Instant
    }

    private struct ConsumerState {
        var filters: [String]
        var ackWait: Duration
        var maxDeliver: Int
        var nextSeq: UInt64 = 1
        var pending: [UInt64: Pending] = [:]
        /// Server-side delivery limit: one more than the spec's, so the client's dead-lettering on the last attempt wins.
        var deliveryLimit: Int { maxDeliver + 1 }

        func accepts(_ subject: String) -> Bool {
            filters.isEmpty || filters.contains { SubjectPattern.matches($0, subject) }
        }
    }

    private struct Waiter {
        var key: ConsumerKey
        var continuation: CheckedContinuation<Void, Never>
        var timer: Task<Void, Never>?
    }

    private struct Subscriber {
        var pattern: String
        var continuation: AsyncStream<BusMessage>.Continuation
    }

    public nonisolated let configuration: Configuration
    private let logger: Logger
    private let clock = ContinuousClock()
    private var streams: [String: StreamState]
    private var consumers: [ConsumerKey: ConsumerState] = [:]
    private var waiters: [Int: Waiter] = [:]
    private var subscribers: [Int: Subscriber] = [:]
    private var nextID = 0
    private var closed = false

    public init(configuration: Configuration = Configuration(), logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        var streams: [String: StreamState] = [:]
        for definition in Self.definitions {
            streams[definition.stream.name] = StreamState(definition: definition)
        }
        self.streams = streams
    }

    // MARK: Bus

    /// The streams always exist in process; this only checks the bus is open.
    public func provision() async throws {
        try ensureOpen()
    }

    @discardableResult
    public func publish(_ message: BusMessage) async throws -> PublishAck {
        try ensureOpen()
        try message.validate(stored: true, maxBytes: configuration.maxMessageBytes)
        guard let name = Self.streamName(for: message.subject), var stream = streams[name] else {
            throw DataverketError(.invalidArgument, "no stream accepts subject '\(message.subject)'")
        }
        let now = clock.now
        Self.expireDedupe(&stream, now: now, window: configuration.duplicateWindow)
        if let entry = stream.dedupe[message.id] {
            streams[name] = stream
            return PublishAck(stream: name, sequence: entry.seq, duplicate: true)
        }
        let limit = max(1, configuration.maxMessagesPerStream)
        if stream.messages.count >= limit {
            if stream.definition.workQueue {
                streams[name] = stream
                throw DataverketError(.unavailable, "stream \(name) is full (\(limit) unsettled messages); retry later")
            }
            while stream.messages.count >= limit, stream.firstSeq <= stream.lastSeq {
                let dropped = stream.firstSeq
                stream.messages.removeValue(forKey: dropped)
                stream.firstSeq += 1
                forgetPending(stream: name, seq: dropped)
            }
            logger.trace("in-process bus dropped oldest message", metadata: ["stream": "\(name)", "first_seq": "\(stream.firstSeq)"])
        }
        stream.lastSeq += 1
        let seq = stream.lastSeq
        stream.messages[seq] = message
        stream.dedupe[message.id] = (seq, now)
        stream.dedupeOrder.append((message.id, now))
        // The de-duplication table is bounded too: beyond twice the stream size the oldest ids are forgotten.
        while stream.dedupe.count > 2 * limit, stream.dedupeHead < stream.dedupeOrder.count {
            Self.popDedupe(&stream)
        }
        streams[name] = stream
        wakeWaiters(stream: name, subject: message.subject)
        return PublishAck(stream: name, sequence: seq, duplicate: false)
    }

    public func consumer(_ spec: ConsumerSpec) async throws -> any BusConsumer {
        try ensureOpen()
        try Self.validateName(spec.name)
        for filter in spec.filterSubjects {
            try SubjectPattern.validate(filter, wildcards: true, field: "filterSubjects")
        }
        guard spec.ackWait > .zero else { throw DataverketError.invalid("ackWait", "must be positive") }
        guard spec.maxDeliver >= 1 else { throw DataverketError.invalid("maxDeliver", "must be at least 1") }
        guard let stream = streams[spec.stream.name] else {
            throw DataverketError(.invalidArgument, "unknown stream \(spec.stream)")
        }
        let key = ConsumerKey(stream: spec.stream.name, name: spec.name)
        if stream.definition.workQueue {
            // Like JetStream: on a work-queue stream, differently named consumers must not overlap.
            let mine = spec.filterSubjects.isEmpty ? [">"] : spec.filterSubjects
            for (otherKey, other) in consumers where otherKey.stream == key.stream && otherKey != key {
                let theirs = other.filters.isEmpty ? [">"] : other.filters
                if mine.contains(where: { a in theirs.contains { b in SubjectPattern.overlaps(a, b) } }) {
                    throw DataverketError(.conflict, "consumer '\(spec.name)' overlaps consumer '\(otherKey.name)' on work-queue stream \(key.stream)")
                }
            }
        }
        if var existing = consumers[key] {
            existing.filters = spec.filterSubjects
            existing.ackWait = spec.ackWait
            existing.maxDeliver = spec.maxDeliver
            consumers[key] = existing
        } else {
            consumers[key] = ConsumerState(filters: spec.filterSubjects, ackWait: spec.ackWait, maxDeliver: spec.maxDeliver)
        }
        return InProcessConsumer(bus: self, key: key, maxDeliver: spec.maxDeliver)
    }

    public func subscribe(_ subject: String) async throws -> AsyncStream<BusMessage> {
        try ensureOpen()
        try SubjectPattern.validate(subject, wildcards: true)
        let id = takeID()
        let (stream, continuation) = AsyncStream.makeStream(of: BusMessage.self, bufferingPolicy: .bufferingOldest(max(1, configuration.subscriberBufferSize)))
        continuation.onTermination = { [weak self] _ in
            Task { await self?.removeSubscriber(id) }
        }
        subscribers[id] = Subscriber(pattern: subject, continuation: continuation)
        return stream
    }

    public func broadcast(_ message: BusMessage) async throws {
        try ensureOpen()
        try message.validate(stored: false, maxBytes: configuration.maxMessageBytes)
        for subscriber in subscribers.values where SubjectPattern.matches(subscriber.pattern, message.subject) {
            if case .dropped = subscriber.continuation.yield(message) {
                logger.trace("in-process bus subscriber full, broadcast dropped", metadata: ["subject": "\(message.subject)"])
            }
        }
    }

    /// Ends outstanding fetches and subscriptions; later calls throw `.unavailable`.
    public func close() async {
        guard !closed else { return }
        closed = true
        for id in Array(waiters.keys) { wake(id) }
        for subscriber in subscribers.values { subscriber.continuation.finish() }
        subscribers.removeAll()
    }

    // MARK: Extras

    /// Deletes the durable consumer `spec.name` on `spec.stream` and its delivery state (no-op when it does not exist).
    public func deleteConsumer(_ spec: ConsumerSpec) {
        let key = ConsumerKey(stream: spec.stream.name, name: spec.name)
        consumers.removeValue(forKey: key)
        for (id, waiter) in waiters where waiter.key == key { wake(id) }
    }

    /// Number of messages currently stored in `stream`.
    public func messageCount(_ stream: BusStream) -> Int {
        streams[stream.name]?.messages.count ?? 0
    }

    // MARK: Consumers

    func fetch(_ key: ConsumerKey, batch: Int, wait: Duration) async throws -> [BusDelivery] {
        guard batch >= 1, batch <= 10_000 else { throw DataverketError.invalid("batch", "must be in 1...10000") }
        try ensureOpen()
        let deadline = clock.now.advanced(by: max(wait, .zero))
        while true {
            if closed { return [] }  // closed while waiting: the fetch ends empty
            guard consumers[key] != nil else {
                throw DataverketError(.notFound, "consumer '\(key.name)' on \(key.stream) no longer exists")
            }
            let deliveries = collect(key, batch: batch)
            let now = clock.now
            if !deliveries.isEmpty || now >= deadline { return deliveries }
            try Task.checkCancellation()
            var wakeAt = deadline
            if let next = consumers[key]?.pending.values.map(\.redeliverAt).min(), next < wakeAt {
                wakeAt = next
            }
            await sleep(key, until: wakeAt)
        }
    }

    private func collect(_ key: ConsumerKey, batch: Int) -> [BusDelivery] {
        guard var consumer = consumers[key], let stream = streams[key.stream] else { return [] }
        let now = clock.now
        var out: [BusDelivery] = []
        // Redeliveries first (oldest sequence first), then new messages.
        let due = consumer.pending.filter { $0.value.redeliverAt <= now }.keys.sorted()
        for seq in due where out.count < batch {
            guard let message = stream.messages[seq], var pending = consumer.pending[seq] else {
                consumer.pending.removeValue(forKey: seq)
                continue
            }
            guard pending.deliveries < consumer.deliveryLimit else {
                // Exhausted: never redelivered (the message stays in a work-queue stream, as in JetStream).
                consumer.pending.removeValue(forKey: seq)
                continue
            }
            pending.deliveries += 1
            pending.redeliverAt = now.advanced(by: consumer.ackWait)
            consumer.pending[seq] = pending
            out.append(delivery(key, seq: seq, message: message, attempt: pending.deliveries, maxDeliver: consumer.maxDeliver))
        }
        consumer.nextSeq = max(consumer.nextSeq, stream.firstSeq)
        while out.count < batch, consumer.nextSeq <= stream.lastSeq {
            let seq = consumer.nextSeq
            consumer.nextSeq += 1
            guard let message = stream.messages[seq], consumer.accepts(message.subject) else { continue }
            consumer.pending[seq] = Pending(deliveries: 1, redeliverAt: now.advanced(by: consumer.ackWait))
            out.append(delivery(key, seq: seq, message: message, attempt: 1, maxDeliver: consumer.maxDeliver))
        }
        consumers[key] = consumer
        return out
    }

    private func delivery(_ key: ConsumerKey, seq: UInt64, message: BusMessage, attempt: Int, maxDeliver: Int) -> BusDelivery {
        BusDelivery(message: message, attempt: attempt, maxDeliver: maxDeliver) { [self] settlement in
            try await self.settle(key, seq: seq, settlement)
        }
    }

    func settle(_ key: ConsumerKey, seq: UInt64, _ settlement: BusDelivery.Settlement) throws {
        if closed { throw DataverketError(.unavailable, "bus is closed") }
        // Settling something no longer pending (already settled, or the consumer is gone) is a no-op, as in JetStream.
        guard var consumer = consumers[key], var pending = consumer.pending[seq] else { return }
        let now = clock.now
        switch settlement {
        case .ack, .term:
            consumer.pending.removeValue(forKey: seq)
            if streams[key.stream]?.definition.workQueue == true {
                streams[key.stream]?.messages.removeValue(forKey: seq)
            }
        case .nak(let delay):
            if pending.deliveries >= consumer.deliveryLimit {
                consumer.pending.removeValue(forKey: seq)
            } else {
                pending.redeliverAt = now.advanced(by: max(delay ?? .zero, .zero))
                consumer.pending[seq] = pending
            }
        case .inProgress:
            pending.redeliverAt = now.advanced(by: consumer.ackWait)
            consumer.pending[seq] = pending
        }
        consumers[key] = consumer
        if case .nak = settlement {
            // Waiters recompute their wake-up time (the redelivery may now be due earlier).
            for (id, waiter) in waiters where waiter.key == key { wake(id) }
        }
    }

    // MARK: Waiting

    /// Suspends until woken by a publish/nak, `until` passes, the bus closes or the task is cancelled.
    private func sleep(_ key: ConsumerKey, until: ContinuousClock.Instant) async {
        let id = takeID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                if Task.isCancelled || closed {
                    continuation.resume()
                    return
                }
                let timer = Task { [weak self] in
                    try? await Task.sleep(until: until, clock: .continuous)
                    await self?.wake(id)
                }
                waiters[id] = Waiter(key: key, continuation: continuation, timer: timer)
            }
        } onCancel: {
            Task { await self.wake(id) }
        }
    }

    private func wake(_ id: Int) {
        guard let waiter = waiters.removeValue(forKey: id) else { return }
        waiter.timer?.cancel()
        waiter.continuation.resume()
    }

    private func wakeWaiters(stream: String, subject: String) {
        for (id, waiter) in waiters where waiter.key.stream == stream {
            if consumers[waiter.key]?.accepts(subject) ?? true { wake(id) }
        }
    }

    // MARK: Helpers

    private func ensureOpen() throws {
        if closed { throw DataverketError(.unavailable, "bus is closed") }
    }

    private func takeID() -> Int {
        nextID += 1
        return nextID
    }

    private func removeSubscriber(_ id: Int) {
        subscribers.removeValue(forKey: id)
    }

    private func forgetPending(stream: String, seq: UInt64) {
        for key in consumers.keys where key.stream == stream {
            consumers[key]?.pending.removeValue(forKey: seq)
        }
    }

    static func streamName(for subject: String) -> String? {
        definitions.first { $0.subjects.contains { SubjectPattern.matches($0, subject) } }?.stream.name
    }

    static func validateName(_ name: String) throws {
        guard !name.isEmpty, name.utf8.count <= 255,
              !name.utf8.contains(where: { $0 <= 32 || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: ">") || $0 == 127 }) else {
            throw DataverketError.invalid("name", "consumer names must be 1...255 bytes without '.', '*', '>' or whitespace")
        }
    }

    private static func expireDedupe(_ stream: inout StreamState, now: ContinuousClock.Instant, window: Duration) {
        while stream.dedupeHead < stream.dedupeOrder.count, stream.dedupeOrder[stream.dedupeHead].at.advanced(by: window) <= now {
            popDedupe(&stream)
        }
    }

    private static func popDedupe(_ stream: inout StreamState) {
        let oldest = stream.dedupeOrder[stream.dedupeHead]
        if let entry = stream.dedupe[oldest.id], entry.at == oldest.at {
            stream.dedupe.removeValue(forKey: oldest.id)
        }
        stream.dedupeHead += 1
        if stream.dedupeHead >= 1024, stream.dedupeHead * 2 >= stream.dedupeOrder.count {
            stream.dedupeOrder.removeFirst(stream.dedupeHead)
            stream.dedupeHead = 0
        }
    }
}

/// A handle on a durable consumer of an `InProcessBus`.
struct InProcessConsumer: BusConsumer {
    let bus: InProcessBus
    let key: InProcessBus.ConsumerKey
    let maxDeliver: Int

    func fetch(batch: Int, wait: Duration) async throws -> [BusDelivery] {
        try await bus.fetch(key, batch: batch, wait: wait)
    }
}
