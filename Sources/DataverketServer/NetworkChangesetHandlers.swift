import DataverketAPI
import DataverketCore
import Nett

/// `/v1/network/changesets` and `/v1/network/drift`: intents applied as tasks (device by device, confirmed commit,
/// probes, rollback), drift read back from the devices, remediated or accepted.
extension APIHandlers {
    var nettPlane: NettPlane {
        get throws {
            guard let nett else { throw DataverketError(.notConfigured, "Nett's changesets are not running in this server") }
            return nett
        }
    }

    func listNetworkChangesets(_ input: Operations.ListNetworkChangesets.Input) async throws -> Operations.ListNetworkChangesets.Output {
        let page = try await nettPlane.changesets.list(limit: input.query.limit, cursor: input.query.cursor)
        return .ok(.init(body: .json(.init(items: try page.items.map(NetworkJSON.object), nextCursor: page.nextCursor))))
    }

    func createNetworkChangeset(_ input: Operations.CreateNetworkChangeset.Input) async throws -> Operations.CreateNetworkChangeset.Output {
        guard case .json(let body) = input.body else { throw unsupportedBody }
        let intent = try NetworkJSON.intent(body.intent, field: "intent")
        let record = try await nettPlane.propose(intent, description: body.description, devices: body.devices,
                                                 confirmWithin: body.confirmWithin ?? 120,
                                                 context: scope.operation(idempotencyKey: input.headers.idempotencyKey))
        return .accepted(.init(body: .json(try NetworkJSON.object(record))))
    }

    func getNetworkChangeset(_ input: Operations.GetNetworkChangeset.Input) async throws -> Operations.GetNetworkChangeset.Output {
        .ok(.init(body: .json(try NetworkJSON.object(try await nettPlane.changesets.get(input.path.changeset)))))
    }

    func approveNetworkChangeset(_ input: Operations.ApproveNetworkChangeset.Input) async throws -> Operations.ApproveNetworkChangeset.Output {
        let record = try await nettPlane.changesets.approve(input.path.changeset, context: scope.operation())
        return .accepted(.init(body: .json(try NetworkJSON.object(record))))
    }

    func listNetworkDevices(_ input: Operations.ListNetworkDevices.Input) async throws -> Operations.ListNetworkDevices.Output {
        do {
            return .ok(.init(body: .json(.init(items: try nettPlane.requireDevices().targets.map(NetworkJSON.object)))))
        } catch let error as DataverketError where error.code == .notConfigured {
            return .ok(.init(body: .json(.init(items: [], notConfigured: error.message))))
        }
    }

    func getNetworkDevice(_ input: Operations.GetNetworkDevice.Input) async throws -> Operations.GetNetworkDevice.Output {
        let states = try await nettPlane.requireDevices().state(of: input.path.device)
        return .ok(.init(body: .json(.init(items: try states.map(NetworkJSON.object)))))
    }

    func listNetworkDrift(_ input: Operations.ListNetworkDrift.Input) async throws -> Operations.ListNetworkDrift.Output {
        try Validation.checkLength(input.query.device, field: "device", max: 63)
        let items = try await nettPlane.drift(device: input.query.device)
        return .ok(.init(body: .json(.init(items: try items.map(NetworkJSON.object)))))
    }

    func remediateNetworkDrift(_ input: Operations.RemediateNetworkDrift.Input) async throws -> Operations.RemediateNetworkDrift.Output {
        let record = try await nettPlane.remediate(device: input.path.device, context: scope.operation())
        return .accepted(.init(body: .json(try NetworkJSON.object(record))))
    }

    func acceptNetworkDrift(_ input: Operations.AcceptNetworkDrift.Input) async throws -> Operations.AcceptNetworkDrift.Output {
        let record = try await nettPlane.accept(device: input.path.device, context: scope.operation())
        return .accepted(.init(body: .json(try NetworkJSON.object(record))))
    }
}
