import NIOCore

/// Request/reply over one multiplexed inbox subscription (`<inboxPrefix>.<random>.*`). Which reply resolves which
/// request and when a request times out is the state machine's (``RequestMuxStateMachine``); the actor keeps the
/// waiting callers' continuations by token.
extension NATSClient {

    /// A fresh unique inbox subject.
    public func newInbox() -> String {
        "\(options.inboxPrefix).\(nextToken())"
    }

    /// Request/reply over a single multiplexed inbox subscription.
    /// Throws `.noResponders` on a 503 status and `.timeout` when no reply arrives in time.
    public func request(_ subject: String, payload: ByteBuffer = ByteBuffer(), headers: NATSHeaders? = nil, timeout: Duration? = nil) async throws -> NATSMessage {
        let prefix = try ensureMux()
        let token = nextToken()
        let timeout = timeout ?? options.requestTimeout
        // Reserve the token first: publish may suspend (backpressure) and the reply can arrive before the caller
        // waits; the state machine keeps such an early reply for it.
        stateMachine.requestReserved(token: token)
        do {
            try await publish(subject, payload: payload, headers: headers, reply: prefix + token)
        } catch {
            stateMachine.requestAbandoned(token: token)
            throw error
        }
        return try await awaitReply(token: token, subject: subject, timeout: timeout)
    }

    /// Several requests, published in the order given (the server sees them in that order) before any reply is
    /// awaited — pipelined, not one round trip each — then every reply awaited at once. One result per request, in
    /// the same order; a request that could not be published or got no reply in time fails alone.
    public func requests(_ requests: [(subject: String, payload: ByteBuffer, headers: NATSHeaders?)],
                         timeout: Duration? = nil) async -> [Result<NATSMessage, any Error>] {
        let timeout = timeout ?? options.requestTimeout
        var results = [Result<NATSMessage, any Error>?](repeating: nil, count: requests.count)
        let prefix: String
        do {
            prefix = try ensureMux()
        } catch {
            return requests.map { _ in .failure(error) }
        }
        var published: [(index: Int, token: String)] = []
        for (index, request) in requests.enumerated() {
            let token = nextToken()
            stateMachine.requestReserved(token: token)
            do {
                try await publish(request.subject, payload: request.payload, headers: request.headers, reply: prefix + token)
                published.append((index, token))
            } catch {
                stateMachine.requestAbandoned(token: token)
                results[index] = .failure(error)
            }
        }
        await withTaskGroup(of: (Int, Result<NATSMessage, any Error>).self) { group in
            for (index, token) in published {
                let subject = requests[index].subject
                group.addTask {
                    do {
                        return (index, .success(try await self.awaitReply(token: token, subject: subject, timeout: timeout)))
                    } catch {
                        return (index, .failure(error))
                    }
                }
            }
            for await (index, result) in group { results[index] = result }
        }
        return results.map { $0 ?? .failure(NATSError(code: .closed, message: "request not answered")) }
    }

    /// Waits for the reply to a reserved and published request (or its early reply), its timeout counted from now.
    private func awaitReply(token: String, subject: String, timeout: Duration) async throws -> NATSMessage {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<NATSMessage, any Error>) in
                requestContinuations[token] = continuation
                runStateMachineActions(stateMachine.requestStarted(token: token, subject: subject, timeout: timeout, now: clock.now, cancelled: Task.isCancelled))
            }
        } onCancel: {
            Task { await self.cancelRequest(token: token) }
        }
    }

    public func request(_ subject: String, payload: [UInt8], headers: NATSHeaders? = nil, timeout: Duration? = nil) async throws -> NATSMessage {
        try await request(subject, payload: ByteBuffer(bytes: payload), headers: headers, timeout: timeout)
    }

    public func request(_ subject: String, payload: String, headers: NATSHeaders? = nil, timeout: Duration? = nil) async throws -> NATSMessage {
        try await request(subject, payload: ByteBuffer(string: payload), headers: headers, timeout: timeout)
    }

    /// The mux's inbox prefix; subscribes on first use.
    private func ensureMux() throws -> String {
        if let muxPrefix { return muxPrefix }
        let prefix = "\(options.inboxPrefix).\(Self.randomToken())."
        let sub = try subscribe(prefix + "*", bufferSize: 65_536)
        muxPrefix = prefix
        muxTask = Task { [weak self] in
            for await message in sub {
                guard let self else { return }
                await self.responseArrived(message)
            }
        }
        return prefix
    }

    private func responseArrived(_ message: NATSMessage) {
        guard let prefix = muxPrefix, message.subject.hasPrefix(prefix) else { return }
        let token = String(message.subject.dropFirst(prefix.count))
        runStateMachineActions(stateMachine.responseArrived(token: token, message))
    }

    private func cancelRequest(token: String) {
        runStateMachineActions(stateMachine.requestCancelled(token: token))
    }
}
