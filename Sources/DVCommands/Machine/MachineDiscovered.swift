import ArgumentParser
import DataverketClient

/// `dvce machine discovered`
struct MachineDiscovered: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "discovered", abstract: "Machines that network-booted with an unknown MAC; enroll one to manage it.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let page = try await global.api().call { try await $0.listDiscoveredMachines().ok.body.json }
        try InventoryValue.print(page.items, columns: [("MAC", "mac"), ("UUID", "uuid"), ("SERIAL", "serial"), ("ARCH", "arch"),
                                                       ("ADDRESS", "address"), ("BOOTS", "boots"), ("LAST SEEN", "lastSeen")],
                                 format: global.output)
    }
}
