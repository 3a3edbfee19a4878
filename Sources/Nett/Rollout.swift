import Foundation
import DataverketCore
import DataverketProcess
import Logging
import NettIntent

/// What a rollout did on one device.
public struct RolloutStep: Codable, Sendable, Hashable {
    public var device: String
    public var driver: String
    /// `unchanged`, `committed`, `confirmed`, `rolled-back`, `failed`, `skipped`.
    public var state: String
    public var diff: [String]
    public var error: String?
}

/// What a device ran before a rollout committed to it, stored with the changeset before the commit: if the process
/// applying it dies, its confirm timers die with it, and the task's compensation restores these instead.
public struct DeviceCheckpoint: Codable, Sendable, Hashable {
    public var device: String
    public var driver: String
    public var config: String

    public init(device: String, driver: String, config: String) {
        self.device = device
        self.driver = driver
        self.config = config
    }
}

public struct RolloutReport: Codable, Sendable, Hashable {
    public var steps: [RolloutStep]
    public var probes: [ProbeResult]
    /// Why the rollout failed (a device refused, a probe failed), when it did.
    public var failure: String?
    public var seconds: Double
    public var ok: Bool { failure == nil }
}

/// Applies an intent device by device with confirmed commits, runs the intent's probes, and confirms every commit
/// only when all probes pass; otherwise rolls back every device it touched (issue 7 §5).
public struct Rollout: Sendable {
    public let devices: NetworkDevices
    public let logger: Logger

    public init(devices: NetworkDevices, logger: Logger) {
        self.devices = devices
        self.logger = logger
    }

    /// Per device: the lines the intent would remove and add, against what runs now.
    public func plan(_ intent: NetworkIntent, only: Set<String>? = nil) async -> [RolloutStep] {
        var steps: [RolloutStep] = []
        for target in devices.targets(for: intent, only: only) {
            do {
                let candidate = try devices.renderer(for: target).render(intent, device: target.name)
                let diff = try await devices.driver(for: target).compare(candidate)
                steps.append(RolloutStep(device: target.name, driver: target.driver, state: diff.isEmpty ? "unchanged" : "pending", diff: diff))
            } catch {
                steps.append(RolloutStep(device: target.name, driver: target.driver, state: "failed", diff: [], error: "\(error)"))
            }
        }
        return steps
    }

    public func apply(_ intent: NetworkIntent, only: Set<String>? = nil, confirmWithin: Duration = .seconds(120),
                      probe: Bool = true, checkpoint: @Sendable (DeviceCheckpoint) async throws -> Void = { _ in },
                      progress: @Sendable (String) async throws -> Void = { _ in }) async throws -> RolloutReport {
        let started = ContinuousClock.now
        var steps: [RolloutStep] = []
        var touched: [(index: Int, driver: any NetworkDriver)] = []
        var failure: String?
        for target in devices.targets(for: intent, only: only) {
            var step = RolloutStep(device: target.name, driver: target.driver, state: "pending", diff: [])
            do {
                let candidate = try devices.renderer(for: target).render(intent, device: target.name)
                let driver = try await devices.driver(for: target)
                try await driver.stage(candidate, mode: .replace)
                step.diff = try await driver.diff()
                if step.diff.isEmpty {
                    try await driver.discard()
                    step.state = "unchanged"
                } else {
                    try await checkpoint(DeviceCheckpoint(device: target.name, driver: target.driver, config: try await driver.runningConfig()))
                    try await driver.commit(confirmWithin: confirmWithin)
                    step.state = "committed"
                    touched.append((steps.count, driver))
                }
                steps.append(step)
                logger.info("rollout step", metadata: ["device": "\(target.name)", "driver": "\(target.driver)", "state": "\(step.state)",
                                                       "lines": "\(step.diff.count)", "elapsed": "\(ContinuousClock.now - started)"])
                try await progress("\(target.name) (\(target.driver)): \(step.state)\(step.diff.isEmpty ? "" : ", \(step.diff.count) lines")")
            } catch {
                step.state = "failed"
                step.error = "\(error)"
                steps.append(step)
                failure = "\(target.name) (\(target.driver)) refused the change: \(error)"
                break
            }
        }
        var results: [ProbeResult] = []
        if failure == nil, probe {
            let endpoints = devices.catalog.endpoints ?? []
            results = try await ProbeRunner(endpoints: endpoints, evidence: devices.probeEvidence(for: intent))
                .run(ProbePlanner.plan(intent, endpoints: endpoints))
            let failed = results.filter { !$0.ok }
            logger.info("probes done", metadata: ["probes": "\(results.count)", "failed": "\(failed.count)", "elapsed": "\(ContinuousClock.now - started)"])
            if !failed.isEmpty {
                failure = "probe\(failed.count == 1 ? "" : "s") failed: " + failed.prefix(5).map(\.summary).joined(separator: "; ")
                    + (failed.count > 5 ? "; and \(failed.count - 5) more" : "")
            }
            try await progress("probes: \(results.count - failed.count)/\(results.count) as intended")
        }
        if failure == nil {
            // Confirm every commit; one that cannot be confirmed (its timer already rolled it back: the probes took
            // longer than confirmWithin) fails the changeset, and every other device goes back too.
            for (index, driver) in touched {
                do {
                    try await driver.confirm()
                    steps[index].state = "confirmed"
                } catch {
                    failure = "\(steps[index].device) (\(steps[index].driver)) could not be confirmed: \(error) — its commit was rolled back after \(confirmWithin)"
                    steps[index].state = "rolled-back"
                    steps[index].error = "\(error)"
                    touched.removeAll { $0.index == index }
                    break
                }
            }
        }
        if let failure {
            logger.warning("rollout failed; rolling back", metadata: ["failure": "\(failure)", "devices": "\(touched.count)"])
            for (index, driver) in touched.reversed() {
                do {
                    try await driver.rollback()
                    steps[index].state = "rolled-back"
                } catch {
                    steps[index].state = "failed"
                    steps[index].error = "rollback failed: \(error)"
                }
            }
        }
        let elapsed = ContinuousClock.now - started
        return RolloutReport(steps: steps, probes: results, failure: failure,
                             seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }
}

extension Rollout {
    /// Loads stored checkpoints back, last committed first (a rollout's rollback, for a process that died before
    /// it could do its own).
    public func restore(_ checkpoints: [DeviceCheckpoint]) async -> [RolloutStep] {
        var steps: [RolloutStep] = []
        for saved in checkpoints.reversed() {
            var step = RolloutStep(device: saved.device, driver: saved.driver, state: "rolled-back", diff: [])
            do {
                guard let target = devices.targets.first(where: { $0.name == saved.device && $0.driver == saved.driver }) else {
                    throw DataverketError.notFound("device", "\(saved.device) (\(saved.driver))")
                }
                let driver = try await devices.driver(for: target)
                step.diff = lineDiff(significantLines(try await driver.runningConfig()), significantLines(saved.config))
                try await driver.restore(saved.config)
            } catch {
                step.state = "failed"
                step.error = "restoring the checkpoint failed: \(error)"
            }
            logger.warning("restored a checkpoint", metadata: ["device": "\(saved.device)", "driver": "\(saved.driver)", "state": "\(step.state)"])
            steps.append(step)
        }
        return steps
    }
}
