import ArgumentParser
import Foundation

/// `dataverket serve`
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the server (API, task runner). Embedded SQLite by default; DV_DATABASE_URL selects PostgreSQL.")

    @Option(help: "Address to listen on, HOST:PORT.")
    var listen: String = "127.0.0.1:8080"

    @OptionGroup var store: StoreOptions

    func run() async throws {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
              (0...65535).contains(port), colon != listen.startIndex
        else { throw ValidationError("--listen must be HOST:PORT, got '\(listen)'") }
        let host = String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        let configuration = ServerConfiguration(
            host: host, port: port, dataDirectory: store.dataDirectory,
            databaseURL: ProcessInfo.processInfo.environment["DV_DATABASE_URL"])
        try await DataverketServer.serve(configuration: configuration, logger: try store.logger())
    }
}
