import DataverketBus
import DataverketCore
import DataverketStore
import Foundation
@testable import Sentral
@testable import DataverketTasks
import Synchronization
import Testing
import DataverketTestSupport

/// Stands for the worker process dying: thrown from inside a step, nothing after it runs.
struct SimulatedCrash: Error {}

/// The one point at which a simulated crash happens (once).
final class CrashPlan: Sendable {
    private let point: Mutex<Int?>
    init(_ point: Int?) { self.point = Mutex(point) }
    /// Whether to crash at `point` now; true once at most.
    func take(_ candidate: Int) -> Bool {
        point.withLock { planned in
            guard planned == candidate else { return false }
            planned = nil
            return true
        }
    }
}

/// A three-step saga over a ledger whose actions and undos can be made to "crash" at one numbered point:
/// point 2k is before step k's effect, 2k+1 after it (before the log records it).
func crashingSaga(_ ledger: DemoLedger, crashAt: CrashPlan, undoCrashAt: CrashPlan, failAt: Int? = nil) -> Saga {
    let steps = ["allocate", "register", "activate"].enumerated().map { index, name in
        SagaStep(name, action: { context in
            if crashAt.take(2 * index) { throw SimulatedCrash() }
            if failAt == index { throw PermanentFailure("\(name) failed for good") }
            _ = try await ledger.apply(context.idempotencyKey)
            if crashAt.take(2 * index + 1) { throw SimulatedCrash() }
            return "effect:\(context.idempotencyKey)"
        }, undo: { context in
            if undoCrashAt.take(2 * index) { throw SimulatedCrash() }
            _ = try await ledger.revert(context.idempotencyKey)
            if undoCrashAt.take(2 * index + 1) { throw SimulatedCrash() }
        })
    }
    return Saga(name: "crashing", steps: steps)
}

func execution(of task: TaskRecord, attempt: Int, database: Database) -> TaskExecution {
    TaskExecution(task: task, attempt: attempt, context: testContext, logger: quietLogger, database: database, report: { _, _ in })
}

/// How often each key's effect was created and removed according to the ledger's journal (calls that found the
/// effect already there, or already gone, are not counted).
func journalCounts(_ ledger: DemoLedger) async throws -> (applied: [String: Int], reverted: [String: Int]) {
    var applied: [String: Int] = [:]
    var reverted: [String: Int] = [:]
    for entry in try await ledger.entries() where entry.isEnd {
        if entry.outcome == "created" { applied[entry.key, default: 0] += 1 }
        if entry.outcome == "removed" { reverted[entry.key, default: 0] += 1 }
    }
    return (applied, reverted)
}

@Suite("Sagas")
struct SagaTests {
    @Test("a worker lost at any point of the forward path: the next run resumes from the log; every effect applied once",
          arguments: Backend.allCases)
    func resumeAfterCrashAtEveryPoint(_ backend: Backend) async throws {
        try await withDatabase(backend) { database in
            let tasks = Tasks(database: database)
            for point in 0..<6 {
                let ledger = DemoLedger()
                let saga = crashingSaga(ledger, crashAt: CrashPlan(point), undoCrashAt: CrashPlan(nil))
                let task = try await database.transaction { session in
                    try await tasks.enqueue(session, kind: "crashing", resource: ResourceRef(kind: "engine", id: ULID.make(), name: nil),
                                            tenantID: nil, projectID: nil, context: testContext)
                }
                await #expect(throws: SimulatedCrash.self) { try await saga.forward(execution(of: task, attempt: 1, database: database)) }
                try await saga.forward(execution(of: task, attempt: 2, database: database))

                let log = try #require(try await SagaLog(database: database, taskID: task.id).load())
                #expect(log.phase == .completed, "crash point \(point)")
                #expect(log.steps.map(\.state) == [.done, .done, .done])
                let crashedStep = point / 2
                #expect(log.steps.map(\.runs) == (0..<3).map { $0 == crashedStep ? 2 : 1 }, "crash point \(point)")
                #expect(log.steps.map(\.output) == log.steps.map { "effect:\(task.id)/\($0.name)" })
                let present = try await ledger.present()
                #expect(present == Set(["allocate", "register", "activate"].map { "\(task.id)/\($0)" }))
                let (applied, reverted) = try await journalCounts(ledger)
                #expect(applied.values.allSatisfy { $0 == 1 } && applied.count == 3, "duplicate side effect at crash point \(point)")
                #expect(reverted.isEmpty)
            }
        }
    }

    @Test("a saga that fails for good unwinds; a worker lost at any point of the unwinding: the next run finishes it",
          arguments: Backend.allCases)
    func unwindAfterCrashAtEveryPoint(_ backend: Backend) async throws {
        try await withDatabase(backend) { database in
            let tasks = Tasks(database: database)
            // Undo points of the two steps that had effects (allocate = 0/1, register = 2/3), and no crash.
            for point in [0, 1, 2, 3, nil] as [Int?] {
                let ledger = DemoLedger()
                let saga = crashingSaga(ledger, crashAt: CrashPlan(nil), undoCrashAt: CrashPlan(point), failAt: 2)
                let task = try await database.transaction { session in
                    try await tasks.enqueue(session, kind: "crashing", resource: ResourceRef(kind: "engine", id: ULID.make(), name: nil),
                                            tenantID: nil, projectID: nil, context: testContext)
                }
                let run = execution(of: task, attempt: 1, database: database)
                await #expect(throws: PermanentFailure.self) { try await saga.forward(run) }
                if point != nil {
                    await #expect(throws: SimulatedCrash.self) { _ = try await saga.unwind(run) }
                    // A redelivered command must not run the saga forward again once it is unwinding.
                    await #expect(throws: PermanentFailure.self) { try await saga.forward(execution(of: task, attempt: 2, database: database)) }
                }
                let summary = try await saga.unwind(execution(of: task, attempt: 2, database: database))
                #expect(summary == "undone: activate, register, allocate", "undo crash point \(String(describing: point))")

                let log = try #require(try await SagaLog(database: database, taskID: task.id).load())
                #expect(log.phase == .unwound)
                #expect(log.steps.map(\.state) == [.undone, .undone, .undone])
                #expect(try await ledger.present().isEmpty)
                let (applied, reverted) = try await journalCounts(ledger)
                #expect(applied == ["\(task.id)/allocate": 1, "\(task.id)/register": 1])
                #expect(reverted == applied)
                // Unwinding again changes nothing.
                #expect(try await saga.unwind(run) == summary)
            }
        }
    }

    @Test("saga-demo through the engine: succeeds with one effect per step", arguments: Backend.allCases, BusKind.allCases)
    func demoSucceeds(_ backend: Backend, _ busKind: BusKind) async throws {
        let ledger = DemoLedger()
        try await withEngine(backend, bus: busKind, kinds: [BuiltinTasks.sagaDemo(ledger: ledger)]) { sentral, _ in
            let task = try await enqueue(sentral, kind: "saga-demo", params: #"{"stepMilliseconds":5}"#)
            let done = try await waitForTask(sentral.tasks, task.id) { $0.state.isTerminal }
            #expect(done.state == .succeeded)
            #expect(try await ledger.present() == Set(BuiltinTasks.sagaDemoSteps.map { "\(task.id)/\($0)" }))
            let log = try #require(try await SagaLog(database: sentral.database, taskID: task.id).load())
            #expect(log.phase == .completed)
            #expect(log.steps.map(\.runs) == [1, 1, 1])
        }
    }

    @Test("saga-demo: a retryable failure resumes at the failed step; done steps do not run again", arguments: Backend.allCases)
    func demoRetriesResume(_ backend: Backend) async throws {
        let ledger = DemoLedger()
        let kind = BuiltinTasks.sagaDemo(ledger: ledger, retry: RetryPolicy(maxAttempts: 4, initialDelay: .milliseconds(20), maxDelay: .milliseconds(50)))
        try await withEngine(backend, kinds: [kind]) { sentral, _ in
            let task = try await enqueue(sentral, kind: "saga-demo", params: #"{"failAttempts":2}"#)
            let done = try await waitForTask(sentral.tasks, task.id) { $0.state.isTerminal }
            #expect(done.state == .succeeded)
            #expect(done.attempts == 3)
            let log = try #require(try await SagaLog(database: sentral.database, taskID: task.id).load())
            #expect(log.steps.map(\.runs) == [1, 1, 3])
            #expect(try await journalCounts(ledger).applied.count == 3)
        }
    }

    @Test("saga-demo: a step that fails for good unwinds the saga; the task fails saying what was undone",
          arguments: Backend.allCases, BusKind.allCases)
    func demoUnwinds(_ backend: Backend, _ busKind: BusKind) async throws {
        let ledger = DemoLedger()
        try await withEngine(backend, bus: busKind, kinds: [BuiltinTasks.sagaDemo(ledger: ledger)]) { sentral, _ in
            let task = try await enqueue(sentral, kind: "saga-demo", params: #"{"failAtStep":3}"#)
            let done = try await waitForTask(sentral.tasks, task.id) { $0.state.isTerminal }
            #expect(done.state == .failed)
            #expect(done.reason == "step 3 was told to fail; undone: activate, register, allocate")
            #expect(done.attempts == 1)
            #expect(try await ledger.present().isEmpty)
            let (applied, reverted) = try await journalCounts(ledger)
            #expect(applied.count == 2)
            #expect(reverted == applied)
            #expect(try await SagaLog(database: sentral.database, taskID: task.id).load()?.phase == .unwound)
        }
    }

    @Test("cancelling a running saga unwinds it", arguments: Backend.allCases)
    func cancelUnwinds(_ backend: Backend) async throws {
        let ledger = DemoLedger()
        try await withEngine(backend, kinds: [BuiltinTasks.sagaDemo(ledger: ledger)]) { sentral, _ in
            let task = try await enqueue(sentral, kind: "saga-demo", params: #"{"stepMilliseconds":400}"#)
            var effects = 0
            for _ in 0..<100 where effects == 0 {
                try await Task.sleep(for: .milliseconds(50))
                effects = try await ledger.present().count
            }
            #expect(effects > 0, "the saga never got going")
            _ = try await sentral.tasks.cancel(task.id, context: testContext)
            let done = try await waitForTask(sentral.tasks, task.id) { $0.state.isTerminal }
            #expect(done.state == .cancelled)
            #expect(done.reason?.hasPrefix("cancelled while running; undone: ") == true)
            #expect(try await ledger.present().isEmpty)
        }
    }

    @Test("an undo that keeps failing ends the task failed, saying cleanup is needed, with a runbook", arguments: Backend.allCases)
    func undoFails(_ backend: Backend) async throws {
        let undos = Counter()
        let saga = Saga(name: "sticky", steps: [
            SagaStep("reserve", action: { _ in "reserved" }, undo: { _ in
                undos.increment()
                throw DataverketError(.unavailable, "peer refuses the release")
            }),
            SagaStep("fail", action: { _ in throw PermanentFailure("no capacity") }, undo: { _ in }),
        ], retry: RetryPolicy(maxAttempts: 2, initialDelay: .milliseconds(20), maxDelay: .milliseconds(40)))
        try await withEngine(backend, kinds: [saga.taskKind]) { sentral, _ in
            let task = try await enqueue(sentral, kind: "sticky")
            let done = try await waitForTask(sentral.tasks, task.id) { $0.state.isTerminal }
            #expect(done.state == .failed)
            #expect(done.reason?.contains("undo FAILED, manual cleanup needed: peer refuses the release") == true)
            #expect(done.runbook == "docs/runbooks/undo-failed.md")
            // Every delivery the consumer allows tried the undo once: attempts + the settling deliveries.
            #expect(undos.value == 2 + TaskWorker.settlingDeliveries)
            #expect(try await SagaLog(database: sentral.database, taskID: task.id).load()?.phase == .unwinding)
        }
    }
}
