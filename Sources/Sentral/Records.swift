#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import DataverketCore
import DataverketStore
import SQLKit

/// Audit records: written in the same transaction as the change they describe.
public enum Audit {
    public static func append(
        _ session: Session, context: OperationContext, action: String, resource: ResourceRef,
        tenantID: String?, projectID: String?, beforeVersion: Int64?, afterVersion: Int64?
    ) async throws {
        let id = ResourceID.generate(prefix: "aud").rawValue
        try await session.run("""
            INSERT INTO \(session.table("audit", "records"))
                (id, at, actor, action, resource_kind, resource_id, resource_name, tenant_id, project_id,
                 before_version, after_version, correlation_id, source_address, task_id)
            VALUES (\(bind: id), \(bind: StoreTime.now()), \(bind: context.actor), \(bind: action),
                \(bind: resource.kind), \(bind: resource.id), \(bind: resource.name), \(bind: tenantID), \(bind: projectID),
                \(bind: beforeVersion), \(bind: afterVersion), \(bind: context.correlationID), \(bind: context.sourceAddress),
                \(bind: context.taskID))
            """)
    }
}

/// The transactional outbox: events are written with the state change and relayed to the bus later.
public enum Outbox {
    public static func append(_ session: Session, event: CloudEvent, resourceKey: String) async throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        let payload = String(decoding: try encoder.encode(event), as: UTF8.self)
        try await session.run("""
            INSERT INTO \(session.table("tasks", "outbox")) (event_id, subject, resource_key, payload, created_at)
            VALUES (\(bind: event.id), \(bind: event.type), \(bind: resourceKey), \(bind: payload), \(bind: StoreTime.now()))
            """)
    }
}

/// One mutation's side records: the audit entry and the outbox event, in the caller's transaction.
struct MutationRecord {
    var action: String
    var resource: ResourceRef
    var tenantID: String?
    var projectID: String?
    var beforeVersion: Int64?
    var afterVersion: Int64?

    /// Writes the audit record and an event `dv.sentral.evt.<kind>.<verb>` carrying `payload`.
    func write(_ session: Session, context: OperationContext, verb: String, payload: some Encodable) async throws {
        try await Audit.append(
            session, context: context, action: action, resource: resource, tenantID: tenantID,
            projectID: projectID, beforeVersion: beforeVersion, afterVersion: afterVersion)
        let event = CloudEvent(
            source: "/dataverket/sentral", type: Subjects.event(service: "sentral", entity: resource.kind, verb: verb),
            subject: resource.id, data: try JSONText(encoding: payload), correlationid: context.correlationID,
            causationid: context.taskID, tenant: tenantID, project: projectID, actor: context.actor)
        try await Outbox.append(session, event: event, resourceKey: resource.id)
    }
}

/// Idempotency keys: a create retried with the same key returns the first result.
enum Idempotency {
    static let retention: Duration = .seconds(24 * 3600)

    /// Runs `create` once per (scope, key). A replay with the same fingerprint returns the stored result;
    /// a different fingerprint is rejected. Runs inside the caller's transaction, so the key and the
    /// resource commit together; a concurrent duplicate loses on the primary key and is retried as a replay.
    static func once<T: Codable & Sendable>(
        _ session: Session, scope: String, key: String?, fingerprint: some Encodable,
        create: () async throws -> T
    ) async throws -> (T, replayed: Bool) {
        guard let key else { return (try await create(), false) }
        // Default (numeric) date coding keeps sub-second precision, so a replay is identical to the original.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let print = String(decoding: try encoder.encode(fingerprint), as: UTF8.self)
        let table = session.table("api", "idempotency_keys")
        let cutoff = StoreTime.now() - Int64(retention.components.seconds) * 1_000_000
        if let row = try await session.first("""
            SELECT fingerprint, response FROM \(table) WHERE scope = \(bind: scope) AND key = \(bind: key) AND created_at >= \(bind: cutoff)
            """) {
            guard try row.decode(column: "fingerprint", as: String.self) == print else {
                throw DataverketError(.idempotencyKeyReused, "Idempotency-Key '\(key)' was already used with a different request")
            }
            let decoder = JSONDecoder()
            let stored = try row.decode(column: "response", as: String.self)
            return (try decoder.decode(T.self, from: Data(stored.utf8)), true)
        }
        let result = try await create()
        let response = String(decoding: try encoder.encode(result), as: UTF8.self)
        try await session.run("DELETE FROM \(table) WHERE scope = \(bind: scope) AND key = \(bind: key)")
        try await session.run("""
            INSERT INTO \(table) (scope, key, fingerprint, response, created_at)
            VALUES (\(bind: scope), \(bind: key), \(bind: print), \(bind: response), \(bind: StoreTime.now()))
            """)
        return (result, false)
    }

    static func purgeExpired(_ session: Session) async throws {
        let cutoff = StoreTime.now() - Int64(retention.components.seconds) * 1_000_000
        try await session.run("DELETE FROM \(session.table("api", "idempotency_keys")) WHERE created_at < \(bind: cutoff)")
    }
}

/// Cursor pagination over time-ordered IDs.
public enum Paging {
    public static let defaultLimit = 100
    public static let maxLimit = 500

    public static func limit(_ requested: Int?) throws(DataverketError) -> Int {
        guard let requested else { return defaultLimit }
        guard (1...maxLimit).contains(requested) else {
            throw .invalid("limit", "must be between 1 and \(maxLimit), got \(requested)")
        }
        return requested
    }

    public static func encode(_ id: String) -> String {
        Data(id.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Decodes a cursor back to the ID it points after; anything else is a malformed request.
    public static func decode(_ cursor: String?) throws(DataverketError) -> String? {
        guard let cursor, !cursor.isEmpty else { return nil }
        var base64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let id = String(data: data, encoding: .utf8),
              id.count < 64, ResourceID.looksLikeID(id),
              id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") })
        else { throw DataverketError(.malformedRequest, "cursor is not one this server issued") }
        return id
    }

    public static func page<Item>(_ items: [Item], limit: Int, id: (Item) -> String) -> Page<Item> {
        if items.count > limit {
            let shown = Array(items.prefix(limit))
            return Page(items: shown, nextCursor: encode(id(shown[shown.count - 1])))
        }
        return Page(items: items, nextCursor: nil)
    }
}

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

extension ResourceRef {
    /// From the `resource_kind`, `resource_id`, `resource_name` columns tasks and audit records share.
    init(row: any SQLRow) throws {
        self.init(
            kind: try row.decode(column: "resource_kind", as: String.self),
            id: try row.decode(column: "resource_id", as: String.self),
            name: try row.decode(column: "resource_name", as: String?.self))
    }
}
