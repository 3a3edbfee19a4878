import ArgumentParser
import DataverketClient
import Foundation

/// `dv get KIND [NAME] [--datacenter DC] [-o table|json|yaml]`
struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show inventory objects; -o yaml prints them as a site file (`dv get site osl1 -o yaml` applies back unchanged).",
        discussion: "Kinds: site, datacenters, networks, racks, devices, links (singular and plural).")

    @Argument(help: "site, datacenters, networks, racks, devices or links.") var kind: String
    @Argument(help: "Only this object.") var name: String?
    @Option(help: "Only this datacenter.") var datacenter: String?
    @OptionGroup var global: GlobalOptions

    static let columns: [String: [(header: String, path: String)]] = [
        "datacenters": [("NAME", "name"), ("COUNTRY", "country"), ("JURISDICTION", "jurisdiction"), ("ROLE", "regionRole")],
        "networks": [("NAME", "name"), ("DATACENTER", "datacenter"), ("ROLE", "role"), ("VLAN", "vlan")],
        "racks": [("NAME", "name"), ("DATACENTER", "datacenter"), ("ROOM", "room"), ("FAILURE DOMAIN", "failureDomain"), ("UNITS", "units"),
                  ("FEED A", "feedA"), ("FEED B", "feedB")],
        "devices": [("NAME", "name"), ("KIND", "kind"), ("ROLE", "role"), ("DATACENTER", "datacenter"), ("RACK", "rack"), ("U", "position"),
                    ("MODEL", "model"), ("SERIAL", "serial")],
        "links": [("A", "a"), ("B", "b"), ("CABLE", "cable"), ("LABEL", "label")],
    ]

    func run() async throws {
        let kind = self.kind.lowercased()
        let section = ["site": "site", "datacenter": "datacenters", "dc": "datacenters", "network": "networks", "rack": "racks",
                       "device": "devices", "link": "links", "cable": "links", "cables": "links"][kind] ?? kind
        guard let kind = Operations.ExportInventory.Input.Query.KindPayload(rawValue: section) else {
            throw ValidationError("unknown kind '\(self.kind)': site, datacenters, networks, racks, devices or links")
        }
        let api = try await global.api()
        let query = Operations.ExportInventory.Input.Query(datacenter: datacenter, kind: kind, name: name,
                                                           format: global.output == .yaml ? .yaml : .json)
        let response = try await api.call { try await $0.exportInventory(query: query).ok.body }
        switch response {
        case .yaml(let body):
            Terminal.write(try await String(collecting: body, upTo: 256 << 20))
        case .json(let model):
            if global.output == .json || section == "site" {
                return Terminal.write(global.output == .table && section == "site" ? try Render.yaml(model) : try Render.json(model))
            }
            let objects = (try InventoryValue.dictionary(model)[section] as? [[String: Any]]) ?? []
            let rows = objects.map { object in Self.columns[section]!.map { InventoryValue.cell(Self.describe(InventoryValue.lookup(object, $0.path))) } }
            Terminal.write(rows.isEmpty ? "No resources found." : Render.table(rows, headers: Self.columns[section]!.map(\.header)))
        }
    }

    /// Link ends print as `device:interface`.
    static func describe(_ value: Any?) -> Any? {
        if let end = value as? [String: Any], let device = end["device"], let interface = end["interface"] { return "\(device):\(interface)" }
        return value
    }
}
