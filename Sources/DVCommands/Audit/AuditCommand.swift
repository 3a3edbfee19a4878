import Foundation
import DataverketClient
import ArgumentParser

/// `dv audit …`
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Read the audit log.", subcommands: [AuditList.self])
}
