import ArgumentParser
import DataverketClient

/// `dvnet vrf …`
struct VRFCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vrf", abstract: "VRFs (routing tables): create, list, show, delete.",
        subcommands: [VRFCreate.self, VRFList.self, VRFShow.self, VRFDelete.self])
}

/// `dvnet vlan …`
struct VLANCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vlan", abstract: "VLAN groups (ID spaces) and VLANs: allocate the next free ID, record one, release, list.",
        subcommands: [VLANGroupCreate.self, VLANAllocate.self, VLANCreate.self, VLANRelease.self, VLANList.self])
}

/// `dvnet asn …`
struct ASNCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "asn", abstract: "ASN pools and ASNs: allocate the next free ASN, release, list.",
        subcommands: [ASNPoolCreate.self, ASNAllocate.self, ASNRelease.self, ASNList.self])
}

enum NetworkIPAMText {
    static let vrfColumns: [(header: String, path: String)] = [
        ("NAME", "name"), ("RD", "routeDistinguisher"), ("IMPORT", "importTargets"), ("EXPORT", "exportTargets"), ("TENANT", "tenant"), ("ID", "id"),
    ]
    static let vlanGroupColumns: [(header: String, path: String)] = [
        ("GROUP", "name"), ("SCOPE", "scope"), ("MIN VID", "minVID"), ("MAX VID", "maxVID"), ("ID", "id"),
    ]
    static let vlanColumns: [(header: String, path: String)] = [
        ("GROUP", "group"), ("VID", "vid"), ("NAME", "name"), ("TENANT", "tenant"), ("STATUS", "status"), ("ID", "id"),
    ]
    static let asnPoolColumns: [(header: String, path: String)] = [
        ("POOL", "name"), ("FIRST", "first"), ("LAST", "last"), ("ID", "id"),
    ]
    static let asnColumns: [(header: String, path: String)] = [
        ("POOL", "pool"), ("ASN", "asn"), ("TENANT", "tenant"), ("ID", "id"),
    ]

    /// One object: `key: value` lines in table mode (every field, in `order` first), else JSON or YAML.
    static func show(_ object: Components.Schemas.NetworkObject, order: [String], format: OutputFormat) throws {
        guard format == .table else { return Terminal.write(format == .json ? try Render.json(object) : try Render.yaml(object)) }
        let values = try InventoryValue.dictionary(object)
        let keys = order.filter { values[$0] != nil } + values.keys.filter { !order.contains($0) }.sorted()
        let width = keys.map(\.count).max() ?? 0
        Terminal.write(keys.map { $0 + ":" + String(repeating: " ", count: width - $0.count + 1) + InventoryValue.cell(values[$0]) }
            .joined(separator: "\n"))
    }
}
