import Synchronization
import DataverketBus
import DataverketCore
import DataverketStore
import Foundation
import Logging

/// The command a worker receives for a task (`dv.<service>.cmd.<kind>`, data of a CloudEvent).
public struct TaskCommand: Codable, Sendable, Hashable {
    public var task: TaskRecord
    /// After this the task fails without running.
    public var deadline: Date
}

/// What a worker reports about a task (`dv.task.evt.<state>`); the task projector writes it onto the task row.
public struct TaskReport: Codable, Sendable, Hashable {
    public var taskID: String
    public var state: TaskState
    public var progress: Int
    public var reason: String?
    /// For `blocked`: the dependency the task waits for.
    public var dependency: String?
    /// Delivery attempt (1 on the first).
    public var attempt: Int
    public var worker: String

    public init(taskID: String, state: TaskState, progress: Int = 0, reason: String? = nil, dependency: String? = nil,
                attempt: Int, worker: String) {
        self.taskID = taskID
        self.state = state
        self.progress = progress
        self.reason = reason
        self.dependency = dependency
        self.attempt = attempt
        self.worker = worker
    }
}

/// Control messages to running workers (broadcast, not stored).
public enum TaskControl {
    /// Payload: the task ID.
    public static let cancelSubject = "dv.task.ctl.cancel"
}

/// How a workflow step depends on another service (DESIGN.md "Work").
public struct DependencyClass: Sendable, Hashable, CustomStringConvertible {
    public let name: String
    private init(_ name: String) { self.name = name }
    /// The step cannot start while the dependency is down: the task is `blocked`, resumed when it returns.
    public static let hard = DependencyClass("hard")
    /// The step runs degraded; the task records it.
    public static let soft = DependencyClass("soft")
    /// Accepted now, converges when the dependency returns (blocked meanwhile, with that said).
    public static let reconciliation = DependencyClass("reconciliation")
    public var description: String { name }
}

/// A task kind a worker can run: its handler, dependencies and retry policy.
public struct TaskKind: Sendable {
    public var name: String
    public var dependencies: [String: DependencyClass]
    public var retry: RetryPolicy
    /// Longest a single attempt may run.
    public var timeout: Duration
    public var handler: TaskHandler
    /// Undoes what attempts left behind when the task is given up (failed for good, cancelled, past its
    /// deadline); returns a summary for the task's reason. Must be idempotent: it may run again after a crash.
    public var compensation: TaskCompensation?

    public init(name: String, dependencies: [String: DependencyClass] = [:], retry: RetryPolicy = RetryPolicy(),
                timeout: Duration = .seconds(600), handler: @escaping TaskHandler, compensation: TaskCompensation? = nil) {
        self.name = name
        self.dependencies = dependencies
        self.retry = retry
        self.timeout = timeout
        self.handler = handler
        self.compensation = compensation
    }
}

/// Exponential backoff with a cap and a bounded number of attempts.
public struct RetryPolicy: Sendable, Hashable {
    public var maxAttempts: Int
    public var initialDelay: Duration
    public var maxDelay: Duration

    public init(maxAttempts: Int = 5, initialDelay: Duration = .seconds(1), maxDelay: Duration = .seconds(60)) {
        self.maxAttempts = maxAttempts
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
    }

    /// The wait before attempt `attempt + 1`: initial × 2^(attempt−1), at most `maxDelay`.
    public func delay(after attempt: Int) -> Duration {
        let factor = 1 << min(30, max(0, attempt - 1))
        let delay = initialDelay * factor
        return min(delay, maxDelay)
    }
}

/// What a task handler sees of its task.
public struct TaskExecution: Sendable {
    public let task: TaskRecord
    public let attempt: Int
    public let context: OperationContext
    public let logger: Logger
    /// The store the worker settles its tasks in (saga logs live there).
    let database: Database
    let report: @Sendable (Int, String?) async -> Void
    /// The health registry's view of a service (`healthy`, `degraded`, `down`, nil if never seen): a step that needs
    /// another service checks it and throws ``DependencyBlocked`` rather than fail while it is down.
    public internal(set) var dependencyStatus: @Sendable (String) async -> String? = { _ in nil }
    /// What the task did, in one line: a succeeded task's reason (`outcome(_:)`).
    let outcomes = TaskOutcome()

    /// Reports progress (0–100); throws `TaskCancelled` once the task was cancelled.
    public func progress(_ percent: Int, _ note: String? = nil) async throws {
        if Task.isCancelled { throw TaskCancelled() }
        await report(percent, note)
    }

    /// Says what the task did (the last call wins): a succeeded task keeps it as its reason, so whoever waits for the
    /// task can read it.
    public func outcome(_ summary: String) {
        outcomes.set(summary)
    }

    /// The task's parameters, decoded.
    public func parameters<T: Decodable>(as type: T.Type) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(task.params.utf8))
        } catch {
            throw DataverketError(.invalidArgument, "task parameters do not fit \(T.self)", cause: error)
        }
    }
}

/// A task's one-line outcome, set by its handler.
final class TaskOutcome: Sendable {
    private let value = Mutex<String?>(nil)
    func set(_ summary: String) { value.withLock { $0 = String(summary.prefix(2000)) } }
    var summary: String? { value.withLock { $0 } }
}

/// Thrown when the task was cancelled.
public struct TaskCancelled: Error, Sendable {
    public init() {}
}

/// Thrown by a handler that must wait for another service (a hard dependency found down mid-step).
public struct DependencyBlocked: Error, Sendable {
    public var dependency: String
    public var reason: String
    public init(dependency: String, reason: String) {
        self.dependency = dependency
        self.reason = reason
    }
}

public typealias TaskHandler = @Sendable (TaskExecution) async throws -> Void
public typealias TaskCompensation = @Sendable (TaskExecution) async throws -> String?
