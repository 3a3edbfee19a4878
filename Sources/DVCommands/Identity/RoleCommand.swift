import ArgumentParser

/// `dvid role`
struct RoleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "role", abstract: "Role bindings: who may do what, where.",
        discussion: "Roles: platform-admin, operator, tenant-admin, project-admin, member, viewer.",
        subcommands: [RoleBind.self, RoleUnbind.self, RoleList.self])
}
