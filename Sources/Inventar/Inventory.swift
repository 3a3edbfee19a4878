#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import DataverketCore
import DataverketStore
import Logging
import SQLKit

/// One audit record an inventory mutation asks its host to write (in the mutation's transaction).
public struct InventoryAuditEntry: Sendable, Hashable {
    public var action: String
    public var resourceKind: String
    public var resourceID: String
    public var resourceName: String?
    public var beforeVersion: Int64?
    public var afterVersion: Int64?
}

/// Writes an audit record inside the mutation's transaction. The server wires this to Sentral's audit log;
/// Inventar does not depend on Sentral.
public typealias InventoryAuditor = @Sendable (Session, OperationContext, InventoryAuditEntry) async throws -> Void

public struct ApplyOptions: Sendable, Hashable {
    /// Plan only; write nothing.
    public var dryRun: Bool
    /// Why: stored on approval requests the apply creates.
    public var reason: String?

    public init(dryRun: Bool = false, reason: String? = nil) {
        self.dryRun = dryRun
        self.reason = reason
    }
}

public struct ApplyResult: Sendable {
    /// What was (or, on a dry run, would be) done.
    public var plan: Plan
    /// Whether anything was written.
    public var applied: Bool
    /// The approval requests now pending for the plan's sensitive changes (existing identical requests are
    /// reused, not duplicated).
    public var approvals: [ApprovalRequest]
}

public enum ApprovalStatus: String, Codable, Sendable, CaseIterable { case pending, approved, rejected, superseded }

/// Sensitive changes waiting for an operator's decision.
public struct ApprovalRequest: Codable, Sendable, Hashable {
    public var id: String
    public var status: ApprovalStatus
    public var summary: String
    public var reason: String?
    public var changes: [Change]
    public var requestedBy: String
    public var correlationID: String
    public var createdAt: Date
    public var decidedBy: String?
    public var decidedAt: Date?
    public var decisionNote: String?
    public var version: Int64

    /// The changes as a plan diff.
    public func render(verbose: Bool = false) -> String {
        var out = "\(id) [\(status.rawValue)] \(summary)\n  requested by \(requestedBy)"
        if let reason { out += ": \(reason)" }
        out += "\n"
        if let decidedBy { out += "  \(status.rawValue) by \(decidedBy)\(decisionNote.map { ": \($0)" } ?? "")\n" }
        for change in changes { out += Plan.render(change, verbose: verbose) }
        return out
    }
}

/// The inventory store: declarations applied as plans, approvals, queries, observations and drift.
public struct Inventory: Sendable {
    public let database: Database
    public let logger: Logger
    public let auditor: InventoryAuditor?

    public init(database: Database, logger: Logger, auditor: InventoryAuditor? = nil) {
        self.database = database
        self.logger = logger
        self.auditor = auditor
    }

    static let lockKey = 7_314_100

    // MARK: apply

    /// Parses, validates and applies site files (see `apply(_:options:context:)`).
    public func apply(sources: [SiteSource], options: ApplyOptions = ApplyOptions(), context: OperationContext) async throws -> ApplyResult {
        try await apply(try SiteFile.load(sources).model, options: options, context: context)
    }

    /// Applies a validated, resolved declaration as one transaction: the plan's immediate changes are written,
    /// its sensitive changes become approval requests. The declaration's scope is its datacenters: stored
    /// objects there that a site file declared before and this one does not are deleted (removing a device,
    /// unplugging a link: by approval); nothing else is ever deleted.
    public func apply(_ declared: SiteModel, options: ApplyOptions = ApplyOptions(), context: OperationContext) async throws -> ApplyResult {
        let scope = declared.datacenters.map(\.name)
        if options.dryRun {
            let plan = try await database.read { session in
                Planner.plan(declared: declared, current: try await Self.loadState(session, datacenters: scope))
            }
            return ApplyResult(plan: plan, applied: false, approvals: [])
        }
        let auditor = self.auditor
        let result = try await database.transaction { session in
            try await Self.lock(session)
            let current = try await Self.loadState(session, datacenters: scope)
            let plan = Planner.plan(declared: declared, current: current)
            guard !plan.isEmpty else { return ApplyResult(plan: plan, applied: false, approvals: []) }
            let writer = RowWriter(session: session, managedBy: .site, datacenterOf: Self.datacenters(declared, current))
            try await writer.execute(plan.immediate)
            var approvals: [ApprovalRequest] = []
            for group in plan.pending {
                approvals.append(try await Self.request(session, group: group, reason: options.reason, context: context, auditor: auditor))
            }
            if !plan.immediate.isEmpty {
                let summary = "\(plan.immediate.filter { $0.action == .create }.count) created, "
                    + "\(plan.immediate.filter { $0.action == .update }.count) updated, \(plan.immediate.filter { $0.action == .delete }.count) deleted"
                try await auditor?(session, context, InventoryAuditEntry(
                    action: "inventory.apply", resourceKind: "inventory", resourceID: scope.sorted().joined(separator: ","),
                    resourceName: summary, beforeVersion: nil, afterVersion: nil))
            }
            return ApplyResult(plan: plan, applied: true, approvals: approvals)
        }
        logger.info("inventory applied", metadata: [
            "created": "\(result.plan.immediate.filter { $0.action == .create }.count)",
            "updated": "\(result.plan.immediate.filter { $0.action == .update }.count)",
            "deleted": "\(result.plan.immediate.filter { $0.action == .delete }.count)",
            "approvals": "\(result.approvals.count)",
        ])
        return result
    }

    /// A lookup of device → datacenter over the declaration and the store (interfaces and links carry it).
    static func datacenters(_ declared: SiteModel, _ current: [ObjectRef: StoredObject]) -> @Sendable (String) -> String {
        var map: [String: String] = [:]
        for stored in current.values {
            if case .device(let device) = stored.object { map[device.name] = device.datacenter }
        }
        for device in declared.devices { map[device.name] = device.datacenter }
        let frozen = map
        return { frozen[$0] ?? "" }
    }

    static func lock(_ session: Session) async throws {
        if session.kind == .postgres { try await session.run("SELECT pg_advisory_xact_lock(\(bind: lockKey))") }
    }

    /// Every stored object in `datacenters`, by ref.
    static func loadState(_ session: Session, datacenters: [String]) async throws -> [ObjectRef: StoredObject] {
        guard !datacenters.isEmpty else { return [:] }
        var out: [ObjectRef: StoredObject] = [:]
        for kind in ObjectKind.allCases {
            var query: SQLQueryString = "SELECT * FROM \(session.table("inventory", RowSpec.table(kind))) WHERE "
            query.appendInterpolation(unsafeRaw: kind == .datacenter ? "name IN " : "datacenter IN ")
            query.bindList(datacenters)
            for row in try await session.all(query) {
                let stored = try Column.stored(kind, row)
                out[stored.object.ref] = stored
            }
        }
        return out
    }

    // MARK: approvals

    static func request(_ session: Session, group: ApprovalGroup, reason: String?, context: OperationContext,
                        auditor: InventoryAuditor?) async throws -> ApprovalRequest {
        let changesText = try JSONColumn.encode(group.changes)
        let fingerprint = FNV.hash(changesText)
        let table = session.table("inventory", "approvals")
        let refs = Set(group.changes.map(\.ref))
        let now = StoreTime.now()
        for row in try await session.all("SELECT * FROM \(table) WHERE status = 'pending' ORDER BY id") {
            let existing = try approval(row)
            if existing.changes == group.changes { return existing }
            if !refs.isDisjoint(with: existing.changes.map(\.ref)) {
                _ = try await session.affected("""
                    UPDATE \(table) SET status = 'superseded', decided_by = \(bind: context.actor), decided_at = \(bind: now),
                        decision_note = 'superseded by a later apply', version = version + 1
                    WHERE id = \(bind: existing.id) AND version = \(bind: existing.version) RETURNING id
                    """)
            }
        }
        let request = ApprovalRequest(
            id: ResourceID.generate(prefix: "apr").rawValue, status: .pending, summary: group.summary, reason: reason, changes: group.changes,
            requestedBy: context.actor, correlationID: context.correlationID, createdAt: StoreTime.decode(now), decidedBy: nil,
            decidedAt: nil, decisionNote: nil, version: 1)
        try await session.run("""
            INSERT INTO \(table) (id, status, summary, reason, changes, fingerprint, requested_by, correlation_id, created_at, version)
            VALUES (\(bind: request.id), 'pending', \(bind: request.summary), \(bind: reason), \(bind: changesText), \(bind: fingerprint),
                \(bind: context.actor), \(bind: context.correlationID), \(bind: now), 1)
            """)
        try await auditor?(session, context, InventoryAuditEntry(
            action: "inventory.approval.request", resourceKind: "approval", resourceID: request.id, resourceName: request.summary,
            beforeVersion: nil, afterVersion: 1))
        return request
    }

    static func approval(_ row: any SQLRow) throws -> ApprovalRequest {
        ApprovalRequest(
            id: try Column.string(row, "id"), status: try Column.enumValue(row, "status"), summary: try Column.string(row, "summary"),
            reason: try Column.optional(row, "reason"),
            changes: try JSONColumn.decode([Change].self, try Column.string(row, "changes")),
            requestedBy: try Column.string(row, "requested_by"), correlationID: try Column.string(row, "correlation_id"),
            createdAt: StoreTime.decode(try row.decode(column: "created_at", as: Int64.self)),
            decidedBy: try Column.optional(row, "decided_by"),
            decidedAt: try row.decode(column: "decided_at", as: Int64?.self).map(StoreTime.decode),
            decisionNote: try Column.optional(row, "decision_note"), version: try row.decode(column: "version", as: Int64.self))
    }

    /// Approval requests, oldest first; `status` nil lists all.
    public func approvals(status: ApprovalStatus? = .pending, limit: Int? = nil, cursor: String? = nil) async throws -> Page<ApprovalRequest> {
        let limit = try Paging.limit(limit)
        let after = try Paging.decode(cursor) ?? ""
        return try await database.read { session in
            var query: SQLQueryString = "SELECT * FROM \(session.table("inventory", "approvals")) WHERE id > \(bind: after)"
            if let status { query.appendInterpolation(unsafeRaw: " AND status = "); query.appendInterpolation(bind: status.rawValue) }
            query.appendInterpolation(unsafeRaw: " ORDER BY id LIMIT ")
            query.appendInterpolation(bind: limit + 1)
            return Paging.page(try await session.all(query).map(Self.approval), limit: limit) { $0.id }
        }
    }

    public func approval(_ id: String) async throws -> ApprovalRequest {
        try await database.read { try await Self.findApproval($0, id) }
    }

    static func findApproval(_ session: Session, _ id: String) async throws -> ApprovalRequest {
        guard let row = try await session.first("SELECT * FROM \(session.table("inventory", "approvals")) WHERE id = \(bind: id)") else {
            throw DataverketError.notFound("approval", id)
        }
        return try approval(row)
    }

    /// Applies a pending request's changes in one transaction, after checking that nothing they touch changed
    /// since the request (else `conflict`: apply the site file again) and re-validating the result
    /// (`invalid-argument` with every issue). Records who approved.
    public func approve(_ id: String, note: String? = nil, context: OperationContext) async throws -> ApprovalRequest {
        let auditor = self.auditor
        return try await database.transaction { session in
            try await Self.lock(session)
            let request = try await Self.findApproval(session, id)
            guard request.status == .pending else {
                throw DataverketError(.conflict, "approval \(id) is \(request.status.rawValue), not pending")
            }
            var scope = Set(request.changes.compactMap { ($0.desired ?? $0.current)?.datacenter })
            var devices: Set<String> = []
            for change in request.changes {
                switch change.desired ?? change.current {
                case .interface(let x)?: devices.insert(x.device)
                case .link(let x)?: devices.formUnion(x.ends.map(\.device))
                default: break
                }
            }
            if !devices.isEmpty {
                var query: SQLQueryString = "SELECT DISTINCT datacenter FROM \(session.table("inventory", "devices")) WHERE name IN "
                query.bindList(devices.sorted())
                scope.formUnion(try await session.all(query).map { try Column.string($0, "datacenter") })
            }
            var state = try await Self.loadState(session, datacenters: scope.sorted())
            for change in request.changes {
                let stored = state[change.ref]
                let unchanged = change.action == .create ? stored == nil : stored?.version == change.baseVersion
                guard unchanged else {
                    throw DataverketError(.conflict, "\(change.ref) changed since approval \(id) was requested: apply the site file again for a new plan")
                }
            }
            let before = state
            for change in request.changes {
                if let desired = change.desired {
                    state[change.ref] = StoredObject(object: desired, version: (change.baseVersion ?? 0) + 1, managedBy: .site)
                } else {
                    state[change.ref] = nil
                }
            }
            var model = SiteModel(objects: state.values.map(\.object))
            let known = Set(model.devices.map(\.name))
            model.links.removeAll { !known.contains($0.a.device) || !known.contains($0.b.device) }
            let (_, issues) = SiteValidator.validate(model)
            if !issues.isEmpty { throw SiteFile.error(issues) }
            let writer = RowWriter(session: session, managedBy: .site, datacenterOf: Self.datacenters(model, before))
            try await writer.execute(request.changes)
            return try await Self.decide(session, request, status: .approved, note: note, context: context, auditor: auditor)
        }
    }

    /// Discards a pending request's changes. Records who rejected.
    public func reject(_ id: String, note: String? = nil, context: OperationContext) async throws -> ApprovalRequest {
        let auditor = self.auditor
        return try await database.transaction { session in
            let request = try await Self.findApproval(session, id)
            guard request.status == .pending else {
                throw DataverketError(.conflict, "approval \(id) is \(request.status.rawValue), not pending")
            }
            return try await Self.decide(session, request, status: .rejected, note: note, context: context, auditor: auditor)
        }
    }

    static func decide(_ session: Session, _ request: ApprovalRequest, status: ApprovalStatus, note: String?, context: OperationContext,
                       auditor: InventoryAuditor?) async throws -> ApprovalRequest {
        try Validation.checkText(note, field: "note", max: 1024)
        let now = StoreTime.now()
        let touched = try await session.affected("""
            UPDATE \(session.table("inventory", "approvals")) SET status = \(bind: status.rawValue), decided_by = \(bind: context.actor),
                decided_at = \(bind: now), decision_note = \(bind: note), version = version + 1
            WHERE id = \(bind: request.id) AND version = \(bind: request.version) RETURNING id
            """)
        guard touched == 1 else { throw DataverketError(.conflict, "approval \(request.id) was decided concurrently") }
        var decided = request
        decided.status = status
        decided.decidedBy = context.actor
        decided.decidedAt = StoreTime.decode(now)
        decided.decisionNote = note
        decided.version += 1
        try await auditor?(session, context, InventoryAuditEntry(
            action: "inventory.approval.\(status == .approved ? "approve" : "reject")", resourceKind: "approval", resourceID: request.id,
            resourceName: request.summary, beforeVersion: request.version, afterVersion: decided.version))
        return decided
    }

    // MARK: allocation

    /// Marks a device allocated to `owner` (a Maskin machine or tenant reference), or free with nil.
    /// Returns the device's new version.
    @discardableResult
    public func setAllocation(device name: String, to owner: String?, context: OperationContext) async throws -> Int64 {
        try Validation.checkText(owner, field: "allocatedTo", max: 256)
        let auditor = self.auditor
        let device = name.lowercased()
        return try await database.transaction { session in
            let table = session.table("inventory", "devices")
            guard let row = try await session.first("""
                UPDATE \(table) SET allocated_to = \(bind: owner), version = version + 1, updated_at = \(bind: StoreTime.now())
                WHERE name = \(bind: device) RETURNING id, version
                """) else { throw DataverketError.notFound("device", name) }
            let version = try row.decode(column: "version", as: Int64.self)
            try await auditor?(session, context, InventoryAuditEntry(
                action: owner == nil ? "inventory.device.release" : "inventory.device.allocate", resourceKind: "device",
                resourceID: try Column.string(row, "id"), resourceName: device, beforeVersion: version - 1, afterVersion: version))
            return version
        }
    }
}

/// 64-bit FNV-1a, hex: a stable fingerprint (not a security hash).
enum FNV {
    static func hash(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return String(hash, radix: 16)
    }
}
