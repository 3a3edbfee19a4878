import DataverketBus
import DataverketCore
import DataverketProcess
import DVCommands
import Foundation
import Nett
import NettIntent
import Sentral
import DataverketTasks
import DataverketServer
import Testing
import DataverketTestSupport

/// The network lab (`scripts/lab fabric`, docs/lab.md): two Open vSwitch leaves with a trunk, an FRR + nftables border
/// router with eBGP to an upstream FRR, and hosts on access ports, all in network namespaces. `dvnet apply` applies
/// examples/network-osl1.yaml through the server's changeset task; probes prove the matrix; out-of-band edits show up
/// as drift and are accepted or remediated; a bad changeset is rolled back on every device it touched. Needs root;
/// `scripts/test` runs it in its own pass.
@Suite("Network lab (OVS leaves, FRR + nftables border, namespaces)")
struct NetworkLabTests {
    static let example = "examples/network-osl1.yaml"

    /// Runs `body` with a fresh fabric (its own namespace prefix) and a server whose Nett drives it.
    static func withFabric(_ body: @Sendable @escaping (TestServer, DeviceCatalog, NetworkDevices) async throws -> Void) async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("dv-fabric-\(ULID.make())").path
        let prefix = "dvt" + String(ULID.make().suffix(5)).lowercased()
        let up = try await BareMetalLabTests.lab(["fabric", "up", "--state", state, "--prefix", prefix], timeout: .seconds(300))
        try #require(up.code == 0, "scripts/lab fabric up failed:\n\(up.output)")
        do {
            let catalog = try DeviceCatalog.load(path: state + "/fabric.json")
            // A second view of the devices for the test's own read-backs (the server's drivers keep their own state).
            let mine = NetworkDevices(catalog: catalog)
            let bus = InProcessBus(logger: quietLogger)
            try await bus.provision()
            try await withDatabase(.sqlite) { database in
                let sentral = ControlPlane(database: database, bus: bus)
                let nett = NettPlane(sentral: sentral, devices: NetworkDevices(catalog: catalog), logger: quietLogger)
                try await runServer(sentral, bus: bus, nett: nett) { server in
                    try await body(server, catalog, mine)
                }
            }
        } catch {
            try await BareMetalLabTests.lab(["fabric", "down", "--state", state, "--prefix", prefix])
            throw error
        }
        let down = try await BareMetalLabTests.lab(["fabric", "down", "--state", state, "--prefix", prefix])
        #expect(down.code == 0, "\(down.output)")
        try? FileManager.default.removeItem(atPath: state)
    }

    static func dvnet(_ server: TestServer, _ arguments: [String], token: String? = nil) async -> (code: Int32, out: String, err: String) {
        await run(DVNetCommand.self, arguments + ["--server", server.baseURL, "--token", token ?? server.token])
    }

    /// Every device's running configuration, by `device/driver`.
    static func snapshot(_ devices: NetworkDevices) async throws -> [String: String] {
        var configs: [String: String] = [:]
        for target in devices.targets {
            configs[target.key] = try await devices.driver(for: target).runningConfig()
        }
        return configs
    }

    static func intentFile(_ intent: NetworkIntent) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("dv-intent-\(ULID.make()).json").path
        try JSONEncoder().encode(intent).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("apply osl1: probes prove the matrix; drift found, accepted with approval and remediated; a bad changeset is rolled back everywhere; bad input touches nothing")
    func fabric() async throws {
        try await Self.withFabric { server, catalog, devices in
            // Before: switch ports carry nothing, the border has no addresses, no firewall table.
            let before = try await Self.snapshot(devices)
            #expect(before["osl1-leaf1/ovs"] == "" && before["osl1-border1/nftables"] == "", "\(before)")

            // 0. The plan reads every device back and shows what applying would change there (touching nothing).
            let planned = await Self.dvnet(server, ["plan", "-f", Self.example])
            #expect(planned.code == 0 && planned.out.contains("changes against nothing applied yet:"), "\(planned)")
            #expect(planned.out.contains("osl1-leaf1 (ovs): 5 lines change") && planned.out.contains("    + port Ethernet1 tag=110 mtu=9216"), "\(planned.out)")
            #expect(planned.out.contains("    + interface acme-web vrf "), "\(planned.out)")
            #expect(try await Self.snapshot(devices) == before)

            // 1. Apply the example as a changeset task and wait for it.
            let applied = await Self.dvnet(server, ["apply", "-f", Self.example, "--wait", "--timeout", "240"])
            #expect(applied.code == 0, "\(applied)")
            #expect(applied.out.contains("(apply): applied"), "\(applied.out)")
            #expect(applied.out.contains("probes: 60/60 as intended"), "\(applied.out)")
            for device in ["osl1-leaf1 (ovs): confirmed", "osl1-leaf2 (ovs): confirmed", "osl1-border1 (frr): confirmed",
                           "osl1-border1 (nftables): confirmed"] {
                #expect(applied.out.contains(device), "\(device) missing in \(applied.out)")
            }
            let border = try #require(catalog.devices.first { $0.driver == "frr" })
            let frr = FRRouting(device: border.name, namespace: border.namespace, vtySocket: border.vtySocket!, runDirectory: border.runDirectory!)
            #expect(try await frr.bgpNeighbors().first { $0.address == "198.51.100.1" }?.state == "Established")
            let good = try await Self.snapshot(devices)
            #expect(good["osl1-leaf2/ovs"]?.contains("port Ethernet41 tag=10") == true, "\(good)")
            #expect(good["osl1-border1/nftables"]?.contains("mgmt -> oob tcp/22") == true, "\(good)")
            // Port profiles' MTUs reach the kernel interfaces (OVS's mtu_request): 9216 for acme's server, 1500 for mgmt's.
            let leaf1 = try #require(catalog.devices.first { $0.name == "osl1-leaf1" })
            for (interface, mtu) in [("Ethernet1", "mtu 9216"), ("Ethernet3", "mtu 1500"), ("Ethernet48", "mtu 9216")] {
                let link = try await runSubprocess("/usr/sbin/ip", ["-n", leaf1.namespace!, "-o", "link", "show", interface], environment: [:],
                                                   timeout: .seconds(10))
                #expect(link?.stdout.contains(mtu) == true, "\(interface): \(link?.stdout ?? "timeout")")
            }
            // The inter-leaf trunk is an LACP bond of two links, negotiated by the two Open vSwitch instances.
            for leaf in catalog.devices where leaf.driver == "ovs" {
                let lacp = try await runSubprocess("/usr/bin/ovs-appctl", ["-t", leaf.control!, "lacp/show", "bond48"], environment: [:],
                                                   timeout: .seconds(10))
                #expect(lacp?.stdout.contains("status: active negotiated") == true, "\(leaf.name): \(lacp?.stdout ?? "timeout")")
            }
            // The border's VRFs are namespaces (FRR's netns VRF backend): the tenant's leg and its address live in
            // the VRF's namespace, FRR configures it there, and the firewall table is loaded there too.
            let vrfs = try #require(border.vrfs)
            let acme = try #require(vrfs["tenant-acme"])
            #expect(try await frr.read().contains("interface acme-web vrf \(acme)"))
            let leg = try await runSubprocess("/usr/sbin/ip", ["-n", acme, "-o", "addr", "show", "dev", "acme-web"], environment: [:], timeout: .seconds(10))
            #expect(leg?.stdout.contains("10.110.0.1/24") == true, "\(leg?.stdout ?? "timeout")")
            let borderLegs = try await runSubprocess("/usr/sbin/ip", ["-n", border.namespace!, "-o", "link"], environment: [:], timeout: .seconds(10))
            #expect(borderLegs?.stdout.contains("acme-web") == false, "\(borderLegs?.stdout ?? "timeout")")
            for namespace in vrfs.values {
                let table = try await runSubprocess("/usr/sbin/ip", ["netns", "exec", namespace, "/usr/sbin/nft", "list", "table", "inet", "dataverket"],
                                                    environment: [:], timeout: .seconds(10))
                #expect(table?.status == 0 && table?.stdout.contains("mgmt -> oob tcp/22") == true, "\(namespace): \(table?.stderr ?? "timeout")")
            }
            let acmeHost = try #require(catalog.endpoints?.first { $0.network == "acme-web" })
            let gateway = try await runSubprocess("/usr/sbin/ip", ["netns", "exec", acmeHost.namespace, "/usr/bin/ping", "-c1", "-W2", "10.110.0.1"],
                                                  environment: [:], timeout: .seconds(10))
            #expect(gateway?.status == 0, "the acme host cannot reach its gateway in the VRF: \(gateway?.stdout ?? "timeout")")

            // Probes expected to be blocked carry positive evidence (issue 16 §4): across a VRF boundary the border
            // answers "net unreachable"; inside a VRF the firewall's default-drop counter rises while the probe runs
            // alone; and each target answered someone in the same run (an allowed probe, or a ping from its own segment).
            let intent = try NetworkIntent.load(yaml: String(contentsOfFile: Self.example, encoding: .utf8))
            let endpoints = catalog.endpoints ?? []
            let evidence = devices.probeEvidence(for: intent)
            let proven = try await ProbeRunner(endpoints: endpoints, evidence: evidence).run(ProbePlanner.plan(intent, endpoints: endpoints))
            #expect(proven.count == 60 && proven.allSatisfy(\.ok), "\(proven.filter { !$0.ok }.map(\.summary))")
            let blocked = proven.filter { !$0.probe.expect }
            #expect(blocked.contains { $0.blockedBy?.contains("ICMP destination net unreachable") == true }, "\(blocked.map(\.summary))")
            #expect(blocked.contains { $0.blockedBy?.contains("default drop") == true }, "\(blocked.map(\.summary))")
            #expect(blocked.contains { $0.targetAnswered?.contains("own segment") == true }, "\(blocked.map { $0.targetAnswered ?? "-" })")
            // Without the firewall's counter a silent drop proves nothing; a target that is gone answers nobody — both fail.
            let silent = Probe(from: "mgmt", to: "public-lb", flow: "icmp", expect: false)
            let blind = try await ProbeRunner(endpoints: endpoints, evidence: ProbeEvidence(gateways: evidence.gateways)).run([silent])
            #expect(blind.count == 1 && blind[0].ok == false && blind[0].blockedBy == nil, "\(blind.map(\.summary))")
            let gone = endpoints.map { $0.network == "acme-web" ? ProbeEndpoint(network: "acme-web", namespace: $0.namespace, address: "10.110.0.99") : $0 }
            let lost = try await ProbeRunner(endpoints: gone, evidence: evidence).run([Probe(from: "mgmt", to: "acme-web", flow: "icmp", expect: false)])
            #expect(lost.count == 1 && lost[0].ok == false && lost[0].targetAnswered == nil, "\(lost.map(\.summary))")
            // The normalized getters, read through the API: the leaf's interfaces, VLANs and learned MACs (the probes
            // just talked through it), the border's BGP session, routes and the VRF's interface.
            let leafState = await Self.dvnet(server, ["device", "show", "osl1-leaf1", "-o", "json"])
            let leafItem = try #require((try JSONSerialization.jsonObject(with: Data(leafState.out.utf8)) as? [[String: Any]])?.first, "\(leafState)")
            let leafInterfaces = leafItem["interfaces"] as? [[String: Any]] ?? []
            #expect(leafInterfaces.contains { $0["name"] as? String == "Ethernet1" && $0["mtu"] as? Int == 9216 && $0["up"] as? Bool == true },
                    "\(leafInterfaces)")
            let vlan110 = (leafItem["vlans"] as? [[String: Any]] ?? []).first { $0["vlan"] as? Int == 110 }
            #expect(vlan110?["untagged"] as? [String] == ["Ethernet1"] && vlan110?["tagged"] as? [String] == ["bond48"], "\(String(describing: vlan110))")
            let macs = leafItem["macTable"] as? [[String: Any]] ?? []
            #expect(macs.contains { $0["vlan"] as? Int == 110 && $0["interface"] as? String == "Ethernet1" }, "\(macs)")
            #expect(macs.contains { $0["vlan"] as? Int == 110 && $0["interface"] as? String == "bond48" }, "learned over the trunk: the bond, not its member: \(macs)")
            let borderState = await Self.dvnet(server, ["device", "show", "osl1-border1", "-o", "json"])
            let borderItems = try #require(try JSONSerialization.jsonObject(with: Data(borderState.out.utf8)) as? [[String: Any]], "\(borderState)")
            let frrState = try #require(borderItems.first { $0["driver"] as? String == "frr" })
            #expect((frrState["errors"] as? [String] ?? []).isEmpty, "\(frrState["errors"] ?? "")")
            #expect((frrState["bgpNeighbors"] as? [[String: Any]] ?? []).contains {
                $0["address"] as? String == "198.51.100.1" && $0["state"] as? String == "Established" && $0["remoteAS"] as? Int == 64500
            }, "\(frrState["bgpNeighbors"] ?? "none")")
            let routes = frrState["routes"] as? [[String: Any]] ?? []
            #expect(routes.contains { $0["prefix"] as? String == "203.0.113.0/24" && $0["protocolName"] as? String == "bgp" && $0["selected"] as? Bool == true },
                    "\(routes)")
            #expect(routes.contains { $0["prefix"] as? String == "10.110.0.0/24" && $0["vrf"] as? String == acme }, "\(routes)")
            #expect((frrState["interfaces"] as? [[String: Any]] ?? []).contains {
                $0["name"] as? String == "acme-web" && $0["vrf"] as? String == acme && ($0["addresses"] as? [String])?.contains("10.110.0.1/24") == true
            }, "\(frrState["interfaces"] ?? "none")")
            // zebra -n sees every namespace of the machine as a VRF; the getters report the border's own only.
            let reported = Set((frrState["interfaces"] as? [[String: Any]] ?? []).compactMap { $0["vrf"] as? String })
                .union(routes.compactMap { $0["vrf"] as? String })
            #expect(reported.isSubset(of: Set(vrfs.values).union(["default"])), "\(reported)")
            let borderTable = await Self.dvnet(server, ["device", "show", "osl1-border1"])
            #expect(borderTable.code == 0 && borderTable.out.contains("BGP neighbors:") && borderTable.out.contains("osl1-border1 (nftables):"), "\(borderTable)")
            let devicesList = await Self.dvnet(server, ["device", "list"])
            #expect(devicesList.code == 0 && devicesList.out.components(separatedBy: "\n").filter { $0.hasPrefix("osl1-") }.count == 4, "\(devicesList)")

            let replanned = await Self.dvnet(server, ["plan", "-f", Self.example])
            #expect(replanned.code == 0 && replanned.out.contains("no changes against the intent applied last"), "\(replanned)")
            #expect(replanned.out.components(separatedBy: "\n").filter { $0.hasSuffix("): no change") }.count == 4, "\(replanned.out)")
            let clean = await Self.dvnet(server, ["drift"])
            #expect(clean.code == 0 && clean.out.contains("no drift"), "\(clean)")

            // 2. Out-of-band edits by hand: a port's MTU raised with ovs-vsctl (mgmt's server port to jumbo frames), an
            //    address added with vtysh, the firewall chain flushed with nft in one VRF namespace. (The port keeps its
            //    VLAN: re-tagging a host's port strands that host, and the probes — which need every target to answer
            //    someone — would rightly refuse to accept that drift.)
            let retag = try await runSubprocess("/usr/bin/ovs-vsctl", ["--db=unix:\(leaf1.database!)", "set", "interface", "Ethernet3", "mtu_request=9216"],
                                                environment: [:], timeout: .seconds(20))
            #expect(retag?.status == 0)
            _ = try await frr.vtysh(["configure terminal", "interface mgmt", "ip address 10.30.0.254/24"])
            let sovereign = try #require(vrfs["sovereign"])
            let flushed = try await runSubprocess("/usr/sbin/ip", ["netns", "exec", sovereign, "/usr/sbin/nft", "flush", "chain", "inet", "dataverket", "forward"],
                                                  environment: [:], timeout: .seconds(10))
            #expect(flushed?.status == 0, "\(flushed?.stderr ?? "timeout")")
            let drift = await Self.dvnet(server, ["drift"])
            #expect(drift.code == 0, "\(drift)")
            #expect(drift.out.contains("osl1-leaf1 (ovs): modified port Ethernet3") && drift.out.contains("+ port Ethernet3 tag=30 mtu=9216"), "\(drift.out)")
            #expect(drift.out.contains("osl1-border1 (frr): extra interface mgmt") || drift.out.contains("osl1-border1 (frr): modified interface mgmt"),
                    "\(drift.out)")
            #expect(drift.out.contains("osl1-border1 (nftables): modified") && drift.out.contains("VRF namespace \(sovereign) differs"), "\(drift.out)")
            let json = try await server.raw(.GET, "/v1/network/drift?device=osl1-leaf1")
            let items = (try JSONSerialization.jsonObject(with: Data(json.body.utf8)) as? [String: Any])?["items"] as? [[String: Any]] ?? []
            #expect(json.status == 200 && items.count == 1 && items.first?["kind"] as? String == "modified"
                    && items.first?["object"] as? String == "port Ethernet3", "\(json)")

            // 3. Accept the switch's drift: it becomes a changeset that waits for another admin's approval.
            let accepted = await Self.dvnet(server, ["drift", "accept", "osl1-leaf1", "-o", "json"])
            #expect(accepted.code == 0 && accepted.out.contains("pending-approval"), "\(accepted)")
            let changeset = try #require((try JSONSerialization.jsonObject(with: Data(accepted.out.utf8)) as? [String: Any])?["id"] as? String)
            let selfApproval = await Self.dvnet(server, ["changeset", "approve", changeset])
            #expect(selfApproval.code != 0 && selfApproval.err.contains("another admin"), "\(selfApproval)")
            let operatorToken = try await server.token(for: "user:net-operator", roles: [.operator])
            let operatorApproval = await Self.dvnet(server, ["changeset", "approve", changeset], token: operatorToken)
            #expect(operatorApproval.code != 0 && operatorApproval.err.contains("403"), "\(operatorApproval)")
            let second = try await server.token(for: "user:second-admin", roles: [.platformAdmin])
            let approved = await Self.dvnet(server, ["changeset", "approve", changeset, "--wait", "--timeout", "240"], token: second)
            #expect(approved.code == 0 && approved.out.contains("(accept): applied"), "\(approved)")
            let folded = try await server.raw(.GET, "/v1/network/changesets/\(changeset)")
            let foldedIntent = (try JSONSerialization.jsonObject(with: Data(folded.body.utf8)) as? [String: Any])?["intent"] as? [String: Any]
            let foldedPort = (foldedIntent?["ports"] as? [[String: Any]] ?? []).first { $0["device"] as? String == "osl1-leaf1" && $0["interface"] as? String == "Ethernet3" }
            #expect(foldedPort?["profile"] as? String == "router-mgmt", "the intent's profile for mgmt at 9216: \(folded.body)")

            // 4. Remediate the router's drift: the applied intent is pushed again and the extra address is gone.
            let remediated = await Self.dvnet(server, ["drift", "remediate", "osl1-border1", "--wait", "--timeout", "240"])
            #expect(remediated.code == 0 && remediated.out.contains("(remediate): applied"), "\(remediated)")
            let after = await Self.dvnet(server, ["drift"])
            #expect(after.code == 0 && after.out.contains("no drift"), "\(after)")
            #expect(try await frr.read().contains("10.30.0.254") == false)
            // A merge staged on the real FRR (checked by frr-reload.py --test): its stanza replaces the running one,
            // the rest stays; discarded, nothing applied.
            let frrDriver = FRRDriver(frr)
            try await frrDriver.stage("interface dmz\n ip address 10.40.0.1/24\nexit\n", mode: .merge)
            let merge = try await frrDriver.diff()
            #expect(merge == ["+ interface dmz", "+ interface dmz › ip address 10.40.0.1/24"], "\(merge)")
            try await frrDriver.discard()

            // 5. A bad changeset: valid on paper, but leaf2's port to the border's oob leg is patched into the mgmt VLAN
            //    (and leaf1 and the firewall change too). The probes catch it; every touched device is rolled back.
            let goodAgain = try await Self.snapshot(devices)
            var bad = try NetworkIntent.load(yaml: String(contentsOfFile: Self.example, encoding: .utf8))
            bad.ports = (bad.ports ?? []).map { port in
                var port = port
                if port.device == "osl1-leaf2" && port.interface == "Ethernet41" { port.profile = "router-mgmt" }
                if port.device == "osl1-leaf1" && port.interface == "Ethernet2" { port.profile = "server-acme"; port.needs = nil }
                return port
            }
            bad.rules = (bad.rules ?? []) + [NetworkIntent.Rule(from: "mgmt", to: "public-lb", protocol: "tcp", port: 80)]
            let rolled = await Self.dvnet(server, ["apply", "-f", try Self.intentFile(bad), "--wait", "--timeout", "240"])
            #expect(rolled.code != 0 && rolled.err.contains("rolled back") == false, "\(rolled)")
            #expect(rolled.out.contains("(apply): rolled-back"), "\(rolled)")
            #expect(rolled.out.contains("FAILED mgmt → oob tcp/22"), "\(rolled.out)")
            for device in ["osl1-leaf1 (ovs): rolled-back", "osl1-leaf2 (ovs): rolled-back", "osl1-border1 (nftables): rolled-back"] {
                #expect(rolled.out.contains(device), "\(device) missing in \(rolled.out)")
            }
            #expect(try await Self.snapshot(devices) == goodAgain)

            // 6. Bad input: an overlapping prefix, a VLAN outside the range, a policy violation — 422 naming the
            //    objects, and no device touched.
            var overlapping = try NetworkIntent.load(yaml: String(contentsOfFile: Self.example, encoding: .utf8))
            overlapping.networks[2].prefix = "10.10.0.0/23"
            overlapping.networks[3].vlan = 4000
            overlapping.rules = (overlapping.rules ?? []) + [NetworkIntent.Rule(from: "external", to: "oob", protocol: "tcp", port: 22)]
            let refused = await Self.dvnet(server, ["apply", "-f", try Self.intentFile(overlapping)])
            #expect(refused.code != 0 && refused.err.contains("422"), "\(refused)")
            for needle in ["overlapping-prefix", "network mgmt", "network oob", "vlan-out-of-range", "policy-violation"] {
                #expect(refused.err.contains(needle), "\(needle) missing in \(refused.err)")
            }
            #expect(try await Self.snapshot(devices) == goodAgain)
            let list = await Self.dvnet(server, ["changeset", "list"])
            #expect(list.code == 0 && list.out.components(separatedBy: "\n").filter { $0.hasPrefix("chg_") }.count == 4, "\(list)")
        }
    }
}
