#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import DataverketCore
import DataverketTasks
import DataverketStore
import SQLKit

enum LabelCoding {
    static func encode(_ labels: [String: String]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(labels), as: UTF8.self)
    }

    static func decode(_ text: String) throws -> [String: String] {
        try JSONDecoder().decode([String: String].self, from: Data(text.utf8))
    }
}

extension ResourceFields {
    /// Columns shared by every resource table, in `SELECT` order, qualified by `alias`.
    static func columns(_ alias: String) -> String {
        ["id", "name", "display_name", "description", "labels", "version", "created_at", "updated_at"]
            .map { "\(alias).\($0)" }.joined(separator: ", ")
    }

    init(row: any SQLRow) throws {
        self.init(
            id: try row.decode(column: "id", as: String.self),
            name: try row.decode(column: "name", as: String.self),
            displayName: try row.decode(column: "display_name", as: String?.self),
            description: try row.decode(column: "description", as: String?.self),
            labels: try LabelCoding.decode(try row.decode(column: "labels", as: String.self)),
            createdAt: StoreTime.decode(try row.decode(column: "created_at", as: Int64.self)),
            updatedAt: StoreTime.decode(try row.decode(column: "updated_at", as: Int64.self)),
            version: try row.decode(column: "version", as: Int64.self))
    }

    static func new(prefix: String, spec: ResourceSpec) -> ResourceFields {
        let now = Date()
        return ResourceFields(
            id: ResourceID.generate(prefix: prefix, now: now).rawValue, name: spec.name, displayName: spec.displayName,
            description: spec.description, labels: spec.labels, createdAt: now, updatedAt: now, version: 1)
    }

    func applying(_ change: ResourceChange) -> ResourceFields {
        var next = self
        if let value = change.displayName { next.displayName = value }
        if let value = change.description { next.description = value }
        if let value = change.labels { next.labels = value }
        next.version += 1
        next.updatedAt = Date()
        return next
    }
}

/// Checks `If-Match` against the current version.
func checkPrecondition(_ expected: ExpectedVersion, current: Int64, kind: String, name: String) throws(DataverketError) {
    if let expected, expected != current {
        throw DataverketError(.preconditionFailed, "\(kind) '\(name)' is at version \(current), not \(expected): re-read it and retry")
    }
}

