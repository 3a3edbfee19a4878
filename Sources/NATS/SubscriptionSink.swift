import NIOConcurrencyHelpers

/// Where the channel handler delivers messages for one sid. Shared between the client actor
/// (which owns the subscription registry) and the channel handler (which delivers on the event loop).
struct SubscriptionSink: Sendable {
    struct Counters: Sendable {
        var delivered: Int = 0
        var dropped: Int = 0
        var max: Int?
        var finished = false
    }

    enum OfferResult: Sendable, Hashable {
        case delivered
        /// Buffer full: the message was dropped (slow consumer). `total` dropped so far.
        case dropped(total: Int)
        /// Auto-unsubscribe limit reached; the sink is finished and must be removed.
        case finished
    }

    let sid: UInt64
    let continuation: AsyncStream<NATSMessage>.Continuation
    let counters: NIOLockedValueBox<Counters>

    init(sid: UInt64, continuation: AsyncStream<NATSMessage>.Continuation) {
        self.sid = sid
        self.continuation = continuation
        self.counters = NIOLockedValueBox(Counters())
    }

    func offer(_ message: NATSMessage) -> OfferResult {
        let accept: Bool = counters.withLockedValue { c in
            if c.finished { return false }
            c.delivered += 1
            return true
        }
        guard accept else { return .finished }
        let yieldResult = continuation.yield(message)
        return counters.withLockedValue { c in
            var result = OfferResult.delivered
            if case .dropped = yieldResult {
                c.dropped += 1
                result = .dropped(total: c.dropped)
            } else if case .terminated = yieldResult {
                c.finished = true
                return .finished
            }
            if let max = c.max, c.delivered >= max {
                c.finished = true
                continuation.finish()
                return .finished
            }
            return result
        }
    }

    func setMax(_ max: Int?) -> Bool {
        counters.withLockedValue { c in
            c.max = max
            if let max, c.delivered >= max {
                c.finished = true
                return true
            }
            return false
        }
    }

    func finish() {
        counters.withLockedValue { $0.finished = true }
        continuation.finish()
    }

    var isFinished: Bool { counters.withLockedValue { $0.finished } }
    var remaining: Int? { counters.withLockedValue { c in c.max.map { Swift.max(0, $0 - c.delivered) } } }
    var dropped: Int { counters.withLockedValue { $0.dropped } }
    var delivered: Int { counters.withLockedValue { $0.delivered } }
}
