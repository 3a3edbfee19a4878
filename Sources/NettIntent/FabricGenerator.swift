/// Generated fabrics for tests and benchmarks: `switches` leaf switches in pairs, `networks` tenant networks (ten per
/// tenant, each tenant its own VRF), every switch with 24 server ports and an inter-switch trunk, one border router
/// with a gateway in every network, and one allow rule between every second network and the next.
public enum FabricGenerator {
    public static func fabric(switches: Int, networks count: Int) -> NetworkIntent {
        let tenants = max(1, (count + 9) / 10)
        var networks: [NetworkIntent.Network] = []
        networks.reserveCapacity(count)
        for index in 0..<count {
            let prefix = "10.\(index / 256).\(index % 256)"
            networks.append(.init(name: "net-\(index)", vlan: 100 + index, vrf: "tenant-\(index / 10)", prefix: "\(prefix).0/24",
                                  gateway: "\(prefix).1", role: "tenant", tenant: "t\(index / 10)"))
        }
        var profiles: [NetworkIntent.PortProfile] = [.init(name: "fabric-trunk", mode: "trunk", allowed: networks.map(\.name), mtu: 9216)]
        for tenant in 0..<tenants {
            let own = networks.filter { $0.tenant == "t\(tenant)" }.map(\.name)
            profiles.append(.init(name: "server-t\(tenant)", mode: "trunk", allowed: own, mtu: 9216))
        }
        var ports: [NetworkIntent.Port] = []
        for number in 0..<switches {
            let device = "leaf\(number)"
            for port in 0..<24 {
                let tenant = (number * 24 + port) % tenants
                let own = networks.filter { $0.tenant == "t\(tenant)" }.prefix(2).map(\.name)
                ports.append(.init(device: device, interface: "Ethernet\(port + 1)", profile: "server-t\(tenant)", needs: Array(own)))
            }
            let partner = number ^ 1 < switches ? number ^ 1 : number
            ports.append(.init(device: device, interface: "Ethernet49", profile: "fabric-trunk",
                               peer: partner == number ? nil : "leaf\(partner):Ethernet49"))
        }
        let border = NetworkIntent.Router(name: "border1", asn: 65010, routerID: "198.51.100.2",
                                          interfaces: networks.map { .init(network: $0.name, address: ($0.gateway ?? "") + "/24") })
        var rules: [NetworkIntent.Rule] = []
        for index in stride(from: 0, to: count - 1, by: 2) {
            rules.append(.init(from: "net-\(index)", to: "net-\(index + 1)", protocol: "tcp", port: 443))
        }
        return NetworkIntent(datacenter: "gen1", jurisdiction: "NO", vlanRange: [2, 3999],
                             vrfs: (0..<tenants).map { .init(name: "tenant-\($0)") }, networks: networks, portProfiles: profiles,
                             ports: ports, routers: [border], rules: rules)
    }
}
