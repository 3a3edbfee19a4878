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
    }

    public var namespace: String
    public var hostAddress: String
    public var subnet: String
    public var bootPort: Int
    public var assetsDir: String
    public var dnsmasqLeases: String
    public var vms: [VM]

    /// Reads `<state>/lab.json`.
    public static func load(state: String) throws -> LabDescription {
        let data = try Data(contentsOf: URL(fileURLWithPath: state + "/lab.json"))
        return try JSONDecoder().decode(LabDescription.self, from: data)
    }
}
