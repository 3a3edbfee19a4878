import ArgumentParser
import DataverketClient

/// `dvnet asn release POOL ASN` or `dvnet asn release ASN-ID`
struct ASNRelease: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "release", abstract: "Release an ASN back to its pool.")
    @Argument(help: "The ASN pool (name or ID), or the ASN's ID alone.") var pool: String
    @Argument(help: "The AS number.") var asn: Int64?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let (ref, inPool) = asn.map { (String($0), Optional(pool)) } ?? (pool, nil)
        _ = try await global.api().call {
            try await $0.releaseNetworkASN(path: .init(asn: ref), query: .init(pool: inPool)).noContent
        }
        Terminal.write("released ASN \(asn.map { "\(pool)/\($0)" } ?? pool)")
    }
}
