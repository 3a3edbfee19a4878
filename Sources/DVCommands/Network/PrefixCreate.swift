import ArgumentParser
import DataverketClient

/// `dvnet prefix create CIDR [--vrf V] [--role R] [--container] [--pool]`
struct PrefixCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Record a prefix.")
    @Argument(help: "The prefix (10.20.0.0/22).") var prefix: String
    @Option(help: "VRF (default global).") var vrf: String?
    @Option(help: "oob, provisioning, mgmt, storage, tenant, public, backup, loadbalancer.") var role: String?
    @Flag(help: "A container: holds child prefixes, allocates none itself.") var container = false
    @Flag(help: "Every address is usable (no network/broadcast skipped).") var pool = false
    @Option(help: "Datacenter.") var datacenter: String?
    @Option(help: "Description.") var description: String?
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if let role, Components.Schemas.NetworkPrefixRequest.RolePayload(rawValue: role) == nil {
            throw ValidationError("--role must be one of oob, provisioning, mgmt, storage, tenant, public, backup, loadbalancer")
        }
    }

    func run() async throws {
        let body = Components.Schemas.NetworkPrefixRequest(
            prefix: prefix, vrf: vrf, role: role.flatMap { .init(rawValue: $0) }, status: container ? .container : nil, isPool: pool,
            datacenter: datacenter, description: description)
        let created = try await global.api().call { try await $0.createNetworkPrefix(body: .json(body)).created.body.json }
        try InventoryValue.print([created], columns: NetworkText.prefixColumns, format: global.output)
    }
}
