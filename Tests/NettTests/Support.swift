import DataverketCore
import DataverketStore
import DataverketTestSupport
import Foundation
import Logging
import Nett
import NettIntent
import SQLKit
import Testing

typealias Backend = TestBackend

let ops = OperationContext(actor: "user:ops", correlationID: "test-nett")

/// Collects audit entries (the server wires Sentral's audit log here).
actor AuditSink {
    var entries: [IPAMAuditEntry] = []
    func add(_ entry: IPAMAuditEntry) { entries.append(entry) }
}

/// Runs `body` with a fresh database migrated to the `nett` schema (DataverketTestSupport's temporary SQLite file
/// or PostgreSQL database, a pool of `connections`).
func withIPAM<T: Sendable>(_ backend: Backend, chunk: Int = 1024, connections: Int = 20, audit: AuditSink? = nil,
                           _ body: @Sendable (IPAM) async throws -> T) async throws -> T {
    var auditor: IPAMAuditor?
    if let audit { auditor = { @Sendable _, _, entry in await audit.add(entry) } }
    return try await withTemporaryDatabase(backend, label: "dvnett", connections: connections, migrations: NettSchema.migrations) { [auditor] database in
        let ipam = IPAM(database: database, logger: quietLogger, auditor: auditor, allocationChunk: chunk)
        return try await body(ipam)
    }
}

/// Expects `body` to throw a `DataverketError` with `code`, whose message contains every one of `fragments`.
func expectError<T>(_ code: DataverketError.Code, _ fragments: String..., sourceLocation: SourceLocation = #_sourceLocation,
                    _ body: () async throws -> T) async {
    do {
        _ = try await body()
        Issue.record("expected \(code), but it succeeded", sourceLocation: sourceLocation)
    } catch let error as DataverketError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        for fragment in fragments {
            #expect(error.message.contains(fragment), "'\(fragment)' not in: \(error.message)", sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("expected DataverketError \(code), got \(error)", sourceLocation: sourceLocation)
    }
}
