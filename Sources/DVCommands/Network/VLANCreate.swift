import ArgumentParser
import DataverketClient

/// `dvnet vlan create GROUP VID [--name N]`
struct VLANCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Record a specific VLAN ID in a group.")
    @Argument(help: "The VLAN group (name or ID).") var group: String
    @Argument(help: "The VLAN ID (within the group's range).") var vid: Int
    @Option(help: "VLAN name (default vlan<ID>).") var name: String?
    @Option(help: "Tenant.") var tenant: String?
    @Option(help: "Description.") var description: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let body = Components.Schemas.NetworkVLANRequest(group: group, vid: vid, name: name, tenant: tenant, description: description)
        let created = try await global.api().call { try await $0.createNetworkVLAN(body: .json(body)).created.body.json }
        try InventoryValue.print([created], columns: NetworkIPAMText.vlanColumns, format: global.output)
    }
}
