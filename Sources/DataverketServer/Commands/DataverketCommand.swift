import ArgumentParser
import Foundation
import Identitet
import Maskin
import Logging
import Nett

/// `dataverket`: the server binary.
public struct DataverketCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dataverket",
        abstract: "Dataverket — sovereign datacenter automation: the control-plane server.",
        subcommands: [Serve.self, Worker.self, Migrate.self, Keys.self, NATSConfig.self, MaskinCommand.self],
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
    /// DV_DEMO_LEDGER_DIR, DV_ISSUER, DV_MASTER_KEY, DV_RATE_LIMITS, …) and `--data-dir`.
    func serverConfiguration(host: String = "127.0.0.1", port: Int = 8080) throws -> ServerConfiguration {
        let environment = ProcessInfo.processInfo.environment
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        var configuration = ServerConfiguration(host: host, port: port, dataDirectory: dataDirectory,
                                                databaseURL: value("DV_DATABASE_URL"), natsURL: value("DV_NATS_URL"))
        configuration.datacenter = value("DV_DATACENTER")
        configuration.demoLedgerDirectory = value("DV_DEMO_LEDGER_DIR")
        configuration.issuerOverride = value("DV_ISSUER")
        configuration.masterKey = value("DV_MASTER_KEY")
        if let listen = value("DV_BOOT_LISTEN"), let colon = listen.lastIndex(of: ":"),
           let port = Int(listen[listen.index(after: colon)...]) {
            configuration.bootListener = BootListener(host: String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]")),
                                                      port: port)
        }
        configuration.bootURL = value("DV_BOOT_URL")
        configuration.bootAssets = value("DV_BOOT_ASSETS")
        configuration.dhcpLeases = value("DV_MASKIN_DHCP_LEASES")
        configuration.nettDevices = value("DV_NETT_DEVICES")
        if let limits = value("DV_RATE_LIMITS") {
            do {
                configuration.rateLimits = try RateLimitPolicy(parsing: limits)
            } catch {
                throw ValidationError(error.message)
            }
        }
        return configuration
    }

    /// The single sign-on provider from `DV_OIDC_ISSUER`, `DV_OIDC_CLIENT_ID`, `DV_OIDC_CLIENT_SECRET` (or
    /// `DV_OIDC_CLIENT_SECRET_FILE`), `DV_OIDC_SCOPES`, `DV_OIDC_USERNAME_CLAIM`, `DV_OIDC_GROUPS_CLAIM`.
    func upstreamIdentity() throws -> UpstreamIdentityProvider? {
        let environment = ProcessInfo.processInfo.environment
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        guard let issuer = value("DV_OIDC_ISSUER") else { return nil }
        guard let url = URL(string: issuer), url.scheme == "https" || url.scheme == "http", url.host != nil else {
            throw ValidationError("DV_OIDC_ISSUER must be the provider's issuer URL, got '\(issuer)'")
        }
        guard let clientID = value("DV_OIDC_CLIENT_ID") else { throw ValidationError("DV_OIDC_ISSUER is set but DV_OIDC_CLIENT_ID is not") }
        var secret = value("DV_OIDC_CLIENT_SECRET")
        if let file = value("DV_OIDC_CLIENT_SECRET_FILE") {
            guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read DV_OIDC_CLIENT_SECRET_FILE \(file)") }
            secret = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        var provider = UpstreamIdentityProvider(issuer: issuer, clientID: clientID, clientSecret: secret)
        if let scopes = value("DV_OIDC_SCOPES") { provider.scopes = scopes.split(separator: " ").map(String.init) }
        guard provider.scopes.contains("openid") else { throw ValidationError("DV_OIDC_SCOPES must include openid") }
        if let claim = value("DV_OIDC_USERNAME_CLAIM") { provider.usernameClaim = claim }
        if let claim = value("DV_OIDC_GROUPS_CLAIM") { provider.groupsClaim = claim }
        return provider
    }

    /// The PowerDNS server Nett keeps DNS records in, from `DV_PDNS_URL`, `DV_PDNS_API_KEY_FILE`, `DV_DNS_ZONES`,
    /// `DV_PDNS_SERVER_ID`, `DV_DNS_SYNC_INTERVAL`; nil when `DV_PDNS_URL` is unset.
    func dnsConfiguration() throws -> DNSConfiguration? {
        do {
            return try DNSConfiguration.fromEnvironment(ProcessInfo.processInfo.environment)
        } catch {
            throw ValidationError(error.message)
        }
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
