import DataverketBus
import DataverketCore
import DataverketStore
import Foundation
import Logging
import Synchronization
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

    /// Starts a worker; returns its pid.
    @discardableResult
    func start() throws -> Int32 {
        let process = Process()
        process.executableURL = ServerProcessTests.binDirectory.appendingPathComponent("dataverket")
        process.arguments = ["worker", "--ack-wait", "2", "--concurrency", "4", "--log-level", "info"]
        process.environment = environment
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        self.process = process
        starts += 1
        return process.processIdentifier
    }

    /// The running worker's pid; nil if none was started or it exited (on its own: it must not).
    var runningPID: Int32? { process.flatMap { $0.isRunning ? $0.processIdentifier : nil } }

    /// `kill -9`: no shutdown, no nak — whatever it was doing is left mid-step. Returns once the process is gone.
    func killHard() async throws -> Int32? {
        guard let process else { return nil }
        self.process = nil
        kill(process.processIdentifier, SIGKILL)
        for _ in 0..<1000 where process.isRunning { try await Task.sleep(for: .milliseconds(10)) }
        guard !process.isRunning else { throw TestSupportError("worker \(process.processIdentifier) outlived SIGKILL by 10 s") }
        return process.processIdentifier
    }

    func stop() async {
        guard let process else { return }
        self.process = nil
        process.terminate()
        for _ in 0..<1500 where process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// The run's PostgreSQL server, which the chaos test crash-restarts: scripts/test exports where it lives
/// (scripts/lib/postgres.sh's pg_start).
struct PostgresServerControl: Sendable {
    let pgCtl: String
    let dataDirectory: String
    let logFile: String
    /// The system user pg_ctl must run as (the cluster's owner) when the tests run as root.
    let osUser: String?

    /// From `DV_TEST_PG_BIN`, `DV_TEST_PG_DATA`, `DV_TEST_PG_LOG`, `DV_TEST_PG_OS_USER`; throws (the test fails, it
    /// does not skip) when they are missing.
    static func fromEnvironment() throws -> PostgresServerControl {
        let environment = ProcessInfo.processInfo.environment
        guard let bin = environment["DV_TEST_PG_BIN"], !bin.isEmpty, let data = environment["DV_TEST_PG_DATA"], !data.isEmpty else {
            throw TestSupportError("""
                the chaos test crash-restarts the run's PostgreSQL and needs DV_TEST_PG_BIN (the directory of pg_ctl) and \
                DV_TEST_PG_DATA (the data directory); scripts/test exports them (scripts/lib/postgres.sh) — run it through scripts/test
                """)
        }
        let pgCtl = bin + "/pg_ctl"
        guard FileManager.default.isExecutableFile(atPath: pgCtl) else { throw TestSupportError("DV_TEST_PG_BIN: no pg_ctl at \(pgCtl)") }
        let log = environment["DV_TEST_PG_LOG"].flatMap { $0.isEmpty ? nil : $0 } ?? (data as NSString).deletingLastPathComponent + "/log"
        return PostgresServerControl(pgCtl: pgCtl, dataDirectory: data, logFile: log,
                                     osUser: environment["DV_TEST_PG_OS_USER"].flatMap { $0.isEmpty ? nil : $0 })
    }

    /// `pg_ctl stop -m immediate`: the postmaster and every backend quit at once — no checkpoint, every client
    /// connection cut, as in a crash; the next start runs crash recovery. Returns the server's options for `start`.
    func crash() async throws -> String {
        // What the server was started with (postmaster.opts: the command line, quoted), for starting it the same way.
        let line = try String(contentsOfFile: dataDirectory + "/postmaster.opts", encoding: .utf8)
        guard let quote = line.firstIndex(of: "\"") else { throw TestSupportError("unexpected postmaster.opts: \(line)") }
        try await pgCtl(["-m", "immediate", "stop"])
        return line[quote...].trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `pg_ctl start` with `options`; returns once the server accepts connections (after its crash recovery).
    func start(options: String) async throws {
        try await pgCtl(["-l", logFile, "-w", "-t", "180", "-o", options, "start"])
    }

    private func pgCtl(_ arguments: [String]) async throws {
        var command = [pgCtl, "-D", dataDirectory] + arguments
        if let osUser, getuid() == 0 {
            let runuser = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/sbin/runuser"
            command = [runuser, "-u", osUser, "--"] + command
        }
        let output = logFile + ".pg_ctl"
        let status = try await Self.spawnAndWait(command, output: output, timeout: .seconds(240))
        guard status == 0 else {
            let said = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            throw TestSupportError("pg_ctl \(arguments.last ?? "") failed (wait status \(status)): \(said); server log: \(logFile)")
        }
    }

    /// Runs `command` with posix_spawn, its output to `output`, and polls for its exit. Not Foundation's `Process`:
    /// that sees a child end only when every holder of a socket it hands the child has closed it, and pg_ctl's
    /// postmaster keeps it, so the restart would never be seen to finish. A bash in front closes every inherited
    /// descriptor above stderr first, so the server leaves nothing of this process open.
    static func spawnAndWait(_ command: [String], output: String, timeout: Duration) async throws -> Int32 {
        let script = #"for fd in /proc/$$/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && exec {fd}>&-; done 2>/dev/null; exec "$@""#
        let arguments = ["/bin/bash", "-c", script, "spawn"] + command
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = ProcessInfo.processInfo.environment.map { strdup("\($0)=\($1)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, "/bin/bash", &actions, nil, argv, envp)
        guard spawned == 0 else { throw TestSupportError("posix_spawn \(command[0]): error \(spawned)") }
        let giveUp = ContinuousClock.now + timeout
        while true {
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { return status }
            if reaped < 0 && errno != EINTR { throw TestSupportError("waitpid \(pid): errno \(errno)") }
            if ContinuousClock.now > giveUp {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                throw TestSupportError("\(command.joined(separator: " ")) did not finish within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}

/// Log lines appended to a file, one `write()` each, so the test process's own services can be followed while it
/// runs (and read after a failure).
final class LogFile: Sendable {
    let descriptor: Int32

    init(path: String) throws {
        descriptor = open(path, O_CREAT | O_APPEND | O_WRONLY, 0o644)
        guard descriptor >= 0 else { throw TestSupportError("cannot open \(path): errno \(errno)") }
    }

    deinit { close(descriptor) }

    func logger(_ label: String, level: Logger.Level) -> Logger {
        var logger = Logger(label: label) { _ in
            // The handler keeps the file (and its descriptor) open for as long as a logger uses it.
            LineLogHandler(logLevel: level) { [self] line in
                // The time first, and one write() per line so lines from many tasks never interleave.
                let bytes = Array("\(Date().formatted(.iso8601.time(includingFractionalSeconds: true))) \(line)\n".utf8)
                _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            }
        }
        logger.logLevel = level
        return logger
    }
}

/// Follows the effect journal while workers append to it: how many lines it has, and which calls are open
/// (begun, not ended) per worker pid — to time kills so they hit work in flight.
struct JournalTail {
    let path: String
    private var offset: UInt64 = 0
    private var pending = Data()
    private(set) var lines = 0
    private var open: [Int32: Set<String>] = [:]

    init(path: String) { self.path = path }

    mutating func refresh() throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { return }
        defer { try? handle.close() }
        try handle.seek(toOffset: offset)
        let data = try handle.readToEnd() ?? Data()
        offset += UInt64(data.count)
        pending.append(data)
        guard let lastNewline = pending.lastIndex(of: UInt8(ascii: "\n")) else { return }
        for line in pending[pending.startIndex...lastNewline].split(separator: UInt8(ascii: "\n")) {
            lines += 1
            guard let entry = DemoLedger.Entry(line: String(decoding: line, as: UTF8.self)) else { continue }
            let call = "\(entry.operation.rawValue) \(entry.key) \(entry.attempt)"
            if entry.isEnd { open[entry.pid]?.remove(call) } else { open[entry.pid, default: []].insert(call) }
        }
        pending = Data(pending[(lastNewline + 1)...])
    }

    /// Whether worker `pid` has a call under way.
    func busy(_ pid: Int32) -> Bool { !(open[pid] ?? []).isEmpty }

    /// The tasks worker `pid` has calls under way for.
    func tasks(underWayIn pid: Int32) -> Set<String> {
        Set((open[pid] ?? []).compactMap { call in call.split(separator: " ").dropFirst().first.flatMap { $0.split(separator: "/").first }.map(String.init) })
    }
}

/// What the effect journal says about the run, checked against the engine's promises (ADR 006).
struct ChaosJournalAudit {
    /// One call to the ledger: its `begin` line, and its `end` unless the worker was killed inside it.
    struct Call {
        var entry: DemoLedger.Entry
        var begin: Int
        var end: Int?
        var endAt: Int64?
        var outcome: String?
    }

    var calls: [Call] = []
    var violations: [String] = []
    /// Calls left without an `end` by a SIGKILLed worker: the kills demonstrably hit work in flight.
    var interrupted: (applies: Int, undos: Int) = (0, 0)
    /// Calls repeated on the same effect, by what cut the earlier one off.
    var repeats: [String: Int] = [:]
    /// Applies whose effect was later undone (failed sagas unwinding).
    var appliesUndone = 0
    /// Net effects per key: created − removed.
    var net: [String: Int] = [:]

    /// - Parameters:
    ///   - killed: pid of every SIGKILLed worker → how many journal lines there were once it was gone.
    ///   - outages: when the store was down (unix ms), with slack after for clients to notice it is back.
    init(entries: [DemoLedger.Entry], killed: [Int32: Int], outages: [ClosedRange<Int64>]) {
        var open: [String: Int] = [:]
        for (index, entry) in entries.enumerated() {
            let id = "\(entry.operation.rawValue) \(entry.key) \(entry.attempt) \(entry.pid)"
            if entry.isEnd {
                guard let call = open.removeValue(forKey: id) else {
                    violations.append("an end without its begin: \(entry.line)")
                    continue
                }
                calls[call].end = index
                calls[call].endAt = entry.at
                calls[call].outcome = entry.outcome
                switch entry.outcome {
                case "created": net[entry.key, default: 0] += 1
                case "removed": net[entry.key, default: 0] -= 1; appliesUndone += 1
                default: break
                }
            } else {
                if open[id] != nil { violations.append("a call begun twice by one worker and attempt: \(entry.line)") }
                open[id] = calls.count
                calls.append(Call(entry: entry, begin: index))
            }
        }
        for call in calls where call.end == nil {
            if killed[call.entry.pid] != nil {
                if call.entry.operation == .apply { interrupted.applies += 1 } else { interrupted.undos += 1 }
            } else {
                violations.append("a call never finished, yet its worker was not killed: \(call.entry.line)")
            }
        }
        let steps = BuiltinTasks.sagaDemoSteps
        for (task, taskCalls) in Dictionary(grouping: calls, by: { $0.entry.taskID }) {
            let ordered = taskCalls.sorted { $0.begin < $1.begin }
            // One saga runs in one place at a time: no call begins while another of the same saga is open
            // (a killed worker's open call stays open until the kill).
            var openUntil = -1
            var openCall: Call?
            for call in ordered {
                if let previous = openCall, call.begin < openUntil {
                    violations.append("\(task) ran in two places at once: \(call.entry.line) began while \(previous.entry.line) was under way")
                }
                let until = call.end ?? killed[call.entry.pid] ?? Int.max
                if until > openUntil { (openUntil, openCall) = (until, call) }
            }
            // Forward in order, never after unwinding began, never a step again once a later step had begun
            // (it was logged done).
            let firstUndo = ordered.first { $0.entry.operation == .undo }?.begin ?? Int.max
            var furthest = -1
            for call in ordered where call.entry.operation == .apply {
                let index = steps.firstIndex(of: call.entry.step) ?? -1
                if call.begin > firstUndo { violations.append("\(task) ran forward after unwinding began: \(call.entry.line)") }
                if index < furthest { violations.append("\(task) ran \(call.entry.step) again after a later step had begun: \(call.entry.line)") }
                furthest = max(furthest, index)
            }
            // A repeated call is the engine's at-least-once promise at work only if the earlier call was cut off:
            // killed inside it, its worker killed right after it (before logging it), or the store down meanwhile.
            for (_, keyCalls) in Dictionary(grouping: ordered, by: { "\($0.entry.operation.rawValue) \($0.entry.key)" }) {
                for (earlier, call) in zip(keyCalls, keyCalls.dropFirst()) {
                    let lastOfItsWorker = !ordered.contains { $0.begin > earlier.begin && $0.entry.pid == earlier.entry.pid }
                    let cause: String? = if earlier.end == nil {
                        "killed inside the earlier call"
                    } else if earlier.outcome == "aborted" {
                        "the earlier call was aborted"
                    } else if killed[earlier.entry.pid] != nil && lastOfItsWorker {
                        "its worker killed before logging the earlier call"
                    } else if outages.contains(where: { earlier.endAt ?? 0 <= $0.upperBound && call.entry.at >= $0.lowerBound }) {
                        "the store went down before the earlier call was logged"
                    } else {
                        nil
                    }
                    if let cause {
                        repeats[cause, default: 0] += 1
                    } else {
                        violations.append("\(task): \(call.entry.line) repeated \(earlier.entry.line) though nothing cut that one off")
                    }
                }
            }
        }
    }

    /// Calls (applies and undos) per `<task id>/<step>`.
    var callsPerKey: [String: Int] {
        Dictionary(grouping: calls, by: \.entry.key).mapValues(\.count)
    }

    /// Apply calls per `<task id>/<step>`.
    var appliesPerKey: [String: Int] {
        Dictionary(grouping: calls.filter { $0.entry.operation == .apply }, by: \.entry.key).mapValues(\.count)
    }
}

/// Whether the run passed (its scratch directory is kept otherwise).
final class ChaosOutcome: Sendable {
    let passed = Mutex(false)
}

@Suite("Chaos")
struct ChaosTests {
    @Test("""
        500 saga tasks while the worker is SIGKILLed 10 times, nats-server SIGKILLed twice and PostgreSQL crash-restarted \
        once: every task ends, in time, succeeded with each effect applied once or failed (only those told to) with \
        its effects undone; the effect journal shows kills cut steps off and every repeated step had a cause
        """, .timeLimit(.minutes(10)))
    func sagasSurviveKillsAndRestarts() async throws {
        let environment = ProcessInfo.processInfo.environment
        let total = Int(environment["DV_CHAOS_TASKS"] ?? "") ?? 500
        let kills = Int(environment["DV_CHAOS_KILLS"] ?? "") ?? 10
        let natsKillsAfter = Set((environment["DV_CHAOS_NATS_KILLS_AFTER"] ?? "3,7").split(separator: ",").compactMap { Int($0) })
        let storeRestartsAfter = Set((environment["DV_CHAOS_PG_RESTARTS_AFTER"] ?? "5").split(separator: ",").compactMap { Int($0) })
        let deadline = Duration.seconds(Int(environment["DV_CHAOS_DEADLINE_SECONDS"] ?? "") ?? 300)
        let storeDownFor = Duration.seconds(Int(environment["DV_CHAOS_PG_DOWN_SECONDS"] ?? "") ?? 20)
        // Fails here, not skipped, when the run did not say where its PostgreSQL is.
        let postgres = try PostgresServerControl.fromEnvironment()
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("dv-chaos-\(ULID.make())").path
        let ledgerDirectory = scratch + "/ledger"
        try FileManager.default.createDirectory(atPath: ledgerDirectory, withIntermediateDirectories: true)
        let ledger = DemoLedger(directory: ledgerDirectory)
        let began = ContinuousClock.now

        let engineLog = try LogFile(path: scratch + "/engine.log").logger("chaos-engine", level: .debug)

        let outcome = ChaosOutcome()
        // The bus as `withBus(.jetStream)` makes it, but logging (the NATS client's reconnects) to engine.log.
        let server = try await LocalNATSServer.start()
        let bus: any Bus
        do {
            bus = try await BusConfiguration.open(natsURL: server.url, logger: engineLog)
            try await bus.provision()
        } catch {
            await server.stop()
            throw error
        }
        do {
            try await withPostgres { database, databaseURL in
                // A crash must not lose acknowledged commits, or no engine could keep its promises across it.
                let synchronousCommit = try await database.read { try await $0.first("SHOW synchronous_commit")?.decode(column: "synchronous_commit", as: String.self) }
                try #require(synchronousCommit == "on", "the run's PostgreSQL has synchronous_commit=\(synchronousCommit ?? "?"): a crash restart would lose commits")
                let sentral = ControlPlane(database: database, bus: bus)
                let worker = WorkerProcess(databaseURL: databaseURL, natsURL: server.url, ledgerDirectory: ledgerDirectory,
                                           logPath: scratch + "/worker.log")
                try await runServices(sentral.engineServices(bus: bus, logger: engineLog, worker: false)) {
                    // Every tenth saga is told to fail at one of its steps: it must unwind.
                    var failAt: [String: Int] = [:]
                    var ids: [String] = []
                    for start in stride(from: 0, to: total, by: 50) {
                        let created = try await database.transaction { session in
                            var created: [(String, Int?)] = []
                            for index in start..<min(total, start + 50) {
                                let step = index % 10 == 9 ? index % 3 + 1 : nil
                                let params = step.map { #"{"stepMilliseconds":200,"failAtStep":\#($0)}"# } ?? #"{"stepMilliseconds":200}"#
                                let task = try await sentral.tasks.enqueue(
                                    session, kind: "saga-demo", resource: ResourceRef(kind: "engine", id: ULID.make(), name: "chaos-\(index)"),
                                    tenantID: nil, projectID: nil, context: testContext, params: params, deadline: deadline)
                                created.append((task.id, step))
                            }
                            return created
                        }
                        ids += created.map(\.0)
                        for (id, step) in created { if let step { failAt[id] = step } }
                    }
                    let allEndBy = ContinuousClock.now + deadline + .seconds(60)

                    // The timetable: each round lets the worker get going (the journal grows, a call of its is under
                    // way), then SIGKILLs it mid-step and starts another; after some rounds nats-server is SIGKILLed
                    // or PostgreSQL crash-restarted while the new worker has calls under way.
                    var tail = JournalTail(path: ledgerDirectory + "/journal")
                    var killed: [Int32: Int] = [:]
                    var outages: [ClosedRange<Int64>] = []
                    var natsKills = 0
                    var storeRestarts = 0
                    var storeDowntime = Duration.zero
                    var pid = try await worker.start()
                    /// Waits (bounded, generously) until the journal grew by `lines` and worker `pid` has a call under way.
                    func busyWorker(after lines: Int, _ what: String) async throws -> Bool {
                        let from = tail.lines
                        let giveUp = ContinuousClock.now + .seconds(120)
                        while ContinuousClock.now < giveUp {
                            try tail.refresh()
                            if tail.lines >= from + lines && tail.busy(pid) { return true }
                            guard await worker.runningPID == pid else {
                                Issue.record("worker \(pid) exited on its own before \(what); log: \(scratch)/worker.log")
                                return false
                            }
                            try await Task.sleep(for: .milliseconds(20))
                        }
                        Issue.record("worker \(pid) had no call under way within 120 s before \(what) (journal: \(tail.lines) lines)")
                        return false
                    }
                    /// Waits (bounded, generously) until every task in `ids` has ended.
                    func ended(_ ids: Set<String>, _ what: String) async throws -> Bool {
                        let giveUp = ContinuousClock.now + .seconds(120)
                        var left = ids
                        while !left.isEmpty {
                            for id in left where (try? await sentral.tasks.get(id))?.state.isTerminal == true { left.remove(id) }
                            if left.isEmpty { break }
                            guard ContinuousClock.now < giveUp else {
                                Issue.record("\(left.count) tasks cut off by \(what) had not ended within 120 s: \(left.sorted().prefix(5))")
                                return false
                            }
                            try await Task.sleep(for: .milliseconds(100))
                        }
                        return true
                    }
                    var cutOff: Set<String> = []
                    chaos: for round in 1...max(1, kills) where kills > 0 {
                        // The tasks the last kill cut off have ended before the next kill: each loses a worker to a kill
                        // at most about once per step, well within its 4 attempts (lost workers count as attempts, so a
                        // task cut off by 4 kills in a row fails by design), and a saga not told to fail must not fail.
                        guard try await ended(cutOff, "kill \(round - 1)") else { break chaos }
                        guard try await busyWorker(after: 20, "kill \(round)") else { break chaos }
                        let victim = try await worker.killHard()
                        try tail.refresh()
                        if let victim {
                            killed[victim] = tail.lines
                            cutOff = tail.tasks(underWayIn: victim)
                        }
                        pid = try await worker.start()
                        if natsKillsAfter.contains(round) {
                            guard try await busyWorker(after: 10, "nats-server's SIGKILL after round \(round)") else { break chaos }
                            try await server.crash()
                            try await server.start()
                            natsKills += 1
                        }
                        if storeRestartsAfter.contains(round) {
                            guard try await busyWorker(after: 10, "PostgreSQL's restart after round \(round)") else { break chaos }
                            // Down for a while, as a failing-over database is: longer than the worker's retries (4
                            // attempts, 0.2–0.8 s apart), its ack wait and the projector's ten deliveries a second apart,
                            // so an engine that spends attempts or deliveries on the outage fails tasks and shows it; and
                            // longer than the 15 s after which the connection pool stops queueing statements and fails
                            // them all at once (its circuit breaker), so both ways of meeting the outage are exercised.
                            // (This is the fault's length, not a wait for something to happen: the worker has calls
                            // under way, its statements queue or fail from the moment of the crash.)
                            let down = Self.unixMilliseconds()
                            let clock = ContinuousClock.now
                            let options = try await postgres.crash()
                            try await Task.sleep(until: clock + storeDownFor)
                            try await postgres.start(options: options)
                            storeDowntime += ContinuousClock.now - clock
                            // Slack after: a client may learn that it is back only at its next statement.
                            outages.append(down...(Self.unixMilliseconds() + 10_000))
                            storeRestarts += 1
                        }
                    }

                    // Everything ends by the tasks' deadline + 60 s (condition-polled; the machine may be busy).
                    var counts: [TaskState: Int] = [:]
                    while true {
                        if let now = try? await sentral.tasks.countsByState() {
                            counts = now
                            if (counts[.succeeded] ?? 0) + (counts[.failed] ?? 0) + (counts[.cancelled] ?? 0) == total { break }
                        }
                        guard ContinuousClock.now < allEndBy, await worker.runningPID != nil else { break }
                        try await Task.sleep(for: .milliseconds(250))
                    }
                    let elapsed = ContinuousClock.now - began
                    if await worker.runningPID == nil { Issue.record("the last worker exited on its own; log: \(scratch)/worker.log") }
                    await worker.stop()
                    if counts[.running] != 0 || counts[.queued] != 0 || counts[.blocked] != 0 {
                        print(try await stuckTaskReport(database, bus: bus))
                    }
                    #expect(counts[.queued] == 0 && counts[.running] == 0 && counts[.blocked] == 0,
                            "stuck tasks after \(elapsed): \(counts); worker log: \(scratch)/worker.log")
                    #expect((counts[.succeeded] ?? 0) + (counts[.failed] ?? 0) == total)

                    // Outcomes, task by task, and what the effect journal says each saga did.
                    let audit = ChaosJournalAudit(entries: try await ledger.entries(), killed: killed, outages: outages)
                    let runs = try await database.read { session in
                        try await session.all("SELECT task_id, step, runs FROM \(session.table("tasks", "saga_steps"))").map { row in
                            ("\(try row.decode(column: "task_id", as: String.self))/\(try row.decode(column: "step", as: String.self))",
                             Int(try row.decode(column: "runs", as: Int64.self)))
                        }
                    }
                    let runsPerKey = Dictionary(runs, uniquingKeysWith: +)
                    let (callsPerKey, appliesPerKey) = (audit.callsPerKey, audit.appliesPerKey)
                    var unexpectedFailures: [String] = []
                    var problems = audit.violations
                    for id in ids {
                        let task = try await sentral.tasks.get(id)
                        let keys = BuiltinTasks.sagaDemoSteps.map { "\(id)/\($0)" }
                        switch task.state {
                        case .succeeded:
                            if let step = failAt[id] { problems.append("\(id) succeeded though told to fail at step \(step)") }
                            for key in keys where audit.net[key] != 1 {
                                problems.append("\(id) succeeded with \(key) applied \(audit.net[key] ?? 0) times net")
                            }
                        case .failed:
                            if failAt[id] == nil { unexpectedFailures.append("\(id): \(task.reason ?? "-")") }
                            if task.reason?.contains("undone: ") != true { problems.append("\(id) failed without its undo: \(task.reason ?? "-")") }
                            for key in keys where (audit.net[key] ?? 0) != 0 {
                                problems.append("\(id) failed but left \(key) applied \(audit.net[key] ?? 0) times net")
                            }
                        default:
                            problems.append("\(id) ended \(task.state)")
                        }
                        if let step = failAt[id] {
                            for key in keys.dropFirst(step - 1) where appliesPerKey[key] != nil {
                                problems.append("\(id) was told to fail at step \(step), yet \(key) was applied")
                            }
                        }
                        // Write-ahead: every call was logged started (or undoing) in the saga log before it ran.
                        for key in keys where (callsPerKey[key] ?? 0) > (runsPerKey[key] ?? 0) {
                            problems.append("\(key) was called \(callsPerKey[key] ?? 0) times but logged started \(runsPerKey[key] ?? 0) times")
                        }
                    }
                    #expect(unexpectedFailures.isEmpty,
                            "\(unexpectedFailures.count) sagas not told to fail failed: \(unexpectedFailures.prefix(10).joined(separator: "; "))")
                    #expect(problems.isEmpty, "\(problems.count) problems: \(problems.prefix(20).joined(separator: "\n"))")
                    #expect(audit.interrupted.applies + audit.interrupted.undos > 0,
                            "no kill cut a call to the ledger off: the kills did not hit work in flight")
                    #expect(await worker.starts == kills + 1)
                    #expect(natsKills == natsKillsAfter.filter { $0 <= kills }.count)
                    #expect(storeRestarts == storeRestartsAfter.filter { $0 <= kills }.count)

                    let created = audit.calls.filter { $0.outcome == "created" }.count
                    print("""
                        chaos: \(total) sagas ended in \(Self.seconds(elapsed)) \
                        (deadline \(deadline) + 60 s): succeeded \(counts[.succeeded] ?? 0), failed \(counts[.failed] ?? 0) \
                        (\(failAt.count) told to fail, \(unexpectedFailures.count) unexpected); \
                        worker SIGKILLed \(killed.count) times (started \(await worker.starts) times), nats-server SIGKILLed \(natsKills) times, \
                        PostgreSQL crashed and restarted \(storeRestarts) times (down \(Self.seconds(storeDowntime))); \
                        journal: \(audit.calls.count) calls, \(created) effects created, \(audit.appliesUndone) applies undone, \
                        \(audit.interrupted.applies) applies and \(audit.interrupted.undos) undos cut off by a kill, \
                        \(audit.repeats.values.reduce(0, +)) repeated calls (\(audit.repeats.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))), \
                        \(problems.count) problems
                        """)
                    outcome.passed.withLock { $0 = problems.isEmpty && unexpectedFailures.isEmpty && audit.interrupted.applies + audit.interrupted.undos > 0 }
                }
            }
        } catch {
            await bus.close()
            await server.stop()
            throw error
        }
        await bus.close()
        await server.stop()
        if outcome.passed.withLock({ $0 }) && environment["DV_CHAOS_KEEP"] == nil {
            try? FileManager.default.removeItem(atPath: scratch)
        } else {
            print("chaos: kept \(scratch) (worker.log, engine.log, ledger/journal)")
        }
    }

    static func unixMilliseconds() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    static func seconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return String(format: "%.1f s", Double(seconds) + Double(attoseconds) / 1e18)
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
