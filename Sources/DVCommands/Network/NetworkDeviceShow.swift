import ArgumentParser
import DataverketClient

/// `dvnet device show DEVICE`
struct NetworkDeviceShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Read a device now: facts, interfaces, VLANs, MAC table, BGP neighbors and routes, per driver.")
    @Argument(help: "The device (as in the intent and the devices file).") var device: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let page = try await global.api().call { try await $0.getNetworkDevice(path: .init(device: device)).ok.body.json }
        guard global.output == .table else { return try InventoryValue.print(page.items, columns: [], format: global.output) }
        var sections: [String] = []
        for item in page.items {
            let values = try InventoryValue.dictionary(item)
            let facts = (values["facts"] as? [String: Any] ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\(InventoryValue.cell($0.value))" }
            var lines = ["\(InventoryValue.cell(values["device"])) (\(InventoryValue.cell(values["driver"]))): \(facts.joined(separator: " "))"]
            func table(_ key: String, _ title: String, _ columns: [(header: String, path: String)]) {
                let rows = values[key] as? [[String: Any]] ?? []
                guard !rows.isEmpty else { return }
                lines.append("\(title):")
                lines.append(Render.table(rows.map { row in columns.map { Self.cell(row[$0.path], flag: ["up", "selected"].contains($0.path)) } },
                                          headers: columns.map(\.header)))
            }
            table("interfaces", "interfaces", [("NAME", "name"), ("UP", "up"), ("MTU", "mtu"), ("MAC", "mac"), ("ADDRESSES", "addresses"), ("VRF", "vrf")])
            table("vlans", "VLANs", [("VLAN", "vlan"), ("UNTAGGED", "untagged"), ("TAGGED", "tagged")])
            table("macTable", "MAC table", [("MAC", "mac"), ("VLAN", "vlan"), ("INTERFACE", "interface")])
            table("bgpNeighbors", "BGP neighbors", [("NEIGHBOR", "address"), ("AS", "remoteAS"), ("STATE", "state"), ("VRF", "vrf"), ("PREFIXES", "prefixesReceived")])
            table("routes", "routes", [("PREFIX", "prefix"), ("PROTOCOL", "protocolName"), ("NEXT HOPS", "nextHops"), ("VRF", "vrf"), ("SELECTED", "selected")])
            for error in values["errors"] as? [String] ?? [] { lines.append("could not read \(error)") }
            sections.append(lines.joined(separator: "\n"))
        }
        Terminal.write(sections.joined(separator: "\n\n"))
    }

    /// A table cell; a flag column as yes/no (decoded JSON booleans print as 1 and 0).
    static func cell(_ value: Any?, flag: Bool) -> String {
        let text = InventoryValue.cell(value)
        guard flag else { return text }
        return text == "1" || text == "true" ? "yes" : "no"
    }
}
