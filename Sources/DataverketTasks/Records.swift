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
public struct MutationRecord: Sendable {
    /// The service whose event this is (`dv.<service>.evt.…`).
    public var service: String
    public var action: String
    public var resource: ResourceRef
    public var tenantID: String?
    public var projectID: String?
    public var beforeVersion: Int64?
    public var afterVersion: Int64?

    public init(service: String, action: String, resource: ResourceRef, tenantID: String?, projectID: String?,
                beforeVersion: Int64?, afterVersion: Int64?) {
        self.service = service
        self.action = action
        self.resource = resource
        self.tenantID = tenantID
        self.projectID = projectID
        self.beforeVersion = beforeVersion
        self.afterVersion = afterVersion
    }

    /// Writes the audit record and an event `dv.<service>.evt.<kind>.<verb>` carrying `payload`.
    public func write(_ session: Session, context: OperationContext, verb: String, payload: some Encodable) async throws {
        try await Audit.append(
            session, context: context, action: action, resource: resource, tenantID: tenantID,
            projectID: projectID, beforeVersion: beforeVersion, afterVersion: afterVersion)
        let event = CloudEvent(
            source: "/dataverket/\(service)", type: Subjects.event(service: service, entity: resource.kind, verb: verb),
            subject: resource.id, data: try JSONText(encoding: payload), correlationid: context.correlationID,
            causationid: context.taskID, tenant: tenantID, project: projectID, actor: context.actor)
        try await Outbox.append(session, event: event, resourceKey: resource.id)
    }
}

/// Idempotency keys: a create retried with the same key returns the first result.
public enum Idempotency {
    public static let retention: Duration = .seconds(24 * 3600)

    /// Runs `create` once per (scope, key). A replay with the same fingerprint returns the stored result;
    /// a different fingerprint is rejected. Runs inside the caller's transaction, so the key and the
    /// resource commit together; a concurrent duplicate loses on the primary key and is retried as a replay.
    public static func once<T: Codable & Sendable>(
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

    public static func purgeExpired(_ session: Session) async throws {
        let cutoff = StoreTime.now() - Int64(retention.components.seconds) * 1_000_000
        try await session.run("DELETE FROM \(session.table("api", "idempotency_keys")) WHERE created_at < \(bind: cutoff)")
    }
}

extension ResourceRef {
    /// From the `resource_kind`, `resource_id`, `resource_name` columns tasks and audit records share.
    public init(row: any SQLRow) throws {
        self.init(
            kind: try row.decode(column: "resource_kind", as: String.self),
            id: try row.decode(column: "resource_id", as: String.self),
            name: try row.decode(column: "resource_name", as: String?.self))
    }
}
