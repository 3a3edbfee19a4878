import DataverketBus
import DataverketCore
import DataverketStore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Runs one service's task commands from the bus (`dv.<service>.cmd.>` on `DV_CMD`).
///
/// Per delivery: skip it if this consumer already processed the message (processed-id table); take the task's
/// claim (`TaskClaim`: one delivery runs a task at a time — a second copy handed out meanwhile goes back); drop it if
/// the task finished already (a stray copy: nothing to run, nothing to undo); give it up if the task was cancelled;
/// fail it if past its deadline; check the kind's dependencies against the health registry (hard or reconciliation
/// down → `blocked`, acked, resumed by the blocked-task resumer when the dependency returns — no retry storm); run the
/// handler with a timeout, reporting progress and keeping the delivery alive; then settle:
/// success → `succeeded`; `DependencyBlocked` → `blocked`; a retryable failure → nak with exponential
/// backoff; the last attempt → dead-lettered with its reason and `failed`. A task given up (permanent
/// failure, last attempt, cancellation, deadline, or a delivery past its attempts because workers were lost)
/// first runs its kind's compensation — for a `Saga`, the unwind. Terminal reports go through the outbox
/// together with the processed-id row, so a crash after the work repeats nothing but the report. The store being
/// unreachable is nobody's failure: the worker holds the delivery (kept alive) until the store answers and then
/// handles it again, spending no attempt.
public struct TaskWorker: Service {
    public let service: String
    public let kinds: [String: TaskKind]
    public let bus: any Bus
    public let database: Database
    public let logger: Logger
    public let name: String
    public var concurrency: Int
    /// How long a delivery stays unacknowledged before the bus redelivers it (a lost worker's tasks come
    /// back after this); running handlers extend it every third of it.
    public var ackWait: Duration
    /// Where a task stands (to run, cancelled, or finished already); the seam to the task store.
    public let standing: @Sendable (String) async throws -> TaskStanding
    /// A dependency's health: `healthy`, `degraded`, `down`, or nil if never seen.
    public let dependencyStatus: @Sendable (String) async -> String?

    public init(service: String, kinds: [TaskKind], bus: any Bus, database: Database, logger: Logger, concurrency: Int = 8,
                ackWait: Duration = .seconds(30),
                standing: @escaping @Sendable (String) async throws -> TaskStanding,
                dependencyStatus: @escaping @Sendable (String) async -> String?) {
        self.service = service
        self.kinds = Dictionary(uniqueKeysWithValues: kinds.map { ($0.name, $0) })
        self.bus = bus
        self.database = database
        self.logger = logger
        self.name = "\(service)-worker-\(ULID.make().suffix(8))"
        self.concurrency = concurrency
        self.ackWait = ackWait
        self.standing = standing
        self.dependencyStatus = dependencyStatus
    }

    var consumerName: String { "\(service)-worker" }

    /// Extra deliveries past a kind's attempts, to give up (and compensate) when workers were lost.
    static let settlingDeliveries = 5

    var spec: ConsumerSpec {
        // Deliveries beyond the last attempt settle tasks whose workers were lost (see `handle`).
        ConsumerSpec(stream: .commands, name: consumerName, filterSubjects: ["dv.\(service).cmd.>"], ackWait: ackWait,
                     maxDeliver: (kinds.values.map(\.retry.maxAttempts).max() ?? 5) + Self.settlingDeliveries)
    }

    public func run() async throws {
        guard let consumer = await bindConsumer(bus, spec, logger: logger) else { return }
        let running = RunningTasks()
        logger.info("task worker started", metadata: ["service": "\(service)", "kinds": "\(kinds.keys.sorted())"])
        // Graceful shutdown cancels fetching and the running handlers; their deliveries are nak'ed (not
        // reported), so another worker picks them up.
        await cancelWhenGracefulShutdown { await loop(consumer, running) }
        logger.info("task worker stopped", metadata: ["service": "\(service)"])
    }

    private func loop(_ consumer: any BusConsumer, _ running: RunningTasks) async {
        await withDiscardingTaskGroup { group in
            group.addTask { await listenForCancellations(running) }
            let slots = Slots(concurrency)
            while !Task.isCancelled {
                do {
                    let free = await slots.free()
                    let deliveries = try await consumer.fetch(batch: free, wait: .milliseconds(500))
                    for delivery in deliveries {
                        await slots.take()
                        group.addTask {
                            await handle(delivery, running: running)
                            await slots.give()
                        }
                    }
                } catch is CancellationError {
                    break
                } catch {
                    logger.warning("fetching commands failed", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: .seconds(1))
                }
            }
            group.cancelAll()
        }
    }

    private func listenForCancellations(_ running: RunningTasks) async {
        guard let stream = try? await bus.subscribe(TaskControl.cancelSubject) else { return }
        for await message in stream {
            await running.cancel(String(decoding: message.payload, as: UTF8.self))
        }
    }

    // MARK: one delivery

    func handle(_ delivery: BusDelivery, running: RunningTasks) async {
        let command: TaskCommand
        do {
            let event = try delivery.message.event()
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            command = try decoder.decode(TaskCommand.self, from: Data(event.data.text.utf8))
        } catch {
            await bus.deadLetterOrRetry(delivery, reason: "undecodable command: \(error)", logger: logger)
            return
        }
        let task = command.task
        var logger = self.logger
        logger[metadataKey: "task_id"] = "\(task.id)"
        logger[metadataKey: "correlation_id"] = "\(task.correlationID)"
        // The delivery is kept alive on the bus for as long as this handler has it, by a heartbeat of its own: whatever
        // the handler waits for — a store whose pool queues statements while it cannot connect, a claim to lapse — must
        // not let the bus hand the command out again meanwhile, one attempt older (the chaos test caught tasks failing
        // for want of attempts after a store outage that way).
        let ackWait = self.ackWait
        let heartbeat = Task {
            while !Task.isCancelled {
                try await Task.sleep(for: ackWait / 3)
                try? await delivery.inProgress()
            }
        }
        defer { heartbeat.cancel() }
        // One claim per delivery, kept across store outages: after waiting one out, this handler takes its own claim back.
        let claim = TaskClaim(database: database, taskID: task.id, owner: "\(name)/\(ULID.make())", duration: ackWait)
        var waitedForStore = false
        while true {
            do {
                try await process(command, delivery: delivery, claim: claim, running: running, logger: logger)
                return
            } catch where StoreErrors.isUnreachable(error) && !Task.isCancelled && Date() < command.deadline {
                // The store being down is not the task's failure: nak'ing would spend one of its attempts per try (a
                // few seconds of outage failed tasks for good — the chaos test caught that). Hold the command, kept
                // alive on the bus, until the store answers; then handle it again under the same delivery.
                if !waitedForStore {
                    logger.warning("the store is unreachable; holding the command until it answers", metadata: ["error": "\(error)"])
                    waitedForStore = true
                }
                guard await waitForStore(delivery, until: command.deadline) else { return }
            } catch {
                logger.error("settling a command failed; it will be redelivered", metadata: ["error": "\(error)"])
                await claim.release()
                return
            }
        }
    }

    /// One go at a delivery: skip it if processed, else take the task's claim and run or settle it.
    private func process(_ command: TaskCommand, delivery: BusDelivery, claim: TaskClaim, running: RunningTasks,
                         logger: Logger) async throws {
        let task = command.task
        if try await alreadyProcessed(delivery.message.id) {
            try await delivery.ack()
            return
        }
        guard let kind = kinds[task.kind] else {
            try await finish(delivery, task, .failed, "no handler for task kind '\(task.kind)' in \(service)")
            return
        }
        // At-least-once delivery can hand one command out twice at once — redelivered while its first holder still
        // runs it (its keep-alives did not reach the bus), or a second copy after a nats-server crash — and the
        // processed-id check only catches a copy that comes after the first finished. Two handlers then ran one saga
        // side by side (the chaos test caught that). So a delivery runs only under the task's claim; a copy that
        // finds a live holder goes back, and by the time it returns the holder has finished (processed) or died.
        guard try await claim.acquire() else {
            logger.info("the task is being run under another delivery; this copy comes back later")
            try await delivery.nak(delay: ackWait)
            return
        }
        // Whoever held the claim before has finished (its processed-id row is in) or died: look again.
        if try await alreadyProcessed(delivery.message.id) {
            await claim.release()
            try await delivery.ack()
            return
        }
        do {
            try await run(kind, command, delivery: delivery, claim: claim, running: running, logger: logger)
        } catch {
            await claim.release()
            throw error
        }
        await claim.release()
    }

    /// Runs or settles a claimed delivery: cancelled, past its deadline, out of attempts, blocked on a dependency, or
    /// executed.
    private func run(_ kind: TaskKind, _ command: TaskCommand, delivery: BusDelivery, claim: TaskClaim, running: RunningTasks,
                     logger: Logger) async throws {
        let task = command.task
        let execution = makeExecution(command, delivery: delivery, logger: logger)
        switch try await standing(task.id) {
        case .due:
            break
        case .cancelled:
            try await giveUp(kind, execution, delivery, claim, .cancelled, "cancelled before this attempt started")
            return
        case .finished:
            // Succeeded or failed already: a stray copy of its command. Giving it up would run the compensation and
            // undo a finished saga (the chaos test caught a succeeded saga unwound that way). Settle the copy only.
            logger.info("the task has finished already; this copy of its command is dropped")
            try await delivery.ack()
            return
        }
        if Date() > command.deadline {
            try await giveUp(kind, execution, delivery, claim, .failed, "deadline \(command.deadline.formatted(.iso8601)) passed before the task ran")
            return
        }
        if delivery.attempt > kind.retry.maxAttempts {
            // The earlier deliveries' workers were lost mid-attempt (crash, kill -9): give up now.
            try await giveUp(kind, execution, delivery, claim, .failed,
                             "no attempts left: this is delivery \(delivery.attempt) of a task with \(kind.retry.maxAttempts) attempts (earlier workers were lost, or could not finish the undo)",
                             deadLetter: true)
            return
        }
        var degraded: [String] = []
        for (dependency, kindOfDependency) in kind.dependencies.sorted(by: { $0.key < $1.key }) {
            let status = await dependencyStatus(dependency) ?? "unknown"
            guard status != "healthy" else { continue }
            if kindOfDependency == .soft {
                degraded.append("\(dependency) is \(status)")
                continue
            }
            let reason = kindOfDependency == .reconciliation
                ? "accepted; converges when \(dependency) returns (it is \(status))"
                : "waiting for \(dependency): it is \(status) (hard dependency of \(task.kind)); resumes by itself when \(dependency) reports healthy — runbook: docs/runbooks/dependency-blocked.md"
            try await finish(delivery, task, .blocked, reason, dependency: dependency)
            return
        }
        await report(TaskReport(taskID: task.id, state: .running, progress: 0,
                                reason: degraded.isEmpty ? nil : "degraded: " + degraded.joined(separator: ", "),
                                attempt: delivery.attempt, worker: name))
        try await execute(kind, execution, command, delivery: delivery, claim: claim, running: running, logger: logger)
    }

    /// Waits until the store answers again (`handle`'s heartbeat keeps the delivery alive); false if the worker is
    /// stopping or `deadline` passes first (the command then comes back by itself).
    private func waitForStore(_ delivery: BusDelivery, until deadline: Date) async -> Bool {
        await DataverketTasks.waitForStore(database, keeping: delivery, every: ackWait / 3, until: deadline)
    }

    /// Keeps the task's claim renewed every third of `ackWait` while `body` runs (the delivery itself is kept alive by
    /// `handle`'s heartbeat); `onClaimLost` is called if another holder took the claim meanwhile (this one could not
    /// renew it for longer than `ackWait`, e.g. across a store outage).
    private func keepingClaim<T: Sendable>(_ claim: TaskClaim, onClaimLost: @escaping @Sendable () -> Void = {},
                                           _ body: () async -> T) async -> T {
        let ackWait = self.ackWait
        let renewal = Task {
            while !Task.isCancelled {
                try await Task.sleep(for: ackWait / 3)
                if (try? await claim.renew()) == false { onClaimLost() }
            }
        }
        defer { renewal.cancel() }
        return await body()
    }

    private func makeExecution(_ command: TaskCommand, delivery: BusDelivery, logger: Logger) -> TaskExecution {
        let task = command.task
        return TaskExecution(
            task: task, attempt: delivery.attempt,
            context: OperationContext(actor: task.actor, correlationID: task.correlationID, taskID: task.id),
            logger: logger, database: database,
            report: { percent, note in
                await report(TaskReport(taskID: task.id, state: .running, progress: percent, reason: note,
                                        attempt: delivery.attempt, worker: name))
                try? await delivery.inProgress()
            }, dependencyStatus: dependencyStatus)
    }

    private func execute(_ kind: TaskKind, _ execution: TaskExecution, _ command: TaskCommand, delivery: BusDelivery,
                         claim: TaskClaim, running: RunningTasks, logger: Logger) async throws {
        let task = command.task
        let remaining = command.deadline.timeIntervalSinceNow
        let timeout = min(kind.timeout, .milliseconds(Int64(max(0, remaining) * 1000)))
        let work = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await kind.handler(execution) }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw DataverketError(.unavailable, "attempt \(delivery.attempt) timed out after \(timeout)")
                }
                defer { group.cancelAll() }
                try await group.next()
            }
        }
        await running.add(task.id, work)
        let outcome = await keepingClaim(claim, onClaimLost: { work.cancel() }) {
            await withTaskCancellationHandler { await work.result } onCancel: { work.cancel() }
        }
        let wasCancelled = await running.remove(task.id)
        switch outcome {
        case .success:
            try await finish(delivery, task, .succeeded, execution.outcomes.summary)
        case .failure where wasCancelled:
            try await giveUp(kind, execution, delivery, claim, .cancelled, "cancelled while running")
        case .failure(let error) where error is TaskCancelled || error is CancellationError:
            // Not asked for: this worker is shutting down, or another delivery took the task over. Hand the command back.
            try? await delivery.nak()
        case .failure(let error) where StoreErrors.isUnreachable(error):
            // Not the task's failure: `handle` waits for the store and runs the delivery again (the saga resumes).
            throw error
        case .failure(let error as DependencyBlocked):
            try await finish(delivery, task, .blocked, error.reason, dependency: error.dependency)
        case .failure(let error):
            let reason = Self.describe(error)
            if !Self.retryable(error) {
                try await giveUp(kind, execution, delivery, claim, .failed, reason)
            } else if delivery.attempt >= kind.retry.maxAttempts {
                try await giveUp(kind, execution, delivery, claim, .failed,
                                 "\(reason) (attempt \(delivery.attempt) of \(kind.retry.maxAttempts); dead-lettered)", deadLetter: true)
            } else {
                let delay = kind.retry.delay(after: delivery.attempt)
                await report(TaskReport(taskID: task.id, state: .running, reason: "attempt \(delivery.attempt) failed: \(reason); retrying in \(delay)",
                                        attempt: delivery.attempt, worker: name))
                try await delivery.nak(delay: delay)
                logger.warning("task attempt failed; retrying", metadata: ["attempt": "\(delivery.attempt)", "error": "\(reason)"])
            }
        }
    }

    /// Ends the task without success: runs the kind's compensation first (not cancellable, bounded by the
    /// kind's timeout), then records `state` with the reason and what was undone. If the compensation fails
    /// the command goes back for another try, until the consumer's last delivery, where the task fails
    /// saying cleanup is needed.
    private func giveUp(_ kind: TaskKind, _ execution: TaskExecution, _ delivery: BusDelivery, _ claim: TaskClaim, _ state: TaskState,
                        _ reason: String, deadLetter: Bool = false) async throws {
        var reason = reason
        if let compensation = kind.compensation {
            // The compensation sees why the task is given up (sagas log it; kinds report it to their resource).
            var failing = execution.task
            failing.reason = reason
            let execution = TaskExecution(task: failing, attempt: execution.attempt, context: execution.context,
                                          logger: execution.logger, database: execution.database, report: execution.report,
                                          dependencyStatus: execution.dependencyStatus)
            let attempt = Task { try await Self.withTimeout(kind.timeout) { try await compensation(execution) } }
            switch await keepingClaim(claim, { await attempt.result }) {
            case .success(let summary?):
                reason += "; \(summary)"
            case .success(nil):
                break
            case .failure(let error) where StoreErrors.isUnreachable(error):
                // Not the undo's failure: `handle` waits for the store and gives the task up again.
                throw error
            case .failure(let error) where delivery.attempt < spec.maxDeliver:
                logger.warning("compensation failed; the command goes back for another try",
                               metadata: ["task_id": "\(execution.task.id)", "error": "\(error)"])
                try await delivery.nak(delay: kind.retry.delay(after: delivery.attempt))
                return
            case .failure(let error):
                reason += "; undo FAILED, manual cleanup needed: \(Self.describe(error))"
            }
        }
        // The outcome is recorded first: a worker killed before the dead letter leaves a redelivery that
        // only acks (already processed); the other way round, the terminated command would never come back
        // and the task would stay `running` (the chaos test caught that).
        try await finish(delivery, execution.task, state, reason, settled: deadLetter)
        if deadLetter { try await bus.deadLetter(delivery, reason: reason) }
    }

    static func withTimeout<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw DataverketError(.unavailable, "timed out after \(timeout)")
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    static func describe(_ error: any Error) -> String {
        (error as? DataverketError)?.message ?? "\(error)"
    }

    /// Failures worth retrying: everything but the caller's own mistakes.
    static func retryable(_ error: any Error) -> Bool {
        if error is PermanentFailure { return false }
        guard let error = error as? DataverketError else { return true }
        return ![.invalidArgument, .notFound, .conflict, .alreadyExists, .malformedRequest, .preconditionFailed].contains(error.code)
    }

    // MARK: settling

    /// Records the outcome (processed-id row + the report in the outbox, one transaction), then acks.
    private func finish(_ delivery: BusDelivery, _ task: TaskRecord, _ state: TaskState, _ reason: String?,
                        dependency: String? = nil, settled: Bool = false) async throws {
        let report = TaskReport(taskID: task.id, state: state, progress: state == .succeeded ? 100 : 0, reason: reason,
                                dependency: dependency, attempt: delivery.attempt, worker: name)
        let consumer = consumerName
        try await database.transaction { session in
            try await session.run("""
                INSERT INTO \(session.table("tasks", "processed")) (consumer, message_id, processed_at)
                VALUES (\(bind: consumer), \(bind: delivery.message.id), \(bind: StoreTime.now()))
                """)
            try await Outbox.append(session, event: try Self.event(report, task: task), resourceKey: task.id)
        }
        if !settled { try await delivery.ack() }
    }

    /// Publishes a non-terminal report straight to the bus (best effort: the terminal one is durable).
    private func report(_ report: TaskReport) async {
        do {
            try await bus.publish(BusMessage(event: try Self.event(report, task: nil)))
        } catch {
            logger.debug("progress report not published", metadata: ["error": "\(error)"])
        }
    }

    static func event(_ report: TaskReport, task: TaskRecord?) throws -> CloudEvent {
        CloudEvent(source: "/dataverket/worker", type: Subjects.task(verb: report.state.rawValue), subject: report.taskID,
                   data: try JSONText(encoding: report), correlationid: task?.correlationID ?? report.taskID,
                   causationid: report.taskID, tenant: task?.tenantID, project: task?.projectID, actor: task?.actor ?? "service:worker")
    }

    private func alreadyProcessed(_ messageID: String) async throws -> Bool {
        let consumer = consumerName
        return try await database.read { session in
            try await session.first("""
                SELECT message_id FROM \(session.table("tasks", "processed"))
                WHERE consumer = \(bind: consumer) AND message_id = \(bind: messageID)
                """) != nil
        }
    }
}

/// The handlers running in this worker, by task ID, so a cancellation can reach them.
actor RunningTasks {
    private var tasks: [String: Task<Void, any Error>] = [:]
    private var cancelled: Set<String> = []

    func add(_ id: String, _ task: Task<Void, any Error>) {
        tasks[id] = task
        if cancelled.contains(id) { task.cancel() }
    }

    /// Removes the handler; returns whether it had been cancelled.
    func remove(_ id: String) -> Bool {
        tasks[id] = nil
        return cancelled.remove(id) != nil
    }

    func cancel(_ id: String) {
        guard let task = tasks[id] else { return }
        cancelled.insert(id)
        task.cancel()
    }

}

/// A counting semaphore bounding concurrent handlers.
actor Slots {
    private var available: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(_ count: Int) { available = count }

    /// How many could be taken now (at least 1: the caller will wait for it).
    func free() -> Int { max(1, available) }

    func take() async {
        if available > 0 {
            available -= 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func give() {
        if waiters.isEmpty {
            available += 1
        } else {
            waiters.removeFirst().resume()
        }
    }
}

/// Where a delivered task stands in the task store.
public enum TaskStanding: Sendable, Hashable {
    /// Queued, running or blocked, and not being cancelled: run it.
    case due
    /// Cancelled or being cancelled (or gone): give it up, compensating.
    case cancelled
    /// Succeeded or failed already: whatever delivered it again is a stray copy, nothing is to be done.
    case finished
}

/// Waits until `database` answers again, keeping `delivery` alive on the bus (every `keepAlive`); false if the
/// calling task is cancelled or `deadline` passes first. For consumers that must not spend a delivery on a store outage.
func waitForStore(_ database: Database, keeping delivery: BusDelivery, every keepAlive: Duration, until deadline: Date? = nil) async -> Bool {
    let step = min(keepAlive, .seconds(2))
    var delay = Duration.milliseconds(100)
    var lastKeptAlive: ContinuousClock.Instant?
    while !Task.isCancelled, deadline.map({ Date() < $0 }) ?? true {
        if lastKeptAlive.map({ ContinuousClock.now - $0 >= keepAlive / 2 }) ?? true {
            try? await delivery.inProgress()
            lastKeptAlive = .now
        }
        if (try? await database.ping(timeout: step)) != nil { return true }
        try? await Task.sleep(for: delay)
        delay = min(delay * 2, step)
    }
    return false
}

/// The right to run one task now: a lease row `task:<id>` in `tasks.leases`, taken by a delivery's handler before it
/// runs or settles the task, renewed with the delivery's keep-alive, dropped when it is done. It lasts `ackWait`, so a
/// killed holder's claim lapses about when the bus hands its command to someone else.
struct TaskClaim: Sendable {
    let database: Database
    let taskID: String
    /// This handler (worker and delivery).
    let owner: String
    let duration: Duration

    var name: String { "task:\(taskID)" }

    enum Take { case taken, held(until: Int64) }

    /// Takes the claim, waiting out a holder that stopped renewing it; false while another holder keeps renewing it.
    func acquire() async throws -> Bool {
        var lastSeen: Int64?
        for _ in 0..<3 {
            switch try await take() {
            case .taken:
                return true
            case .held(let until):
                if let lastSeen, until > lastSeen { return false }  // renewed meanwhile: its holder is alive
                lastSeen = until
                // Until it lapses: at most `duration` from now.
                try await Task.sleep(for: min(.microseconds(max(0, until - StoreTime.now())), duration) + .milliseconds(20))
            }
        }
        return false
    }

    /// One try: take the claim if it is free, lapsed or already this owner's.
    func take() async throws -> Take {
        let (name, owner) = (self.name, self.owner)
        let now = StoreTime.now()
        let until = now + Self.microseconds(duration)
        do {
            return try await database.transaction { session in
                let table = session.table("tasks", "leases")
                let taken = try await session.affected("""
                    UPDATE \(table) SET owner = \(bind: owner), expires_at = \(bind: until)
                    WHERE name = \(bind: name) AND (owner = \(bind: owner) OR expires_at < \(bind: now)) RETURNING name
                    """)
                if taken == 1 { return .taken }
                if let held = try await session.first("SELECT expires_at FROM \(table) WHERE name = \(bind: name)") {
                    return .held(until: try held.decode(column: "expires_at", as: Int64.self))
                }
                try await session.run("INSERT INTO \(table) (name, owner, expires_at) VALUES (\(bind: name), \(bind: owner), \(bind: until))")
                return .taken
            }
        } catch let error as DataverketError where error.code == .alreadyExists {
            return .held(until: until)  // another handler created it first
        }
    }

    /// Extends the claim; false if it is no longer this owner's.
    func renew() async throws -> Bool {
        let (name, owner) = (self.name, self.owner)
        let until = StoreTime.now() + Self.microseconds(duration)
        return try await database.transaction { session in
            try await session.affected("""
                UPDATE \(session.table("tasks", "leases")) SET expires_at = \(bind: until)
                WHERE name = \(bind: name) AND owner = \(bind: owner) RETURNING name
                """) == 1
        }
    }

    /// Drops the claim if this owner holds it (best effort: one left behind lapses after `duration`).
    func release() async {
        let (name, owner) = (self.name, self.owner)
        try? await database.transaction { session in
            try await session.run("DELETE FROM \(session.table("tasks", "leases")) WHERE name = \(bind: name) AND owner = \(bind: owner)")
        }
    }

    static func microseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
    }
}
