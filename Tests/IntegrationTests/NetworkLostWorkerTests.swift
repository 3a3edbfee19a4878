import DataverketBus
import DataverketCore
import DataverketProcess
import Foundation
@testable import Nett
@testable import NettIntent
@testable import Sentral
@testable import DataverketTasks
import DataverketServer
import Testing
import DataverketTestSupport

/// A worker lost in the middle of a rollout takes its confirm timers with it. The changeset task stores each
/// device's configuration before committing to it; when the task is given up (the next delivery finds no attempts
/// left), its compensation restores them. Against a real nftables in a namespace the test creates.
@Suite("Network changesets: a lost worker")
struct NetworkLostWorkerTests {
    @Test("a worker frozen after its commit: the task given up restores the device from the stored checkpoint; a restore that fails is owed and retried; a queued changeset given up fails")
    func lostWorker() async throws {
        let namespace = "dvlost-\(ULID.make().suffix(6).lowercased())"
        let env = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
        let added = try await runSubprocess("/usr/sbin/ip", ["netns", "add", namespace], environment: env, timeout: .seconds(10))
        try #require(added?.status == 0, "ip netns add failed (the tests need root): \(added?.stderr ?? "timeout")")
        do {
            try await Self.run(in: namespace)
        } catch {
            _ = try? await runSubprocess("/usr/sbin/ip", ["netns", "delete", namespace], environment: env, timeout: .seconds(10))
            throw error
        }
        _ = try await runSubprocess("/usr/sbin/ip", ["netns", "delete", namespace], environment: env, timeout: .seconds(10))
    }

    static func run(in namespace: String) async throws {
        let bus = InProcessBus(logger: quietLogger)
        try await bus.provision()
        try await withDatabase(.sqlite) { database in
            let sentral = ControlPlane(database: database, bus: bus)
            let catalog = DeviceCatalog(devices: [DeviceTarget(name: "osl1-border1", driver: "nftables", namespace: namespace)], endpoints: [])
            let nett = NettPlane(sentral: sentral, devices: NetworkDevices(catalog: catalog), logger: quietLogger)
            let kind = try #require(nett.taskKinds.first)
            let compensation = try #require(kind.compensation)
            let intent = try NetworkIntent.load(yaml: String(contentsOfFile: NetworkLabTests.example, encoding: .utf8))
            let firewall = Nftables(device: "osl1-border1", namespace: namespace)

            // The worker commits to the border, then freezes (as a process that died would: no probes, no confirm).
            let record = try await nett.propose(intent, context: testContext)
            let task = try await sentral.tasks.get(try #require(record.taskID))
            // (The frozen handler is left asleep: woken, it would go on writing to a store the test has closed.)
            Task {
                try await kind.handler(TaskExecution(task: task, attempt: 1, context: testContext, logger: quietLogger, database: database,
                                                     report: { _, note in
                    if note?.contains("committed") == true { try? await Task.sleep(for: .seconds(3600)) }
                }))
            }
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(30)
            var applying = try await nett.changesets.get(record.id)
            var running = try await firewall.read()
            while applying.checkpoints?.count != 1 || !running.contains("mgmt -> oob"), clock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
                applying = try await nett.changesets.get(record.id)
                running = try await firewall.read()
            }
            #expect(applying.status == "applying" && applying.checkpoints?.first?.config == "", "\(applying)")
            #expect(try await firewall.read().contains("mgmt -> oob tcp/22"))

            // The next delivery gives the task up: the compensation restores what ran before (no table at all).
            var givenUp = task
            givenUp.reason = "no attempts left: this is delivery 2 of a task with 1 attempts"
            let summary = try await compensation(TaskExecution(task: givenUp, attempt: 2, context: testContext, logger: quietLogger,
                                                               database: database, report: { _, _ in }))
            #expect(summary == "restored 1 of 1 devices from the checkpoints stored before their commits", "\(summary ?? "nil")")
            #expect(try await firewall.read() == "")
            let restored = try await nett.changesets.get(record.id)
            #expect(restored.status == "rolled-back" && restored.checkpoints == nil, "\(restored.status)")
            #expect(restored.report?.failure?.hasPrefix("no attempts left") == true && restored.report?.steps.map(\.state) == ["rolled-back"],
                    "\(String(describing: restored.report))")
            // Given up again (a redelivery): nothing left to do.
            #expect(try await compensation(TaskExecution(task: givenUp, attempt: 3, context: testContext, logger: quietLogger,
                                                         database: database, report: { _, _ in })) == nil)
            #expect(try await nett.changesets.get(record.id).status == "rolled-back")

            // A checkpoint that cannot be restored (its device is gone from the devices file): the changeset is
            // `failed` with its checkpoints kept, and the compensation throws so the engine tries again — and again.
            let stuck = try await nett.propose(intent, context: testContext)
            _ = try await nett.changesets.update(stuck.id) { record in
                record.status = "applying"
                record.checkpoints = [DeviceCheckpoint(device: "osl1-gone", driver: "nftables", config: "")]
            }
            var stuckTask = try await sentral.tasks.get(try #require(stuck.taskID))
            stuckTask.reason = "no attempts left"
            for attempt in 2...3 {
                await #expect(throws: DataverketError.self) {
                    _ = try await compensation(TaskExecution(task: stuckTask, attempt: attempt, context: testContext, logger: quietLogger,
                                                             database: database, report: { _, _ in }))
                }
                let owed = try await nett.changesets.get(stuck.id)
                #expect(owed.status == "failed" && owed.checkpoints?.count == 1 && owed.report?.steps.first?.state == "failed",
                        "\(String(describing: owed.report))")
            }

            // A changeset whose task is given up before it ran (cancelled, deadline passed) fails with the reason.
            let queued = try await nett.propose(intent, context: testContext)
            var cancelled = try await sentral.tasks.get(try #require(queued.taskID))
            cancelled.reason = "cancelled before this attempt started"
            _ = try await compensation(TaskExecution(task: cancelled, attempt: 1, context: testContext, logger: quietLogger, database: database,
                                                     report: { _, _ in }))
            let failed = try await nett.changesets.get(queued.id)
            #expect(failed.status == "failed" && failed.report?.failure == "cancelled before this attempt started", "\(failed)")
            #expect(try await firewall.read() == "")
        }
    }
}
