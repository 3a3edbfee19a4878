import ArgumentParser
import AsyncHTTPClient
import DataverketClient
import DataverketCore
import DataverketServer
import DataverketStore
import DataverketTestSupport
import Foundation
import Logging
import SQLKit

/// `dv-bench api`: the API as a new user meets it — a release `dataverket serve` in its own process, logging as it
/// does, rate limits set out of reach through `DV_RATE_LIMITS` — loaded by `wrk` (a load generator in its own process)
/// and measured against floors taken in the same run:
/// - reads: a bare Hummingbird route (`dv-bench floor`, no middleware) against `/healthz` (the whole middleware stack,
///   no store, no credential), get-project (credential, access rule, indexed select, JSON) and a list of 100 projects;
/// - writes: create-project (row + audit record + outbox event in one transaction, plus the HTTP path) against the
///   same three inserts as one raw transaction on a database of the same schema, at each client count.
struct APIBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "api", abstract: "API reads and writes against same-run floors.")

    @Option(help: "Parts: reads, writes, footprint (comma-separated).") var parts = "reads,writes,footprint"
    @Option(help: "Backends: sqlite, postgres, or both (comma-separated).") var backends = "sqlite,postgres"
    @Option(help: "Seconds per measured wrk run.") var duration = 10
    @Option(help: "Seconds of unmeasured load on each route first.") var warmup = 2
    @Option(help: "wrk connections for the reads.") var connections = 64
    @Option(help: "Concurrent clients for the writes (comma-separated).") var writeClients = "8,64"
    @Option(help: "Raw transactions per client count.") var rawTransactions = 4000
    @Option(help: "The `dataverket` executable (default: beside dv-bench).") var server: String?
    @Option(help: "The wrk executable.") var wrk = "wrk"
    @Flag(name: .customLong("guard"), help: "Regression guard: fail (exit 1) when a ratio falls below half its target; latency is not judged.")
    var guardRatios = false
    @Option(help: "NATS server with JetStream for the PostgreSQL footprint (default: DV_BENCH_NATS_URL).")
    var natsURL: String?
    @Option(help: "PostgreSQL admin URL (fresh databases are created for the run).")
    var postgresURL = ProcessInfo.processInfo.environment["DV_BENCH_POSTGRES_URL"] ?? "postgres://dataverket@127.0.0.1:55432/postgres"

    func run() async throws {
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let selected = Set(parts.split(separator: ",").map(String.init))
        let load = Wrk(executable: wrk, threads: ProcessInfo.processInfo.activeProcessorCount, duration: duration)
        let executable = server ?? URL(fileURLWithPath: Self.benchExecutable).deletingLastPathComponent().appendingPathComponent("dataverket").path
        print("# dv-bench api — `dataverket serve` (release, its own process, JSON access log to a file) under wrk (\(load.threads) threads, \(duration) s per run after \(warmup) s warm-up)")
        var violations: [String] = []
        if selected.contains("footprint") { try await footprint(executable: executable, logger: logger) }
        for backend in backends.split(separator: ",").map(String.init) where !selected.isDisjoint(with: ["reads", "writes"]) {
            guard let kind = TestBackend(rawValue: backend) else { throw ValidationError("unknown backend '\(backend)' (sqlite, postgres)") }
            let served = try await ServedAPI.start(kind, executable: executable, postgresURL: postgresURL, logger: logger)
            do {
                if selected.contains("reads") { violations += try await reads(served, load: load) }
                if selected.contains("writes") { violations += try await writes(served, kind: kind, load: load, logger: logger) }
            } catch {
                await served.stop()
                throw error
            }
            await served.stop()
        }
        if guardRatios {
            guard violations.isEmpty else {
                print("GUARD FAILED — below half the target:\n  " + violations.joined(separator: "\n  "))
                throw ExitCode(1)
            }
            print("guard: every ratio is at least half its target")
        }
    }

    /// A ratio that is below half its target (the regression guard's threshold), described; nil when it is not.
    func violation(_ what: String, share: Double, target: Double, failures: Int) -> String? {
        if failures > 0 { return "\(what): \(failures) errors or non-2xx responses" }
        guard share < target / 2 else { return nil }
        return "\(what): " + String(format: "%.0f%% (target %.0f%%, guard %.0f%%)", share * 100, target * 100, target * 50)
    }

    /// This program's own path (the floor server is one of its subcommands).
    static var benchExecutable: String { URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path }

    // MARK: footprint

    /// Issue 22's footprint: `dataverket serve` from launch to `/readyz` 200 on a fresh store (migrations included), and
    /// its resident memory after 5 s idle — on SQLite with the in-process bus (target < 1 s, < 80 MB) and on PostgreSQL
    /// with JetStream (< 120 MB).
    func footprint(executable: String, logger: Logger) async throws {
        print("\n## footprint — `dataverket serve` on a fresh store: launch → /readyz 200, then resident memory after 5 s idle")
        print(tableRow(["store + bus", "ready s", "RSS MB", "target", "result"], [26, 9, 8, 26, 0]))
        var setups: [(name: String, kind: TestBackend, nats: String?, ready: Duration?, rss: Int)] = [("SQLite, in-process bus", .sqlite, nil, .seconds(1), 80)]
        if backends.contains("postgres") {
            if let natsURL = natsURL ?? ProcessInfo.processInfo.environment["DV_BENCH_NATS_URL"] {
                setups.append(("PostgreSQL, JetStream", .postgres, natsURL, nil, 120))
            } else {
                print("(PostgreSQL + JetStream not measured: no --nats-url / DV_BENCH_NATS_URL)")
            }
        }
        for setup in setups {
            let served = try await ServedAPI.launch(setup.kind, executable: executable, postgresURL: postgresURL, natsURL: setup.nats, logger: logger)
            do {
                try await Task.sleep(for: .seconds(5))
                let rss = Double(served.process.residentBytes() ?? 0) / 1_048_576
                let readySeconds = seconds(served.ready)
                let met = rss < Double(setup.rss) && setup.ready.map { served.ready < $0 } ?? true
                let target = (setup.ready.map { "ready < \(Int(seconds($0))) s, " } ?? "") + "RSS < \(setup.rss) MB"
                print(tableRow([setup.name, String(format: "%.2f", readySeconds), String(format: "%.0f", rss), target, met ? "PASS" : "FAIL"],
                               [26, 9, 8, 26, 0]))
            } catch {
                await served.stop()
                throw error
            }
            await served.stop()
        }
    }

    // MARK: reads

    func reads(_ served: ServedAPI, load: Wrk) async throws -> [String] {
        let floorPort = try freePort()
        let floor = try ChildProcess("floor server", executable: Self.benchExecutable, arguments: ["floor", "--port", String(floorPort)],
                                     environment: [:], log: served.directory + "/floor.log")
        do {
            try await floor.waitListening(floorPort)
            let violations = try await measureReads(served, load: load, floorPort: floorPort)
            await floor.stop()
            return violations
        } catch {
            await floor.stop()
            throw error
        }
    }

    func measureReads(_ served: ServedAPI, load: Wrk, floorPort: Int) async throws -> [String] {
        let base = "http://127.0.0.1:\(served.port)"
        let auth = ["Authorization: Bearer \(served.token)"]
        let routes: [(name: String, url: String, headers: [String])] = [
            ("floor: bare route", "http://127.0.0.1:\(floorPort)/floor", []),
            ("GET /healthz", "\(base)/healthz", []),
            ("get-project", "\(base)/v1/tenants/bench/projects/p1", auth),
            ("list 100 projects", "\(base)/v1/tenants/bench/projects?limit=100", auth),
        ]
        for route in routes { _ = try await load.run(route.name, url: route.url, connections: connections, headers: route.headers, seconds: warmup) }
        var results: [WrkResult] = []
        for route in routes { results.append(try await load.run(route.name, url: route.url, connections: connections, headers: route.headers)) }
        // The floor again at the end: the baseline is the mean of both, so drift during the run shows.
        let floorAgain = try await load.run("floor again", url: routes[0].url, connections: connections)
        let floorRate = (results[0].perSecond + floorAgain.perSecond) / 2
        print("\n## reads — \(served.backend), \(connections) connections")
        print(tableRow(["route", "req/s", "p50 ms", "p99 ms", "vs floor", "target", "result"], [20, 9, 8, 8, 9, 33, 0]))
        let targets: [String: (share: Double, p99: Duration?)] = [
            "GET /healthz": (0.60, nil), "get-project": (0.30, .milliseconds(10)), "list 100 projects": (0.10, nil),
        ]
        var violations: [String] = []
        for result in [results[0], floorAgain] + results.dropFirst() {
            let share = result.perSecond / floorRate
            var target = "-"
            var verdict = result.name.hasPrefix("floor") ? "baseline" : "-"
            if let goal = targets[result.name] {
                target = "≥ \(Int(goal.share * 100))% of floor" + (goal.p99.map { ", p99 < \(milliseconds($0)) ms" } ?? "")
                verdict = share >= goal.share && (goal.p99.map { result.p99 < $0 } ?? true) ? "PASS" : "FAIL"
                if let violation = violation("\(served.backend) \(result.name)", share: share, target: goal.share, failures: result.failures) {
                    violations.append(violation)
                }
            }
            if result.failures > 0 { verdict = "INVALID: \(result.failures) errors or non-2xx" }
            print(tableRow([result.name, String(format: "%.0f", result.perSecond), milliseconds(result.p50), milliseconds(result.p99),
                            String(format: "%.0f%%", share * 100), target, verdict], [20, 9, 8, 8, 9, 33, 0]))
        }
        print("(floor: `dv-bench floor`, a Hummingbird route with no middleware in its own process; the baseline is the mean of its two runs. " +
              "Every request of the routes below it passes the whole middleware stack and writes an access-log line.)")
        return violations
    }

    // MARK: writes

    func writes(_ served: ServedAPI, kind: TestBackend, load: Wrk, logger: Logger) async throws -> [String] {
        let raw = try await TemporaryDatabase.create(kind, label: "dvbenchraw", connections: 80, adminURL: postgresURL, logger: logger)
        do {
            let violations = try await measureWrites(served, raw: raw, load: load)
            try await raw.drop()
            return violations
        } catch {
            try? await raw.drop()
            throw error
        }
    }

    func measureWrites(_ served: ServedAPI, raw: TemporaryDatabase, load: Wrk) async throws -> [String] {
        try await raw.database.whileRunning {
            _ = try await ControlPlane(database: raw.database).migrate()
            let tenantID = ResourceID.generate(prefix: "ten").rawValue
            try await raw.database.transaction { session in
                try await session.run("""
                    INSERT INTO \(session.table("tenancy", "tenants")) (id, name, labels, version, created_at, updated_at)
                    VALUES (\(bind: tenantID), 'bench', '{}', 1, \(bind: StoreTime.now()), \(bind: StoreTime.now()))
                    """)
            }
            var violations: [String] = []
            print("\n## writes — \(served.backend): create-project through the API vs the same three inserts as one raw transaction")
            print(tableRow(["clients", "API creates/s", "p50 ms", "p99 ms", "raw tx/s", "p50 ms", "p99 ms", "API ÷ raw", "target", "result"],
                           [8, 14, 8, 8, 9, 8, 8, 10, 8, 0]))
            for (round, clients) in writeClients.split(separator: ",").compactMap({ Int($0) }).enumerated() {
                let api = try await load.run(
                    "create-project", url: "http://127.0.0.1:\(served.port)/v1/tenants/bench/projects", connections: clients,
                    headers: ["Authorization: Bearer \(served.token)", "Content-Type: application/json"], script: Self.createScript(tag: "w\(round)"))
                let rawRun = try await Measurement.run("raw", count: rawTransactions, concurrency: clients) { index in
                    try await Self.rawCreate(raw.database, tenantID: tenantID, name: "r\(round)-\(index)")
                }
                let share = api.perSecond / rawRun.perSecond
                let verdict = api.failures > 0 ? "INVALID: \(api.failures) errors or non-2xx" : share >= 0.5 ? "PASS" : "FAIL"
                if let violation = violation("\(served.backend) create-project at \(clients)", share: share, target: 0.5, failures: api.failures) {
                    violations.append(violation)
                }
                print(tableRow([String(clients), String(format: "%.0f", api.perSecond), milliseconds(api.p50), milliseconds(api.p99),
                                String(format: "%.0f", rawRun.perSecond), milliseconds(rawRun.percentile(0.5)), milliseconds(rawRun.percentile(0.99)),
                                String(format: "%.0f%%", share * 100), "≥ 50%", verdict], [8, 14, 8, 8, 9, 8, 8, 10, 8, 0]))
            }
            print("(API: wrk POSTs a new project name per request to the served API; raw: in this process, BEGIN; INSERT the project row; " +
                  "INSERT its audit record; INSERT its outbox event (a fixed payload); COMMIT — same schema and indexes, a database of its own. " +
                  "PostgreSQL with its durable defaults: every commit is flushed.)")
            return violations
        }.get()
    }

    /// wrk's script for create-project: every request a new name (`<tag>-<thread>-<n>`), so every one is a create.
    static func createScript(tag: String) -> String {
        """
        local threads = 0
        function setup(thread)
          threads = threads + 1
          thread:set("tid", threads)
        end
        local n = 0
        function request()
          n = n + 1
          return wrk.format("POST", nil, nil, string.format('{"name":"\(tag)-%d-%d"}', tid, n))
        end
        """
    }

    static let rawPayload = String(repeating: "x", count: 600)

    /// The three inserts create-project makes, as one raw transaction.
    static func rawCreate(_ database: Database, tenantID: String, name: String) async throws {
        let id = ResourceID.generate(prefix: "prj").rawValue
        let now = StoreTime.now()
        try await database.transaction { session in
            try await session.run("""
                INSERT INTO \(session.table("tenancy", "projects")) (id, tenant_id, name, phase, labels, version, created_at, updated_at)
                VALUES (\(bind: id), \(bind: tenantID), \(bind: name), 'active', '{}', 1, \(bind: now), \(bind: now))
                """)
            try await session.run("""
                INSERT INTO \(session.table("audit", "records"))
                    (id, at, actor, action, resource_kind, resource_id, resource_name, tenant_id, project_id, after_version, correlation_id)
                VALUES (\(bind: ResourceID.generate(prefix: "aud").rawValue), \(bind: now), 'service:bench', 'project.create', 'project',
                    \(bind: id), \(bind: name), \(bind: tenantID), \(bind: id), 1, \(bind: ULID.make()))
                """)
            try await session.run("""
                INSERT INTO \(session.table("tasks", "outbox")) (event_id, subject, resource_key, payload, created_at)
                VALUES (\(bind: ULID.make()), 'dv.sentral.evt.project.created', \(bind: "project/" + id), \(bind: rawPayload), \(bind: now))
                """)
        }
    }
}

/// `dataverket serve` started by the benchmark on a fresh store (SQLite in its data directory, or a fresh PostgreSQL
/// database), rate limits out of reach through `DV_RATE_LIMITS`, logged in with the bootstrap credential, with a tenant
/// `bench` and 100 projects `p0`…`p99`.
struct ServedAPI: Sendable {
    var backend: String
    var port: Int
    var directory: String
    var token: String
    var process: ChildProcess
    var database: TemporaryDatabase?
    /// From launch to the first `/readyz` 200.
    var ready: Duration

    static let unlimited = "reads=10000000/10000000,writes=10000000/10000000,destructive=10000000/10000000,anonymous=10000000/10000000,tenant-destructive=1000000"

    /// Launches the server on a fresh store and waits for `/readyz` to answer 200 (`ready`: from launch to then).
    static func launch(_ kind: TestBackend, executable: String, postgresURL: String, natsURL: String? = nil,
                       logger: Logger) async throws -> ServedAPI {
        let directory = NSTemporaryDirectory() + "dv-bench-api-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var environment = ["DV_RATE_LIMITS": unlimited]
        var database: TemporaryDatabase?
        if kind == .postgres {
            let created = try await TemporaryDatabase.create(.postgres, label: "dvbenchapi", connections: 1, adminURL: postgresURL, logger: logger)
            environment["DV_DATABASE_URL"] = created.url
            database = created
        }
        if let natsURL { environment["DV_NATS_URL"] = natsURL }
        let port = try freePort()
        let launched = ContinuousClock.now
        let process = try ChildProcess("dataverket serve", executable: executable,
                                       arguments: ["serve", "--listen", "127.0.0.1:\(port)", "--data-dir", directory + "/data"],
                                       environment: environment, log: directory + "/serve.log")
        var served = ServedAPI(backend: kind.rawValue, port: port, directory: directory, token: "", process: process, database: database,
                               ready: .zero)
        do {
            try await process.waitListening(port)
            let readiness = HTTPClientRequest(url: "http://127.0.0.1:\(port)/readyz")
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                if let response = try? await HTTPClient.shared.execute(readiness, timeout: .seconds(5)), response.status == .ok { break }
                try await Task.sleep(for: .milliseconds(10))
            }
            served.ready = ContinuousClock.now - launched
        } catch {
            await served.stop()
            throw error
        }
        return served
    }

    /// `launch`, then log in with the bootstrap credential and make the tenant `bench` with projects `p0`…`p99`.
    static func start(_ kind: TestBackend, executable: String, postgresURL: String, logger: Logger) async throws -> ServedAPI {
        var served = try await launch(kind, executable: executable, postgresURL: postgresURL, logger: logger)
        do {
            let tokenFile = served.directory + "/data/bootstrap-token"
            let deadline = ContinuousClock.now + .seconds(30)
            while !FileManager.default.fileExists(atPath: tokenFile), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            let bootstrap = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            let url = URL(string: "http://127.0.0.1:\(served.port)")!
            let anonymous = DataverketClient.make(serverURL: url, headers: [:])
            let token = try await anonymous.createToken(body: .json(.init(grantType: .bootstrap, token: bootstrap))).ok.body.json.accessToken
            let client = DataverketClient.make(serverURL: url, headers: ["Authorization": "Bearer \(token)"])
            _ = try await client.createTenant(body: .json(.init(name: "bench"))).created
            _ = try await Measurement.run("setup", count: 100, concurrency: 8) { index in
                _ = try await client.createProject(path: .init(tenant: "bench"), body: .json(.init(name: "p\(index)"))).created
            }
            served.token = token
        } catch {
            await served.stop()
            throw error
        }
        return served
    }

    func stop() async {
        await process.stop()
        try? await database?.drop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
