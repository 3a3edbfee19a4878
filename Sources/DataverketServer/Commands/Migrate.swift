import ArgumentParser
import Foundation

/// `dataverket migrate`
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending store migrations and exit.")

    @OptionGroup var store: StoreOptions

    func run() async throws {
        let configuration = try store.serverConfiguration()
        let applied = try await DataverketServer.migrate(configuration: configuration, logger: try store.logger())
        print(applied.isEmpty ? "up to date" : applied.map { "applied \($0)" }.joined(separator: "\n"))
    }
}
