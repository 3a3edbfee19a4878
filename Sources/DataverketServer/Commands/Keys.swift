import ArgumentParser

/// `dataverket keys`
struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage Identitet's token signing keys.", subcommands: [KeysRotate.self])
}
