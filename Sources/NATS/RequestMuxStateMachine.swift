/// Request/reply over one multiplexed inbox, without I/O: which token is waiting, which reply resolves it, and when
/// it times out. All deadlines share one timer (`TimerID.requestDeadline`), armed for the earliest pending deadline
/// (or an earlier one, left armed when the requests it was for were answered); deadlines are kept in a min-heap,
/// entries for requests resolved in the meantime are skipped lazily.
struct RequestMuxStateMachine: Sendable {
    typealias Action = ClientStateMachine.Action

    /// Why a request failed.
    enum Failure: Sendable, Equatable {
        case timeout(subject: String, after: Duration)
        /// The reply was a 503 status: nobody subscribes to the subject.
        case noResponders
        case cancelled
        /// The client closed (or gave up reconnecting) before the reply.
        case closed(NATSError)

        /// What the caller of `request` gets thrown.
        var error: any Error {
            switch self {
            case .timeout(let subject, let after):
                NATSError(code: .timeout, message: "request to '\(subject)' timed out after \(after)")
            case .noResponders:
                NATSError(code: .noResponders, message: "no responders available for request")
            case .cancelled:
                CancellationError()
            case .closed(let error):
                error
            }
        }
    }

    private enum Entry: Sendable {
        /// Publishing; a reply arriving now is kept until the caller waits.
        case reserved(early: NATSMessage?)
        case waiting(deadline: Duration, subject: String, timeout: Duration)
    }

    private var entries: [String: Entry] = [:]
    private var waitingCount = 0
    private var deadlines = DeadlineHeap()
    /// The deadline the timer is armed for, if it is.
    private(set) var armedDeadline: Duration?
    private(set) var closedError: NATSError?

    /// Requests whose caller waits for a reply.
    var pendingCount: Int { waitingCount }
    /// Requests still publishing.
    var reservedCount: Int { entries.count - waitingCount }

    mutating func reserve(token: String) {
        guard closedError == nil else { return }
        entries[token] = .reserved(early: nil)
    }

    mutating func abandon(token: String) {
        if case .reserved? = entries[token] {
            entries.removeValue(forKey: token)
        }
    }

    mutating func start(token: String, subject: String, timeout: Duration, now: Duration, cancelled: Bool) -> [Action] {
        if let closedError {
            entries.removeValue(forKey: token)
            return [.failRequest(token: token, .closed(closedError))]
        }
        if case .reserved(let early?)? = entries[token] {
            entries.removeValue(forKey: token)
            return [Self.resolution(token: token, early)]
        }
        if case .waiting? = entries[token] { return [] }
        if cancelled {
            entries.removeValue(forKey: token)
            return [.failRequest(token: token, .cancelled)]
        }
        let deadline = now + timeout
        entries[token] = .waiting(deadline: deadline, subject: subject, timeout: timeout)
        waitingCount += 1
        deadlines.insert(deadline, token: token)
        if let armed = armedDeadline, armed <= deadline { return [] }
        armedDeadline = deadline
        return [.scheduleTimer(.requestDeadline, deadline: deadline)]
    }

    mutating func responseArrived(token: String, _ message: NATSMessage) -> [Action] {
        switch entries[token] {
        case .reserved(nil)?:
            entries[token] = .reserved(early: message)
            return []
        case .reserved(.some)?, nil:
            // A second early reply, or one after the request timed out, was cancelled or is unknown.
            return []
        case .waiting?:
            removeWaiting(token)
            return [Self.resolution(token: token, message)] + disarmIfIdle()
        }
    }

    mutating func cancel(token: String) -> [Action] {
        guard case .waiting? = entries[token] else { return [] }
        removeWaiting(token)
        return [.failRequest(token: token, .cancelled)] + disarmIfIdle()
    }

    /// The deadline timer fired: fail every request due, re-arm for the next.
    mutating func timerFired(now: Duration) -> [Action] {
        guard armedDeadline != nil else { return [] }
        armedDeadline = nil
        var actions: [Action] = []
        while let (deadline, token) = deadlines.min, deadline <= now {
            deadlines.removeMin()
            guard case .waiting(let d, let subject, let timeout)? = entries[token], d == deadline else { continue }
            removeWaiting(token)
            actions.append(.failRequest(token: token, .timeout(subject: subject, after: timeout)))
        }
        if let next = nextLiveDeadline() {
            armedDeadline = next
            actions.append(.scheduleTimer(.requestDeadline, deadline: next))
        }
        return actions
    }

    /// Terminal: every waiting request fails with `error`; later ones fail as they start.
    mutating func close(_ error: NATSError) -> [Action] {
        guard closedError == nil else { return [] }
        closedError = error
        var actions: [Action] = []
        if armedDeadline != nil {
            armedDeadline = nil
            actions.append(.cancelTimer(.requestDeadline))
        }
        var waiting: [(Duration, String)] = []
        for (token, entry) in entries {
            if case .waiting(let deadline, _, _) = entry { waiting.append((deadline, token)) }
        }
        waiting.sort { ($0.0, $0.1) < ($1.0, $1.1) }
        for (_, token) in waiting {
            actions.append(.failRequest(token: token, .closed(error)))
        }
        entries.removeAll()
        waitingCount = 0
        deadlines = DeadlineHeap()
        return actions
    }

    // MARK: Helpers

    private static func resolution(token: String, _ message: NATSMessage) -> Action {
        message.status == 503 ? .failRequest(token: token, .noResponders) : .succeedRequest(token: token, message)
    }

    private mutating func removeWaiting(_ token: String) {
        entries.removeValue(forKey: token)
        waitingCount -= 1
    }

    /// No request waits any more: drop the stale heap entries, but leave the timer armed. It fires at its deadline,
    /// finds nothing due and stops; a request started before that needs no timer of its own (its deadline is later),
    /// so requests one after another share one timer per timeout period instead of arming and cancelling one each.
    private mutating func disarmIfIdle() -> [Action] {
        if waitingCount == 0 { deadlines = DeadlineHeap() }
        return []
    }

    /// The earliest deadline of a request still waiting; drops heap entries of resolved ones on the way.
    private mutating func nextLiveDeadline() -> Duration? {
        while let (deadline, token) = deadlines.min {
            if case .waiting(let d, _, _)? = entries[token], d == deadline { return deadline }
            deadlines.removeMin()
        }
        return nil
    }
}

/// A binary min-heap of (deadline, token).
private struct DeadlineHeap: Sendable {
    private var items: [(deadline: Duration, token: String)] = []

    var min: (Duration, String)? { items.first.map { ($0.deadline, $0.token) } }

    mutating func insert(_ deadline: Duration, token: String) {
        items.append((deadline, token))
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].deadline < items[parent].deadline else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func removeMin() {
        guard !items.isEmpty else { return }
        items.swapAt(0, items.count - 1)
        items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < items.count, items[left].deadline < items[smallest].deadline { smallest = left }
            if right < items.count, items[right].deadline < items[smallest].deadline { smallest = right }
            if smallest == parent { break }
            items.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
