import ArgumentParser
import DataverketClient

/// `dvid whoami`
struct WhoAmI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "whoami", abstract: "Show who the current credential is and its roles.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let me = try await global.api().call { try await $0.whoAmI().ok.body.json }
        switch global.output {
        case .table:
            Terminal.write("subject: \(me.subject)")
            Terminal.write(Render.table(me.roles.map(RoleRow.init)))
        case .json: Terminal.write(try Render.json(me))
        case .yaml: Terminal.write(try Render.yaml(me))
        }
    }
}

struct RoleRow: TableRow {
    let role: Components.Schemas.WhoAmI.RolesPayloadPayload
    static var headers: [String] { ["ROLE", "SCOPE"] }
    var cells: [String] { [role.role, role.scopeKind == .platform ? "platform" : "\(role.scopeKind.rawValue)/\(role.scopeId)"] }
    func encode(to encoder: any Encoder) throws { try role.encode(to: encoder) }
}
