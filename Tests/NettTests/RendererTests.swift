import DataverketCore
import Foundation
import Nett
import NettIntent
import Testing

/// The SONiC, EOS, Open vSwitch, FRR and nftables renderers against golden files (regenerate with DV_UPDATE_GOLDEN=1 after a deliberate change,
/// and read the diff).
@Suite("Config renderers (golden files)")
struct RendererTests {
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    static func check(_ renderer: any ConfigRenderer, _ device: String, _ file: String) throws {
        let text = try renderer.render(try IntentTests.example(), device: device)
        let url = golden.appendingPathComponent(file)
        if ProcessInfo.processInfo.environment["DV_UPDATE_GOLDEN"] == "1" {
            try Data(text.utf8).write(to: url)
        }
        let expected = try String(contentsOf: url, encoding: .utf8)
        #expect(text == expected, "\(file) differs from the golden file; if the change is deliberate, rerun with DV_UPDATE_GOLDEN=1")
    }

    @Test("SONiC config_db.json for a leaf and the border router", arguments: [("osl1-leaf1", "sonic-osl1-leaf1.json"),
                                                                              ("osl1-border1", "sonic-osl1-border1.json")])
    func sonic(_ device: String, _ file: String) throws {
        try Self.check(SONiCRenderer(), device, file)
    }

    @Test("EOS running-config for a leaf and the border router", arguments: [("osl1-leaf1", "eos-osl1-leaf1.cfg"),
                                                                            ("osl1-border1", "eos-osl1-border1.cfg")])
    func eos(_ device: String, _ file: String) throws {
        try Self.check(EOSRenderer(), device, file)
    }

    @Test("Open vSwitch ports for both leaves", arguments: [("osl1-leaf1", "ovs-osl1-leaf1.txt"), ("osl1-leaf2", "ovs-osl1-leaf2.txt")])
    func ovs(_ device: String, _ file: String) throws {
        try Self.check(OVSRenderer(), device, file)
    }

    @Test("FRR frr.conf and the nftables table for the border router")
    func border() throws {
        try Self.check(FRRRenderer(), "osl1-border1", "frr-osl1-border1.conf")
        try Self.check(NftablesRenderer(), "osl1-border1", "nftables-osl1-border1.nft")
        #expect(throws: DataverketError.self) { try FRRRenderer().render(try IntentTests.example(), device: "osl1-leaf1") }
    }

    @Test("the leaf's SONiC config carries exactly the intent's VLANs, tagged as the profiles say")
    func sonicContents() throws {
        let json = try SONiCRenderer().render(try IntentTests.example(), device: "osl1-leaf1")
        let tables = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: [String: [String: String]]])
        #expect(tables["VLAN_MEMBER"]?["Vlan110|Ethernet1"]?["tagging_mode"] == "untagged")
        #expect(tables["VLAN_MEMBER"]?["Vlan20|Ethernet1"] == nil)
        #expect(tables["VLAN_MEMBER"]?["Vlan120|Ethernet1"] == nil, "globex's VLAN must not reach acme's server port")
        #expect(tables["VLAN_MEMBER"]?["Vlan110|PortChannel1"]?["tagging_mode"] == "tagged")
        #expect(tables["PORTCHANNEL_MEMBER"]?["PortChannel1|Ethernet48"] != nil && tables["PORTCHANNEL_MEMBER"]?["PortChannel1|Ethernet49"] != nil)
        #expect(tables["PORT"]?["Ethernet48"]?["mtu"] == "9216")
    }

    @Test("SONiC VRF names start with Vrf and fit a Linux device name")
    func vrfNames() {
        #expect(SONiCRenderer.vrfName("sovereign") == "Vrf_sovereign")
        let long = SONiCRenderer.vrfName("tenant-globex")
        #expect(long.hasPrefix("Vrftenant-g") && long.utf8.count == 15 && long != SONiCRenderer.vrfName("tenant-globey"))
    }

    @Test("an unknown device is not found; every switch of a generated 50-switch fabric renders")
    func fabric() throws {
        #expect(throws: DataverketError.self) { try EOSRenderer().render(try IntentTests.example(), device: "nope") }
        let intent = FabricGenerator.fabric(switches: 50, networks: 500)
        for number in 0..<50 {
            let config = try EOSRenderer().render(intent, device: "leaf\(number)")
            #expect(config.contains("interface Ethernet24") && config.contains("interface Ethernet49"), "leaf\(number)")
        }
    }
}
