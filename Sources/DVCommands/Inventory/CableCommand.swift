import ArgumentParser

/// `dv cable …`
struct CableCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cable", abstract: "Cabling.", subcommands: [CableTrace.self])
}
