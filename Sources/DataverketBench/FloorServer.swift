import ArgumentParser
import Hummingbird
import Logging

/// `dv-bench floor --port N`: a bare Hummingbird route (`GET /floor` → `ok`, no middleware, no logging) in its own
/// process — the floor `dv-bench api` measures the server's routes against, with the same load generator.
struct FloorServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "floor", abstract: "Serve the bare Hummingbird route the API benchmark compares with.", shouldDisplay: false)

    @Option(help: "Loopback port to listen on.") var port: Int

    func run() async throws {
        let router = Router()
        router.get("/floor") { _, _ in "ok" }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
                              logger: Logger(label: "floor", factory: { _ in SwiftLogNoOpLogHandler() }))
        try await app.runService()
    }
}
