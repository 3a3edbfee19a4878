import ArgumentParser
import DataverketCore
import DataverketServer
import DataverketStore
import Foundation
import Logging
import Nett
import NettIntent
import SQLKit

/// `dv-bench nett`: IPAM address allocation with many concurrent clients — all on one pool, and spread over
/// many pools — against the classic baseline measured in the same run on the same database: lock the pool
/// row, insert max+1, in plain SQL (the lock is held until the commit has flushed, so one pool allocates one
/// commit flush at a time). Every allocated row is checked for duplicates afterwards.
struct NettBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "nett", abstract: "IPAM allocation throughput vs lock-the-pool-row + max+1.")

    @Option(help: "Allocations per measured row.") var allocations = 10_000
    @Option(help: "Concurrent clients.") var clients = 100
    @Option(help: "Pools for the spread-out rows (each client sticks to pool client % pools).") var pools = 100
    @Option(help: "PostgreSQL connections in the pool (one per client by default).") var connections = 100
    @Option(help: "Backends: postgres, sqlite, or both (comma-separated).") var backends = "postgres"
    @Flag(help: "Skip the IPAM rows (only render+verify and, with --fabric-state, apply → probes).") var skipIPAM = false
    @Option(help: "A fabric brought up by `scripts/lab fabric up` (its state directory): measure apply → probes passing on it (default $DV_BENCH_FABRIC_STATE).")
    var fabricState = ProcessInfo.processInfo.environment["DV_BENCH_FABRIC_STATE"] ?? ""
    @Option(help: "PostgreSQL admin URL (a fresh database is created for the run).")
    var postgresURL = ProcessInfo.processInfo.environment["DV_BENCH_POSTGRES_URL"] ?? "postgres://dataverket@127.0.0.1:55432/postgres"

    func run() async throws {
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        try renderAndVerify()
        if !fabricState.isEmpty { try await applyAndProbe(state: fabricState, logger: logger) }
        if skipIPAM { return }
        var header = "# dv-bench nett — \(allocations) address allocations per row, \(clients) clients, \(connections) PostgreSQL connections"
        if backends.contains("postgres") { header += "; PostgreSQL " + (try await settings(logger: logger)) }
        print(header)
        print(tableRow(["backend", "workload", "pools", "allocs/s", "p50 ms", "p99 ms", "duplicates", "vs baseline"], [10, 30, 6, 9, 9, 9, 11, 0]))
        for backend in backends.split(separator: ",").map(String.init) {
            let (database, cleanup) = try await open(backend, logger: logger)
            try await database.whileRunning {
                let ipam = IPAM(database: database, logger: logger)
                _ = try await ControlPlane(database: database).migrate()
                try await Baseline.create(database)
                for poolCount in [1, pools] {
                    let (ours, duplicates) = try await measureIPAM(ipam, pools: poolCount)
                    let (raw, rawDuplicates) = try await Baseline.measure(database, pools: poolCount, allocations: allocations, clients: clients)
                    for (m, dupes) in [(ours, duplicates), (raw, rawDuplicates)] {
                        let ratio = m.name == raw.name ? "1.00" : String(format: "%.2f×", ours.perSecond / raw.perSecond)
                        print(tableRow([backend, m.name, "\(poolCount)", String(format: "%.0f", m.perSecond), milliseconds(m.percentile(0.5)),
                                        milliseconds(m.percentile(0.99)), "\(dupes)", ratio], [10, 30, 6, 9, 9, 9, 11, 0]))
                    }
                }
            }.get()
            try await cleanup()
        }
        print("(IPAM = IPAM.allocateAddress: one transaction taking a pre-materialized free row with FOR UPDATE SKIP LOCKED and inserting")
        print(" the address (unique per VRF), refilling the free rows 1024 at a time; baseline = BEGIN; SELECT … FOR UPDATE on the pool row;")
        print(" INSERT max(slot)+1; COMMIT. ratio = IPAM allocs/s ÷ baseline's; duplicates = rows minus distinct addresses, counted after)")
    }

    /// Verify (validation, reachability matrix, policy) and render every device of a generated 50-switch fabric with 500
    /// networks, against decoding the same intent from JSON (what any tool pays to read it) in the same run.
    func renderAndVerify() throws {
        let intent = FabricGenerator.fabric(switches: 50, networks: 500)
        let json = try JSONEncoder().encode(intent)
        let clock = ContinuousClock()
        func best(_ body: () throws -> Void) rethrows -> Duration {
            var fastest = Duration.seconds(3600)
            for _ in 0..<5 {
                let start = clock.now
                try body()
                fastest = min(fastest, clock.now - start)
            }
            return fastest
        }
        let decode = try best { _ = try JSONDecoder().decode(NetworkIntent.self, from: json) }
        var problems = 0
        let verify = best { problems = IntentVerifier.verify(intent).problems.count }
        let devices = Set((intent.ports ?? []).map(\.device)).sorted()
        let render = try best {
            for device in devices {
                _ = try EOSRenderer().render(intent, device: device)
                _ = try SONiCRenderer().render(intent, device: device)
            }
        }
        print("# dv-bench nett — render + verify: generated fabric, \(devices.count) switches, \(intent.networks.count) networks, \(intent.ports?.count ?? 0) ports (best of 5)")
        print(tableRow(["step", "ms", "vs decoding the intent"], [44, 10, 0]))
        print(tableRow(["decode the intent from JSON (baseline)", milliseconds(decode), "1.00"], [44, 10, 0]))
        print(tableRow(["verify (\(problems) problems; matrix, policy)", milliseconds(verify), String(format: "%.2f×", seconds(verify) / seconds(decode))], [44, 10, 0]))
        print(tableRow(["render EOS + SONiC for every switch", milliseconds(render), String(format: "%.2f×", seconds(render) / seconds(decode))], [44, 10, 0]))
        let total = verify + render
        print(tableRow(["verify + render", milliseconds(total), String(format: "%.2f×", seconds(total) / seconds(decode))], [44, 10, 0]))
        print("(target: well under a second)")
        print("")
    }

    /// examples/network-osl1.yaml applied to the lab fabric by `Rollout` (device by device, confirmed commits, every
    /// probe), from an empty fabric and again with nothing to change, against running the same probes alone.
    func applyAndProbe(state: String, logger: Logger) async throws {
        let intent = try NetworkIntent.load(yaml: String(contentsOfFile: "examples/network-osl1.yaml", encoding: .utf8))
        let catalog = try DeviceCatalog.load(path: state + "/fabric.json")
        let devices = NetworkDevices(catalog: catalog)
        let rollout = Rollout(devices: devices, logger: logger)
        let endpoints = catalog.endpoints ?? []
        let probes = ProbePlanner.plan(intent, endpoints: endpoints)
        let first = try await rollout.apply(intent)
        guard first.ok else { throw DataverketError(.internal, "the apply failed: \(first.failure ?? "?")") }
        let again = try await rollout.apply(intent)
        let clock = ContinuousClock()
        let start = clock.now
        let results = try await ProbeRunner(endpoints: endpoints, evidence: devices.probeEvidence(for: intent)).run(probes)
        let alone = seconds(clock.now - start)
        print("# dv-bench nett — apply → probes on the lab fabric (2 OVS leaves, FRR + nftables border; \(probes.count) probes)")
        print(tableRow(["run", "seconds", "probes ok", "vs probes alone"], [44, 10, 11, 0]))
        print(tableRow(["probes alone (baseline)", String(format: "%.2f", alone), "\(results.filter(\.ok).count)/\(results.count)", "1.00"], [44, 10, 11, 0]))
        for (name, report) in [("apply from an empty fabric", first), ("apply again (nothing changes)", again)] {
            print(tableRow([name, String(format: "%.2f", report.seconds), "\(report.probes.filter(\.ok).count)/\(report.probes.count)",
                            String(format: "%.2f×", report.seconds / alone)], [44, 10, 11, 0]))
        }
        print("")
    }

    /// The settings that decide what a commit costs.
    func settings(logger: Logger) async throws -> String {
        let database = Database(backend: try PostgresBackend(url: postgresURL, maxConnections: 1, logger: logger), logger: logger)
        return try await database.whileRunning {
            return try await database.read { session in
                var parts: [String] = []
                for name in ["server_version", "fsync", "synchronous_commit", "commit_delay", "max_connections"] {
                    let row = try await session.first(SQLQueryString(stringLiteral: "SHOW \(name)"))
                    parts.append("\(name)=\(try row?.decode(column: name, as: String.self) ?? "?")")
                }
                return parts.joined(separator: " ")
            }
        }.get()
    }

    func open(_ backend: String, logger: Logger) async throws -> (Database, @Sendable () async throws -> Void) {
        try await BenchDatabase.open(backend, postgresURL: postgresURL, connections: connections, logger: logger)
    }

    /// `allocations` addresses from `pools` fresh prefixes (each just large enough), `clients` at a time.
    func measureIPAM(_ ipam: IPAM, pools poolCount: Int) async throws -> (Measurement, Int) {
        let context = OperationContext(actor: "bench", correlationID: ULID.make())
        let perPool = (allocations + poolCount - 1) / poolCount
        let length = 32 - bits(perPool + 2)
        let vrf = try await ipam.createVRF(VRFSpec(name: "bench-\(poolCount)-\(ULID.make().suffix(6).lowercased())"), context: context)
        let container = try await ipam.createPrefix(PrefixSpec(prefix: "10.0.0.0/8", vrf: vrf.name, status: .container), context: context)
        var prefixes: [String] = []
        for _ in 0..<poolCount {
            prefixes.append(try await ipam.allocatePrefix(from: container.id, vrf: vrf.name, length: length, context: context).id)
        }
        let targets = prefixes
        let measurement = try await Measurement.run("IPAM allocate (free rows)", count: allocations, concurrency: clients) { index in
            _ = try await ipam.allocateAddress(in: targets[index % targets.count], context: context)
        }
        let duplicates = try await ipam.database.read { session in
            let row = try await session.first("""
                SELECT COUNT(*) AS n, COUNT(DISTINCT address) AS d FROM \(session.table("nett", "addresses")) WHERE vrf = \(bind: vrf.name)
                """)
            let count = try row?.decode(column: "n", as: Int.self) ?? 0
            guard count == allocations else { throw DataverketError(.internal, "\(count) addresses stored, \(allocations) allocated") }
            return count - (try row?.decode(column: "d", as: Int.self) ?? 0)
        }
        return (measurement, duplicates)
    }

    /// Host bits needed for `count` addresses.
    func bits(_ count: Int) -> Int {
        var bits = 0
        while (1 << bits) < count { bits += 1 }
        return bits
    }
}

/// The baseline: a pool row and an allocation table with a unique (pool, slot); an allocation locks the pool
/// row and inserts max+1, in one transaction.
enum Baseline {
    static func create(_ database: Database) async throws {
        try await database.transaction { session in
            try await session.run("CREATE TABLE bench_pools (id TEXT PRIMARY KEY, name TEXT NOT NULL)")
            try await session.run("CREATE TABLE bench_allocations (pool TEXT NOT NULL, slot BIGINT NOT NULL, assigned_to TEXT, PRIMARY KEY (pool, slot))")
        }
    }

    static func measure(_ database: Database, pools poolCount: Int, allocations: Int, clients: Int) async throws -> (Measurement, Int) {
        let run = ULID.make()
        let pools = (0..<poolCount).map { "\(run)-\($0)" }
        try await database.transaction { session in
            for pool in pools { try await session.run("INSERT INTO bench_pools (id, name) VALUES (\(bind: pool), \(bind: pool))") }
        }
        let lock = database.kind == .postgres ? " FOR UPDATE" : ""
        let measurement = try await Measurement.run("baseline (lock pool row, max+1)", count: allocations, concurrency: clients) { index in
            let pool = pools[index % pools.count]
            try await database.transaction { session in
                _ = try await session.first("SELECT id FROM bench_pools WHERE id = \(bind: pool)\(unsafeRaw: lock)")
                _ = try await session.first("""
                    INSERT INTO bench_allocations (pool, slot, assigned_to)
                    SELECT \(bind: pool), COALESCE(MAX(slot), 0) + 1, 'bench' FROM bench_allocations WHERE pool = \(bind: pool) RETURNING slot
                    """)
            }
        }
        let duplicates = try await database.read { session in
            // Counted from the stored rows, as for IPAM: rows minus distinct (pool, slot).
            var query: SQLQueryString = "SELECT COUNT(*) AS n, COUNT(DISTINCT pool || ':' || CAST(slot AS TEXT)) AS d FROM bench_allocations WHERE pool LIKE "
            query.appendInterpolation(bind: "\(run)-%")
            guard let row = try await session.first(query) else { throw DataverketError(.internal, "no baseline rows") }
            let count = try row.decode(column: "n", as: Int.self), distinct = try row.decode(column: "d", as: Int.self)
            guard count == allocations else { throw DataverketError(.internal, "\(count) baseline rows stored, \(allocations) allocated") }
            return count - distinct
        }
        return (measurement, duplicates)
    }
}
