import ArgumentParser

/// `dv inventory …`
struct InventoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inventory", abstract: "Observed vs declared inventory.", subcommands: [InventoryDrift.self, InventoryObserve.self])
}
