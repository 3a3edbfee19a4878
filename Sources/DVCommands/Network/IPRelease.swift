import ArgumentParser
import DataverketClient

/// `dvnet ip release ADDRESS [--vrf V]`
struct IPRelease: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "release", abstract: "Release an address back to its pool.")
    @Argument(help: "The address.") var address: String
    @Option(help: "VRF (default global).") var vrf: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        _ = try await global.api().call {
            try await $0.releaseNetworkAddress(path: .init(address: address), query: .init(vrf: vrf)).noContent
        }
        Terminal.write("released \(address)")
    }
}
