import ArgumentParser
import DataverketClient

/// `dvid token create --sa NAME --ttl 24h`
struct TokenCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create an API key for a service account; it is printed once.",
        discussion: "Use it as DV_TOKEN or `--token`. The server keeps only its digest.")
    @Option(name: .customLong("sa"), help: "Service account name.") var account: String
    @Option(help: "Lifetime: 90s, 30m, 24h or 30d (1 minute to 366 days).") var ttl: String = "24h"
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard let seconds = Self.seconds(ttl), (60...31_622_400).contains(seconds) else {
            throw ValidationError("--ttl must be a duration from 1m to 366d like 90s, 30m, 24h or 30d, got '\(ttl)'")
        }
    }

    func run() async throws {
        let seconds = Self.seconds(ttl) ?? 86_400
        let created = try await global.api().call {
            try await $0.createAPIKey(path: .init(account: account), body: .json(.init(ttlSeconds: seconds))).created.body.json
        }
        switch global.output {
        case .table:
            Terminal.write(created.key)
            Terminal.error("API key \(created.id) for sa:\(created.account), expires \(Render.timestamp(created.expiresAt)); shown once — store it now")
        case .json: Terminal.write(try Render.json(created))
        case .yaml: Terminal.write(try Render.yaml(created))
        }
    }

    /// Seconds in `90s`, `30m`, `24h`, `30d`.
    static func seconds(_ text: String) -> Int? {
        guard let unit = text.last, let value = Int(text.dropLast()), value > 0 else { return nil }
        switch unit {
        case "s": return value
        case "m": return value.multipliedReportingOverflow(by: 60).overflow ? nil : value * 60
        case "h": return value.multipliedReportingOverflow(by: 3600).overflow ? nil : value * 3600
        case "d": return value.multipliedReportingOverflow(by: 86_400).overflow ? nil : value * 86_400
        default: return nil
        }
    }
}
