import ArgumentParser
import DataverketClient
import Foundation

/// `dvid login` (single sign-on, device flow) or `dvid login --bootstrap-token-file F`
struct Login: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Log in and save the session for the server.",
        discussion: """
            Without options: single sign-on with the device flow — open the link it prints (on any device), \
            confirm the code, sign in at your identity provider; the terminal picks up the session. \
            On a fresh server, exchange the one-time bootstrap credential it wrote instead (DATA_DIR/bootstrap-token).
            """)

    @Option(name: .customLong("bootstrap-token-file"), help: "File holding the one-time platform-admin bootstrap credential.")
    var bootstrapTokenFile: String?

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let api = try await global.anonymousAPI()
        let tokens: Components.Schemas.TokenResponse
        if let file = bootstrapTokenFile {
            tokens = try await api.call { try await $0.createToken(body: .json(.init(grantType: .bootstrap, token: try Self.read(file)))).ok.body.json }
        } else {
            tokens = try await deviceLogin(api)
        }
        try global.credentials.store(tokens, server: global.serverURL)
        Terminal.write("logged in to \(global.serverURL) as \(tokens.subject)")
    }

    static func read(_ file: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw CommandFailure(message: "error: cannot read \(file)")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty, token.utf8.count <= 512 else { throw CommandFailure(message: "error: \(file) does not hold a bootstrap credential") }
        return token
    }

    /// RFC 8628 from the device side: show the code, poll at the interval (longer after `slow-down`), stop
    /// at approval, refusal or expiry.
    func deviceLogin(_ api: API) async throws -> Components.Schemas.TokenResponse {
        let started = try await api.call { try await $0.startDeviceAuthorization().ok.body.json }
        Terminal.write("""
            To log in, open this link in a browser (on any device):

                \(started.verificationUriComplete)

            and check that it shows the code  \(started.userCode)
            (or open \(started.verificationUri) and enter the code). Waiting…
            """)
        var interval = max(1, started.interval)
        let deadline = ContinuousClock.now.advanced(by: .seconds(max(1, started.expiresIn)))
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .seconds(interval))
            do {
                return try await api.call {
                    try await $0.createToken(body: .json(.init(grantType: .deviceCode, token: started.deviceCode))).ok.body.json
                }
            } catch let problem as APIProblem where problem.code == "authorization-pending" {
                continue
            } catch let problem as APIProblem where problem.code == "slow-down" {
                interval += 5
            }
        }
        throw CommandFailure(message: "error: the login code expired before it was approved; run `dvid login` again")
    }
}
