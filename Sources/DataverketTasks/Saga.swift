import DataverketCore
import DataverketStore
import Foundation
import SQLKit

/// A multi-step workflow whose every step has an action and an undo (DESIGN.md "Work").
///
/// The saga log (`tasks.sagas`, `tasks.saga_steps`) records each step as `started` before its action runs
/// and `done` (with the action's output) after it, in the store, so a worker killed at any point resumes
/// on redelivery at the first step not `done` — or, once the task is given up (a permanent failure, the
/// last attempt, cancellation, deadline), unwinds: every step that was started is undone, in reverse.
///
/// Actions and undos must be idempotent, keyed by ``SagaStepContext/idempotencyKey``: an action whose
/// worker died between doing it and logging it runs again, and an undo may run for an action that never
/// reached its peer (its `output` is then nil).
public struct Saga: Sendable {
    public var name: String
    public var steps: [SagaStep]
    public var dependencies: [String: DependencyClass]
    public var retry: RetryPolicy
    public var timeout: Duration

    public init(name: String, steps: [SagaStep], dependencies: [String: DependencyClass] = [:],
                retry: RetryPolicy = RetryPolicy(), timeout: Duration = .seconds(600)) {
        precondition(!steps.isEmpty, "a saga needs at least one step")
        self.name = name
        self.steps = steps
        self.dependencies = dependencies
        self.retry = retry
        self.timeout = timeout
    }

    /// The task kind that runs this saga forward and compensates by unwinding it.
    public var taskKind: TaskKind {
        TaskKind(name: name, dependencies: dependencies, retry: retry, timeout: timeout,
                 handler: { try await forward($0) }, compensation: { try await unwind($0) })
    }

    func forward(_ execution: TaskExecution) async throws {
        let log = SagaLog(database: execution.database, taskID: execution.task.id)
        let entry = try await log.begin(saga: name, steps: steps.map(\.name))
        guard entry.phase == .forward || entry.phase == .completed else {
            throw PermanentFailure("saga \(name) is \(entry.phase.rawValue) (\(entry.reason ?? "given up")); it does not run forward again")
        }
        var outputs = entry.outputs
        for (index, step) in steps.enumerated() where entry.state(of: index) != .done {
            try await execution.progress(index * 100 / steps.count, "step \(index + 1)/\(steps.count): \(step.name)")
            try await log.mark(index, .started)
            let context = SagaStepContext(execution: execution, step: step.name, index: index, output: outputs[step.name], outputs: outputs)
            let output = try await step.action(context)
            try await log.mark(index, .done, output: output)
            outputs[step.name] = output
        }
        try await log.setPhase(.completed, reason: nil)
    }

    /// Undoes every started step in reverse; returns what was undone (nil when nothing had started).
    func unwind(_ execution: TaskExecution) async throws -> String? {
        let log = SagaLog(database: execution.database, taskID: execution.task.id)
        guard let entry = try await log.load() else { return nil }
        if entry.phase == .unwound { return entry.reason }
        try await log.setPhase(.unwinding, reason: execution.task.reason)
        var undone: [String] = []
        for (index, step) in steps.enumerated().reversed() {
            switch entry.state(of: index) {
            case .pending: continue
            case .undone: undone.append(step.name); continue
            default: break
            }
            try await log.mark(index, .undoing)
            let context = SagaStepContext(execution: execution, step: step.name, index: index, output: entry.outputs[step.name],
                                          outputs: entry.outputs)
            try await step.undo(context)
            try await log.mark(index, .undone)
            undone.append(step.name)
        }
        let summary = undone.isEmpty ? "no step had started" : "undone: " + undone.joined(separator: ", ")
        try await log.setPhase(.unwound, reason: summary)
        return summary
    }
}

/// One step of a ``Saga``.
public struct SagaStep: Sendable {
    public var name: String
    /// Does the step; returns what its undo needs (stored in the saga log), if anything.
    public var action: @Sendable (SagaStepContext) async throws -> String?
    /// Reverts the step; must succeed when the action never happened.
    public var undo: @Sendable (SagaStepContext) async throws -> Void

    public init(_ name: String, action: @escaping @Sendable (SagaStepContext) async throws -> String?,
                undo: @escaping @Sendable (SagaStepContext) async throws -> Void) {
        self.name = name
        self.action = action
        self.undo = undo
    }
}

/// What a saga step's action or undo sees.
public struct SagaStepContext: Sendable {
    public let execution: TaskExecution
    public let step: String
    public let index: Int
    /// This step's recorded output (for an undo: nil if the action's result was never logged).
    public let output: String?
    /// Outputs of the steps done so far, by step name.
    public let outputs: [String: String]

    /// The stable key for this step's side effect (`<task id>/<step>`): hand it to the peer so a repeated
    /// action or undo changes nothing.
    public var idempotencyKey: String { "\(execution.task.id)/\(step)" }
}

/// A failure that retrying cannot fix: the task fails (and compensates) at once.
public struct PermanentFailure: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// One saga's persisted log, as read back.
public struct SagaLogEntry: Sendable, Hashable {
    public struct Phase: Hashable, Sendable {
        public let rawValue: String
        init(_ rawValue: String) { self.rawValue = rawValue }
        /// Running its steps.
        public static let forward = Phase("forward")
        /// Every step done.
        public static let completed = Phase("completed")
        /// Given up; undoing the started steps.
        public static let unwinding = Phase("unwinding")
        /// Every started step undone.
        public static let unwound = Phase("unwound")
    }

    public struct StepState: Hashable, Sendable {
        public let rawValue: String
        init(_ rawValue: String) { self.rawValue = rawValue }
        public static let pending = StepState("pending")
        public static let started = StepState("started")
        public static let done = StepState("done")
        public static let undoing = StepState("undoing")
        public static let undone = StepState("undone")
    }

    public struct Step: Sendable, Hashable {
        public var name: String
        public var state: StepState
        public var output: String?
        /// How often the action (then the undo) was started.
        public var runs: Int
    }

    public var saga: String
    public var phase: Phase
    public var reason: String?
    public var steps: [Step]

    /// A step's state by index (`pending` if the saga has fewer steps logged).
    func state(of index: Int) -> StepState { index < steps.count ? steps[index].state : .pending }
    /// Outputs of `done` steps by name.
    public var outputs: [String: String] {
        Dictionary(steps.compactMap { step in step.output.map { (step.name, $0) } }, uniquingKeysWith: { $1 })
    }
}

/// Reads and writes one task's saga log.
public struct SagaLog: Sendable {
    let database: Database
    let taskID: String

    public init(database: Database, taskID: String) {
        self.database = database
        self.taskID = taskID
    }

    /// The log, creating it (phase `forward`, every step not yet started) if this is the first run.
    func begin(saga: String, steps: [String]) async throws -> SagaLogEntry {
        let taskID = self.taskID
        return try await database.transaction { session in
            let now = StoreTime.now()
            try await session.run("""
                INSERT INTO \(session.table("tasks", "sagas")) (task_id, saga, phase, reason, created_at, updated_at)
                VALUES (\(bind: taskID), \(bind: saga), 'forward', NULL, \(bind: now), \(bind: now))
                ON CONFLICT (task_id) DO NOTHING
                """)
            for (index, step) in steps.enumerated() {
                try await session.run("""
                    INSERT INTO \(session.table("tasks", "saga_steps")) (task_id, step_index, step, state, output, runs, updated_at)
                    VALUES (\(bind: taskID), \(bind: index), \(bind: step), 'pending', NULL, 0, \(bind: now))
                    ON CONFLICT (task_id, step_index) DO NOTHING
                    """)
            }
            return try await Self.read(session, taskID)!
        }
    }

    /// The log, or nil if the saga never started.
    public func load() async throws -> SagaLogEntry? {
        let taskID = self.taskID
        return try await database.read { try await Self.read($0, taskID) }
    }

    func mark(_ index: Int, _ state: SagaLogEntry.StepState, output: String? = nil) async throws {
        let taskID = self.taskID
        let counts = state == .started || state == .undoing
        try await database.transaction { session in
            var query: SQLQueryString = """
                UPDATE \(session.table("tasks", "saga_steps")) SET state = \(bind: state.rawValue), \
                runs = runs + \(unsafeRaw: counts ? "1" : "0"), updated_at = \(bind: StoreTime.now())
                """
            if state == .done { query.appendInterpolation(unsafeRaw: ", output = "); query.appendInterpolation(bind: output) }
            query.appendInterpolation(unsafeRaw: " WHERE task_id = ")
            query.appendInterpolation(bind: taskID)
            query.appendInterpolation(unsafeRaw: " AND step_index = ")
            query.appendInterpolation(bind: index)
            try await session.run(query)
        }
    }

    func setPhase(_ phase: SagaLogEntry.Phase, reason: String?) async throws {
        let taskID = self.taskID
        try await database.transaction { session in
            try await session.run("""
                UPDATE \(session.table("tasks", "sagas")) SET phase = \(bind: phase.rawValue), reason = \(bind: reason),
                    updated_at = \(bind: StoreTime.now())
                WHERE task_id = \(bind: taskID)
                """)
        }
    }

    static func read(_ session: Session, _ taskID: String) async throws -> SagaLogEntry? {
        guard let saga = try await session.first("""
            SELECT saga, phase, reason FROM \(session.table("tasks", "sagas")) WHERE task_id = \(bind: taskID)
            """) else { return nil }
        let steps = try await session.all("""
            SELECT step, state, output, runs FROM \(session.table("tasks", "saga_steps"))
            WHERE task_id = \(bind: taskID) ORDER BY step_index
            """)
        return SagaLogEntry(
            saga: try saga.decode(column: "saga", as: String.self),
            phase: .init(try saga.decode(column: "phase", as: String.self)),
            reason: try saga.decode(column: "reason", as: String?.self),
            steps: try steps.map { row in
                SagaLogEntry.Step(name: try row.decode(column: "step", as: String.self),
                                  state: .init(try row.decode(column: "state", as: String.self)),
                                  output: try row.decode(column: "output", as: String?.self),
                                  runs: Int(try row.decode(column: "runs", as: Int64.self)))
            })
    }
}
