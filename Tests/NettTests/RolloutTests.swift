import DataverketCore
import DataverketProcess
import Foundation
import Nett
import NettIntent
import Logging
import Testing
import DataverketTestSupport

/// Rollout's pure parts (probe plans, drift comparison and folding, the device catalog, the OVS and FRR formats), and
/// the Open vSwitch driver against a real ovsdb-server and ovs-vswitchd the test starts in a temporary directory.
@Suite("Rollout, probes, drift and the OVS driver")
struct RolloutTests {
    @Test("probes: every allowed flow expected to pass, every other pair a ping expected to be blocked")
    func probes() throws {
        let intent = try IntentTests.example()
        let endpoints = ["oob", "mgmt", "acme-web", "external"].map { ProbeEndpoint(network: $0, namespace: "ns-\($0)", address: "192.0.2.9") }
        let probes = ProbePlanner.plan(intent, endpoints: endpoints)
        #expect(probes.contains(Probe(from: "mgmt", to: "oob", flow: "tcp/22", expect: true)))
        #expect(probes.contains(Probe(from: "mgmt", to: "oob", flow: "icmp", expect: false)), "only tcp/22 is allowed: ping must fail")
        #expect(probes.contains(Probe(from: "acme-web", to: "external", flow: "icmp", expect: false)))
        #expect(probes.contains(Probe(from: "external", to: "oob", flow: "icmp", expect: false)))
        #expect(!probes.contains { $0.from == $0.to })
        // 4 endpoints: 12 ordered pairs, each with one ping, plus mgmt → oob tcp/22.
        #expect(probes.count == 13, "\(probes)")
        var open = intent
        open.rules = (open.rules ?? []) + [NetworkIntent.Rule(from: "mgmt", to: "oob", protocol: "icmp")]
        #expect(ProbePlanner.plan(open, endpoints: endpoints).contains(Probe(from: "mgmt", to: "oob", flow: "icmp", expect: true)))
    }

    @Test("a blocked probe passes only with what blocked it and its target answering someone; a missing endpoint fails")
    func probeEvidence() async throws {
        let probe = Probe(from: "mgmt", to: "acme-web", flow: "icmp", expect: false)
        // A silent timeout proves nothing; nor does a refusal when the target answered nobody (it may be gone).
        #expect(!ProbeResult(probe: probe, passed: false).ok)
        #expect(!ProbeResult(probe: probe, passed: false, blockedBy: "refused by 10.30.0.1: ICMP destination net unreachable").ok)
        #expect(!ProbeResult(probe: probe, passed: false, targetAnswered: "answered a ping from its own segment").ok)
        #expect(ProbeResult(probe: probe, passed: false, blockedBy: "dropped", targetAnswered: "answered").ok)
        #expect(!ProbeResult(probe: probe, passed: true, blockedBy: "dropped", targetAnswered: "answered").ok, "it got through")
        let allowed = Probe(from: "mgmt", to: "oob", flow: "tcp/22", expect: true)
        #expect(ProbeResult(probe: allowed, passed: true).ok && !ProbeResult(probe: allowed, passed: false).ok)
        #expect(!ProbeResult(probe: allowed, passed: true, error: "no probe endpoint on oob").ok)
        // The verdict travels with the report (the CLI reads `ok`), and old reports without the new fields still decode.
        let encoded = try JSONSerialization.jsonObject(with: JSONEncoder().encode(ProbeResult(probe: probe, passed: false))) as? [String: Any]
        #expect(encoded?["ok"] as? Bool == false)
        let old = try JSONDecoder().decode(ProbeResult.self, from: Data(#"{"probe": {"from": "a", "to": "b", "flow": "icmp", "expect": true}, "passed": true}"#.utf8))
        #expect(old.ok && old.blockedBy == nil)

        // A network without an endpoint: the probe fails, saying so, and nothing runs for it.
        let results = try await ProbeRunner(endpoints: [ProbeEndpoint(network: "mgmt", namespace: "ns-mgmt", address: "10.30.0.10")])
            .run([probe, Probe(from: "acme-web", to: "mgmt", flow: "tcp/22", expect: true)])
        #expect(results.count == 2 && results.allSatisfy { !$0.ok })
        #expect(results.allSatisfy { $0.error?.contains("no probe endpoint on acme-web") == true }, "\(results)")
        #expect(results[0].summary.contains("no probe endpoint on acme-web"))

        // What ping prints: a refusal from the network counts; "host unreachable" (nobody answered ARP) does not.
        #expect(ProbeRunner.refusal(inPingOutput: "PING 10.110.0.10 (10.110.0.10) 56(84) bytes of data.\nFrom 10.30.0.1 icmp_seq=1 Destination Net Unreachable\n")
                == "refused by 10.30.0.1: ICMP destination net unreachable")
        #expect(ProbeRunner.refusal(inPingOutput: "From 192.0.2.1 icmp_seq=1 Packet filtered\n") == "refused by 192.0.2.1: ICMP packet filtered")
        #expect(ProbeRunner.refusal(inPingOutput: "From 10.110.0.1 icmp_seq=1 Destination Host Unreachable\n") == nil)
        #expect(ProbeRunner.refusal(inPingOutput: "ping: connect: Network is unreachable\n") == nil, "a local error is no answer from the network")
        #expect(ProbeRunner.refusal(inPingOutput: "\n--- 10.110.0.10 ping statistics ---\n1 packets transmitted, 0 received, 100% packet loss\n") == nil)
    }

    @Test("the firewall's default drop is a counted rule; its totals are state, not drift; the evidence knows each network's gateway")
    func defaultDropCounter() throws {
        let intent = try IntentTests.example()
        let table = try NftablesRenderer().render(intent, device: "osl1-border1")
        #expect(table.contains("\t\tcounter drop comment \"default drop\"\n\t}\n}\n"))
        let listed = table.replacingOccurrences(of: "counter drop", with: "counter packets 17 bytes 1428 drop")
        #expect(DriftDetector.compare(device: "r", driver: "nftables", rendered: table, running: listed).isEmpty)
        let json = #"{"nftables": [{"metainfo": {"version": "1.0.6"}}, {"chain": {"family": "inet", "table": "dataverket", "name": "forward"}}, {"rule": {"family": "inet", "table": "dataverket", "chain": "forward", "handle": 9, "comment": "mgmt -> oob tcp/22", "expr": [{"counter": {"packets": 99, "bytes": 1}}, {"accept": null}]}}, {"rule": {"family": "inet", "table": "dataverket", "chain": "forward", "handle": 12, "comment": "default drop", "expr": [{"counter": {"packets": 17, "bytes": 1428}}, {"drop": null}]}}]}"#
        #expect(Nftables.defaultDrops(json: json) == 17)
        #expect(Nftables.defaultDrops(json: "not json") == 0)

        let catalog = DeviceCatalog(devices: [
            DeviceTarget(name: "osl1-border1", driver: "frr", namespace: "p-border1", vtySocket: "/x", runDirectory: "/y",
                         vrfs: ["tenant-acme": "p-vrf-acme", "tenant-globex": "p-vrf-globex", "sovereign": "p-vrf-sov"]),
            DeviceTarget(name: "osl1-border1", driver: "nftables", namespace: "p-border1"),
        ])
        let evidence = NetworkDevices(catalog: catalog).probeEvidence(for: intent)
        #expect(evidence.gateways["acme-web"] == "p-vrf-acme" && evidence.gateways["mgmt"] == "p-border1", "\(evidence.gateways)")
        #expect(evidence.gateways["external"] == nil && evidence.defaultDrops != nil)
        #expect(NetworkDevices(catalog: DeviceCatalog(devices: [])).probeEvidence(for: intent).defaultDrops == nil)
    }

    @Test("OVS format: rendered per profile, parsed back, and malformed lines refused with the line named")
    func ovsFormat() async throws {
        let text = try OVSRenderer().render(try IntentTests.example(), device: "osl1-leaf1")
        #expect(text == """
            port Ethernet1 tag=110 mtu=9216
            port Ethernet2 tag=120 mtu=9216
            port Ethernet3 tag=30 mtu=1500
            port Ethernet4 tag=20 mtu=1500
            port bond48 bond=Ethernet48,Ethernet49 lacp=active trunks=10,20,30,110,120,200,300 vlan_mode=trunk mtu=9216

            """)
        var native = try IntentTests.example()
        native.portProfiles![1] = .init(name: "server-acme", mode: "trunk", network: "provisioning", allowed: ["acme-web"], mtu: 9216)
        #expect(try OVSRenderer().render(native, device: "osl1-leaf1").contains("port Ethernet1 tag=20 trunks=20,110 vlan_mode=native-untagged"))
        var single = try IntentTests.example()
        single.portProfiles![1].lacp = true
        #expect(try OVSRenderer().render(single, device: "osl1-leaf1").contains("port Ethernet1 lacp=active tag=110 mtu=9216\n"), "LACP on one link")
        for bad in ["interface Ethernet1", "port Ethernet1 tag=5000", "port Ethernet1 trunks=1,x", "port Ethernet1 color=blue",
                    "port Ethernet1\nport Ethernet1", "port a/b", "port Ethernet1 vlan_mode=sideways", "port b1 bond=Ethernet1",
                    "port b1 bond=Ethernet1,Ethernet1", "port b1 bond=E1,E2 lacp=sometimes", "port b1 bond=E1,E2\nport b2 bond=E2,E3",
                    "port Ethernet1 mtu=9", "port Ethernet1 mtu=jumbo"] {
            await #expect(throws: DataverketError.self, "\(bad)") { try await OpenVSwitch(device: "leaf", database: "/nonexistent").check(bad) }
        }
    }

    @Test("FRR and nftables read-backs compare with what was rendered, whatever order and wrapping the platform prints")
    func normalization() {
        let rendered = "interface oob\n ip address 10.10.0.1/24\nexit\n!\nrouter bgp 65010\n neighbor 198.51.100.1 remote-as 64500\n !\n address-family ipv4 unicast\n  network 192.0.2.0/26\n exit-address-family\nexit\n"
        let running = "router bgp 65010\n neighbor 198.51.100.1 remote-as 64500\n !\n address-family ipv4 unicast\n  network 192.0.2.0/26 \n exit-address-family\nexit\n!\ninterface oob\n ip address 10.10.0.1/24\nexit\nend\n"
        #expect(FRRouting.paths(rendered).sorted() == FRRouting.paths(running).sorted())
        #expect(FRRouting.paths(rendered).contains("router bgp 65010 › address-family ipv4 unicast › network 192.0.2.0/26"))
        #expect(DriftDetector.compare(device: "r", driver: "frr", rendered: rendered, running: running).isEmpty)

        let nft = "table inet t {\n\tset s {\n\t\telements = { 10.20.0.0/24, 10.10.0.0/24 }\n\t}\n}\n"
        let wrapped = "table inet t {\n\tset s {\n\t\telements = { 10.10.0.0/24,\n\t\t\t     10.20.0.0/24 }\n\t}\n}\n"
        #expect(Nftables.canonical(nft) == Nftables.canonical(wrapped))
        #expect(DriftDetector.compare(device: "r", driver: "nftables", rendered: nft, running: wrapped).isEmpty)
        let missing = DriftDetector.compare(device: "r", driver: "nftables", rendered: nft, running: "")
        #expect(missing.map(\.kind) == ["missing"] && missing.first?.object == "table inet t")
    }

    @Test("VRFs as namespaces: FRR names the VRF after its namespace; the namespaces FRR shows as VRFs are neither drift nor deleted by a reload")
    func namespaceVRFs() throws {
        let rendered = try FRRRenderer(vrfNames: ["tenant-acme": "lab-vrf-acme"]).render(try IntentTests.example(), device: "osl1-border1")
        #expect(rendered.contains("interface acme-web vrf lab-vrf-acme\n ip address 10.110.0.1/24\n"), "\(rendered)")
        #expect(rendered.contains("interface globex-app vrf tenant-globex\n"), "a VRF without a namespace keeps its intent name")
        #expect(rendered.contains("interface mgmt\n ip address 10.30.0.1/24\n"), "networks of the default table have no VRF")

        let running = ["frr defaults datacenter", "vrf lab-h1", " netns /run/netns/lab-h1", "exit-vrf", "!", "vrf lab-vrf-acme",
                       " netns /run/netns/lab-vrf-acme", " ip route 10.9.0.0/24 10.110.0.10", "exit-vrf", "!", "interface mgmt",
                       " ip address 10.30.0.1/24", "exit", "!"]
        #expect(FRRouting.namespaceVRFs(running.joined(separator: "\n")).map(\.name) == ["lab-h1", "lab-vrf-acme"])
        #expect(FRRouting.withoutNamespaceVRFs(running) == ["frr defaults datacenter", "vrf lab-vrf-acme", " ip route 10.9.0.0/24 10.110.0.10",
                                                            "exit-vrf", "!", "interface mgmt", " ip address 10.30.0.1/24", "exit", "!"])
        let candidate = "frr defaults datacenter\nvrf lab-vrf-acme\n ip route 10.9.0.0/24 10.110.0.10\nexit-vrf\n!\n"
        let full = FRRouting.withNamespaceVRFs(candidate, FRRouting.namespaceVRFs(running.joined(separator: "\n")))
        #expect(full == "frr defaults datacenter\nvrf lab-vrf-acme\n netns /run/netns/lab-vrf-acme\n ip route 10.9.0.0/24 10.110.0.10\nexit-vrf\n!\n"
                + "vrf lab-h1\n netns /run/netns/lab-h1\nexit-vrf\n!\n", "\(full)")
        #expect(FRRouting.withNamespaceVRFs(candidate, []) == candidate)
    }

    @Test("FRR merge: the candidate's top-level stanzas and global lines replace theirs; the rest stays")
    func frrMerge() {
        let running = "frr defaults traditional\nno ip forwarding\n!\ninterface oob\n ip address 10.10.0.1/24\nexit\n!\ninterface mgmt\n ip address 10.30.0.1/24\nexit\n!\n"
            + "router bgp 65010\n neighbor 198.51.100.1 remote-as 64500\n !\n address-family ipv4 unicast\n  network 192.0.2.0/26\n exit-address-family\nexit\n!\n"
        let candidate = "frr defaults datacenter\nip forwarding\n!\ninterface mgmt\n ip address 10.30.0.2/24\nexit\n!\ninterface dmz\n ip address 10.40.0.1/24\nexit\n!\n"
        let merged = FRRouting.mergedConfig(candidate, into: running)
        let paths = Set(FRRouting.paths(merged))
        #expect(paths.isSuperset(of: ["frr defaults datacenter", "ip forwarding", "interface oob › ip address 10.10.0.1/24",
                                      "interface mgmt › ip address 10.30.0.2/24", "interface dmz › ip address 10.40.0.1/24",
                                      "router bgp 65010 › address-family ipv4 unicast › network 192.0.2.0/26"]), "\(merged)")
        #expect(!paths.contains("interface mgmt › ip address 10.30.0.1/24") && !paths.contains("no ip forwarding")
                && !paths.contains("frr defaults traditional"), "\(merged)")
        #expect(FRRouting.mergedConfig("", into: running).contains("router bgp 65010\n neighbor 198.51.100.1 remote-as 64500"))
    }

    @Test("vtysh's JSON: one object or several printed one after another (vrf all); braces inside strings do not count")
    func vtyshJSON() throws {
        let text = "{\n  \"10.1.0.0/24\":[{\"protocol\":\"connected\",\"vrfName\":\"a}{\"}]\n}\n{\n  \"10.2.0.0/30\":[]\n}\n"
        #expect(FRRouting.topLevelObjects(text).count == 2)
        let objects = try FRRouting.objects(text, device: "r")
        #expect(objects.map { $0.keys.sorted() } == [["10.1.0.0/24"], ["10.2.0.0/30"]])
        #expect(try FRRouting.objects("", device: "r").isEmpty)
        #expect(throws: DataverketError.self) { try FRRouting.objects("{\"a\": nope}", device: "r") }
    }

    @Test("drift is typed per object; OVS drift folds into the intent, other drift is refused")
    func drift() throws {
        let rendered = "port Ethernet1 tag=110\nport Ethernet2 tag=120\nport Ethernet3 tag=30\n"
        let running = "port Ethernet1 tag=120\nport Ethernet3 tag=30\nport Ethernet9 tag=200\n"
        let items = DriftDetector.compare(device: "osl1-leaf1", driver: "ovs", rendered: rendered, running: running)
        #expect(items.map { "\($0.kind) \($0.object)" } == ["modified port Ethernet1", "missing port Ethernet2", "extra port Ethernet9"])
        let folded = try DriftDetector.fold(items, into: try IntentTests.example())
        let leaf1 = Dictionary(uniqueKeysWithValues: folded.ports!.filter { $0.device == "osl1-leaf1" }.map { ($0.interface, $0.profile) })
        #expect(leaf1["Ethernet1"] == "server-globex" && leaf1["Ethernet2"] == nil)
        #expect(leaf1["Ethernet9"] == "server-health", "an existing profile for VLAN 200 is reused")
        #expect(IntentVerifier.verify(folded).ok, "\(IntentVerifier.verify(folded).problems)")
        #expect(try OVSRenderer().render(folded, device: "osl1-leaf1").contains("port Ethernet9 tag=200"))

        let unknown = DriftDetector.compare(device: "osl1-leaf1", driver: "ovs", rendered: "", running: "port Ethernet7 tag=777\n")
        #expect(throws: DataverketError.self) { try DriftDetector.fold(unknown, into: try IntentTests.example()) }
        let router = DriftDetector.compare(device: "osl1-border1", driver: "frr", rendered: "interface oob\n ip address 10.10.0.1/24\nexit\n",
                                           running: "interface oob\n ip address 10.10.0.9/24\nexit\n")
        #expect(router.map(\.kind) == ["modified"])
        #expect(throws: DataverketError.self) { try DriftDetector.fold(router, into: try IntentTests.example()) }
    }

    @Test("the device catalog: drivers checked at load, targets ordered leaves first, a router's FRR before its firewall")
    func catalog() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("dv-devices-\(ULID.make()).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(#"{"devices": [{"name": "osl1-border1", "driver": "nftables"}, {"name": "osl1-border1", "driver": "frr"}, {"name": "osl1-leaf2", "driver": "ovs"}, {"name": "osl1-leaf1", "driver": "ovs"}, {"name": "elsewhere", "driver": "ovs"}]}"#.utf8)
            .write(to: URL(fileURLWithPath: path))
        let devices = NetworkDevices(catalog: try DeviceCatalog.load(path: path))
        let order = devices.targets(for: try IntentTests.example()).map(\.key)
        #expect(order == ["osl1-leaf1/ovs", "osl1-leaf2/ovs", "osl1-border1/frr", "osl1-border1/nftables"])
        #expect(devices.targets(for: try IntentTests.example(), only: ["osl1-leaf2"]).map(\.key) == ["osl1-leaf2/ovs"])
        try Data(#"{"devices": [{"name": "x", "driver": "junos"}]}"#.utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: DataverketError.self) { try DeviceCatalog.load(path: path) }
        try Data("not json".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: DataverketError.self) { try DeviceCatalog.load(path: path) }
        #expect(throws: DataverketError.self) { try DeviceCatalog.load(path: path + ".missing") }
    }

    @Test("OVS driver: staged, diffed, committed in one transaction, read back; an unconfirmed commit rolls itself back")
    func ovsDriver() async throws {
        try await withOpenVSwitch { dir in
            let driver = OVSDriver(OpenVSwitch(device: "osl1-leaf1", database: dir + "/db.sock"))
            #expect(try await driver.runningConfig() == "")
            let candidate = try OVSRenderer().render(try IntentTests.example(), device: "osl1-leaf1")
            try await driver.stage(candidate, mode: .replace)
            #expect(try await driver.diff().contains("+ port bond48 bond=Ethernet48,Ethernet49 lacp=active trunks=10,20,30,110,120,200,300 vlan_mode=trunk mtu=9216"))
            try await driver.commit(confirmWithin: nil)
            #expect(try await driver.runningConfig() == candidate)
            let facts = try await driver.facts()
            #expect(facts["platform"] == "ovs" && facts["ports"] == "5", "\(facts)")
            // Merge: the candidate's ports replace theirs (a bond takes its members' old ports with it); the rest stays.
            try await driver.stage("port Ethernet2 tag=30 mtu=1500\nport Ethernet9 tag=10\n", mode: .merge)
            let merge = try await driver.diff()
            #expect(Set(merge) == ["- port Ethernet2 tag=120 mtu=9216", "+ port Ethernet2 tag=30 mtu=1500", "+ port Ethernet9 tag=10"], "\(merge)")
            try await driver.discard()
            let rebond = try OpenVSwitch(device: "leaf", database: "/nonexistent").merged("port bond1 bond=Ethernet1,Ethernet2\n", into: candidate)
            #expect(!rebond.contains("port Ethernet1 ") && !rebond.contains("port Ethernet2 ") && rebond.contains("port bond1 bond=Ethernet1,Ethernet2"),
                    "\(rebond)")
            await #expect(throws: DataverketError.self) { try await driver.stage("port Ethernet1 tag=0", mode: .merge) }
            await #expect(throws: DataverketError.self) { try await driver.stage("port Ethernet1 tag=0", mode: .replace) }

            // A commit nobody confirms is rolled back when its time is up.
            try await driver.stage("port Ethernet1 tag=120\n", mode: .replace)
            try await driver.commit(confirmWithin: .milliseconds(500))
            #expect(try await driver.runningConfig() == "port Ethernet1 tag=120\n")
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(10)
            while try await driver.runningConfig() != candidate, clock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
            #expect(try await driver.runningConfig() == candidate)
            let rollbackError = await driver.rollbackError
            #expect(rollbackError == nil, "\(rollbackError ?? "")")

            // A confirmed one stays; rollback afterwards goes back to the checkpoint.
            try await driver.stage("port Ethernet2 tag=30\n", mode: .replace)
            try await driver.commit(confirmWithin: .milliseconds(300))
            try await driver.confirm()
            try await Task.sleep(for: .milliseconds(600))
            #expect(try await driver.runningConfig() == "port Ethernet2 tag=30\n")
            try await driver.rollback()
            #expect(try await driver.runningConfig() == candidate)
            await #expect(throws: DataverketError.self) { try await driver.confirm() }
        }
    }

    @Test("rollout: committed and confirmed on the real nft; a commit whose timer fires before the probes finish fails the changeset and is rolled back")
    func rolloutConfirmation() async throws {
        try await NftablesDriverTests.withNamespace { namespace in
            let catalog = DeviceCatalog(devices: [DeviceTarget(name: "osl1-border1", driver: "nftables", namespace: namespace)], endpoints: [])
            let rollout = Rollout(devices: NetworkDevices(catalog: catalog), logger: Logger(label: "test"))
            let intent = try IntentTests.example()
            let planned = await rollout.plan(intent)
            #expect(planned.map(\.state) == ["pending"] && planned.first?.diff.isEmpty == false, "\(planned)")

            let applied = try await rollout.apply(intent, confirmWithin: .seconds(30))
            #expect(applied.ok && applied.steps.map(\.state) == ["confirmed"], "\(applied)")
            let again = try await rollout.apply(intent, confirmWithin: .seconds(30))
            #expect(again.ok && again.steps.map(\.state) == ["unchanged"], "\(again)")

            var changed = intent
            changed.rules = (changed.rules ?? []) + [NetworkIntent.Rule(from: "mgmt", to: "public-lb", protocol: "tcp", port: 80)]
            let late = try await rollout.apply(changed, confirmWithin: .milliseconds(1), progress: { _ in try await Task.sleep(for: .milliseconds(200)) })
            #expect(!late.ok && late.failure?.contains("could not be confirmed") == true, "\(late)")
            #expect(late.steps.map(\.state) == ["rolled-back"], "\(late.steps)")
            let running = try await Nftables(device: "osl1-border1", namespace: namespace).read()
            #expect(!running.contains("mgmt -> public-lb") && running.contains("mgmt -> oob tcp/22"), "\(running)")
        }
    }
}
