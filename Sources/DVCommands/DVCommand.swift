import Foundation
import DataverketClient
import ArgumentParser

/// `dv`: tenants, projects, environments, inventory, tasks, audit.
public struct DVCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dv",
        abstract: "Drive Dataverket: tenants, projects, environments, inventory, tasks and audit.",
        discussion: "The server is --server, or DV_SERVER, or http://127.0.0.1:8080.",
        subcommands: [TenantCommand.self, ProjectCommand.self, EnvironmentCommand.self, Apply.self, Get.self, DeviceCommand.self,
                      RackCommand.self, CableCommand.self, Capacity.self, InventoryCommand.self, ApprovalCommand.self,
                      TaskCommand.self, AuditCommand.self])

    public init() {}
}

/// Runs a `dv` family command line and returns the process exit code; errors are printed, never thrown.
///
/// Exit codes: 0 success; 1 the server refused the request, could not be reached, or a waited-for task
/// did not succeed; 64 usage errors (argument-parser's convention).
public enum DVCLI {
    public static func run(_ root: any ParsableCommand.Type = DVCommand.self, arguments: [String]) async -> Int32 {
        do {
            var command = try root.parseAsRoot(arguments)
            if var async = command as? any AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
            return 0
        } catch let failure as CommandFailure {
            Terminal.error(failure.message)
            return failure.exitCode
        } catch let problem as APIProblem {
            Terminal.error(Render.problem(problem))
            return 1
        } catch let failure as TransportFailure {
            Terminal.error("error: \(failure)")
            return 1
        } catch {
            let code = root.exitCode(for: error)
            let message = root.fullMessage(for: error)
            if code == .success {
                Terminal.write(message)
            } else {
                Terminal.error(message)
            }
            return code.rawValue
        }
    }
}

/// A command that ran but did not achieve its goal (e.g. a waited-for task failed).
struct CommandFailure: Error {
    var message: String
    var exitCode: Int32 = 1
}
