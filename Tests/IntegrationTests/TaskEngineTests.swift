import DataverketBus
import DataverketClient
import DataverketCore
import DataverketStore
import Foundation
import Logging
import Sentral
import DataverketTasks
import DataverketServer
import ServiceLifecycle
import Synchronization
import Testing
import DataverketTestSupport

/// Waits (polling every 50 ms, at most `attempts` times: 30 s by default, for loaded CI machines) until the task satisfies `done`.
func waitForTask(_ tasks: Tasks, _ id: String, attempts: Int = 600, _ done: (TaskRecord) -> Bool) async throws -> TaskRecord {
    var task = try await tasks.get(id)
    for _ in 0..<attempts where !done(task) {
        try await Task.sleep(for: .milliseconds(50))
        task = try await tasks.get(id)
    }
    return task
}

/// Runs the task engine (relay, projector, resumer, health listener, a worker with `kinds`) for `body`,
/// over a bus of `busKind`.
func withEngine(_ backend: Backend, bus busKind: BusKind = .inProcess, kinds: [TaskKind], duplicateWindow: Duration = .seconds(120),
                ackWait: Duration = .seconds(30), _ body: @Sendable @escaping (ControlPlane, any Bus) async throws -> Void) async throws {
    try await withBus(busKind, duplicateWindow: duplicateWindow) { bus, _ in
        try await withDatabase(backend) { database in
            let sentral = ControlPlane(database: database, bus: bus)
            var services = sentral.engineServices(bus: bus, logger: quietLogger, worker: false)
            services.append(sentral.worker(bus: bus, logger: quietLogger, kinds: kinds, ackWait: ackWait))
            try await runServices(services) { try await body(sentral, bus) }
        }
    }
}

/// Runs `services` in a group for the duration of `body`, then shuts them down gracefully.
func runServices(_ services: [any Service], _ body: @Sendable @escaping () async throws -> Void) async throws {
    let group = ServiceGroup(configuration: .init(services: services, logger: quietLogger))
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        do {
            try await body()
        } catch {
            await group.triggerGracefulShutdown()
            throw error
        }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
    }
}

func enqueue(_ sentral: ControlPlane, kind: String, params: String = "{}") async throws -> TaskRecord {
    try await sentral.database.transaction { session in
        try await sentral.tasks.enqueue(session, kind: kind, resource: ResourceRef(kind: "engine", id: ULID.make(), name: kind),
                                        tenantID: nil, projectID: nil, context: testContext, params: params)
    }
}

@Suite("Task engine")
struct TaskEngineTests {
    @Test("a failing task is retried with backoff, then succeeds", arguments: Backend.allCases, BusKind.allCases)
    func retries(_ backend: Backend, _ busKind: BusKind) async throws {
        try await withEngine(backend, bus: busKind, kinds: [BuiltinTasks.sleep()]) { sentral, _ in
            let task = try await enqueue(sentral, kind: "sleep", params: #"{"milliseconds":20,"failAttempts":2}"#)
            let done = try await waitForTask(sentral.tasks, task.id) { $0.state.isTerminal }
            #expect(done.state == .succeeded)
            #expect(done.attempts == 3)
            #expect(done.progress == 100)
        }
    }

    @Test("the last failed attempt dead-letters the command and fails the task with the reason", arguments: Backend.allCases, BusKind.allCases)
    func deadLetter(_ backend: Backend, _ busKind: BusKind) async throws {
        let kind = BuiltinTasks.sleep(retry: RetryPolicy(maxAttempts: 2, initialDelay: .milliseconds(50), maxDelay: .milliseconds(100)))
        try await withEngine(backend, bus: busKind, kinds: [kind]) { sentral, bus in
            let dlq = try await bus.consumer(ConsumerSpec(stream: .deadLetters, name: "dlq-test-\(backend)-\(busKind)", filterSubjects: ["dv.dlq.>"]))
            let task = try await enqueue(sentral, kind: "sleep", params: #"{"failAttempts":5}"#)
            let done = try await waitForTask(sentral.tasks, task.id) { $0.state.isTerminal }
            #expect(done.state == .failed)
            #expect(done.reason?.contains("sleep was told to fail attempt 2") == true)
            #expect(done.reason?.contains("dead-lettered") == true)
            let letters = try await dlq.fetch(batch: 5, wait: .seconds(2))
            #expect(letters.count == 1)
            #expect(letters.first?.message.headers["Dv-Dead-Letter-Reason"]?.contains("fail attempt 2") == true)
            #expect(letters.first?.message.subject == "dv.dlq.dv.sentral.cmd.sleep")
        }
    }

    @Test("a hard dependency that is down blocks the task; its heartbeat resumes it, with no retries meanwhile", arguments: Backend.allCases, BusKind.allCases)
    func blockedAndResumed(_ backend: Backend, _ busKind: BusKind) async throws {
        let counter = Counter()
        let kind = TaskKind(name: "needs-nett", dependencies: ["nett": .hard]) { _ in counter.increment() }
        try await withEngine(backend, bus: busKind, kinds: [kind]) { sentral, bus in
            let task = try await enqueue(sentral, kind: "needs-nett")
            let blocked = try await waitForTask(sentral.tasks, task.id) { $0.state == .blocked }
            #expect(blocked.state == .blocked)
            #expect(blocked.blockedOn == "nett")
            #expect(blocked.reason?.contains("waiting for nett") == true)
            try await Task.sleep(for: .milliseconds(500))
            #expect(counter.value == 0)
            #expect(try await sentral.tasks.get(task.id).attempts == 1)

            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .iso8601
            var done = try await sentral.tasks.get(task.id)
            for _ in 0..<600 where !done.state.isTerminal {  // 30 s at most: the resumer may be starved on a loaded machine
                // A fresh beat each time, as a live service sends: one beat re-sent would go stale (6 s) before a
                // starved resumer looked, and the dependency would stay down.
                let beat = Heartbeat(service: "nett", instance: "n1", version: "1", datacenter: nil)
                try await bus.broadcast(BusMessage(subject: Heartbeat.subject("nett"), id: ULID.make(), payload: Array(try encoder.encode(beat))))
                try await Task.sleep(for: .milliseconds(50))
                done = try await sentral.tasks.get(task.id)
            }
            #expect(done.state == .succeeded)
            #expect(counter.value == 1)
        }
    }

    @Test("cancelling a running task reaches the worker", arguments: Backend.allCases, BusKind.allCases)
    func cancelRunning(_ backend: Backend, _ busKind: BusKind) async throws {
        try await withEngine(backend, bus: busKind, kinds: [BuiltinTasks.sleep()]) { sentral, _ in
            let task = try await enqueue(sentral, kind: "sleep", params: #"{"milliseconds":20000}"#)
            let running = try await waitForTask(sentral.tasks, task.id) { $0.state == .running }
            #expect(running.state == .running)
            _ = try await sentral.tasks.cancel(task.id, context: testContext)
            let done = try await waitForTask(sentral.tasks, task.id) { $0.state.isTerminal }
            #expect(done.state == .cancelled)
            #expect(done.reason == "cancelled while running")
        }
    }

    @Test("a batch of worker reports is applied in one transaction, in order; finished tasks and unknown ones stay as they are",
          arguments: Backend.allCases)
    func reportBatches(_ backend: Backend) async throws {
        try await withDatabase(backend) { database in
            let sentral = ControlPlane(database: database)
            let a = try await enqueue(sentral, kind: "noop")
            let b = try await enqueue(sentral, kind: "noop")
            let events = { try await database.read { session in
                try await session.all("SELECT subject FROM \(session.table("tasks", "outbox")) WHERE subject LIKE 'dv.sentral.evt.task.%'").count
            } }
            let before = try await events()
            let changed = try await sentral.tasks.apply([
                TaskReport(taskID: a.id, state: .running, progress: 10, attempt: 1, worker: "w1"),
                TaskReport(taskID: a.id, state: .succeeded, attempt: 1, worker: "w1"),
                TaskReport(taskID: "tsk_01JD3Z9W4Q6M7R8T9V0X1Y2Z3A", state: .running, attempt: 1, worker: "w1"),
                TaskReport(taskID: b.id, state: .failed, reason: "no luck", attempt: 1, worker: "w2"),
                TaskReport(taskID: a.id, state: .running, progress: 50, attempt: 2, worker: "w1"),
            ])
            #expect(changed == [true, true, false, true, false])
            let first = try await sentral.tasks.get(a.id)
            #expect(first.state == .succeeded && first.progress == 100 && first.startedAt != nil && first.finishedAt != nil)
            let second = try await sentral.tasks.get(b.id)
            #expect(second.state == .failed && second.reason == "no luck")
            // Each change announced, as one report at a time would: a running, a succeeded, b failed.
            #expect(try await events() - before == 3)
            #expect(try await sentral.tasks.apply([TaskReport]()).isEmpty)
        }
    }

    @Test("a redelivered command that was already processed is not run again", arguments: Backend.allCases)
    func idempotentConsumption(_ backend: Backend) async throws {
        let counter = Counter()
        let kind = TaskKind(name: "count") { _ in counter.increment() }
        try await withEngine(backend, kinds: [kind], duplicateWindow: .milliseconds(1)) { sentral, bus in
            let task = try await enqueue(sentral, kind: "count")
            _ = try await waitForTask(sentral.tasks, task.id) { $0.state.isTerminal }
            // Publish the very same command again (same event id): the processed-id table stops it.
            let payload = try await sentral.database.read { session in
                try await session.first("""
                    SELECT event_id, subject, payload FROM \(session.table("tasks", "outbox")) WHERE subject = 'dv.sentral.cmd.count'
                    """).map { (try $0.decode(column: "event_id", as: String.self), try $0.decode(column: "payload", as: String.self)) }
            }
            let (id, body) = try #require(payload)
            // The bus's duplicate window (1 ms here) has passed, so the bus delivers it again, as after a
            // relay crash outside the window: the worker's processed-id table must stop it.
            try await Task.sleep(for: .milliseconds(20))
            let ack = try await bus.publish(BusMessage(subject: "dv.sentral.cmd.count", id: id, payload: Array(body.utf8)))
            #expect(ack.duplicate == false)
            try await Task.sleep(for: .milliseconds(500))
            #expect(counter.value == 1)
        }
    }
}

/// A thread-safe counter for side effects in handlers.
final class Counter: Sendable {
    private let storage = Mutex(0)
    func increment() { storage.withLock { $0 += 1 } }
    var value: Int { storage.withLock { $0 } }
}
