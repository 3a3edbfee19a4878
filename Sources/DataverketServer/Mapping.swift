#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import DataverketAPI
import DataverketCore
import Identitet
import Sentral
import DataverketTasks

/// Domain values → API schema values.
extension Components.Schemas.Tenant {
    init(_ tenant: Sentral.Tenant) {
        let f = tenant.fields
        self.init(id: f.id, name: f.name, displayName: f.displayName, description: f.description,
                  labels: .init(additionalProperties: f.labels), createdAt: f.createdAt, updatedAt: f.updatedAt, version: f.version)
    }
}

extension Components.Schemas.Project {
    init(_ project: Sentral.Project) {
        let f = project.fields
        self.init(id: f.id, name: f.name, tenant: project.tenantName, tenantId: project.tenantID, phase: project.phase,
                  displayName: f.displayName, description: f.description, labels: .init(additionalProperties: f.labels),
                  createdAt: f.createdAt, updatedAt: f.updatedAt, version: f.version)
    }
}

extension Components.Schemas.Environment {
    init(_ environment: Sentral.Environment) {
        let f = environment.fields
        self.init(id: f.id, name: f.name, tenant: environment.tenantName, tenantId: environment.tenantID,
                  project: environment.projectName, projectId: environment.projectID, displayName: f.displayName,
                  description: f.description, labels: .init(additionalProperties: f.labels), createdAt: f.createdAt,
                  updatedAt: f.updatedAt, version: f.version)
    }
}

extension Components.Schemas.Task {
    init(_ task: TaskRecord, saga: SagaLogEntry? = nil) {
        self.init(
            id: task.id, kind: task.kind, state: .init(rawValue: task.state.rawValue) ?? .failed, reason: task.reason,
            progress: task.progress, correlationId: task.correlationID,
            resource: .init(kind: task.resource.kind, id: task.resource.id, name: task.resource.name),
            tenantId: task.tenantID, projectId: task.projectID, actor: task.actor, attempts: task.attempts,
            cancelRequested: task.cancelRequested, createdAt: task.createdAt, updatedAt: task.updatedAt,
            startedAt: task.startedAt, finishedAt: task.finishedAt, version: task.version, blockedOn: task.blockedOn,
            runbook: task.runbook,
            saga: saga.map { log in
                .init(phase: .init(rawValue: log.phase.rawValue) ?? .forward, reason: log.reason,
                      steps: log.steps.map { .init(name: $0.name, state: .init(rawValue: $0.state.rawValue) ?? .pending, runs: $0.runs) })
            })
    }
}

extension Components.Schemas.AuditRecord {
    init(_ entry: AuditEntry) {
        self.init(
            id: entry.id, time: entry.time, actor: entry.actor, action: entry.action,
            resource: .init(kind: entry.resource.kind, id: entry.resource.id, name: entry.resource.name),
            tenantId: entry.tenantID, projectId: entry.projectID, beforeVersion: entry.beforeVersion,
            afterVersion: entry.afterVersion, correlationId: entry.correlationID, sourceAddress: entry.sourceAddress,
            taskId: entry.taskID)
    }
}

extension ResourceSpec {
    init(_ body: Components.Schemas.ResourceCreate) {
        self.init(name: body.name, displayName: body.displayName, description: body.description,
                  labels: body.labels?.additionalProperties ?? [:])
    }
}

extension ResourceChange {
    init(_ body: Components.Schemas.ResourceUpdate) {
        self.init(displayName: body.displayName, description: body.description, labels: body.labels?.additionalProperties)
    }
}

/// Entity tags are the resource version, quoted.
enum EntityTag {
    static func make(_ version: Int64) -> String { "\"\(version)\"" }

    /// Parses `If-Match`: `"7"`, `7` (1–18 digits, no leading zero, as the document's pattern says), `*` is
    /// unconditional; `W/"7"` is refused (weak tags cannot guard writes), anything else is malformed.
    static func parse(_ header: String?, required: Bool) throws(DataverketError) -> ExpectedVersion {
        guard let header = header?.trimmingCharacters(in: .whitespaces) else {
            if required {
                throw DataverketError(.preconditionRequired, "this operation needs If-Match with the resource's ETag (get it first)")
            }
            return nil
        }
        if header == "*" { return nil }
        if header.hasPrefix("W/") {
            throw DataverketError(.preconditionFailed, "weak entity tags cannot guard a write")
        }
        let unquoted = header.hasPrefix("\"") && header.hasSuffix("\"") && header.count >= 2 ? String(header.dropFirst().dropLast()) : header
        guard (1...18).contains(unquoted.utf8.count), unquoted.utf8.first != UInt8(ascii: "0"),
              unquoted.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }), let version = Int64(unquoted) else {
            throw DataverketError(.malformedRequest, "If-Match must be an entity tag like \"3\", got \(header)")
        }
        return version
    }
}

extension Components.Schemas.RoleBinding {
    init(_ binding: RoleBinding) {
        self.init(id: binding.id, subject: binding.subject, role: binding.role,
                  scopeKind: .init(rawValue: binding.scopeKind) ?? .platform, scopeId: binding.scopeID)
    }
}

extension Components.Schemas.ServiceAccount {
    init(_ account: ServiceAccount) {
        self.init(name: account.name, subject: account.subject, description: account.description, createdAt: account.createdAt)
    }
}
