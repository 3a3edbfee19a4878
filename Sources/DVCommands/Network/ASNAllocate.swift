import ArgumentParser
import DataverketClient

/// `dvnet asn allocate POOL [--idempotency-key K]`
struct ASNAllocate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "allocate", abstract: "Allocate the lowest free ASN of a pool.")
    @Argument(help: "The ASN pool (name or ID).") var pool: String
    @Option(help: "Tenant.") var tenant: String?
    @Option(help: "Description.") var description: String?
    @Option(name: .customLong("idempotency-key"), help: "Retries with this key return the first allocation.") var key: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let body = Components.Schemas.NetworkASNAllocation(pool: pool, tenant: tenant, description: description)
        let allocated = try await global.api().call {
            try await $0.allocateNetworkASN(headers: .init(idempotencyKey: key), body: .json(body)).created.body.json
        }
        try InventoryValue.print([allocated], columns: NetworkIPAMText.asnColumns, format: global.output)
    }
}
