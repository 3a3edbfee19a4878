import ArgumentParser

/// `dataverket maskin …`: bare-metal helpers that run next to the server.
struct MaskinCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "maskin", abstract: "Bare-metal helpers: the provisioning network's DHCP configuration.",
        subcommands: [MaskinDnsmasqConfig.self])
}
