import DataverketCore
import DataverketStore
import DataverketTestSupport
import Foundation
import Inventar
import Logging
import SQLKit
import Testing

typealias Backend = TestBackend

let operatorContext = OperationContext(actor: "user:ops", correlationID: "test-apply")
let approverContext = OperationContext(actor: "user:approver", correlationID: "test-approve")

/// Runs `body` with a fresh database migrated to the inventory schema (DataverketTestSupport's temporary
/// SQLite file or PostgreSQL database).
func withInventory<T: Sendable>(_ backend: Backend, _ body: @Sendable (Inventory) async throws -> T) async throws -> T {
    try await withTemporaryDatabase(backend, label: "dvinv", migrations: InventorySchema.migrations) { database in
        try await body(Inventory(database: database, logger: quietLogger))
    }
}

/// The example site shipped in `examples/`.
func exampleSite() throws -> [SiteSource] {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return try SiteSource.read(paths: [root.appendingPathComponent("examples/site-osl1.yaml").path])
}

func exampleModel() throws -> SiteModel { try SiteFile.load(try exampleSite()).model }
