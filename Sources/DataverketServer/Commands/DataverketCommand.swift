import ArgumentParser
import Logging

/// `dataverket`: the server binary.
public struct DataverketCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dataverket",
        abstract: "Dataverket — sovereign datacenter automation: the control-plane server.",
        subcommands: [Serve.self, Migrate.self],
        defaultSubcommand: Serve.self)

    public init() {}
}

/// Options shared by the server's subcommands.
struct StoreOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "Directory for the embedded store (SQLite).")
    var dataDirectory: String = "./.dataverket"

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func logger() throws -> Logger {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("unknown log level '\(logLevel)'")
        }
        var logger = Logger(label: "dataverket")
        logger.logLevel = level
        return logger
    }
}
