/// A server NIC's cable to a switch port, as the inventory declares it: how Maskin learns which leaf ports to ask
/// Nett for (the composition root hands Maskin the inventory as a ``SwitchPortDirectory``).
public struct SwitchPortCable: Codable, Sendable, Hashable {
    /// The server's interface (`eth0`) and its MAC, when declared.
    public var nic: String
    public var mac: String?
    /// The switch and its port (`osl1-leaf1`, `Ethernet3`).
    public var device: String
    public var interface: String

    public init(nic: String, mac: String? = nil, device: String, interface: String) {
        self.nic = nic
        self.mac = mac
        self.device = device
        self.interface = interface
    }

    public var port: String { "\(device):\(interface)" }
}

/// Answers which switch ports a device's data NICs are cabled to.
public protocol SwitchPortDirectory: Sendable {
    /// The switch ports the device's Ethernet interfaces are cabled to (BMC and console ports are not); empty when
    /// none is cabled. Throws not-found for an unknown device.
    func switchPorts(of device: String) async throws -> [SwitchPortCable]
}

/// What a service asks Nett to do with switch ports (the parameters of Nett's `network-attach` task,
/// `dv.nett.cmd.network-attach`): carry `networks` on `ports` (one network: an access port; several: a trunk), or
/// with `provisioning` the intent's provisioning network (a released or wiped machine goes back there). With
/// `dryRun` Nett only verifies the intent the attachment would make, and says whether it is realized already.
public struct NetworkAttachmentRequest: Codable, Sendable, Hashable {
    /// Who the ports serve (`machine m1`), for changesets' descriptions and messages.
    public var owner: String
    public var ports: [SwitchPortCable]
    public var networks: [String]
    public var provisioning: Bool
    public var dryRun: Bool
    /// The task that asked (its step waits for this one).
    public var requestedBy: String?

    public init(owner: String, ports: [SwitchPortCable], networks: [String] = [], provisioning: Bool = false, dryRun: Bool = false,
                requestedBy: String? = nil) {
        self.owner = owner
        self.ports = ports
        self.networks = networks
        self.provisioning = provisioning
        self.dryRun = dryRun
        self.requestedBy = requestedBy
    }

    /// Nett's task kind and service.
    public static let kind = "network-attach"
    public static let service = "nett"

    /// What is asked, in words: `acme-web on osl1-leaf1:Ethernet3`.
    public var summary: String {
        "\(provisioning ? "the provisioning network" : networks.joined(separator: ", ")) on \(ports.map(\.port).joined(separator: ", "))"
    }
}
