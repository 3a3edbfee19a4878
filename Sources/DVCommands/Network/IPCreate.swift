import ArgumentParser
import DataverketClient

/// `dvnet ip create ADDRESS [--prefix P] [--dns-name N] [--assigned-to X]`
struct IPCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Record a specific address (a.b.c.d or a.b.c.d/len).")
    @Argument(help: "The address.") var address: String
    @Option(help: "VRF (default global).") var vrf: String?
    @Option(help: "The prefix it belongs to (default: the innermost holding it).") var prefix: String?
    @Option(help: "active, reserved, deprecated or dhcp.") var status: String?
    @Option(name: .customLong("dns-name"), help: "DNS name; its A/AAAA and PTR records follow the address.") var dnsName: String?
    @Option(name: .customLong("assigned-to"), help: "What holds it (device:osl1-r01-srv01/eno1, a VM ID).") var assignedTo: String?
    @Option(help: "Description.") var description: String?
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if let status, Components.Schemas.NetworkAddressRequest.StatusPayload(rawValue: status) == nil {
            throw ValidationError("--status must be one of active, reserved, deprecated, dhcp")
        }
    }

    func run() async throws {
        let body = Components.Schemas.NetworkAddressRequest(
            address: address, vrf: vrf, prefix: prefix, status: status.flatMap { .init(rawValue: $0) }, dnsName: dnsName, assignedTo: assignedTo,
            description: description)
        let created = try await global.api().call { try await $0.createNetworkAddress(body: .json(body)).created.body.json }
        try InventoryValue.print([created], columns: NetworkText.addressColumns, format: global.output)
    }
}
