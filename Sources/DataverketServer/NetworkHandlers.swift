#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import DataverketAPI
import DataverketCore
import Nett
import NettIntent
import OpenAPIRuntime
import Sentral
import DataverketTasks

/// `/v1/network/…`: Nett's IPAM (prefixes, addresses, per-pool allocation) and intent verification.
extension APIHandlers {
    /// The IPAM over the server's store; mutations are audited in their own transaction.
    var ipam: IPAM {
        IPAM(database: sentral.database, logger: sentral.database.logger) { session, context, entry in
            try await Audit.append(session, context: context, action: entry.action,
                                   resource: ResourceRef(kind: entry.resourceKind, id: entry.resourceID, name: entry.resourceName),
                                   tenantID: nil, projectID: nil, beforeVersion: entry.beforeVersion, afterVersion: entry.afterVersion)
        }
    }

    func listNetworkPrefixes(_ input: Operations.ListNetworkPrefixes.Input) async throws -> Operations.ListNetworkPrefixes.Output {
        try Validation.checkReference(input.query.vrf, field: "vrf")
        let page = try await ipam.prefixes(PrefixFilter(vrf: input.query.vrf), limit: input.query.limit, cursor: input.query.cursor)
        return .ok(.init(body: .json(.init(items: try page.items.map(NetworkJSON.object), nextCursor: page.nextCursor))))
    }

    func createNetworkPrefix(_ input: Operations.CreateNetworkPrefix.Input) async throws -> Operations.CreateNetworkPrefix.Output {
        guard case .json(let body) = input.body else { throw unsupportedBody }
        let spec = PrefixSpec(
            prefix: body.prefix, vrf: body.vrf ?? IPAM.globalVRF, role: body.role.flatMap { PrefixRole(rawValue: $0.rawValue) },
            status: body.status.flatMap { PrefixStatus(rawValue: $0.rawValue) } ?? .active, isPool: body.isPool ?? false,
            datacenter: body.datacenter, description: body.description)
        let created = try await ipam.createPrefix(spec, context: scope.operation())
        return .created(.init(body: .json(try NetworkJSON.object(created))))
    }

    func allocateNetworkPrefix(_ input: Operations.AllocateNetworkPrefix.Input) async throws -> Operations.AllocateNetworkPrefix.Output {
        guard case .json(let body) = input.body else { throw unsupportedBody }
        let allocated = try await ipam.allocatePrefix(
            from: body.parent, vrf: body.vrf ?? IPAM.globalVRF, length: body.length, role: body.role.flatMap { PrefixRole(rawValue: $0.rawValue) },
            description: body.description, idempotencyKey: input.headers.idempotencyKey, context: scope.operation())
        return .created(.init(body: .json(try NetworkJSON.object(allocated))))
    }

    func listNetworkAddresses(_ input: Operations.ListNetworkAddresses.Input) async throws -> Operations.ListNetworkAddresses.Output {
        try Validation.checkReference(input.query.vrf, field: "vrf")
        try Validation.checkLength(input.query.prefix, field: "prefix", max: 64)
        let page = try await ipam.addresses(AddressFilter(vrf: input.query.vrf, prefix: input.query.prefix), limit: input.query.limit,
                                            cursor: input.query.cursor)
        return .ok(.init(body: .json(.init(items: try page.items.map(NetworkJSON.object), nextCursor: page.nextCursor))))
    }

    func allocateNetworkAddress(_ input: Operations.AllocateNetworkAddress.Input) async throws -> Operations.AllocateNetworkAddress.Output {
        guard case .json(let body) = input.body else { throw unsupportedBody }
        let allocated = try await ipam.allocateAddress(
            in: body.prefix, vrf: body.vrf ?? IPAM.globalVRF, dnsName: body.dnsName, assignedTo: body.assignedTo, description: body.description,
            idempotencyKey: input.headers.idempotencyKey, context: scope.operation())
        if allocated.dnsName != nil { dns?.kick() }
        return .created(.init(body: .json(try NetworkJSON.object(allocated))))
    }

    func releaseNetworkAddress(_ input: Operations.ReleaseNetworkAddress.Input) async throws -> Operations.ReleaseNetworkAddress.Output {
        try Validation.checkReference(input.query.vrf, field: "vrf")
        try await ipam.releaseAddress(input.path.address, vrf: input.query.vrf ?? IPAM.globalVRF, context: scope.operation())
        dns?.kick()
        return .noContent(.init())
    }

    /// Verifies the intent and shows what it would change: against `current` when given, else against the intent
    /// applied last (when Nett's changesets run here); with devices, each device's configuration diff (read-only).
    func planNetworkIntent(_ input: Operations.PlanNetworkIntent.Input) async throws -> Operations.PlanNetworkIntent.Output {
        guard case .json(let body) = input.body else { throw unsupportedBody }
        let intent = try NetworkJSON.intent(body.intent, field: "intent")
        var current = try body.current.map { try NetworkJSON.intent($0, field: "current") }
        var against = current == nil ? "nothing" : "current"
        if current == nil, let nett, let applied = try await nett.changesets.applied() {
            current = applied
            against = "applied"
        }
        var plan = try NetworkPlan.make(intent, current: current)
        plan.against = against
        if let rollout = nett?.rollout { plan.devices = await rollout.plan(intent) }
        return .ok(.init(body: .json(try NetworkJSON.object(plan))))
    }
}

/// A verified plan: the matrix; what it opens and closes and which objects change, against the current intent
/// (`against`: `current` as given, the `applied` one, or `nothing`); each device's diff when devices are known.
struct NetworkPlan: Codable, Sendable {
    var ok: Bool
    var matrix: ReachabilityMatrix
    var opened: [String]
    var closed: [String]
    var changes: [String]
    var against: String
    var devices: [RolloutStep]?

    /// Verifies `intent`; problems are a 422 naming every offending object (nothing is applied).
    static func make(_ intent: NetworkIntent, current: NetworkIntent?) throws -> NetworkPlan {
        let report = IntentVerifier.verify(intent)
        guard report.ok else {
            throw DataverketError(
                .invalidArgument, "the intent has \(report.problems.count) problem\(report.problems.count == 1 ? "" : "s"); nothing was applied",
                violations: report.problems.map { .init(field: $0.objects.joined(separator: ", "), message: "\($0.code): \($0.message)") })
        }
        let (opened, closed) = report.matrix.diff(from: current.map(IntentVerifier.reachability) ?? .init(allowed: [:]))
        return NetworkPlan(ok: true, matrix: report.matrix, opened: opened, closed: closed, changes: intent.changes(from: current),
                           against: current == nil ? "nothing" : "current")
    }
}

/// Nett values ⇄ the contract's free-form `NetworkObject`.
enum NetworkJSON {
    static func object(_ value: some Encodable) throws -> Components.Schemas.NetworkObject {
        try JSONDecoder().decode(Components.Schemas.NetworkObject.self, from: try InventoryJSON.encoder.encode(value))
    }

    static func intent(_ object: Components.Schemas.NetworkObject, field: String) throws -> NetworkIntent {
        do {
            return try JSONDecoder().decode(NetworkIntent.self, from: try JSONEncoder().encode(object))
        } catch {
            throw DataverketError.invalid(field, InventoryJSON.explain(error))
        }
    }
}
