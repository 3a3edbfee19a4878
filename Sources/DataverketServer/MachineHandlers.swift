#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import DataverketAPI
import DataverketCore
import Maskin
import OpenAPIRuntime
import Sentral
import DataverketTasks

/// `/v1/machines/…` and `/v1/discovered-machines`: Maskin's machines, lifecycle actions and power.
extension APIHandlers {
    var machinePlane: MaskinPlane {
        get throws {
            guard let maskin else { throw DataverketError(.notConfigured, "Maskin (bare metal) is not part of this server") }
            return maskin
        }
    }

    func listMachines(_ input: Operations.ListMachines.Input) async throws -> Operations.ListMachines.Output {
        let state = input.query.state.flatMap { MachineState.Name(rawValue: $0.rawValue) }
        let page = try await machinePlane.machines.list(state: state, limit: input.query.limit, cursor: input.query.cursor)
        return .ok(.init(body: .json(.init(items: try page.items.map(MachineJSON.object), nextCursor: page.nextCursor))))
    }

    func enrollMachine(_ input: Operations.EnrollMachine.Input) async throws -> Operations.EnrollMachine.Output {
        guard case .json(let body) = input.body else { throw unsupportedBody }
        let bmc = BMCConfig(
            protocol: BMCProtocol(rawValue: body.bmc._protocol.rawValue) ?? .redfish, address: body.bmc.address,
            systemID: body.bmc.systemID, credentials: body.bmc.credentials,
            tls: body.bmc.tls.flatMap { BMCConfig.TLSMode(rawValue: $0.rawValue) } ?? .verify, caFile: body.bmc.caFile)
        let request = MachineEnrollment(
            name: body.name, mac: body.mac, uuid: body.uuid, serial: body.serial, arch: body.arch?.rawValue, device: body.device,
            datacenter: body.datacenter, bmc: bmc, console: body.console, verify: body.verify ?? true)
        let (machine, task) = try await machinePlane.machines.enroll(request, context: scope.operation())
        return .created(.init(body: .json(.init(machine: try MachineJSON.object(machine), task: task.map { .init($0) }))))
    }

    func listDiscoveredMachines(_ input: Operations.ListDiscoveredMachines.Input) async throws -> Operations.ListDiscoveredMachines.Output {
        let found = try await machinePlane.machines.discovered()
        return .ok(.init(body: .json(.init(items: try found.map(MachineJSON.object)))))
    }

    func getMachine(_ input: Operations.GetMachine.Input) async throws -> Operations.GetMachine.Output {
        let plane = try machinePlane
        let detail = try await plane.machines.detail(input.path.machine, dhcpLeases: plane.dhcpLeases)
        return .ok(.init(body: .json(try MachineJSON.object(detail))))
    }

    func actOnMachine(_ input: Operations.ActOnMachine.Input) async throws -> Operations.ActOnMachine.Output {
        guard case .json(let body) = input.body else { throw unsupportedBody }
        let action: MachineAction
        if body.action == .maintain {
            guard let reason = body.reason, !reason.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw DataverketError.invalid("reason", "maintain needs a reason")
            }
            action = .maintain(reason: reason)
        } else {
            guard let name = MachineAction.Name(rawValue: body.action.rawValue) else {
                throw DataverketError.invalid("action", "unknown action")
            }
            action = .example(name)
        }
        let options = MachineActionOptions(role: body.role?.rawValue, cluster: body.cluster, reason: body.reason, networks: body.networks)
        let (machine, task) = try await machinePlane.machines.act(input.path.machine, action: action, options: options,
                                                                   context: scope.operation())
        return .ok(.init(body: .json(.init(machine: try MachineJSON.object(machine), task: task.map { .init($0) }))))
    }

    func powerMachine(_ input: Operations.PowerMachine.Input) async throws -> Operations.PowerMachine.Output {
        guard case .json(let body) = input.body else { throw unsupportedBody }
        guard let action = PowerAction(rawValue: body.action.rawValue) else { throw DataverketError.invalid("action", "unknown power action") }
        let (machine, task) = try await machinePlane.machines.power(input.path.machine, action: action, context: scope.operation())
        return .accepted(.init(body: .json(.init(machine: try MachineJSON.object(machine), task: .init(task)))))
    }
}

/// Maskin values ⇄ the contract's free-form `MachineObject`.
enum MachineJSON {
    static func object(_ value: some Encodable) throws -> Components.Schemas.MachineObject {
        try JSONDecoder().decode(Components.Schemas.MachineObject.self, from: try InventoryJSON.encoder.encode(value))
    }
}
