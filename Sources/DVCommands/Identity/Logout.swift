import ArgumentParser
import DataverketClient

/// `dvid logout`
struct Logout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "End the saved session for the server (revoked there, removed here).")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        guard let entry = try global.credentials.remove(server: global.serverURL) else {
            Terminal.write("not logged in to \(global.serverURL)")
            return
        }
        let api = try await global.anonymousAPI()
        try await api.call { _ = try await $0.revokeToken(body: .json(.init(token: entry.refreshToken))).noContent }
        Terminal.write("logged out of \(global.serverURL) (\(entry.subject))")
    }
}
