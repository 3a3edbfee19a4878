import ArgumentParser
import DataverketClient

/// `dvnet drift [list] [--device D]`
struct DriftList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "Read the devices back and show what differs from the applied intent (missing, extra, modified).")
    @Option(help: "Only this device.") var device: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let page = try await global.api().call { try await $0.listNetworkDrift(query: .init(device: device)).ok.body.json }
        guard global.output == .table else { return try InventoryValue.print(page.items, columns: [], format: global.output) }
        if page.items.isEmpty { return Terminal.write("no drift: every device runs what the applied intent renders") }
        var lines: [String] = []
        for item in page.items {
            let values = try InventoryValue.dictionary(item)
            lines.append("\(InventoryValue.cell(values["device"])) (\(InventoryValue.cell(values["driver"]))): \(InventoryValue.cell(values["kind"])) \(InventoryValue.cell(values["object"]))")
            for line in values["expected"] as? [String] ?? [] { lines.append("    - \(line)") }
            for line in values["actual"] as? [String] ?? [] { lines.append("    + \(line)") }
        }
        lines.append("fix with: dvnet drift remediate DEVICE   (or fold it into the intent: dvnet drift accept DEVICE)")
        Terminal.write(lines.joined(separator: "\n"))
    }
}
