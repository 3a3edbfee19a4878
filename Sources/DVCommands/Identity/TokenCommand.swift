import ArgumentParser

/// `dvid token`
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "API keys of service accounts.", subcommands: [TokenCreate.self, TokenRevoke.self])
}
