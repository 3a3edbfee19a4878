import NIOCore

/// Losing and closing the connection: the installed connection's close is reported to the state machine (which
/// backs off and reconnects, or gives up); `drain`, `close` and the terminal `.closeClient`.
extension NATSClient {

    /// The connection of generation `gen` closed. A report about a connection replaced since is ignored.
    func connectionLost(generation gen: Int, error: NATSError?) {
        guard gen == generation, channel != nil else { return }
        channel = nil
        runStateMachineActions(stateMachine.connectionLost(error, now: clock.now, jitter: nextJitter()))
    }

    /// Runs `.closeClient` (terminal): closes the connection, ends the subscriptions and the mux, stops the timers,
    /// emits `.closed` and finishes `events`. Pending requests were failed by the actions before this one.
    func closeClient(_ error: NATSError, droppedPublishes: Int) {
        cancelAllTimers()
        connectTask = nil  // an attempt in flight reports back and its connection is discarded
        if let channel {
            enqueue(NATSHandlerCommand.close, to: channel)
            channel.close(promise: nil)
        }
        channel = nil
        let subs = subscriptions
        subscriptions.removeAll()
        for sink in subs.values { sink.finish() }
        // Callers still waiting (the state machine failed every request it knew of) must not hang.
        let waiting = requestContinuations
        requestContinuations.removeAll()
        for continuation in waiting.values { continuation.resume(throwing: error) }
        muxTask?.cancel()
        muxTask = nil
        if droppedPublishes > 0 {
            logger.debug("NATS dropped buffered publishes on close", metadata: ["count": "\(droppedPublishes)"])
        }
        eventContinuation.yield(NATSClientEvent(kind: .closed, error: error.code == .closed ? nil : error))
        eventContinuation.finish()
    }

    /// Unsubscribes everything, flushes, then closes. Buffered messages remain readable from subscriptions.
    public func drain(timeout: Duration = .seconds(5)) async {
        if state == .connected, let channel {
            for sid in subscriptions.keys.sorted() {
                enqueue(NATSHandlerCommand.unsubscribe(sid: sid, max: nil), to: channel)
            }
            try? await flush(timeout: timeout)
        }
        await close()
    }

    /// Closes the connection for good. Subscriptions end; pending requests fail with `.closed`.
    public func close() async {
        guard state != .closed else { return }
        let channel = self.channel
        runStateMachineActions(stateMachine.closeRequested())
        if let channel {
            try? await channel.closeFuture.get()
        }
    }
}
