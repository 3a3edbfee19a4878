import ArgumentParser

/// `dataverket keys rotate`
struct KeysRotate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Activate a new signing key; the old one stays in the JWKS until the tokens it signed have expired.")

    @OptionGroup var store: StoreOptions

    func run() async throws {
        let kid = try await DataverketServer.rotateKeys(configuration: try store.serverConfiguration(), logger: try store.logger())
        print("active signing key: \(kid)")
    }
}
