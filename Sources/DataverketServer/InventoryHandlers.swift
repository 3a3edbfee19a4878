#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import DataverketAPI
import DataverketCore
import Inventar
import OpenAPIRuntime

/// `/v1/inventory/…`: site files applied as plans, queries, observations and drift, approvals. The
/// Inventar model types travel as their own JSON encoding (`InventoryObject` in the contract).
extension APIHandlers {
    var inventory: Inventory { sentral.inventory }

    func applyInventory(_ input: Operations.ApplyInventory.Input) async throws -> Operations.ApplyInventory.Output {
        guard case .json(let body) = input.body else { throw unsupportedBody }
        try Validation.checkText(body.reason, field: "reason", max: 1024)
        guard (1...1000).contains(body.files.count) else { throw DataverketError.invalid("files", "give 1–1000 site files") }
        for (index, file) in body.files.enumerated() {
            try Validation.checkLength(file.name, field: "files[\(index)].name", min: 1, max: 512)
        }
        let sources = body.files.map { SiteSource(name: $0.name, text: $0.content) }
        let dryRun = body.dryRun ?? false
        let result = try await inventory.apply(sources: sources, options: ApplyOptions(dryRun: dryRun, reason: body.reason),
                                               context: scope.operation())
        let plan = result.plan
        return .ok(.init(body: .json(.init(
            applied: result.applied, dryRun: dryRun, creates: plan.immediate.filter { $0.action == .create }.count,
            updates: plan.immediate.filter { $0.action == .update }.count, deletes: plan.immediate.filter { $0.action == .delete }.count,
            pendingApproval: plan.pending.reduce(0) { $0 + $1.changes.count }, diff: plan.render(),
            approvals: try result.approvals.map(InventoryJSON.object)))))
    }

    func exportInventory(_ input: Operations.ExportInventory.Input) async throws -> Operations.ExportInventory.Output {
        try Validation.checkLength(input.query.datacenter, field: "datacenter", max: 63)
        try Validation.checkLength(input.query.name, field: "name", max: 200)
        var model = try await inventory.export(datacenters: input.query.datacenter.map { [$0] })
        if input.query.kind == .site {
            // A whole site: everything of one datacenter (or all), as it applies back.
            if let name = input.query.name {
                model = try await inventory.export(datacenters: [name.lowercased()])
                if model.datacenters.isEmpty { throw DataverketError.notFound("datacenter", name) }
            }
        } else if let kindText = input.query.kind?.rawValue {
            guard let kind = ObjectKind(userInput: kindText) else {
                throw DataverketError.invalid("kind", "unknown kind '\(kindText)': datacenters, networks, racks, devices or links")
            }
            model = InventoryJSON.only(kind, named: input.query.name?.lowercased(), in: model)
            if let name = input.query.name, model.objects.isEmpty { throw DataverketError.notFound(kind.rawValue, name) }
        } else if input.query.name != nil {
            throw DataverketError.invalid("name", "give the kind too (kind=devices&name=…)")
        }
        if input.query.format == .yaml {
            return .ok(.init(body: .yaml(HTTPBody(SiteWriter.yaml(model)))))
        }
        return .ok(.init(body: .json(try InventoryJSON.object(model))))
    }

    func listInventoryDevices(_ input: Operations.ListInventoryDevices.Input) async throws -> Operations.ListInventoryDevices.Output {
        let query = input.query
        for (field, value) in [("datacenter", query.datacenter), ("failureDomain", query.failureDomain), ("rack", query.rack), ("tag", query.tag)] {
            try Validation.checkLength(value, field: field, max: 63)
        }
        try Validation.checkReference(query.pool, field: "pool")
        let filter = DeviceFilter(
            datacenter: query.datacenter, failureDomain: query.failureDomain, rack: query.rack,
            role: query.role.flatMap { DeviceRole(rawValue: $0.rawValue) }, kind: query.kind.flatMap { DeviceKind(rawValue: $0.rawValue) },
            tag: query.tag, pool: query.pool, freeOnly: query.free ?? false)
        let page = try await inventory.devices(filter, limit: query.limit, cursor: query.cursor)
        return .ok(.init(body: .json(.init(items: try page.items.map(InventoryJSON.object), nextCursor: page.nextCursor))))
    }

    func getInventoryDevice(_ input: Operations.GetInventoryDevice.Input) async throws -> Operations.GetInventoryDevice.Output {
        .ok(.init(body: .json(try InventoryJSON.object(try await inventory.device(input.path.device)))))
    }

    func traceInventoryCable(_ input: Operations.TraceInventoryCable.Input) async throws -> Operations.TraceInventoryCable.Output {
        let trace = try await inventory.trace(device: input.path.device, interface: input.path.interface)
        return .ok(.init(body: .json(.init(value: try InventoryJSON.object(trace), text: trace.render()))))
    }

    func getRackElevation(_ input: Operations.GetRackElevation.Input) async throws -> Operations.GetRackElevation.Output {
        let elevation = try await inventory.elevation(rack: input.path.rack)
        return .ok(.init(body: .json(.init(value: try InventoryJSON.object(elevation), text: elevation.render()))))
    }

    func getInventoryCapacity(_ input: Operations.GetInventoryCapacity.Input) async throws -> Operations.GetInventoryCapacity.Output {
        struct Summary: Encodable {
            var datacenter: String
            var total: CapacitySummary.Resources
            var allocated: CapacitySummary.Resources
            var free: CapacitySummary.Resources
        }
        try Validation.checkLength(input.query.datacenter, field: "datacenter", max: 63)
        let summaries = try await inventory.capacity(datacenter: input.query.datacenter)
        return .ok(.init(body: .json(.init(items: try summaries.map {
            try InventoryJSON.object(Summary(datacenter: $0.datacenter, total: $0.total, allocated: $0.allocated, free: $0.free))
        }))))
    }

    func createInventoryObservation(_ input: Operations.CreateInventoryObservation.Input) async throws -> Operations.CreateInventoryObservation.Output {
        guard case .json(let body) = input.body else { throw unsupportedBody }
        try Self.checkBounds(body)
        let observation: Observation
        do {
            observation = try InventoryJSON.decoder.decode(Observation.self, from: try InventoryJSON.encoder.encode(body))
        } catch {
            throw DataverketError(.invalidArgument, "not an observation: \(InventoryJSON.explain(error))", cause: error)
        }
        let record = try await inventory.observe(observation, context: scope.operation())
        return .created(.init(body: .json(try InventoryJSON.object(record))))
    }

    func listInventoryDrift(_ input: Operations.ListInventoryDrift.Input) async throws -> Operations.ListInventoryDrift.Output {
        try Validation.checkLength(input.query.datacenter, field: "datacenter", max: 63)
        try Validation.checkLength(input.query.device, field: "device", max: 63)
        try Validation.checkRange(input.query.staleAfter, field: "staleAfter", 1...31_536_000)
        let filter = DriftFilter(datacenter: input.query.datacenter, device: input.query.device,
                                 staleAfter: input.query.staleAfter.map { .seconds($0) })
        let drift = try await inventory.drift(filter)
        return .ok(.init(body: .json(.init(items: try drift.map(InventoryJSON.object)))))
    }

    func listInventoryApprovals(_ input: Operations.ListInventoryApprovals.Input) async throws -> Operations.ListInventoryApprovals.Output {
        let status: ApprovalStatus? = switch input.query.status {
        case nil: .pending
        case .all: nil
        case .some(let status): ApprovalStatus(rawValue: status.rawValue)
        }
        let page = try await inventory.approvals(status: status, limit: input.query.limit, cursor: input.query.cursor)
        return .ok(.init(body: .json(.init(items: try page.items.map(InventoryJSON.object), nextCursor: page.nextCursor))))
    }

    func getInventoryApproval(_ input: Operations.GetInventoryApproval.Input) async throws -> Operations.GetInventoryApproval.Output {
        .ok(.init(body: .json(try InventoryJSON.object(try await inventory.approval(input.path.approval)))))
    }

    func approveInventoryChange(_ input: Operations.ApproveInventoryChange.Input) async throws -> Operations.ApproveInventoryChange.Output {
        let note = try Self.note(input.body.map { if case .json(let body) = $0 { body.note } else { nil } } ?? nil)
        let decided = try await inventory.approve(input.path.approval, note: note, context: scope.operation())
        return .ok(.init(body: .json(try InventoryJSON.object(decided))))
    }

    func rejectInventoryChange(_ input: Operations.RejectInventoryChange.Input) async throws -> Operations.RejectInventoryChange.Output {
        let note = try Self.note(input.body.map { if case .json(let body) = $0 { body.note } else { nil } } ?? nil)
        let decided = try await inventory.reject(input.path.approval, note: note, context: scope.operation())
        return .ok(.init(body: .json(try InventoryJSON.object(decided))))
    }

    /// What the document bounds in an observation beyond what Inventar checks itself (MACs, the serial's text, that
    /// something identifies the device): lengths, counts and ranges.
    static func checkBounds(_ body: Components.Schemas.ObservationRequest) throws(DataverketError) {
        if let device = body.device { try Validation.checkName(device.lowercased(), field: "device") }
        try Validation.checkLength(body.serial, field: "serial", min: 1, max: 256)
        try Validation.checkCount(body.macs?.count ?? 0, field: "macs", max: 64)
        let interfaces = body.interfaces ?? []
        try Validation.checkCount(interfaces.count, field: "interfaces", max: 512)
        for (index, interface) in interfaces.enumerated() {
            try Validation.checkLength(interface.name, field: "interfaces[\(index)].name", min: 1, max: 64)
            if let neighbor = interface.neighbor {
                try Validation.checkLength(neighbor.device, field: "interfaces[\(index)].neighbor.device", min: 1, max: 63)
                try Validation.checkLength(neighbor.interface, field: "interfaces[\(index)].neighbor.interface", min: 1, max: 64)
            }
        }
        if let hardware = body.hardware {
            if let cpu = hardware.cpu {
                try Validation.checkLength(cpu.model, field: "hardware.cpu.model", max: 256)
                try Validation.checkRange(cpu.sockets, field: "hardware.cpu.sockets", 0...64)
                try Validation.checkRange(cpu.cores, field: "hardware.cpu.cores", 0...100_000)
            }
            try Validation.checkRange(hardware.memoryGiB, field: "hardware.memoryGiB", 0...1_000_000_000)
            try Validation.checkCount(hardware.disks.count, field: "hardware.disks", max: 256)
            for (index, disk) in hardware.disks.enumerated() {
                try Validation.checkLength(disk.name, field: "hardware.disks[\(index)].name", max: 256)
                try Validation.checkRange(disk.sizeGB, field: "hardware.disks[\(index)].sizeGB", 0...1_000_000_000)
            }
            try Validation.checkCount(hardware.gpus.count, field: "hardware.gpus", max: 64)
            for (index, gpu) in hardware.gpus.enumerated() {
                try Validation.checkLength(gpu.model, field: "hardware.gpus[\(index)].model", max: 256)
                try Validation.checkRange(gpu.count, field: "hardware.gpus[\(index)].count", 0...1024)
            }
        }
    }

    private static func note(_ note: String?) throws -> String? {
        try Validation.checkText(note, field: "note", max: 1024)
        return note
    }
}

/// Inventar values ⇄ the contract's free-form `InventoryObject`.
enum InventoryJSON {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()
    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        // As the contract's date-time pattern says, the whole string (Foundation's `.iso8601` takes a valid prefix).
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = RFC3339DateTranscoder.date(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(text)' is not an RFC 3339 timestamp")
            }
            return date
        }
        return decoder
    }()

    static func object(_ value: some Encodable) throws -> Components.Schemas.InventoryObject {
        try JSONDecoder().decode(Components.Schemas.InventoryObject.self, from: try encoder.encode(value))
    }

    /// A decoding error as a field path and what was wrong.
    static func explain(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: ["."])
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context)).\(key.stringValue) is missing".trimmingCharacters(in: ["."])
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    /// The part of a declaration of one kind (and name): devices bring their interfaces along; links match
    /// either end's device.
    static func only(_ kind: ObjectKind, named name: String?, in model: SiteModel) -> SiteModel {
        var out = SiteModel()
        switch kind {
        case .datacenter: out.datacenters = model.datacenters.filter { name == nil || $0.name == name }
        case .failureDomain: out.failureDomains = model.failureDomains.filter { name == nil || $0.name == name }
        case .room: out.rooms = model.rooms.filter { name == nil || $0.name == name }
        case .network: out.networks = model.networks.filter { name == nil || $0.name == name }
        case .rack: out.racks = model.racks.filter { name == nil || $0.name == name }
        case .device, .interface:
            out.devices = model.devices.filter { name == nil || $0.name == name }
            let names = Set(out.devices.map(\.name))
            out.interfaces = model.interfaces.filter { names.contains($0.device) }
        case .link: out.links = model.links.filter { name == nil || $0.a.device == name || $0.b.device == name }
        }
        return out
    }
}
