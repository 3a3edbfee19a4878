import ArgumentParser

/// `dv rack …`
struct RackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rack", abstract: "Racks and what is in them.", subcommands: [RackShow.self])
}
