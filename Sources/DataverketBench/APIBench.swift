import ArgumentParser
import DataverketBus
import DataverketClient
import DataverketCore
import DataverketServer
import DataverketStore
import Foundation
import Logging
import PostgresNIO
import Sentral
import DataverketTasks
import DataverketTestSupport
import SQLKit

/// `dv-bench api`: create-project and get-project through the whole HTTP stack (SDK client → server →
/// store), against a raw SQL insert/select loop on the same backend in the same run.
struct APIBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "api", abstract: "API throughput and latency vs raw SQL.")

    @Option(help: "Requests per measured operation.") var requests = 2000
    @Option(help: "Concurrent clients.") var concurrency = 8
    @Option(help: "Backends: sqlite, postgres, or both (comma-separated).") var backends = "sqlite,postgres"
    @Option(help: "PostgreSQL admin URL (a fresh database is created for the run).")
    var postgresURL = ProcessInfo.processInfo.environment["DV_BENCH_POSTGRES_URL"] ?? "postgres://dataverket@127.0.0.1:55432/postgres"

    func run() async throws {
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        print("# dv-bench api — \(requests) requests per operation, concurrency \(concurrency)")
        print("backend    operation        req/s     p50 ms    p99 ms    vs raw SQL")
        for backend in backends.split(separator: ",").map(String.init) {
            let (database, cleanup) = try await BenchDatabase.open(backend, postgresURL: postgresURL, logger: logger)
            try await database.whileRunning {
                let sentral = ControlPlane(database: database)
                _ = try await sentral.migrate()
                let results = try await measure(sentral: sentral, logger: logger)
                for (api, raw) in results {
                    for m in [api, raw] {
                        let ratio = m.name.hasPrefix("raw") ? "1.00" : String(format: "%.2f×", raw.perSecond / api.perSecond)
                        let cells = [backend, m.name, String(format: "%.0f", m.perSecond), milliseconds(m.percentile(0.5)),
                                     milliseconds(m.percentile(0.99)), ratio]
                        print(tableRow(cells, [10, 16, 9, 9, 9, 0]))
                    }
                }
            }.get()
            try await cleanup()
        }
        print("(ratio = raw SQL ops/s ÷ API req/s: how many times the full HTTP path costs over the bare query)")
    }

    func measure(sentral: ControlPlane, logger: Logger) async throws -> [(Measurement, Measurement)] {
        let database = sentral.database
        let requests = self.requests
        let concurrency = self.concurrency
        try await database.transaction { session in
            try await session.run("CREATE TABLE IF NOT EXISTS bench_raw (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, name TEXT NOT NULL, labels TEXT NOT NULL, version BIGINT NOT NULL, created_at BIGINT NOT NULL, UNIQUE (tenant_id, name))")
        }
        let bus = InProcessBus(logger: logger)
        try await bus.provision()
        return try await withBenchServer(sentral, bus: bus, logger: logger) { client, _ in
            _ = try await client.createTenant(body: .json(.init(name: "bench"))).created
            let create = try await Measurement.run("create-project", count: requests, concurrency: concurrency) { index in
                _ = try await client.createProject(path: .init(tenant: "bench"), body: .json(.init(name: "p\(index)"))).created
            }
            let get = try await Measurement.run("get-project", count: requests, concurrency: concurrency) { index in
                _ = try await client.getProject(path: .init(tenant: "bench", project: "p\(index)")).ok
            }
            let rawInsert = try await Measurement.run("raw-insert", count: requests, concurrency: concurrency) { index in
                try await database.transaction { session in
                    try await session.run("""
                        INSERT INTO bench_raw (id, tenant_id, name, labels, version, created_at)
                        VALUES (\(bind: "r\(index)"), 'bench', \(bind: "p\(index)"), '{}', 1, \(bind: StoreTime.now()))
                        """)
                }
            }
            let rawSelect = try await Measurement.run("raw-select", count: requests, concurrency: concurrency) { index in
                _ = try await database.read { session in
                    try await session.first("SELECT id, name, labels, version FROM bench_raw WHERE tenant_id = 'bench' AND name = \(bind: "p\(index)")")
                }
            }
            return [(create, rawInsert), (get, rawSelect)]
        }
    }
}

/// A fresh benchmark database: a new SQLite file, or a new PostgreSQL database (dropped by the cleanup).
enum BenchDatabase {
    /// A throwaway database for a benchmark (test support's): a SQLite file, or a PostgreSQL database on
    /// `postgresURL`'s server with a pool of `connections`; the closure closes and removes it.
    static func open(_ backend: String, postgresURL: String, connections: Int = 20,
                     logger: Logger) async throws -> (Database, @Sendable () async throws -> Void) {
        guard let kind = TestBackend(rawValue: backend) else { throw ValidationError("unknown backend '\(backend)' (sqlite, postgres)") }
        let temporary = try await TemporaryDatabase.create(kind, label: "dvbench", connections: connections, adminURL: postgresURL, logger: logger)
        return (temporary.database, { try await temporary.drop() })
    }
}
