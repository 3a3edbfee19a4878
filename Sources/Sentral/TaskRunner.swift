#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import DataverketCore
import DataverketStore
import Logging
import ServiceLifecycle

/// What a task handler sees of its task.
public struct TaskExecution: Sendable {
    public let task: TaskRecord
    public let context: OperationContext
    public let logger: Logger
    let tasks: Tasks
    let owner: String
    let lease: Duration

    /// Reports progress (0–100) and renews the lease; throws `TaskCancelled` if cancellation was asked for.
    public func progress(_ percent: Int) async throws {
        if try await tasks.heartbeat(task.id, owner: owner, progress: percent, lease: lease) {
            throw TaskCancelled()
        }
    }
}

/// Thrown by `TaskExecution.progress` when the task was cancelled.
public struct TaskCancelled: Error, Sendable {}

public typealias TaskHandler = @Sendable (TaskExecution) async throws -> Void

/// Runs queued tasks in this process: claims them with a lease, runs their handler, records the outcome.
///
/// This is the embedded executor of the first slice; the bus-driven workers of the task engine take over
/// the same rows and states. Leases make it safe to run several servers against one PostgreSQL: a task
/// whose runner died is claimed again when its lease expires.
public struct TaskRunner: Service {
    public let tasks: Tasks
    public let handlers: [String: TaskHandler]
    public let logger: Logger
    public var owner: String
    public var lease: Duration
    public var pollInterval: Duration
    public var concurrency: Int

    public init(tasks: Tasks, handlers: [String: TaskHandler], logger: Logger, lease: Duration = .seconds(30),
                pollInterval: Duration = .seconds(1), concurrency: Int = 4) {
        self.tasks = tasks
        self.handlers = handlers
        self.logger = logger
        self.owner = "runner-\(ULID.make())"
        self.lease = lease
        self.pollInterval = pollInterval
        self.concurrency = concurrency
    }

    public func run() async throws {
        logger.info("task runner started", metadata: ["owner": "\(owner)", "kinds": "\(handlers.keys.sorted())"])
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                do {
                    let claimed = try await tasks.claim(owner: owner, kinds: Set(handlers.keys), lease: lease, limit: concurrency)
                    for task in claimed {
                        group.addTask { await execute(task) }
                    }
                    if claimed.isEmpty { await tasks.wakeups.wait(timeout: pollInterval) }
                } catch {
                    logger.warning("claiming tasks failed", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: pollInterval)
                }
            }
        }
        logger.info("task runner stopped")
    }

    func execute(_ task: TaskRecord) async {
        var logger = self.logger
        logger[metadataKey: "correlation_id"] = "\(task.correlationID)"
        logger[metadataKey: "task_id"] = "\(task.id)"
        let execution = TaskExecution(
            task: task, context: OperationContext(actor: task.actor, correlationID: task.correlationID, taskID: task.id),
            logger: logger, tasks: tasks, owner: owner, lease: lease)
        guard let handler = handlers[task.kind] else { return }
        logger.info("task started", metadata: ["kind": "\(task.kind)", "attempt": "\(task.attempts)"])
        let outcome: (TaskState, String?)
        do {
            if task.cancelRequested { throw TaskCancelled() }
            try await handler(execution)
            outcome = (.succeeded, nil)
        } catch is TaskCancelled {
            outcome = (.cancelled, "cancelled on request")
        } catch let error as DataverketError {
            outcome = (.failed, error.message)
        } catch {
            outcome = (.failed, "\(error)")
        }
        do {
            try await tasks.finish(task.id, owner: owner, state: outcome.0, reason: outcome.1)
            logger.info("task finished", metadata: ["state": "\(outcome.0)", "reason": "\(outcome.1 ?? "")"])
        } catch {
            logger.error("recording task outcome failed", metadata: ["error": "\(error)"])
        }
    }
}
