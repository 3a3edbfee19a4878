import ArgumentParser
import DataverketClient

/// `dv cable trace DEVICE:INTERFACE`
struct CableTrace: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "trace", abstract: "Follow the cable from a device interface to the far end.")
    @Argument(help: "DEVICE:INTERFACE, e.g. osl1-r01-srv01:eno1.") var endpoint: String
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        let parts = endpoint.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw ValidationError("give DEVICE:INTERFACE, e.g. osl1-r01-srv01:eno1, got '\(endpoint)'")
        }
    }

    func run() async throws {
        let parts = endpoint.split(separator: ":", maxSplits: 1).map(String.init)
        let trace = try await global.api().call {
            try await $0.traceInventoryCable(path: .init(device: parts[0], interface: parts[1])).ok.body.json
        }
        try InventoryText.print(trace, global.output)
    }
}
