/// Writes a model in the site file format (what `dv get … -o yaml` prints): applying the output to the store
/// it came from is a no-op.
public enum SiteWriter {
    public static func yaml(_ model: SiteModel) -> String {
        let model = model.sorted()
        var out = ""
        func line(_ indent: Int, _ text: String) { out += String(repeating: " ", count: indent) + text + "\n" }
        func field(_ indent: Int, _ name: String, _ value: String?) { if let value { line(indent, "\(name): \(scalar(value))") } }
        func item(_ indent: Int, _ name: String, _ value: String) { line(indent, "- \(name): \(scalar(value))") }

        if !model.datacenters.isEmpty {
            line(0, "datacenters:")
            for dc in model.datacenters {
                item(2, "name", dc.name)
                field(4, "displayName", dc.displayName)
                field(4, "country", dc.country)
                field(4, "jurisdiction", dc.jurisdiction)
                field(4, "regionRole", dc.regionRole.rawValue)
                let fds = model.failureDomains.filter { $0.datacenter == dc.name }
                if !fds.isEmpty {
                    line(4, "failureDomains:")
                    for fd in fds {
                        item(6, "name", fd.name)
                        field(8, "description", fd.description)
                    }
                }
                let rooms = model.rooms.filter { $0.datacenter == dc.name }
                if !rooms.isEmpty {
                    line(4, "rooms:")
                    for room in rooms {
                        item(6, "name", room.name)
                        field(8, "description", room.description)
                    }
                }
            }
        }
        if !model.networks.isEmpty {
            line(0, "networks:")
            for network in model.networks {
                item(2, "name", network.name)
                field(4, "datacenter", network.datacenter)
                field(4, "role", network.role.rawValue)
                field(4, "vlan", network.vlan.map(String.init))
                field(4, "description", network.description)
            }
        }
        if !model.racks.isEmpty {
            line(0, "racks:")
            for rack in model.racks {
                item(2, "name", rack.name)
                field(4, "datacenter", rack.datacenter)
                field(4, "room", rack.room)
                field(4, "failureDomain", rack.failureDomain)
                field(4, "units", String(rack.units))
                if rack.feedA != nil || rack.feedB != nil {
                    line(4, "power:")
                    field(6, "a", rack.feedA)
                    field(6, "b", rack.feedB)
                }
            }
        }
        var interfaces: [String: [Interface]] = [:]
        for interface in model.interfaces { interfaces[interface.device, default: []].append(interface) }
        if !model.devices.isEmpty {
            line(0, "devices:")
            for device in model.devices {
                item(2, "name", device.name)
                field(4, "kind", device.kind.rawValue)
                field(4, "role", device.role?.rawValue)
                field(4, "vendor", device.vendor)
                field(4, "model", device.model)
                field(4, "serial", device.serial)
                field(4, "assetTag", device.assetTag)
                if let rack = device.rack {
                    field(4, "rack", rack)
                    field(4, "position", device.position.map(String.init))
                } else {
                    field(4, "datacenter", device.datacenter)
                    field(4, "failureDomain", device.failureDomain)
                }
                if device.height != 1 { field(4, "height", String(device.height)) }
                field(4, "pool", device.pool)
                if !device.tags.isEmpty { line(4, "tags: [\(device.tags.map(scalar).joined(separator: ", "))]") }
                if !device.powerFeeds.isEmpty { line(4, "powerFeeds: [\(device.powerFeeds.map(scalar).joined(separator: ", "))]") }
                let hw = device.hardware
                if !hw.isEmpty {
                    line(4, "hardware:")
                    if let cpu = hw.cpu { line(6, "cpu: { model: \(scalar(cpu.model)), sockets: \(cpu.sockets), cores: \(cpu.cores) }") }
                    field(6, "memoryGiB", hw.memoryGiB.map(String.init))
                    if !hw.disks.isEmpty {
                        line(6, "disks:")
                        for disk in hw.disks { line(8, "- { name: \(scalar(disk.name)), type: \(disk.type.rawValue), sizeGB: \(disk.sizeGB) }") }
                    }
                    if !hw.gpus.isEmpty {
                        line(6, "gpus:")
                        for gpu in hw.gpus { line(8, "- { model: \(scalar(gpu.model)), count: \(gpu.count) }") }
                    }
                }
                if let bmc = device.bmc {
                    line(4, "bmc:")
                    field(6, "protocol", bmc.protocol.rawValue)
                    field(6, "address", bmc.address)
                    field(6, "credentialsRef", bmc.credentialsRef)
                }
                if let list = interfaces[device.name], !list.isEmpty {
                    line(4, "interfaces:")
                    for interface in list {
                        var parts = ["name: \(scalar(interface.name))"]
                        if let mac = interface.mac { parts.append("mac: \(scalar(mac))") }
                        if let speed = interface.speedMbps { parts.append("speed: \(Speed.render(speed))") }
                        if interface.kind != .ethernet { parts.append("kind: \(interface.kind.rawValue)") }
                        if let network = interface.network { parts.append("network: \(scalar(network))") }
                        line(6, "- { \(parts.joined(separator: ", ")) }")
                    }
                }
            }
        }
        if !model.links.isEmpty {
            line(0, "links:")
            for link in model.links {
                var parts = ["a: \(scalar(link.a.description))", "b: \(scalar(link.b.description))"]
                if let cable = link.cable { parts.append("cable: \(cable.rawValue)") }
                if let label = link.label { parts.append("label: \(scalar(label))") }
                line(2, "- { \(parts.joined(separator: ", ")) }")
            }
        }
        // An empty inventory is an empty mapping (a YAML document, not nothing), and applies back as no change.
        return out.isEmpty ? "{}\n" : out
    }

    /// A plain scalar when it cannot be misread (by this parser or another YAML 1.1/1.2 reader), else quoted.
    static func scalar(_ text: String) -> String {
        let plainSafe = !text.isEmpty && text.first!.isLetter
            && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_./".contains($0)) }
            && !text.hasSuffix(":") && !text.contains(": ")
        let ambiguous = ["y", "n", "yes", "no", "on", "off", "true", "false", "null"].contains(text.lowercased())
        if plainSafe && !ambiguous { return text }
        var quoted = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case "\n": quoted += "\\n"
            case "\t": quoted += "\\t"
            // What YAML cannot carry raw is escaped, so it reads back as written: controls and DEL (refused by a
            // reader), NEL, LS and PS (line breaks, folded to a space), the BOM and the non-characters U+FFFE/U+FFFF.
            case "\u{0}"..."\u{1f}", "\u{7f}"..."\u{9f}", "\u{2028}", "\u{2029}", "\u{feff}", "\u{fffe}", "\u{ffff}":
                let hex = String(scalar.value, radix: 16, uppercase: true)
                quoted += scalar.value <= 0xFF ? "\\x" + String(repeating: "0", count: 2 - hex.count) + hex : "\\u" + hex
            default: quoted.unicodeScalars.append(scalar)
            }
        }
        return quoted + "\""
    }
}
