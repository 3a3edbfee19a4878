import ArgumentParser
import Foundation
import Logging

/// `dataverket`: the server binary.
public struct DataverketCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dataverket",
        abstract: "Dataverket — sovereign datacenter automation: the control-plane server.",
        subcommands: [Serve.self, Worker.self, Migrate.self, Keys.self, NATSConfig.self],
        defaultSubcommand: Serve.self)

    public init() {}
}

/// Options shared by the server's subcommands.
struct StoreOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "Directory for the embedded store (SQLite).")
    var dataDirectory: String = "./.dataverket"

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    /// The store, bus and datacenter from the environment (DV_DATABASE_URL, DV_NATS_URL, DV_DATACENTER,
    /// DV_DEMO_LEDGER_DIR, DV_ISSUER, DV_MASTER_KEY) and `--data-dir`.
    func serverConfiguration(host: String = "127.0.0.1", port: Int = 8080) -> ServerConfiguration {
        let environment = ProcessInfo.processInfo.environment
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        var configuration = ServerConfiguration(host: host, port: port, dataDirectory: dataDirectory,
                                                databaseURL: value("DV_DATABASE_URL"), natsURL: value("DV_NATS_URL"))
        configuration.datacenter = value("DV_DATACENTER")
        configuration.demoLedgerDirectory = value("DV_DEMO_LEDGER_DIR")
        configuration.issuerOverride = value("DV_ISSUER")
        configuration.masterKey = value("DV_MASTER_KEY")
        return configuration
    }

    func logger() throws -> Logger {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("unknown log level '\(logLevel)'")
        }
        var logger = Logger(label: "dataverket")
        logger.logLevel = level
        return logger
    }
}
