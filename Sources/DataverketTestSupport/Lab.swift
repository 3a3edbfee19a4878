import Foundation

/// What `scripts/lab up` writes to `<state>/lab.json`: the lab's network, boot address and VMs with their BMCs.
/// The bare-metal lab tests and the Maskin benchmark read it.
public struct LabDescription: Decodable, Sendable {
    public struct BMC: Decodable, Sendable {
        public var kind: String
        public var address: String
        public var port: Int?
        public var systemId: String?
        public var username: String
        public var password: String
    }

    public struct VM: Decodable, Sendable {
        public var name: String
        public var mac: String
        public var uuid: String
        public var serial: String
        public var consoleLog: String
        /// A VM whose boot the lab breaks on purpose (its disk refuses the install).
        public var broken: Bool
        public var bmc: BMC
        /// Its port on the leaf (`up --leaf ovs`).
        public var leafPort: String?
    }

    /// The Open vSwitch leaf of `up --leaf ovs`: how Nett reaches it, its VLANs and the tenant network's DHCP server.
    public struct Leaf: Decodable, Sendable {
        public var device: String
        public var bridge: String
        public var database: String
        public var control: String
        public var provisioningVlan: Int
        public var tenantVlan: Int
        public var provisioningPort: String
        public var tenantPort: String
        public var tenantSubnet: String
        public var tenantGateway: String
        public var tenantDnsmasqLog: String
        public var tenantDnsmasqLeases: String
    }

    public var namespace: String
    public var hostAddress: String
    public var subnet: String
    public var bootPort: Int
    public var assetsDir: String
    public var dnsmasqLeases: String
    public var dnsmasqLog: String
    public var vms: [VM]
    public var leaf: Leaf?

    /// Reads `<state>/lab.json`.
    public static func load(state: String) throws -> LabDescription {
        let data = try Data(contentsOf: URL(fileURLWithPath: state + "/lab.json"))
        return try JSONDecoder().decode(LabDescription.self, from: data)
    }
}
