import DataverketAPI
import DataverketCore
import Nett
import OpenAPIRuntime
import Sentral
import DataverketTasks

/// `/v1/network/…` beyond prefixes and addresses: VRFs, prefix and address lookups and deletes, hand-recorded
/// addresses, VLAN groups and VLANs, ASN pools and ASNs (Nett's IPAM, ADR 010). Allocations honour
/// `Idempotency-Key`: a retry returns the first allocation.
extension APIHandlers {
    // MARK: VRFs

    func listNetworkVRFs(_ input: Operations.ListNetworkVRFs.Input) async throws -> Operations.ListNetworkVRFs.Output {
        let page = try await ipam.vrfs(limit: input.query.limit, cursor: input.query.cursor)
        return .ok(.init(body: .json(.init(items: try page.items.map(NetworkJSON.object), nextCursor: page.nextCursor))))
    }

    func createNetworkVRF(_ input: Operations.CreateNetworkVRF.Input) async throws -> Operations.CreateNetworkVRF.Output {
        guard case .json(let body) = input.body else { throw unsupportedBody }
        let spec = VRFSpec(name: body.name, routeDistinguisher: body.routeDistinguisher, importTargets: body.importTargets ?? [],
                           exportTargets: body.exportTargets ?? [], tenant: body.tenant, description: body.description)
        let created = try await ipam.createVRF(spec, context: scope.operation())
        return .created(.init(body: .json(try NetworkJSON.object(created))))
    }

    func getNetworkVRF(_ input: Operations.GetNetworkVRF.Input) async throws -> Operations.GetNetworkVRF.Output {
        .ok(.init(body: .json(try NetworkJSON.object(try await ipam.vrf(input.path.vrf)))))
    }

    func deleteNetworkVRF(_ input: Operations.DeleteNetworkVRF.Input) async throws -> Operations.DeleteNetworkVRF.Output {
        try await ipam.deleteVRF(input.path.vrf, context: scope.operation())
        return .noContent(.init())
    }

    // MARK: prefixes and addresses

    func getNetworkPrefix(_ input: Operations.GetNetworkPrefix.Input) async throws -> Operations.GetNetworkPrefix.Output {
        try Validation.checkReference(input.query.vrf, field: "vrf")
        let prefix = try await ipam.prefix(input.path.prefix, vrf: input.query.vrf ?? IPAM.globalVRF)
        return .ok(.init(body: .json(try NetworkJSON.object(prefix))))
    }

    func deleteNetworkPrefix(_ input: Operations.DeleteNetworkPrefix.Input) async throws -> Operations.DeleteNetworkPrefix.Output {
        try Validation.checkReference(input.query.vrf, field: "vrf")
        try await ipam.deletePrefix(input.path.prefix, vrf: input.query.vrf ?? IPAM.globalVRF, context: scope.operation())
        return .noContent(.init())
    }

    func createNetworkAddress(_ input: Operations.CreateNetworkAddress.Input) async throws -> Operations.CreateNetworkAddress.Output {
        guard case .json(let body) = input.body else { throw unsupportedBody }
        let spec = AddressSpec(
            vrf: body.vrf ?? IPAM.globalVRF, address: body.address, prefix: body.prefix,
            status: body.status.flatMap { AllocationStatus(rawValue: $0.rawValue) } ?? .active, dnsName: body.dnsName,
            assignedTo: body.assignedTo, tenant: body.tenant, description: body.description)
        let created = try await ipam.createAddress(spec, context: scope.operation())
        if created.dnsName != nil { dns?.kick() }
        return .created(.init(body: .json(try NetworkJSON.object(created))))
    }

    func getNetworkAddress(_ input: Operations.GetNetworkAddress.Input) async throws -> Operations.GetNetworkAddress.Output {
        try Validation.checkReference(input.query.vrf, field: "vrf")
        let address = try await ipam.address(input.path.address, vrf: input.query.vrf ?? IPAM.globalVRF)
        return .ok(.init(body: .json(try NetworkJSON.object(address))))
    }

    // MARK: VLANs

    func listNetworkVLANGroups(_ input: Operations.ListNetworkVLANGroups.Input) async throws -> Operations.ListNetworkVLANGroups.Output {
        let page = try await ipam.vlanGroups(limit: input.query.limit, cursor: input.query.cursor)
        return .ok(.init(body: .json(.init(items: try page.items.map(NetworkJSON.object), nextCursor: page.nextCursor))))
    }

    func createNetworkVLANGroup(_ input: Operations.CreateNetworkVLANGroup.Input) async throws -> Operations.CreateNetworkVLANGroup.Output {
        guard case .json(let body) = input.body else { throw unsupportedBody }
        let spec = VLANGroupSpec(name: body.name, scope: body.scope, minVID: body.minVID ?? 1, maxVID: body.maxVID ?? 4094,
                                 description: body.description)
        let created = try await ipam.createVLANGroup(spec, context: scope.operation())
        return .created(.init(body: .json(try NetworkJSON.object(created))))
    }

    func listNetworkVLANs(_ input: Operations.ListNetworkVLANs.Input) async throws -> Operations.ListNetworkVLANs.Output {
        try Validation.checkReference(input.query.group, field: "group")
        let page = try await ipam.vlans(group: input.query.group, limit: input.query.limit, cursor: input.query.cursor)
        return .ok(.init(body: .json(.init(items: try page.items.map(NetworkJSON.object), nextCursor: page.nextCursor))))
    }

    func createNetworkVLAN(_ input: Operations.CreateNetworkVLAN.Input) async throws -> Operations.CreateNetworkVLAN.Output {
        guard case .json(let body) = input.body else { throw unsupportedBody }
        let spec = VLANSpec(group: body.group, vid: body.vid, name: body.name ?? "vlan\(body.vid)", tenant: body.tenant,
                            status: body.status.flatMap { AllocationStatus(rawValue: $0.rawValue) } ?? .active, description: body.description)
        let created = try await ipam.createVLAN(spec, context: scope.operation())
        return .created(.init(body: .json(try NetworkJSON.object(created))))
    }

    func allocateNetworkVLAN(_ input: Operations.AllocateNetworkVLAN.Input) async throws -> Operations.AllocateNetworkVLAN.Output {
        guard case .json(let body) = input.body else { throw unsupportedBody }
        let allocated = try await ipam.allocateVLAN(
            in: body.group, name: body.name, tenant: body.tenant, description: body.description,
            idempotencyKey: input.headers.idempotencyKey, context: scope.operation())
        return .created(.init(body: .json(try NetworkJSON.object(allocated))))
    }

    func releaseNetworkVLAN(_ input: Operations.ReleaseNetworkVLAN.Input) async throws -> Operations.ReleaseNetworkVLAN.Output {
        try Validation.checkReference(input.query.group, field: "group")
        try await ipam.releaseVLAN(input.path.vlan, group: input.query.group, context: scope.operation())
        return .noContent(.init())
    }

    // MARK: ASNs

    func listNetworkASNPools(_ input: Operations.ListNetworkASNPools.Input) async throws -> Operations.ListNetworkASNPools.Output {
        let page = try await ipam.asnPools(limit: input.query.limit, cursor: input.query.cursor)
        return .ok(.init(body: .json(.init(items: try page.items.map(NetworkJSON.object), nextCursor: page.nextCursor))))
    }

    func createNetworkASNPool(_ input: Operations.CreateNetworkASNPool.Input) async throws -> Operations.CreateNetworkASNPool.Output {
        guard case .json(let body) = input.body else { throw unsupportedBody }
        let created = try await ipam.createASNPool(ASNPoolSpec(name: body.name, first: body.first, last: body.last, description: body.description),
                                                   context: scope.operation())
        return .created(.init(body: .json(try NetworkJSON.object(created))))
    }

    func listNetworkASNs(_ input: Operations.ListNetworkASNs.Input) async throws -> Operations.ListNetworkASNs.Output {
        try Validation.checkReference(input.query.pool, field: "pool")
        let page = try await ipam.asns(pool: input.query.pool, limit: input.query.limit, cursor: input.query.cursor)
        return .ok(.init(body: .json(.init(items: try page.items.map(NetworkJSON.object), nextCursor: page.nextCursor))))
    }

    func allocateNetworkASN(_ input: Operations.AllocateNetworkASN.Input) async throws -> Operations.AllocateNetworkASN.Output {
        guard case .json(let body) = input.body else { throw unsupportedBody }
        let allocated = try await ipam.allocateASN(
            from: body.pool, tenant: body.tenant, description: body.description, idempotencyKey: input.headers.idempotencyKey,
            context: scope.operation())
        return .created(.init(body: .json(try NetworkJSON.object(allocated))))
    }

    func releaseNetworkASN(_ input: Operations.ReleaseNetworkASN.Input) async throws -> Operations.ReleaseNetworkASN.Output {
        try Validation.checkReference(input.query.pool, field: "pool")
        try await ipam.releaseASN(input.path.asn, pool: input.query.pool, context: scope.operation())
        return .noContent(.init())
    }
}
