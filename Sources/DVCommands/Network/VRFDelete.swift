import ArgumentParser
import DataverketClient

/// `dvnet vrf delete NAME`
struct VRFDelete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete an empty VRF.")
    @Argument(help: "VRF name or ID.") var vrf: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        _ = try await global.api().call { try await $0.deleteNetworkVRF(path: .init(vrf: vrf)).noContent }
        Terminal.write("deleted VRF \(vrf)")
    }
}
