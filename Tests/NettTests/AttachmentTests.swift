import DataverketCore
import Nett
import NettIntent
import Testing

/// The attachment planner (issue 16 §5): what a `network-attach` request makes of the applied intent.
@Suite("Switch-port attachments")
struct AttachmentTests {
    static let intent = NetworkIntent(
        datacenter: "osl1", jurisdiction: "NO",
        networks: [
            .init(name: "prov", vlan: 20, prefix: "10.20.0.0/24", role: "provisioning"),
            .init(name: "web", vlan: 110, prefix: "10.110.0.0/24", role: "tenant", tenant: "acme"),
            .init(name: "db", vlan: 111, prefix: "10.111.0.0/24", role: "tenant", tenant: "acme"),
        ],
        portProfiles: [.init(name: "server-prov", mode: "access", network: "prov", mtu: 9000),
                       .init(name: "uplink", mode: "trunk", allowed: ["prov", "web", "db"], mtu: 9000)],
        ports: [.init(device: "leaf1", interface: "Ethernet1", profile: "server-prov"),
                .init(device: "leaf1", interface: "Ethernet48", profile: "uplink", peer: "leaf2:Ethernet48"),
                .init(device: "leaf2", interface: "Ethernet48", profile: "uplink", peer: "leaf1:Ethernet48"),
                .init(device: "leaf1", interface: "bond5", profile: "server-prov", members: ["Ethernet5", "Ethernet6"])])

    static func request(_ networks: [String], _ ports: [String] = ["leaf1:Ethernet1"], provisioning: Bool = false) -> NetworkAttachmentRequest {
        NetworkAttachmentRequest(owner: "machine m1", ports: ports.map { port in
            let parts = port.split(separator: ":").map(String.init)
            return SwitchPortCable(nic: "eth0", device: parts[0], interface: parts[1])
        }, networks: networks, provisioning: provisioning)
    }

    @Test("one network: an access profile on the port's MTU; several: a trunk; the new intent verifies")
    func accessAndTrunk() throws {
        let (access, changes) = try AttachmentPlanner.plan(Self.request(["web"]), on: Self.intent)
        #expect(changes == ["leaf1:Ethernet1: server-prov → attach-web-9000"])
        let port = try #require(access.ports?.first { $0.interface == "Ethernet1" })
        #expect(port.profile == "attach-web-9000" && port.needs == ["web"])
        #expect(access.portProfiles?.contains(.init(name: "attach-web-9000", mode: "access", network: "web", mtu: 9000)) == true)
        #expect(IntentVerifier.verify(access).ok, "\(IntentVerifier.verify(access).problems)")

        let (trunk, _) = try AttachmentPlanner.plan(Self.request(["web", "db"]), on: access)
        #expect(trunk.ports?.first { $0.interface == "Ethernet1" }?.profile == "attach-trunk-db_web-9000")
        #expect(trunk.portProfiles?.contains { $0.name == "attach-web-9000" } == false, "a generated profile no port uses is dropped")
        #expect(trunk.portProfiles?.contains { $0.name == "server-prov" } == true, "declared profiles stay")

        // A NIC cabled to a bond member attaches the bond.
        let (bond, bondChanges) = try AttachmentPlanner.plan(Self.request(["web"], ["leaf1:Ethernet6"]), on: Self.intent)
        #expect(bondChanges == ["leaf1:bond5: server-prov → attach-web-9000"])
        #expect(bond.ports?.first { $0.interface == "bond5" }?.profile == "attach-web-9000")
    }

    @Test("realized already: no change; back to provisioning reuses the declared profile")
    func realized() throws {
        let (same, none) = try AttachmentPlanner.plan(Self.request(["prov"]), on: Self.intent)
        #expect(none.isEmpty && same == Self.intent)
        let (attached, _) = try AttachmentPlanner.plan(Self.request(["web"]), on: Self.intent)
        let (back, changes) = try AttachmentPlanner.plan(Self.request([], provisioning: true), on: attached)
        #expect(changes == ["leaf1:Ethernet1: attach-web-9000 → server-prov"])
        #expect(back.ports == Self.intent.ports?.map { port in port.interface == "Ethernet1" ? { var p = port; p.needs = ["prov"]; return p }() : port })
        #expect(back.portProfiles == Self.intent.portProfiles, "the generated profile is gone again")
    }

    @Test("refused: unknown networks, a switch the intent does not have, an inter-switch link, no provisioning network, no ports, too many")
    func refused() throws {
        #expect(throws: DataverketError.self) { try AttachmentPlanner.plan(Self.request(["nope", "web"]), on: Self.intent) }
        do {
            _ = try AttachmentPlanner.plan(Self.request(["nope"]), on: Self.intent)
            Issue.record("an unknown network was attached")
        } catch {
            #expect(error.code == .invalidArgument && error.message.contains("nope is not a network of the applied intent"), "\(error)")
        }
        #expect(throws: DataverketError.self) { try AttachmentPlanner.plan(Self.request(["web"], ["leaf9:Ethernet1"]), on: Self.intent) }
        do {
            _ = try AttachmentPlanner.plan(Self.request(["web"], ["leaf1:Ethernet48"]), on: Self.intent)
            Issue.record("an inter-switch link was re-profiled")
        } catch {
            #expect(error.code == .conflict && error.message.contains("link to leaf2:Ethernet48"), "\(error)")
        }
        var noProvisioning = Self.intent
        noProvisioning.networks.removeAll { $0.role == "provisioning" }
        #expect(throws: DataverketError.self) { try AttachmentPlanner.plan(Self.request([], provisioning: true), on: noProvisioning) }
        #expect(throws: DataverketError.self) { try AttachmentPlanner.plan(Self.request(["web"], []), on: Self.intent) }
        #expect(throws: DataverketError.self) { try AttachmentPlanner.plan(Self.request([]), on: Self.intent) }
        #expect(throws: DataverketError.self) {
            try AttachmentPlanner.plan(Self.request(["web"], (1...65).map { "leaf1:Ethernet\($0)" }), on: Self.intent)
        }
    }

    @Test("a port the intent does not list yet is added; a name too long for a configuration word gets a digest")
    func newPortAndLongNames() throws {
        let (intent, changes) = try AttachmentPlanner.plan(Self.request(["web"], ["leaf1:Ethernet7"]), on: Self.intent)
        #expect(changes == ["leaf1:Ethernet7: not configured → attach-web-1500"])
        #expect(intent.ports?.last == .init(device: "leaf1", interface: "Ethernet7", profile: "attach-web-1500", needs: ["web"]))
        let long = (1...12).map { "tenant-network-\($0)" }
        var wide = Self.intent
        wide.networks += long.enumerated().map { .init(name: $1, vlan: 200 + $0, prefix: "10.\(200 + $0).0.0/24", role: "tenant", tenant: "acme") }
        let (trunk, _) = try AttachmentPlanner.plan(Self.request(long), on: wide)
        let name = try #require(trunk.ports?.first { $0.interface == "Ethernet1" }?.profile)
        #expect(name.hasPrefix("attach-trunk-") && IntentVerifier.isConfigurationWord(name), "\(name)")
        #expect(IntentVerifier.verify(trunk).ok, "\(IntentVerifier.verify(trunk).problems)")
    }
}
