import ArgumentParser
import Foundation

/// `dataverket worker`
struct Worker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run Sentral's task worker alone (scale out, or keep task execution apart from the API).",
        discussion: "Needs the server's store (DV_DATABASE_URL) and bus (DV_NATS_URL); run `dataverket serve --no-worker` beside it.")

    @Option(name: .customLong("ack-wait"), help: "Seconds a command stays with this worker without a sign of life before it is redelivered.")
    var ackWait: Int = 30

    @Option(help: "Tasks run at once.")
    var concurrency: Int = 8

    @OptionGroup var store: StoreOptions

    func validate() throws {
        guard (1...3600).contains(ackWait) else { throw ValidationError("--ack-wait must be 1–3600 seconds") }
        guard (1...1024).contains(concurrency) else { throw ValidationError("--concurrency must be 1–1024") }
    }

    func run() async throws {
        var configuration = try store.serverConfiguration()
        configuration.workerAckWait = .seconds(ackWait)
        configuration.workerConcurrency = concurrency
        try await DataverketServer.work(configuration: configuration, logger: try store.logger())
    }
}
