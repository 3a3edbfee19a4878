import ArgumentParser
import DataverketClient

/// `dvnet prefix allocate PARENT --length N`
struct PrefixAllocate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "allocate", abstract: "Allocate the next free child prefix of a length.")
    @Argument(help: "The parent (container) prefix or its ID.") var parent: String
    @Option(help: "Length of the child prefix.") var length: Int
    @Option(help: "VRF (default global).") var vrf: String?
    @Option(help: "Role of the child.") var role: String?
    @Option(name: .customLong("idempotency-key"), help: "Retries with this key return the first allocation.") var key: String?
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard (1...128).contains(length) else { throw ValidationError("--length must be 1–128") }
    }

    func run() async throws {
        let body = Components.Schemas.NetworkPrefixAllocation(parent: parent, length: length, vrf: vrf, role: role.flatMap { .init(rawValue: $0) })
        let allocated = try await global.api().call {
            try await $0.allocateNetworkPrefix(headers: .init(idempotencyKey: key), body: .json(body)).created.body.json
        }
        try InventoryValue.print([allocated], columns: NetworkText.prefixColumns, format: global.output)
    }
}
