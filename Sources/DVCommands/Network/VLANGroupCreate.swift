import ArgumentParser
import DataverketClient

/// `dvnet vlan group-create NAME [--min N] [--max N] [--scope S]`
struct VLANGroupCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "group-create", abstract: "Create a VLAN group (an ID space to allocate from).")
    @Argument(help: "The group name (osl1-fabric).") var name: String
    @Option(help: "Lowest VLAN ID (default 1).") var min: Int?
    @Option(help: "Highest VLAN ID (default 4094).") var max: Int?
    @Option(help: "Where the IDs are unique, e.g. a datacenter code.") var scope: String?
    @Option(help: "Description.") var description: String?
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        for value in [min, max].compactMap({ $0 }) where !(1...4094).contains(value) {
            throw ValidationError("--min and --max must be 1–4094")
        }
    }

    func run() async throws {
        let body = Components.Schemas.NetworkVLANGroupRequest(name: name, scope: scope, minVID: min, maxVID: max, description: description)
        let created = try await global.api().call { try await $0.createNetworkVLANGroup(body: .json(body)).created.body.json }
        try InventoryValue.print([created], columns: NetworkIPAMText.vlanGroupColumns, format: global.output)
    }
}
