import ArgumentParser
import DataverketClient

/// `dvnet device list`
struct NetworkDeviceList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "The devices Nett drives, per driver (from the devices file).")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let page = try await global.api().call { try await $0.listNetworkDevices().ok.body.json }
        if let notConfigured = page.notConfigured, global.output == .table {
            // Not an error: the feature is off on this server. Said on stderr, so -o json stays the bare page.
            Terminal.error("note: \(notConfigured)")
        }
        try InventoryValue.print(page.items, columns: [("DEVICE", "name"), ("DRIVER", "driver"), ("NAMESPACE", "namespace")], format: global.output)
    }
}
