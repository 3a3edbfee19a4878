import ArgumentParser
import DataverketClient

/// `dvnet vlan allocate GROUP [--name N] [--idempotency-key K]`
struct VLANAllocate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "allocate", abstract: "Allocate the lowest free VLAN ID of a group.")
    @Argument(help: "The VLAN group (name or ID).") var group: String
    @Option(help: "VLAN name (default vlan<ID>).") var name: String?
    @Option(help: "Tenant.") var tenant: String?
    @Option(help: "Description.") var description: String?
    @Option(name: .customLong("idempotency-key"), help: "Retries with this key return the first allocation.") var key: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let body = Components.Schemas.NetworkVLANAllocation(group: group, name: name, tenant: tenant, description: description)
        let allocated = try await global.api().call {
            try await $0.allocateNetworkVLAN(headers: .init(idempotencyKey: key), body: .json(body)).created.body.json
        }
        try InventoryValue.print([allocated], columns: NetworkIPAMText.vlanColumns, format: global.output)
    }
}
