import ArgumentParser
import DataverketClient

/// `dvid role bind SUBJECT ROLE [--tenant ID|NAME | --project ID]`
struct RoleBind: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bind", abstract: "Bind a role to a subject (platform scope unless --tenant/--project).")
    @Argument(help: "user:NAME, group:NAME, sa:NAME or service:NAME.") var subject: String
    @Argument(help: "platform-admin, operator, tenant-admin, project-admin, member or viewer.") var role: String
    @Option(help: "Tenant id or name: bind at tenant scope (it must exist).") var tenant: String?
    @Option(help: "Project id: bind at project scope (it must exist).") var project: String?
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard Components.Schemas.RoleBindingCreate.RolePayload(rawValue: role) != nil else {
            throw ValidationError("unknown role '\(role)'; one of platform-admin, operator, tenant-admin, project-admin, member, viewer")
        }
        guard tenant == nil || project == nil else { throw ValidationError("--tenant or --project, not both") }
    }

    func run() async throws {
        guard let role = Components.Schemas.RoleBindingCreate.RolePayload(rawValue: role) else { return }
        let scopeKind: Components.Schemas.RoleBindingCreate.ScopeKindPayload = tenant != nil ? .tenant : project != nil ? .project : .platform
        let binding = try await global.api().call {
            try await $0.createRoleBinding(body: .json(.init(subject: subject, role: role, scopeKind: scopeKind,
                                                              scopeId: tenant ?? project))).created.body.json
        }
        try Render.one(binding, global.output)
    }
}

extension Components.Schemas.RoleBinding: TableRow {
    static var headers: [String] { ["ID", "SUBJECT", "ROLE", "SCOPE"] }
    var cells: [String] { [id, subject, role, scopeKind == .platform ? "platform" : "\(scopeKind.rawValue)/\(scopeId)"] }
}
