import ArgumentParser
import DataverketClient

/// `dvnet vlan release GROUP VID` or `dvnet vlan release VLAN-ID`
struct VLANRelease: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "release", abstract: "Release a VLAN back to its group.")
    @Argument(help: "The VLAN group (name or ID), or the VLAN's ID alone.") var group: String
    @Argument(help: "The VLAN ID.") var vid: Int?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let (vlan, inGroup) = vid.map { (String($0), Optional(group)) } ?? (group, nil)
        _ = try await global.api().call {
            try await $0.releaseNetworkVLAN(path: .init(vlan: vlan), query: .init(group: inGroup)).noContent
        }
        Terminal.write("released VLAN \(vid.map { "\(group)/\($0)" } ?? group)")
    }
}
