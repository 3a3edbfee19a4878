import ArgumentParser
import DataverketClient

/// `dvnet vrf create NAME [--rd RD] [--import-target T]… [--export-target T]…`
struct VRFCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a VRF.")
    @Argument(help: "The VRF name (tenant-acme).") var name: String
    @Option(name: .customLong("rd"), help: "Route distinguisher (65000:100 or 10.0.0.1:100).") var routeDistinguisher: String?
    @Option(name: .customLong("import-target"), help: "Import route target (repeatable).") var importTargets: [String] = []
    @Option(name: .customLong("export-target"), help: "Export route target (repeatable).") var exportTargets: [String] = []
    @Option(help: "Tenant.") var tenant: String?
    @Option(help: "Description.") var description: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let body = Components.Schemas.NetworkVRFRequest(
            name: name, routeDistinguisher: routeDistinguisher, importTargets: importTargets.isEmpty ? nil : importTargets,
            exportTargets: exportTargets.isEmpty ? nil : exportTargets, tenant: tenant, description: description)
        let created = try await global.api().call { try await $0.createNetworkVRF(body: .json(body)).created.body.json }
        try InventoryValue.print([created], columns: NetworkIPAMText.vrfColumns, format: global.output)
    }
}
