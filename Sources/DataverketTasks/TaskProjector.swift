import DataverketBus
import DataverketCore
import DataverketStore
import Foundation
import Logging
import ServiceLifecycle

/// Projects workers' reports (`dv.task.evt.>` on `DV_EVT`) onto task rows, once per report.
public struct TaskProjector: Service {
    public let tasks: Tasks
    public let bus: any Bus
    public let logger: Logger
    static let consumerName = "sentral-task-projector"

    public init(tasks: Tasks, bus: any Bus, logger: Logger) {
        self.tasks = tasks
        self.bus = bus
        self.logger = logger
    }

    public func run() async throws {
        guard let consumer = await bindConsumer(bus, ConsumerSpec(
            stream: .events, name: Self.consumerName, filterSubjects: ["dv.task.evt.>"], ackWait: .seconds(30), maxDeliver: 10),
            logger: logger) else { return }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    await project(try await consumer.fetch(batch: 64, wait: .milliseconds(500)))
                } catch is CancellationError {
                    break
                } catch {
                    logger.warning("fetching task reports failed", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
    }

    /// Applies a fetched batch in one transaction (one commit instead of one per report), then acknowledges each
    /// delivery — only after the commit, so an acknowledged report is durable. A report that cannot be decoded is
    /// dead-lettered on its own; when the batch's transaction fails, every report goes the one-at-a-time way
    /// (`project(_:)` with its store waits, naks and dead letters), so one bad report does not hold up the rest.
    func project(_ deliveries: [BusDelivery]) async {
        var batch: [(delivery: BusDelivery, report: TaskReport)] = []
        for delivery in deliveries {
            do {
                let event = try delivery.message.event()
                batch.append((delivery, try JSONDecoder().decode(TaskReport.self, from: Data(event.data.text.utf8))))
            } catch {
                await project(delivery)  // undecodable: its own path dead-letters it
            }
        }
        guard batch.count > 1 else {
            for item in batch { await project(item.delivery) }
            return
        }
        do {
            try await tasks.apply(batch.map(\.report))
        } catch {
            for item in batch { await project(item.delivery) }
            return
        }
        for item in batch {
            do {
                try await item.delivery.ack()
            } catch {
                // Applied and committed: a redelivery finds the row already changed and changes nothing.
                logger.debug("acknowledging a projected task report failed; it may be redelivered", metadata: ["error": "\(error)"])
            }
        }
    }

    func project(_ delivery: BusDelivery) async {
        var waitedForStore = false
        while true {
            do {
                let event = try delivery.message.event()
                let report = try JSONDecoder().decode(TaskReport.self, from: Data(event.data.text.utf8))
                try await tasks.apply(report)
                try await delivery.ack()
            } catch let error as DecodingError {
                await bus.deadLetterOrRetry(delivery, reason: "undecodable task report: \(error)", logger: logger)
            } catch where StoreErrors.isUnreachable(error) && !Task.isCancelled {
                // The store being down is not the report's fault: nak'ing would spend its deliveries (a second apart) and
                // the last one would dead-letter it, leaving its task running for good. Wait for the store, then apply it.
                if !waitedForStore {
                    logger.warning("the store is unreachable; holding the task report until it answers", metadata: ["error": "\(error)"])
                    waitedForStore = true
                }
                if await waitForStore(tasks.database, keeping: delivery, every: .seconds(10)) { continue }
            } catch {
                logger.warning("projecting a task report failed; it will be redelivered", metadata: ["error": "\(error)"])
                if delivery.isLastAttempt {
                    await bus.deadLetterOrRetry(delivery, reason: "projection failed: \(error)", logger: logger)
                } else {
                    try? await delivery.nak(delay: .seconds(1))
                }
            }
            return
        }
    }
}

/// Resumes blocked tasks when the dependency they wait for reports healthy again — and only then.
public struct BlockedTaskResumer: Service {
    public let tasks: Tasks
    public let health: HealthRegistry
    public let logger: Logger
    public var interval: Duration

    public init(tasks: Tasks, health: HealthRegistry, logger: Logger, interval: Duration = .seconds(1)) {
        self.tasks = tasks
        self.health = health
        self.logger = logger
        self.interval = interval
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    for dependency in try await tasks.blockingDependencies().sorted()
                    where await health.status(of: dependency) == "healthy" {
                        let resumed = try await tasks.resumeBlocked(on: dependency)
                        logger.info("resumed blocked tasks", metadata: ["dependency": "\(dependency)", "count": "\(resumed)"])
                    }
                } catch {
                    logger.warning("checking blocked tasks failed", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: interval)
            }
        }
    }
}

/// Binds a durable consumer, retrying with backoff while the bus is unavailable; nil once shut down.
func bindConsumer(_ bus: any Bus, _ spec: ConsumerSpec, logger: Logger) async -> (any BusConsumer)? {
    var delay = Duration.milliseconds(250)
    while !Task.isCancelled && !Task.isShuttingDownGracefully {
        do {
            return try await bus.consumer(spec)
        } catch {
            logger.warning("binding consumer failed; retrying", metadata: ["consumer": "\(spec.name)", "error": "\(error)"])
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(10))
        }
    }
    return nil
}
