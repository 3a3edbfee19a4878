import ArgumentParser

/// `dvid sa`
struct ServiceAccountCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sa", abstract: "Service accounts: identities for automation (subject sa:NAME).",
        subcommands: [ServiceAccountCreate.self, ServiceAccountList.self])
}
