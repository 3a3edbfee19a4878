import DataverketCore
import Foundation
import Logging
import DataverketTasks
import ServiceLifecycle

/// Keeps machines honest while nobody looks:
///
/// - **Deadlines**: a machine past its in-progress state's deadline is timed out (`failed(step)`, or quarantined on the
///   second failed deploy) and its task is cancelled, so nothing stays `deploying` forever.
/// - **Power**: every BMC's power state is read each `powerInterval` with one quick try. A BMC that does not answer is
///   recorded (`bmcError`, `bmcFailingSince`) and never moves the machine to another lifecycle state; when it
///   answers again, its power state is recorded on the next pass. A BMC that refuses the credentials is asked once:
///   the refusal is recorded and the sweep skips the machine until the credentials change or an operator verifies it.
public struct MachineSweeper: Service {
    public let machines: Machines
    public let connector: BMCConnector
    public let settings: MaskinSettings
    let logger: Logger

    public init(machines: Machines, connector: BMCConnector, settings: MaskinSettings, logger: Logger) {
        self.machines = machines
        self.connector = connector.quick(timeout: settings.bmcTimeout)
        self.settings = settings
        self.logger = logger
    }

    static func context() -> OperationContext { OperationContext(actor: "system:maskin-sweeper", correlationID: ULID.make()) }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.loop(every: self.settings.sweepInterval) { try await self.sweepDeadlines() } }
                group.addTask { await self.loop(every: self.settings.powerInterval) { try await self.reconcilePower() } }
            }
        }
    }

    private func loop(every interval: Duration, _ body: @Sendable () async throws -> Void) async {
        while !Task.isCancelled {
            do {
                try await body()
            } catch {
                logger.warning("machine sweep failed", metadata: ["error": "\(error)"])
            }
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
        }
    }

    /// Times out every overdue machine; returns how many.
    @discardableResult
    public func sweepDeadlines(now: Date = Date()) async throws -> Int {
        var count = 0
        for machine in try await machines.overdue(now: now) {
            let context = Self.context()
            guard let expired = try await machines.expire(machine.id, now: now, context: context) else { continue }
            count += 1
            logger.warning("machine timed out", metadata: ["machine": "\(machine.name)", "state": "\(expired.state)"])
            if let taskID = machine.taskID, let task = try? await machines.tasks.get(taskID), !task.state.isTerminal {
                _ = try? await machines.tasks.cancel(taskID, context: context)
            }
        }
        return count
    }

    /// Reads every BMC's power state (at most `settings.bmcConcurrency` at a time); returns how many answered.
    @discardableResult
    public func reconcilePower() async throws -> Int {
        let list = try await machines.reconcilable()
        let connector = self.connector
        let machines = self.machines
        let settings = self.settings
        return await withTaskGroup(of: Bool.self) { group in
            var answered = 0
            var next = list.makeIterator()
            func start(_ machine: MachineRecord) {
                group.addTask {
                    do {
                        let state = try await connector.driver(for: machine).powerState()
                        try await machines.observePower(machine.id, state)
                        return true
                    } catch let error as DataverketError where error.bmcFailure?.kind == .unauthorized {
                        // Refused now: remembered, so the next sweeps do not log in again; refused before: skipped.
                        if error.bmcFailure?.attempts != 0, let fingerprint = try? connector.fingerprint(machine.bmc) {
                            try? await machines.observeBMCRefusal(machine.id, fingerprint: fingerprint, error.message)
                        }
                        return false
                    } catch {
                        try? await machines.observeBMCFailure(machine.id, (error as? DataverketError)?.message ?? "\(error)")
                        return false
                    }
                }
            }
            for _ in 0..<settings.bmcConcurrency { if let machine = next.next() { start(machine) } }
            while let ok = await group.next() {
                if ok { answered += 1 }
                if let machine = next.next() { start(machine) }
            }
            return answered
        }
    }
}
