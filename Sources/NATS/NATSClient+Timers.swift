/// The clock `NATSClient` runs the state machine's timers on, type-erased. Instants are `Duration`s since the clock's
/// reading when the client was created, the time base of ``ClientStateMachine``. Production uses `ContinuousClock`;
/// tests inject a manual clock.
struct NATSClientClock: Sendable {
    private let readNow: @Sendable () -> Duration
    private let sleepUntil: @Sendable (Duration) async throws -> Void

    init<C: Clock>(_ clock: C) where C.Duration == Duration {
        let origin = clock.now
        readNow = { origin.duration(to: clock.now) }
        sleepUntil = { deadline in try await clock.sleep(until: origin.advanced(by: deadline), tolerance: nil) }
    }

    /// Time since the origin.
    var now: Duration { readNow() }

    /// Sleeps until `deadline` (since the origin). Throws `CancellationError` when the task is cancelled.
    func sleep(until deadline: Duration) async throws {
        try await sleepUntil(deadline)
    }
}

extension NATSClient {
    /// A timer the state machine asked for, until it fires or is cancelled.
    struct ScheduledTimer: Sendable {
        var deadline: Duration
        var epoch: UInt64
        var task: Task<Void, Never>
    }

    /// Runs `.scheduleTimer`: (re)starts timer `id`; when `deadline` passes on `clock`, the state machine gets
    /// `timerFired(id)`. A timer already running under `id` is replaced.
    func scheduleTimer(_ id: ClientStateMachine.TimerID, deadline: Duration) {
        timers.removeValue(forKey: id)?.task.cancel()
        timerEpoch += 1
        let epoch = timerEpoch
        let clock = self.clock
        let task = Task { [weak self] in
            do {
                try await clock.sleep(until: deadline)
            } catch {
                return  // cancelled: moved or cancelled by the state machine, or the client closed
            }
            await self?.timerFired(id, epoch: epoch)
        }
        timers[id] = ScheduledTimer(deadline: deadline, epoch: epoch, task: task)
    }

    /// Runs `.cancelTimer`.
    func cancelTimer(_ id: ClientStateMachine.TimerID) {
        timers.removeValue(forKey: id)?.task.cancel()
    }

    /// Stops every timer (the client closed).
    func cancelAllTimers() {
        for timer in timers.values { timer.task.cancel() }
        timers.removeAll()
    }

    private func timerFired(_ id: ClientStateMachine.TimerID, epoch: UInt64) {
        // A fire that lost the race against a cancel or a reschedule is stale.
        guard let timer = timers[id], timer.epoch == epoch else { return }
        timers.removeValue(forKey: id)
        // Never report a time before the deadline the timer was armed for, whatever the clock's resolution.
        let now = max(clock.now, timer.deadline)
        runStateMachineActions(stateMachine.timerFired(id, now: now))
    }
}
