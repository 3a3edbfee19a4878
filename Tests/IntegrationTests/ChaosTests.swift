import DataverketBus
import DataverketCore
import DataverketStore
import Foundation
@testable import Sentral
@testable import DataverketTasks
import DataverketServer
import Testing
import DataverketTestSupport

/// A `dataverket worker` child process that the test kills with SIGKILL and starts again.
actor WorkerProcess {
    let environment: [String: String]
    let logPath: String
    private var process: Process?
    private(set) var starts = 0

    init(databaseURL: String, natsURL: String, ledgerDirectory: String, logPath: String) {
        var environment = ProcessInfo.processInfo.environment
        environment["DV_DATABASE_URL"] = databaseURL
        environment["DV_NATS_URL"] = natsURL
        environment["DV_DEMO_LEDGER_DIR"] = ledgerDirectory
        self.environment = environment
        self.logPath = logPath
    }

    func start() throws {
        let process = Process()
        process.executableURL = ServerProcessTests.binDirectory.appendingPathComponent("dataverket")
        process.arguments = ["worker", "--ack-wait", "2", "--concurrency", "16", "--log-level", "info"]
        process.environment = environment
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        self.process = process
        starts += 1
    }

    /// `kill -9`: no shutdown, no nak — whatever it was doing is left mid-step.
    func killHard() async {
        guard let process else { return }
        self.process = nil
        kill(process.processIdentifier, SIGKILL)
        for _ in 0..<200 where process.isRunning { try? await Task.sleep(for: .milliseconds(10)) }
    }

    func stop() async {
        guard let process else { return }
        self.process = nil
        process.terminate()
        for _ in 0..<300 where process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

@Suite("Chaos")
struct ChaosTests {
    @Test("500 saga tasks while the worker is SIGKILLed 10 times and nats-server restarted twice: every task ends succeeded or failed with its undo applied, no duplicate side effects, nothing stuck",
          .timeLimit(.minutes(8)))
    func sagasSurviveKillsAndRestarts() async throws {
        let environment = ProcessInfo.processInfo.environment
        let total = Int(environment["DV_CHAOS_TASKS"] ?? "") ?? 500
        let kills = Int(environment["DV_CHAOS_KILLS"] ?? "") ?? 10
        let restartsAfter = Set((environment["DV_CHAOS_NATS_RESTARTS_AFTER"] ?? "3,7").split(separator: ",").compactMap { Int($0) })
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("dv-chaos-\(ULID.make())").path
        let ledgerDirectory = scratch + "/ledger"
        try FileManager.default.createDirectory(atPath: ledgerDirectory, withIntermediateDirectories: true)
        let ledger = DemoLedger(directory: ledgerDirectory)

        try await withBus(.jetStream) { bus, server in
            let server = try #require(server)
            try await withPostgres { database, databaseURL in
                let sentral = ControlPlane(database: database, bus: bus)
                let worker = WorkerProcess(databaseURL: databaseURL, natsURL: server.url, ledgerDirectory: ledgerDirectory,
                                           logPath: scratch + "/worker.log")
                try await runServices(sentral.engineServices(bus: bus, logger: quietLogger, worker: false)) {
                    // Every tenth saga is told to fail at one of its steps: it must unwind.
                    var expectedToFail: Set<String> = []
                    var ids: [String] = []
                    for start in stride(from: 0, to: total, by: 50) {
                        let created = try await database.transaction { session in
                            var created: [(String, Bool)] = []
                            for index in start..<min(total, start + 50) {
                                let fails = index % 10 == 9
                                let params = fails ? #"{"stepMilliseconds":60,"failAtStep":\#(index % 3 + 1)}"# : #"{"stepMilliseconds":60}"#
                                let task = try await sentral.tasks.enqueue(
                                    session, kind: "saga-demo", resource: ResourceRef(kind: "engine", id: ULID.make(), name: "chaos-\(index)"),
                                    tenantID: nil, projectID: nil, context: testContext, params: params)
                                created.append((task.id, fails))
                            }
                            return created
                        }
                        ids += created.map(\.0)
                        expectedToFail.formUnion(created.filter(\.1).map(\.0))
                    }

                    try await worker.start()
                    var journalLength = 0
                    for kill in 1...max(1, kills) where kills > 0 {
                        // Let the worker get going (its journal grows), then kill it mid-flight.
                        let target = journalLength + max(10, total * 3 / 15)
                        for _ in 0..<160 where journalLength < target {
                            try await Task.sleep(for: .milliseconds(50))
                            journalLength = try await ledger.journal().count
                        }
                        await worker.killHard()
                        if restartsAfter.contains(kill) { try await server.restart() }
                        try await worker.start()
                    }

                    // Everything ends, within a bound: 40 s without any task finishing means stuck.
                    var counts: [TaskState: Int] = [:]
                    var finished = 0
                    var quietSince = ContinuousClock.now
                    for _ in 0..<1200 {
                        counts = try await sentral.tasks.countsByState()
                        let now = (counts[.succeeded] ?? 0) + (counts[.failed] ?? 0) + (counts[.cancelled] ?? 0)
                        if now == total { break }
                        if now != finished { (finished, quietSince) = (now, .now) }
                        if ContinuousClock.now - quietSince > .seconds(40) { break }
                        try await Task.sleep(for: .milliseconds(250))
                    }
                    await worker.stop()
                    if counts[.running] != 0 || counts[.queued] != 0 {
                        print(try await stuckTaskReport(database, bus: bus))
                    }
                    #expect(counts[.queued] == 0 && counts[.running] == 0 && counts[.blocked] == 0,
                            "stuck tasks: \(counts); worker log: \(scratch)/worker.log")
                    #expect((counts[.succeeded] ?? 0) + (counts[.failed] ?? 0) == total)

                    // Outcomes and effects agree, task by task.
                    let present = try await ledger.present()
                    var unexpectedFailures = 0
                    for id in ids {
                        let task = try await sentral.tasks.get(id)
                        let effects = Set(BuiltinTasks.sagaDemoSteps.map { "\(id)/\($0)" })
                        switch task.state {
                        case .succeeded:
                            #expect(!expectedToFail.contains(id), "\(id) should have failed")
                            #expect(effects.isSubset(of: present), "\(id) succeeded without all its effects")
                        case .failed:
                            if !expectedToFail.contains(id) { unexpectedFailures += 1 }
                            #expect(task.reason?.contains("undone: ") == true, "\(id) failed without its undo: \(task.reason ?? "-")")
                            #expect(effects.isDisjoint(with: present), "\(id) failed but left effects behind")
                        default:
                            Issue.record("\(id) ended \(task.state)")
                        }
                    }
                    let (applied, reverted) = try await journalCounts(ledger)
                    let duplicates = applied.filter { $0.value > 1 }.count + reverted.filter { $0.value > 1 }.count
                    #expect(duplicates == 0, "side effects applied or reverted twice: \(applied.filter { $0.value > 1 }.keys.prefix(5))")

                    let rerun = try await database.read { session in
                        try await session.first("""
                            SELECT CAST(COALESCE(SUM(runs - 1), 0) AS BIGINT) AS rerun FROM \(session.table("tasks", "saga_steps")) WHERE runs > 1
                            """)?.decode(column: "rerun", as: Int64.self) ?? 0
                    }
                    print("chaos: \(total) sagas, worker started \(await worker.starts) times, nats-server restarted \(restartsAfter.filter { $0 <= kills }.count) times; "
                          + "succeeded \(counts[.succeeded] ?? 0), failed \(counts[.failed] ?? 0) "
                          + "(\(expectedToFail.count) told to fail, \(unexpectedFailures) given up after lost workers); "
                          + "\(rerun) repeated step runs (undos included); \(applied.count) effects applied, \(reverted.count) undone, \(duplicates) duplicates")
                    #expect(await worker.starts == kills + 1)
                }
            }
        }
        try? FileManager.default.removeItem(atPath: scratch)
    }
}

/// What the store knows about unfinished tasks: the row, the saga log, the worker's processed ids and the
/// outbox — enough to tell which layer lost track of them.
func stuckTaskReport(_ database: Database, bus: any Bus) async throws -> String {
    // Which terminal reports reached the events stream (a fresh consumer reads it from the start).
    let probe = try await bus.consumer(ConsumerSpec(stream: .events, name: "probe-\(ULID.make().suffix(8))",
                                                    filterSubjects: ["dv.task.evt.succeeded", "dv.task.evt.failed"]))
    var inStream: [String: Int] = [:]
    for _ in 0..<100 {
        let batch = try await probe.fetch(batch: 256, wait: .milliseconds(200))
        if batch.isEmpty { break }
        for delivery in batch {
            if let subject = try? delivery.message.event().subject { inStream[subject, default: 0] += 1 }
            try await delivery.ack()
        }
    }
    let counted = inStream
    return try await database.read { session in
        var lines: [String] = []
        let rows = try await session.all("""
            SELECT id, state, attempts, reason, updated_at FROM \(session.table("tasks", "tasks"))
            WHERE state IN ('queued', 'running', 'blocked') ORDER BY id LIMIT 20
            """)
        for row in rows {
            let id = try row.decode(column: "id", as: String.self)
            let saga = try await SagaLog.read(session, id)
            let outbox = try await session.all("""
                SELECT subject, published_at FROM \(session.table("tasks", "outbox")) WHERE resource_key = \(bind: id) ORDER BY seq
                """).map { "\(try $0.decode(column: "subject", as: String.self))\(try $0.decode(column: "published_at", as: Int64?.self) == nil ? "(unpublished)" : "")" }
            lines.append("""
                \(id) \(try row.decode(column: "state", as: String.self)) attempts=\(try row.decode(column: "attempts", as: Int64.self)) \
                reason=\(try row.decode(column: "reason", as: String?.self) ?? "-") \
                saga=\(saga.map { "\($0.phase.rawValue) \($0.steps.map { "\($0.name):\($0.state.rawValue)x\($0.runs)" })" } ?? "none") \
                outbox=\(outbox) terminal-reports-in-stream=\(counted[id] ?? 0)
                """)
        }
        return "stuck tasks:\n" + lines.joined(separator: "\n")
    }
}
