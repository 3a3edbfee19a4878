import ArgumentParser
import DataverketClient

/// `dv inventory drift [--datacenter DC] [--device D] [--stale-after SECONDS]`
struct InventoryDrift: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drift", abstract: "Where what was observed differs from what is declared: missing, unexpected, mismatched.")
    @Option(help: "Only this datacenter.") var datacenter: String?
    @Option(help: "Only this device.") var device: String?
    @Option(name: .customLong("stale-after"), help: "Seconds after which a device not observed again counts as missing.")
    var staleAfter: Int?
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if let staleAfter, !(1...31_536_000).contains(staleAfter) { throw ValidationError("--stale-after must be 1–31536000 seconds") }
    }

    func run() async throws {
        let items = try await global.api().call {
            try await $0.listInventoryDrift(query: .init(datacenter: datacenter, device: device, staleAfter: staleAfter)).ok.body.json.items
        }
        if global.output == .table, items.isEmpty { return Terminal.write("No drift: what was observed matches the declaration.") }
        try InventoryValue.print(items, columns: [("KIND", "kind"), ("OBJECT", "objectKind"), ("NAME", "name"), ("FIELD", "field"),
                                                  ("DECLARED", "declared"), ("OBSERVED", "observed"), ("SOURCE", "source")],
                                 format: global.output)
    }
}
