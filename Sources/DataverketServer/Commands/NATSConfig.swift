import ArgumentParser
import DataverketBus
import Foundation

/// `dataverket nats-config`
struct NATSConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nats-config",
        abstract: "Print the nats-server configuration that gives each service a user limited to its own subjects.",
        discussion: "deploy/nats/dataverket.conf is this output. Passwords are environment variables read by nats-server.")

    @Option(help: "Services (comma-separated).") var services = ServicePermissions.services.joined(separator: ",")

    func validate() throws {
        let names = services.split(separator: ",").map(String.init)
        guard !names.isEmpty, names.allSatisfy({ $0.range(of: "^[a-z][a-z0-9-]{0,30}$", options: .regularExpression) != nil }) else {
            throw ValidationError("--services must be lowercase service names separated by commas")
        }
        guard names.contains(ServicePermissions.orchestrator) else { throw ValidationError("--services must include sentral") }
    }

    func run() async throws {
        print(ServicePermissions.serverConfiguration(services: services.split(separator: ",").map(String.init)), terminator: "")
    }
}
