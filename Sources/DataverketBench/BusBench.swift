import ArgumentParser
import DataverketAPI
import DataverketBus
import DataverketClient
import DataverketCore
import DataverketServer
import DataverketStore
import Foundation
import Logging
import NATS
import PostgresNIO
import Sentral
import DataverketTasks
import SQLKit
import NIOCore
import Synchronization

/// `dv-bench bus`: the bus three ways, in one run, against one nats-server:
/// 1. raw JetStream publish + PubAck with the project's NATS client, on a throwaway stream;
/// 2. the same workload with nats-py (the NATS maintainers' Python client), run as a subprocess: the baseline;
/// 3. end-to-end tasks: `POST /v1/tasks` (noop) → outbox → JetStream → worker → projector → row `succeeded`,
///    on PostgreSQL, completion seen on NATS (Sentral's `dv.sentral.evt.task.<state>`), not by polling.
struct BusBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bus", abstract: "JetStream publish+ack vs nats-py, and end-to-end task throughput and latency.",
        discussion: "Point --nats-url at a throwaway server: the end-to-end part provisions and uses the DV_* streams.")

    @Option(help: "Messages per raw publish+ack row.") var messages = 20_000
    @Option(help: "Unmeasured publishes before each raw row.") var warmup = 500
    @Option(help: "Payload bytes of a raw message.") var payload = 128
    @Option(help: "Publishes in flight for the raw rows (comma-separated, one pair of rows each).") var concurrency = "1,64"
    @Option(help: "Tasks per end-to-end row.") var tasks = 1000
    @Option(help: "Tasks in flight for the end-to-end rows (comma-separated, one row each).") var taskConcurrency = "1,64"
    @Option(help: "Parts to run: raw, python, e2e (comma-separated).") var parts = "raw,python,e2e"
    @Option(help: "NATS server with JetStream, on loopback.")
    var natsURL = ProcessInfo.processInfo.environment["DV_BENCH_NATS_URL"] ?? "nats://127.0.0.1:14322"
    @Option(help: "PostgreSQL admin URL (a fresh database is created for the run).")
    var postgresURL = ProcessInfo.processInfo.environment["DV_BENCH_POSTGRES_URL"] ?? "postgres://dataverket@127.0.0.1:55432/postgres"
    @Option(help: "Python interpreter with nats-py (scripts/bench sets DV_BENCH_PYTHON to its venv).")
    var python = ProcessInfo.processInfo.environment["DV_BENCH_PYTHON"] ?? "python3"
    @Option(help: "The nats-py workload script.") var pythonScript = "scripts/bench-nats-py.py"
    @Option(help: "Seconds one row may take before the bench gives up.") var timeout = 300
    @Option(help: "Seconds one task may take from create to succeeded.") var taskTimeout = 30

    func validate() throws {
        guard messages >= 1, tasks >= 1 else { throw ValidationError("--messages and --tasks must be at least 1") }
        guard warmup >= 0, (0...1_000_000).contains(payload) else { throw ValidationError("--warmup must be >= 0, --payload 0–1000000") }
        guard timeout >= 1, taskTimeout >= 1 else { throw ValidationError("--timeout and --task-timeout must be at least 1") }
        _ = try Self.levels(concurrency, "--concurrency")
        _ = try Self.levels(taskConcurrency, "--task-concurrency")
        let unknown = Set(Self.list(parts)).subtracting(["raw", "python", "e2e"])
        guard unknown.isEmpty else { throw ValidationError("unknown part(s) \(unknown.sorted()) (raw, python, e2e)") }
    }

    func run() async throws {
        let settings = BusBenchRun(
            messages: messages, warmup: warmup, payload: payload, levels: try Self.levels(concurrency, "--concurrency"),
            tasks: tasks, taskLevels: try Self.levels(taskConcurrency, "--task-concurrency"), parts: Set(Self.list(parts)),
            natsURL: natsURL, postgresURL: postgresURL, python: python, pythonScript: pythonScript,
            timeout: .seconds(timeout), taskTimeout: .seconds(taskTimeout))
        try await settings.run()
    }

    static func list(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    static func levels(_ text: String, _ option: String) throws -> [Int] {
        let values = list(text).map { Int($0) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) >= 1 && ($0 ?? 0) <= 4096 }) else {
            throw ValidationError("\(option) takes comma-separated counts in 1...4096")
        }
        return values.compactMap { $0 }
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// One bench run's settings and steps (plain values, so the steps can run in child tasks).
struct BusBenchRun: Sendable {
    var messages: Int
    var warmup: Int
    var payload: Int
    var levels: [Int]
    var tasks: Int
    var taskLevels: [Int]
    var parts: Set<String>
    var natsURL: String
    var postgresURL: String
    var python: String
    var pythonScript: String
    var timeout: Duration
    var taskTimeout: Duration

    /// Silent unless `DV_BENCH_LOG` names a level (trace, debug, info, ...): then to stderr.
    let logger: Logger = {
        guard let name = ProcessInfo.processInfo.environment["DV_BENCH_LOG"], let level = Logger.Level(rawValue: name) else {
            return Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        }
        var logger = Logger(label: "bench", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = level
        return logger
    }()

    func run() async throws {
        let options = NATSOptions(servers: [natsURL], name: "dv-bench", reconnect: .never)
        let client = try await NATSClient.connect(options, logger: logger)
        do {
            try await run(client)
        } catch {
            await client.close()
            throw error
        }
        await client.close()
    }

    private func run(_ client: NATSClient) async throws {
        let js = JetStream(client: client)
        let version = await client.serverInfo?.version ?? "?"
        var scope: [String] = []
        if parts.contains("raw") || parts.contains("python") {
            scope.append("publish+ack: \(messages) × \(payload) B per row after \(warmup) warm-up, file storage")
        }
        if parts.contains("e2e") { scope.append("end-to-end: \(tasks) noop tasks per row on PostgreSQL") }
        print("# dv-bench bus — nats-server \(version) at \(natsURL); " + scope.joined(separator: "; "))

        var ours: [Int: Double] = [:]
        if parts.contains("raw") || parts.contains("python") {
            ours = try await raw(js)
            try await workloads(js)
        }
        if parts.contains("e2e") {
            let baseline = levels.sorted().first.flatMap { level in ours[level].map { (level, $0) } }
            try await endToEnd(js, baseline: baseline)
        }
    }

    // MARK: raw publish + ack

    /// Our client and nats-py, row by row at each in-flight level; returns our msgs/s per level.
    private func raw(_ js: JetStream) async throws -> [Int: Double] {
        print(row(["client", "workload", "in-flight", "msgs/s", "p50 ms", "p99 ms", "vs nats-py", "target", "result"], rawWidths))
        var ours: [Int: Double] = [:]
        for level in levels {
            var mine: Measurement?
            var theirs: PythonResult?
            if parts.contains("raw") {
                let run = self
                mine = try await bounded("publish+ack at \(level) in flight", timeout) { try await run.publishRow(js, concurrency: level) }
                ours[level] = mine?.perSecond
            }
            if parts.contains("python") {
                theirs = try await pythonRow(js, concurrency: level)
            }
            if let mine {
                let ratio = theirs.map { String(format: "%.2f×", mine.perSecond / $0.perSecond) } ?? "-"
                // Issue 22's targets: ≥ 1.0× nats-py at 1 in flight, ≥ 1.5× at 64.
                let goal: Double? = level == 1 ? 1.0 : level == 64 ? 1.5 : nil
                var verdict = "-"
                if let goal, let theirs { verdict = mine.perSecond / theirs.perSecond >= goal ? "PASS" : "FAIL" }
                print(row(["dataverket NATS", "publish+ack", "\(level)", String(format: "%.0f", mine.perSecond),
                           milliseconds(mine.percentile(0.5)), milliseconds(mine.percentile(0.99)), ratio,
                           goal.map { String(format: "≥ %.1f×", $0) } ?? "-", verdict], rawWidths))
            }
            if let theirs {
                print(row([theirs.client, "publish+ack", "\(level)", String(format: "%.0f", theirs.perSecond),
                           String(format: "%.2f", theirs.p50), String(format: "%.2f", theirs.p99), "1.00"], rawWidths))
            }
        }
        print("(each row: its own throwaway stream, limits retention; every publish awaits its PubAck; ratio = our msgs/s ÷ nats-py's)")
        return ours
    }

    // MARK: core publish, request/reply, pull-consume

    /// Issue 22's other client workloads, ours and nats-py's in the same run: core publish (no ack) until a flush
    /// returns, request/reply against a responder in the same client at each in-flight level, and pull-consume of a
    /// stream filled beforehand (fetch 100 at a time, ack each).
    private func workloads(_ js: JetStream) async throws {
        print("")
        print(row(["client", "workload", "in-flight", "msgs/s", "p50 ms", "p99 ms", "vs nats-py", "target", "result"], rawWidths))
        let runs: [(workload: String, level: Int, goal: Double)] = [("publish", 1, 1.5)] + levels.map { ("request", $0, 1.0) } + [("pull", 1, 1.0)]
        for run in runs {
            var mine: Measurement?
            var theirs: PythonResult?
            let bench = self
            if parts.contains("raw") {
                mine = try await bounded("\(run.workload) at \(run.level) in flight", timeout) {
                    try await bench.workload(run.workload, js, concurrency: run.level)
                }
            }
            if parts.contains("python") { theirs = try await pythonRow(js, workload: run.workload, concurrency: run.level) }
            let latency = run.workload == "request"
            if let mine {
                var verdict = "-"
                var ratio = "-"
                if let theirs {
                    ratio = String(format: "%.2f×", mine.perSecond / theirs.perSecond)
                    verdict = mine.perSecond / theirs.perSecond >= run.goal ? "PASS" : "FAIL"
                }
                print(row(["dataverket NATS", run.workload, "\(run.level)", String(format: "%.0f", mine.perSecond),
                           latency ? milliseconds(mine.percentile(0.5)) : "-", latency ? milliseconds(mine.percentile(0.99)) : "-", ratio,
                           String(format: "≥ %.1f×", run.goal), verdict], rawWidths))
            }
            if let theirs {
                print(row([theirs.client, run.workload, "\(run.level)", String(format: "%.0f", theirs.perSecond),
                           latency ? String(format: "%.2f", theirs.p50) : "-", latency ? String(format: "%.2f", theirs.p99) : "-", "1.00"],
                          rawWidths))
            }
        }
        print("(publish: core PUBs, no stream, timed until a flush returns; request: a responder on the same connection echoes;")
        print(" pull: a stream filled with the messages first, then fetched 100 at a time, each acked)")
    }

    /// One workload with our client: `messages` (after `warmup`, except pull) at `concurrency`.
    func workload(_ workload: String, _ js: JetStream, concurrency: Int) async throws -> Measurement {
        let client = js.client
        let body = ByteBuffer(bytes: Self.payload(payload))
        let clock = ContinuousClock()
        let count = messages
        switch workload {
        case "publish":
            let subject = "bench.\(ULID.make()).core"
            for _ in 0..<warmup { try await client.publish(subject, payload: body) }
            try await client.flush(timeout: .seconds(60))
            let start = clock.now
            for _ in 0..<count { try await client.publish(subject, payload: body) }
            try await client.flush(timeout: .seconds(60))
            return Measurement(name: "publish", count: count, elapsed: clock.now - start, latencies: [])
        case "request":
            let subject = "bench.\(ULID.make()).rr"
            let subscription = try await client.subscribe(subject, bufferSize: 65_536)
            let responder = Task {
                for await message in subscription {
                    if let reply = message.replyTo { try? await client.publish(reply, payload: message.payload) }
                }
            }
            defer { responder.cancel() }
            try await client.flush()
            let request: @Sendable (Int) async throws -> Void = { _ in _ = try await client.request(subject, payload: body, timeout: .seconds(5)) }
            _ = try await Measurement.run("warm-up", count: warmup, concurrency: concurrency, request)
            let measured = try await Measurement.run("request", count: count, concurrency: concurrency, request)
            try? await subscription.unsubscribe()
            return measured
        default:
            return try await withThrowawayStream(js) { subject, stream in
                try await Self.fill(js, subject: subject, count: count, body: body)
                let durable = "pull_\(ULID.make())"
                _ = try await js.createConsumer(stream: stream, config: ConsumerConfig(durableName: durable, ackPolicy: .explicit))
                let start = clock.now
                var consumed = 0
                // Bounded: every round takes at least one message, or gives up after 10 empty fetches.
                var empty = 0
                while consumed < count, empty < 10 {
                    let batch = try await js.fetch(stream: stream, consumer: durable, batch: min(100, count - consumed), expires: .seconds(5))
                    if batch.isEmpty { empty += 1 }
                    for message in batch { try await message.ack() }
                    consumed += batch.count
                }
                guard consumed == count else { throw BenchFailure("pull-consume got \(consumed) of \(count) messages") }
                return Measurement(name: "pull", count: count, elapsed: clock.now - start, latencies: [])
            }
        }
    }

    /// Stores `count` messages in the stream (pipelined, 500 at a time): the pull workload's backlog.
    static func fill(_ js: JetStream, subject: String, count: Int, body: ByteBuffer) async throws {
        var sent = 0
        while sent < count {
            let chunk = min(500, count - sent)
            let results = await js.publish(batch: Array(repeating: (subject, body, nil, nil), count: chunk))
            for result in results { _ = try result.get() }
            sent += chunk
        }
    }

    private var rawWidths: [Int] { [18, 12, 10, 9, 9, 9, 11, 8, 0] }

    /// Publishes `messages` (after `warmup`) with `concurrency` in flight, each awaiting its PubAck.
    func publishRow(_ js: JetStream, concurrency: Int) async throws -> Measurement {
        let body = Self.payload(payload)
        return try await withThrowawayStream(js) { subject in
            let publish: @Sendable (Int) async throws -> Void = { _ in _ = try await js.publish(subject, payload: body) }
            _ = try await Measurement.run("warm-up", count: warmup, concurrency: concurrency, publish)
            return try await Measurement.run("publish+ack", count: messages, concurrency: concurrency, publish)
        }
    }

    /// The same payload bytes as scripts/bench-nats-py.py.
    static func payload(_ count: Int) -> [UInt8] { (0..<count).map { UInt8($0 % 251) } }

    func withThrowawayStream<T>(_ js: JetStream, _ body: (String) async throws -> T) async throws -> T {
        try await withThrowawayStream(js) { subject, _ in try await body(subject) }
    }

    /// A throwaway stream (file storage, limits retention) for `body`, given its subject and its name; deleted after.
    func withThrowawayStream<T>(_ js: JetStream, _ body: (String, String) async throws -> T) async throws -> T {
        let token = ULID.make()
        let name = "BENCH_\(token)"
        _ = try await js.createStream(StreamConfig(
            name: name, subjects: ["bench.\(token).>"], retention: .limits, storage: .file, description: "dv-bench bus (throwaway)"))
        do {
            let result = try await body("bench.\(token).msg", name)
            try await js.deleteStream(name)
            return result
        } catch {
            try? await js.deleteStream(name)
            throw error
        }
    }

    // MARK: nats-py

    struct PythonResult: Decodable {
        var client: String
        var concurrency: Int
        var count: Int
        var seconds: Double
        var p50: Double
        var p99: Double
        var perSecond: Double { Double(count) / seconds }

        enum CodingKeys: String, CodingKey {
            case client, concurrency, count, seconds
            case p50 = "p50_ms"
            case p99 = "p99_ms"
        }
    }

    /// Runs scripts/bench-nats-py.py on a throwaway stream and parses its `DVBENCH {json}` line. For `pull` the stream
    /// is filled first (by our client, not timed).
    func pythonRow(_ js: JetStream, workload: String = "publish-ack", concurrency: Int) async throws -> PythonResult {
        try await withThrowawayStream(js) { subject, stream in
            if workload == "pull" { try await Self.fill(js, subject: subject, count: messages, body: ByteBuffer(bytes: Self.payload(payload))) }
            let seconds = timeout.components.seconds
            let output = try await Subprocess.run(
                Subprocess.resolve(python),
                [pythonScript, "--url", natsURL, "--subject", subject, "--stream", stream, "--workload", workload, "--messages", "\(messages)",
                 "--warmup", "\(warmup)", "--payload", "\(payload)", "--concurrency", "\(concurrency)", "--timeout", "\(seconds)"],
                timeout: timeout + .seconds(15))
            guard output.status == 0 else {
                throw BenchFailure("nats-py run (\(python) \(pythonScript)) failed with status \(output.status)\(output.timedOut ? " (timed out)" : ""): \(output.stderr.suffix(2000))")
            }
            guard let line = output.stdout.split(separator: "\n").last(where: { $0.hasPrefix("DVBENCH ") }) else {
                throw BenchFailure("nats-py run printed no DVBENCH line: \(output.stdout.suffix(500)) \(output.stderr.suffix(1500))")
            }
            return try JSONDecoder().decode(PythonResult.self, from: Data(line.dropFirst("DVBENCH ".count).utf8))
        }
    }

    // MARK: end to end

    /// The server in-process on a fresh PostgreSQL database with the JetStream bus, its task engine and worker;
    /// `tasks` noop tasks per in-flight level through the SDK, each timed from the create request to its row's
    /// `succeeded` announcement.
    private func endToEnd(_ js: JetStream, baseline: (level: Int, perSecond: Double)?) async throws {
        let (database, drop) = try await BenchDatabase.open("postgres", postgresURL: postgresURL, logger: logger)
        let result = await database.whileRunning { try await endToEnd(js, database: database, baseline: baseline) }
        try await drop()
        try result.get()
    }

    private func endToEnd(_ js: JetStream, database: Database, baseline: (level: Int, perSecond: Double)?) async throws {
        let bus = try await BusConfiguration.open(natsURL: natsURL, logger: logger)
        do {
            try await bus.provision()
            let sentral = ControlPlane(database: database, bus: bus)
            _ = try await sentral.migrate()
            try await withWatcher(js.client) { watcher in
                let run = self
                try await withBenchServer(sentral, bus: bus, logger: logger) { client, _ in
                    try await run.measureTasks(client: client, js: js, database: database, watcher: watcher, baseline: baseline)
                }
            }
        } catch {
            await bus.close()
            throw error
        }
        await bus.close()
    }

    private var e2eWidths: [Int] { [30, 10, 9, 9, 9, 10, 15, 22, 0] }

    private func measureTasks(client: Client, js: JetStream, database: Database, watcher: TaskWatcher, baseline: (level: Int, perSecond: Double)?) async throws {
        let clock = ContinuousClock()
        let taskTimeout = self.taskTimeout
        let one: @Sendable (Int) async throws -> Void = { _ in
            let beganWall = StoreTime.now()
            let began = clock.now
            let task = try await client.createTask(body: .json(.init(kind: .noop))).accepted.body.json
            let accepted = clock.now
            do {
                try await watcher.complete(task.id, beganWall: beganWall, began: began, accepted: accepted, deadline: accepted + taskTimeout)
            } catch let failure as BenchFailure {
                // Say where the task is, from the API, once: it already took too long or did not succeed.
                let seen = try? await client.getTask(path: .init(task: task.id)).ok.body.json
                throw BenchFailure("\(failure); the API has it \(seen.map { "\($0.state.rawValue) (\($0.reason ?? "no reason"))" } ?? "unreadable")")
            }
        }
        // Warm-up: the engine binds its consumers after the server starts; the first task waits for that.
        _ = try await bounded("end-to-end warm-up", timeout) { try await Measurement.run("warm-up", count: 20, concurrency: 1, one) }
        _ = await watcher.drain()

        print(row(["stage (noop task)", "in-flight", "tasks/s", "p50 ms", "p99 ms", "bus msgs", "vs raw pub+ack", "target", "result"], e2eWidths))
        for level in taskLevels {
            let before = try await storedMessages(js)
            let batch = try await bounded("\(tasks) tasks at \(level) in flight", timeout) {
                try await Measurement.run("tasks", count: tasks, concurrency: level, one)
            }
            let timings = await watcher.drain()
            let stored = try await storedMessages(js) - before
            let perSecond = Double(timings.count) / seconds(batch.elapsed)
            let whole = Measurement(name: "create→row succeeded", count: timings.count, elapsed: batch.elapsed,
                                    latencies: timings.map { $0.finished - $0.began })
            let create = Measurement(name: "create", count: timings.count, elapsed: batch.elapsed,
                                     latencies: timings.map { $0.accepted - $0.began })
            let reported = timings.compactMap { timing in timing.report.map { $0 - timing.began } }
            let report = Measurement(name: "report", count: reported.count, elapsed: batch.elapsed, latencies: reported)
            let finishedAt = try await finishedAt(database)
            let committed = timings.compactMap { timing in finishedAt[timing.id].map { Duration.microseconds($0 - timing.beganWall) } }
            let commit = Measurement(name: "commit", count: committed.count, elapsed: batch.elapsed, latencies: committed)
            let ratio = baseline.map { String(format: "%.0f×", $0.perSecond / perSecond) } ?? "-"
            // Issue 22's targets: at 1 in flight p50 < 10 ms; at 64, ≥ 1,000 tasks/s with p99 < 50 ms.
            let (target, met): (String, Bool?) = switch level {
            case 1: ("p50 < 10 ms", whole.percentile(0.5) < .milliseconds(10))
            case 64: ("≥ 1000/s, p99 < 50 ms", perSecond >= 1000 && whole.percentile(0.99) < .milliseconds(50))
            default: ("-", nil)
            }
            print(row(["create → succeeded announced", "\(level)", String(format: "%.0f", perSecond), milliseconds(whole.percentile(0.5)),
                       milliseconds(whole.percentile(0.99)), String(format: "%.1f/task", Double(stored) / Double(timings.count)), ratio,
                       target, met.map { $0 ? "PASS" : "FAIL" } ?? "-"],
                      e2eWidths))
            print(row(["  create (202 Accepted)", "\(level)", "", milliseconds(create.percentile(0.5)),
                       milliseconds(create.percentile(0.99)), "", "", "", ""], e2eWidths))
            print(row(["  create → worker's report", "\(level)", "", milliseconds(report.percentile(0.5)),
                       milliseconds(report.percentile(0.99)), "", "", "", ""], e2eWidths) + (reported.count < timings.count ? "  (\(reported.count) of \(timings.count) seen)" : ""))
            print(row(["  create → row committed", "\(level)", "", milliseconds(commit.percentile(0.5)),
                       milliseconds(commit.percentile(0.99)), "", "", "", ""], e2eWidths))
        }
        print("(completion is seen on NATS, not polled: a slot creates its next task when Sentral announces the last one")
        print(" succeeded (dv.sentral.evt.task.succeeded, relayed from the outbox after the projector committed the row);")
        print(" worker's report = dv.task.evt.succeeded arrives; row committed = the row's finished_at, read once per batch;")
        print(" tasks/s = tasks ÷ wall time; bus msgs = messages stored in DV_CMD + DV_EVT per task; the server's worker runs")
        print(" 8 tasks at a time, its default)")
        if let baseline {
            print("(vs raw pub+ack = our publish+ack msgs/s at \(baseline.level) in flight ÷ tasks/s: a task takes as long as that many")
            print(" back-to-back publish+acks; the outbox relay publishes a batch at a time with its acks pipelined)")
        } else {
            print("(no baseline for the end-to-end rows: run with --parts raw,e2e for the publish+ack ratio)")
        }
    }

    /// `finished_at` of every finished noop task (one query per batch, after it finished; wall clock, µs).
    private func finishedAt(_ database: Database) async throws -> [String: Int64] {
        try await database.read { session in
            var result: [String: Int64] = [:]
            for row in try await session.all("""
                SELECT id, finished_at FROM \(session.table("tasks", "tasks")) WHERE kind = 'noop' AND finished_at IS NOT NULL
                """) {
                result[try row.decode(column: "id", as: String.self)] = try row.decode(column: "finished_at", as: Int64.self)
            }
            return result
        }
    }

    /// Messages ever stored in DV_CMD and DV_EVT (last sequence numbers: DV_CMD is a work queue).
    private func storedMessages(_ js: JetStream) async throws -> UInt64 {
        let commands = try await js.streamInfo(BusStream.commands.name)
        let events = try await js.streamInfo(BusStream.events.name)
        return commands.state.lastSeq + events.state.lastSeq
    }

    /// Subscribes to the task announcements, feeds `watcher` while `body` runs; timeouts are swept every 100 ms.
    private func withWatcher(_ client: NATSClient, _ body: (TaskWatcher) async throws -> Void) async throws {
        let watcher = TaskWatcher()
        let rows = try await client.subscribe("dv.sentral.evt.task.*", bufferSize: 1 << 16)
        let reports = try await client.subscribe("dv.task.evt.succeeded", bufferSize: 1 << 16)
        try await client.flush()
        let clock = ContinuousClock()
        let listeners = Task {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    for await message in rows {
                        let at = clock.now
                        let state = message.subject.split(separator: ".").last.map(String.init) ?? ""
                        guard TaskWatcher.terminal.contains(state), let id = TaskWatcher.eventSubject(message.payloadBytes) else { continue }
                        await watcher.row(id, state: state, at: at)
                    }
                }
                group.addTask {
                    for await message in reports {
                        let at = clock.now
                        guard let id = TaskWatcher.eventSubject(message.payloadBytes) else { continue }
                        await watcher.report(id, at: at)
                    }
                }
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .milliseconds(100))
                        await watcher.expire(now: clock.now)
                    }
                }
            }
        }
        do {
            try await body(watcher)
        } catch {
            listeners.cancel()
            await listeners.value
            throw error
        }
        listeners.cancel()
        await listeners.value
        if rows.droppedMessages + reports.droppedMessages > 0 {
            print("(warning: the bench's subscriber dropped \(rows.droppedMessages + reports.droppedMessages) announcements)")
        }
    }

    // MARK: helpers

    private func row(_ cells: [String], _ widths: [Int]) -> String {
        var line = zip(cells, widths).map { cell, width in
            width == 0 ? cell : cell.padding(toLength: max(width, cell.count + 1), withPad: " ", startingAt: 0)
        }.joined(separator: " ")
        while line.hasSuffix(" ") { line.removeLast() }
        return line
    }
}

/// Runs `body` with a deadline: past it, `body` is cancelled and the bench fails saying what took too long.
func bounded<T: Sendable>(_ what: String, _ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard case .some(.some(let value)) = try await group.next() else {
            throw BenchFailure("\(what) took longer than \(limit)")
        }
        return value
    }
}

/// What the bench has seen of each task on NATS, and the creators waiting for their task to finish.
actor TaskWatcher {
    static let terminal: Set<String> = ["succeeded", "failed", "cancelled"]

    struct Timing: Sendable {
        var id: String
        /// Wall clock at the create request, in the store's microseconds (to compare with `finished_at`).
        var beganWall: Int64
        var began: ContinuousClock.Instant
        var accepted: ContinuousClock.Instant
        var report: ContinuousClock.Instant?
        var finished: ContinuousClock.Instant
    }

    private struct Waiter {
        var deadline: ContinuousClock.Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private var reports: [String: ContinuousClock.Instant] = [:]
    private var rows: [String: (state: String, at: ContinuousClock.Instant)] = [:]
    private var waiters: [String: Waiter] = [:]
    private var done: [Timing] = []

    /// The worker's `succeeded` report for `id` (the first one counts; the relay may publish twice).
    func report(_ id: String, at: ContinuousClock.Instant) {
        if reports[id] == nil { reports[id] = at }
    }

    /// Sentral's announcement that `id`'s row reached a terminal state.
    func row(_ id: String, state: String, at: ContinuousClock.Instant) {
        guard rows[id] == nil else { return }
        rows[id] = (state, at)
        waiters.removeValue(forKey: id)?.continuation.resume()
    }

    /// Waits (until `deadline`) for `id`'s row to finish; records its timing if it succeeded, throws otherwise.
    func complete(_ id: String, beganWall: Int64, began: ContinuousClock.Instant, accepted: ContinuousClock.Instant, deadline: ContinuousClock.Instant) async throws {
        if rows[id] == nil {
            try await withCheckedThrowingContinuation { waiters[id] = Waiter(deadline: deadline, continuation: $0) }
        }
        guard let row = rows.removeValue(forKey: id) else { throw BenchFailure("task \(id): no terminal state seen") }
        let report = reports.removeValue(forKey: id)
        guard row.state == "succeeded" else { throw BenchFailure("task \(id) ended \(row.state), not succeeded") }
        done.append(Timing(id: id, beganWall: beganWall, began: began, accepted: accepted, report: report, finished: row.at))
    }

    /// Fails the waiters whose deadline has passed.
    func expire(now: ContinuousClock.Instant) {
        for (id, waiter) in waiters where waiter.deadline <= now {
            waiters.removeValue(forKey: id)
            waiter.continuation.resume(throwing: BenchFailure("task \(id) did not reach a terminal state in time"))
        }
    }

    /// The finished tasks' timings since the last drain.
    func drain() -> [Timing] {
        defer {
            done.removeAll()
            reports.removeAll()
        }
        return done
    }

    /// The `subject` of a CloudEvent (the task ID in task announcements and reports).
    static func eventSubject(_ payload: [UInt8]) -> String? {
        struct Envelope: Decodable { var subject: String? }
        return (try? JSONDecoder().decode(Envelope.self, from: Data(payload)))?.subject
    }
}

/// A child process with its output in temp files (no pipe to fill up), bounded in time.
enum Subprocess {
    struct Output {
        var status: Int32
        var timedOut: Bool
        var stdout: String
        var stderr: String
    }

    private final class Handle: @unchecked Sendable {
        let process = Process()
        let timedOut = Mutex(false)
    }

    /// `name` as given when it has a slash, else the first match on PATH.
    static func resolve(_ name: String) -> String {
        guard !name.contains("/") else { return name }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return name
    }

    static func run(_ executable: String, _ arguments: [String], timeout: Duration) async throws -> Output {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dvbench-\(ULID.make())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let outURL = directory.appendingPathComponent("stdout")
        let errURL = directory.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: outURL)
        let err = try FileHandle(forWritingTo: errURL)
        defer {
            try? out.close()
            try? err.close()
        }
        let handle = Handle()
        handle.process.executableURL = URL(fileURLWithPath: executable)
        handle.process.arguments = arguments
        handle.process.standardInput = FileHandle.nullDevice
        handle.process.standardOutput = out
        handle.process.standardError = err
        // Past the deadline: SIGTERM, and SIGKILL five seconds later if it is still there.
        let watchdog = Task {
            do { try await Task.sleep(for: timeout) } catch { return }
            guard handle.process.isRunning else { return }
            handle.timedOut.withLock { $0 = true }
            handle.process.terminate()
            do { try await Task.sleep(for: .seconds(5)) } catch { return }
            if handle.process.isRunning { kill(handle.process.processIdentifier, SIGKILL) }
        }
        defer { watchdog.cancel() }
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            handle.process.terminationHandler = { process in continuation.resume(returning: process.terminationStatus) }
            do {
                try handle.process.run()
            } catch {
                handle.process.terminationHandler = nil
                continuation.resume(throwing: BenchFailure("cannot run \(executable): \(error)"))
            }
        }
        return Output(status: status, timedOut: handle.timedOut.withLock { $0 },
                      stdout: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOf: errURL, encoding: .utf8)) ?? "")
    }
}
