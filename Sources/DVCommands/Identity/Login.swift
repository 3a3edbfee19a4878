import ArgumentParser
import DataverketClient
import Foundation

/// `dvid login --bootstrap-token-file F`
struct Login: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Log in and save the session for the server.",
        discussion: "On a fresh server, exchange the one-time bootstrap credential it wrote (DATA_DIR/bootstrap-token).")

    @Option(name: .customLong("bootstrap-token-file"), help: "File holding the one-time platform-admin bootstrap credential.")
    var bootstrapTokenFile: String?

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard bootstrapTokenFile != nil else {
            throw ValidationError("say how to log in: --bootstrap-token-file F (single sign-on through the device flow is not available yet)")
        }
    }

    func run() async throws {
        guard let file = bootstrapTokenFile else { return }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw CommandFailure(message: "error: cannot read \(file)")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty, token.utf8.count <= 512 else { throw CommandFailure(message: "error: \(file) does not hold a bootstrap credential") }
        let api = try await global.anonymousAPI()
        let tokens = try await api.call { try await $0.createToken(body: .json(.init(grantType: .bootstrap, token: token))).ok.body.json }
        try global.credentials.store(tokens, server: global.serverURL)
        Terminal.write("logged in to \(global.serverURL) as \(tokens.subject)")
    }
}
