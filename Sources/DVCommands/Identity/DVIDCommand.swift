import ArgumentParser

/// `dvid`: log in and out, see who you are.
public struct DVIDCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dvid",
        abstract: "Dataverket identity: log in and out, roles, service accounts and their API keys.",
        discussion: "Sessions are saved per server in ~/.config/dataverket/credentials.json (0600); dv uses them and refreshes them.",
        subcommands: [Login.self, WhoAmI.self, Logout.self, RoleCommand.self, ServiceAccountCommand.self, TokenCommand.self])

    public init() {}
}
