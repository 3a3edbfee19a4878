import ArgumentParser
import Foundation

/// `dataverket serve`
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the server (API, task runner, outbox relay).",
        discussion: """
            Embedded SQLite and an in-process bus by default; DV_DATABASE_URL selects PostgreSQL, DV_NATS_URL NATS JetStream. \
            DV_PDNS_URL, DV_PDNS_API_KEY_FILE and DV_DNS_ZONES keep the IPAM's DNS records in PowerDNS.
            """)

    @Option(help: "Address to listen on, HOST:PORT.")
    var listen: String = "127.0.0.1:8080"

    @Flag(name: .customLong("no-worker"), help: "Leave task execution to `dataverket worker` processes (needs DV_NATS_URL).")
    var noWorker = false

    @OptionGroup var store: StoreOptions

    func run() async throws {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
              (0...65535).contains(port), colon != listen.startIndex
        else { throw ValidationError("--listen must be HOST:PORT, got '\(listen)'") }
        let host = String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        var configuration = try store.serverConfiguration(host: host, port: port)
        configuration.runsWorker = !noWorker
        configuration.upstreamIdentity = try store.upstreamIdentity()
        configuration.dns = try store.dnsConfiguration()
        if noWorker, configuration.natsURL == nil {
            throw ValidationError("--no-worker needs DV_NATS_URL: with the in-process bus no other process could run the tasks")
        }
        try await DataverketServer.serve(configuration: configuration, logger: try store.logger())
    }
}
