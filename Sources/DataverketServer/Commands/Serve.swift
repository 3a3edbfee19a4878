import ArgumentParser
import Foundation

/// `dataverket serve`
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the server (API, task runner, outbox relay).",
        discussion: "Embedded SQLite and an in-process bus by default; DV_DATABASE_URL selects PostgreSQL, DV_NATS_URL NATS JetStream.")

    @Option(help: "Address to listen on, HOST:PORT.")
    var listen: String = "127.0.0.1:8080"

    @OptionGroup var store: StoreOptions

    func run() async throws {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
              (0...65535).contains(port), colon != listen.startIndex
        else { throw ValidationError("--listen must be HOST:PORT, got '\(listen)'") }
        let host = String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        var configuration = ServerConfiguration(
            host: host, port: port, dataDirectory: store.dataDirectory,
            databaseURL: ProcessInfo.processInfo.environment["DV_DATABASE_URL"],
            natsURL: ProcessInfo.processInfo.environment["DV_NATS_URL"].flatMap { $0.isEmpty ? nil : $0 })
        configuration.datacenter = ProcessInfo.processInfo.environment["DV_DATACENTER"]
        try await DataverketServer.serve(configuration: configuration, logger: try store.logger())
    }
}
