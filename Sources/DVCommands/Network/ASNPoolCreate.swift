import ArgumentParser
import DataverketClient

/// `dvnet asn pool-create NAME --first N --last N`
struct ASNPoolCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pool-create", abstract: "Create an ASN pool (first–last, 1–4294967294).")
    @Argument(help: "The pool name (osl1-private).") var name: String
    @Option(help: "First ASN of the pool.") var first: Int64
    @Option(help: "Last ASN of the pool.") var last: Int64
    @Option(help: "Description.") var description: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let body = Components.Schemas.NetworkASNPoolRequest(name: name, first: first, last: last, description: description)
        let created = try await global.api().call { try await $0.createNetworkASNPool(body: .json(body)).created.body.json }
        try InventoryValue.print([created], columns: NetworkIPAMText.asnPoolColumns, format: global.output)
    }
}
