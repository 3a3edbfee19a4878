import ArgumentParser
import DataverketClient

/// `dvnet vrf show NAME`
struct VRFShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show a VRF.")
    @Argument(help: "VRF name or ID.") var vrf: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let found = try await global.api().call { try await $0.getNetworkVRF(path: .init(vrf: vrf)).ok.body.json }
        try NetworkIPAMText.show(found, order: ["name", "id", "routeDistinguisher", "importTargets", "exportTargets", "tenant"],
                                 format: global.output)
    }
}
