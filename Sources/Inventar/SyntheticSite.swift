/// Generated datacenters for scale tests and `dv-bench inventory`: `racks` racks per datacenter, each with one
/// top-of-rack switch (one port per server) and `servers` servers of four interfaces, the first cabled to the
/// switch. Every tenth server is a GPU server; even-numbered servers carry the tag `even`.
public enum SyntheticSite {
    /// One datacenter `name`; `index` (0–255) keeps its MACs apart from other generated datacenters.
    public static func datacenter(_ name: String, index: Int = 0, racks: Int, servers: Int) -> SiteModel {
        var model = SiteModel()
        model.datacenters = [Datacenter(name: name, country: "NO", jurisdiction: "NO", regionRole: index == 0 ? .primary : .secondary)]
        model.failureDomains = [FailureDomain(datacenter: name, name: "fd-a"), FailureDomain(datacenter: name, name: "fd-b")]
        model.rooms = [Room(datacenter: name, name: "hall-1")]
        for r in 1...racks {
            let rack = "\(name)-r" + pad(r, 3), fd = r % 2 == 0 ? "fd-a" : "fd-b"
            model.racks.append(Rack(name: rack, datacenter: name, room: "hall-1", failureDomain: fd, units: 48))
            let tor = "\(rack)-tor"
            model.devices.append(Device(name: tor, kind: .switch, role: .infra, datacenter: name, failureDomain: fd, rack: rack, position: 48))
            for p in 1...servers { model.interfaces.append(Interface(device: tor, name: "swp\(p)", speedMbps: 25_000)) }
            for s in 1...servers {
                let server = "\(rack)-srv" + pad(s, 2)
                model.devices.append(Device(
                    name: server, kind: .server, role: s % 10 == 0 ? .gpu : .compute, serial: "SN-\(index)-\(r)-\(s)", datacenter: name,
                    failureDomain: fd, rack: rack, position: s, pool: "general", tags: s % 2 == 0 ? ["even"] : [],
                    hardware: HardwareFacts(cpu: CPU(model: "x", sockets: 2, cores: 64), memoryGiB: 512)))
                for i in 0..<4 {
                    model.interfaces.append(Interface(device: server, name: "eno\(i + 1)",
                                                      mac: mac([2, index, r / 256, r % 256, s, i]), speedMbps: 25_000))
                }
                model.links.append(Link(a: Endpoint(device: server, interface: "eno1"), b: Endpoint(device: tor, interface: "swp\(s)")))
            }
        }
        return model
    }

    public static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }

    static func mac(_ octets: [Int]) -> String {
        octets.map { octet in
            let hex = String(octet & 0xff, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined(separator: ":")
    }
}
