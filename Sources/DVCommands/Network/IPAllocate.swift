import ArgumentParser
import DataverketClient

/// `dvnet ip allocate PREFIX [--dns-name N] [--assigned-to X]`
struct IPAllocate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "allocate", abstract: "Allocate the next free address of a prefix.")
    @Argument(help: "The prefix (CIDR or ID).") var prefix: String
    @Option(help: "VRF (default global).") var vrf: String?
    @Option(name: .customLong("dns-name"), help: "DNS name; its A/AAAA and PTR records follow the address.") var dnsName: String?
    @Option(name: .customLong("assigned-to"), help: "What holds it (device:osl1-r01-srv01/eno1, a VM ID).") var assignedTo: String?
    @Option(name: .customLong("idempotency-key"), help: "Retries with this key return the first allocation.") var key: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let body = Components.Schemas.NetworkAddressAllocation(prefix: prefix, vrf: vrf, dnsName: dnsName, assignedTo: assignedTo)
        let allocated = try await global.api().call {
            try await $0.allocateNetworkAddress(headers: .init(idempotencyKey: key), body: .json(body)).created.body.json
        }
        try InventoryValue.print([allocated], columns: NetworkText.addressColumns, format: global.output)
    }
}
