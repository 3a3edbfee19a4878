import ArgumentParser
import DataverketClient

/// `dvid sa create NAME`
struct ServiceAccountCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a service account.")
    @Argument(help: "Name (a DNS label).") var name: String
    @Option(help: "What it is for.") var description: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let account = try await global.api().call {
            try await $0.createServiceAccount(body: .json(.init(name: name, description: description))).created.body.json
        }
        try Render.one(account, global.output)
    }
}

extension Components.Schemas.ServiceAccount: TableRow {
    static var headers: [String] { ["NAME", "SUBJECT", "DESCRIPTION", "AGE"] }
    var cells: [String] { [name, subject, description ?? "-", Render.age(createdAt)] }
}
