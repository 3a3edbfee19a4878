import DataverketCore
import Foundation
import Nett
import NettIntent
import Testing
import DataverketTestSupport

/// Intent validation and verification on the model: referential checks, the reachability matrix, and the
/// isolation policy (tenant ↔ tenant, tenant → oob/mgmt, sovereignty), before anything touches a device.
@Suite("Network intent")
struct IntentTests {
    static func example() throws -> NetworkIntent {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples/network-osl1.yaml")
        return try NetworkIntent.load(yaml: try String(contentsOf: url, encoding: .utf8), source: "network-osl1.yaml")
    }

    static func codes(_ intent: NetworkIntent) -> [String] { IntentVerifier.verify(intent).problems.map(\.code) }

    static func index(_ intent: NetworkIntent, _ name: String) throws -> Int {
        try #require(intent.networks.firstIndex { $0.name == name })
    }

    @Test("the osl1 example verifies, and its matrix is the intended one")
    func example() throws {
        let intent = try Self.example()
        let report = IntentVerifier.verify(intent)
        #expect(report.ok, "\(report.problems)")
        let matrix = report.matrix
        #expect(matrix.flows(from: "external", to: "public-lb") == ["tcp/443"])
        #expect(matrix.flows(from: "mgmt", to: "oob") == ["tcp/22"])
        #expect(matrix.flows(from: "provisioning", to: "mgmt") == ["tcp/8180"])
        for tenant in ["acme-web", "globex-app", "health-records"] {
            for other in intent.networks.map(\.name) + ["external"] where other != tenant {
                #expect(!matrix.reaches(tenant, other) && !matrix.reaches(other, tenant), "\(tenant) ↔ \(other)")
            }
        }
    }

    @Test("referential problems name the objects: overlap, VLAN range, trunk, duplicate address, gateway, MTU, BGP")
    func referential() throws {
        let base = try Self.example()

        var overlap = base
        overlap.networks[try Self.index(base, "mgmt")].prefix = "10.20.0.0/25"
        let overlapProblem = try #require(IntentVerifier.verify(overlap).problems.first { $0.code == "overlapping-prefix" })
        #expect(overlapProblem.objects == ["network provisioning", "network mgmt"], "\(overlapProblem)")

        var range = base
        range.networks[try Self.index(base, "acme-web")].vlan = 4000
        #expect(Self.codes(range) == ["vlan-out-of-range"])

        var trunk = base
        trunk.portProfiles![0].allowed!.removeAll { $0 == "globex-app" }
        trunk.ports![0].needs = ["provisioning", "globex-app"]
        let trunkProblem = try #require(IntentVerifier.verify(trunk).problems.first)
        #expect(trunkProblem.code == "vlan-not-allowed-on-trunk")
        #expect(trunkProblem.objects == ["port osl1-leaf1:bond48", "port profile leaf-trunk", "network globex-app"])

        var bond = base
        bond.ports![0].members = ["Ethernet48"]
        bond.ports![2].members = ["Ethernet1", "Ethernet48"]
        #expect(Self.codes(bond) == ["malformed-bond", "duplicate-port"], "\(IntentVerifier.verify(bond).problems)")

        var access = base
        access.ports![2].needs = ["acme-web", "globex-app"]
        let accessProblem = try #require(IntentVerifier.verify(access).problems.first)
        #expect(accessProblem.code == "vlan-not-on-access-port")
        #expect(accessProblem.objects == ["port osl1-leaf1:Ethernet1", "port profile server-acme", "network globex-app"])

        var duplicate = base
        duplicate.routers![0].interfaces!.append(.init(network: "mgmt", address: "10.30.0.7/24"))
        duplicate.routers!.append(.init(name: "osl1-border2", asn: 65010, interfaces: [.init(network: "mgmt", address: "10.30.0.7/24")]))
        #expect(Self.codes(duplicate) == ["duplicate-address"])

        var gateway = base
        gateway.networks[try Self.index(base, "oob")].gateway = "10.11.0.1"
        #expect(Self.codes(gateway) == ["gateway-outside-prefix"])

        var mtu = base
        mtu.portProfiles!.append(.init(name: "leaf-trunk-small", mode: "trunk", allowed: ["oob"], mtu: 1500))
        mtu.ports![1].profile = "leaf-trunk-small"
        #expect(Self.codes(mtu) == ["mtu-mismatch"])

        var bgp = base
        bgp.routers![1].bgp = []
        let bgpProblem = try #require(IntentVerifier.verify(bgp).problems.first)
        #expect(bgpProblem.code == "bgp-no-matching-session" && bgpProblem.objects == ["router osl1-border1", "router upstream1"])

        var asn = base
        asn.routers![0].bgp![0].asn = 64999
        #expect(Self.codes(asn).contains("bgp-asn-mismatch"))
    }

    @Test("policy: tenant ↔ tenant, tenant → oob, and sovereign data reached from outside its jurisdiction are rejected")
    func policy() throws {
        let base = try Self.example()

        var tenants = base
        tenants.networks[try Self.index(base, "globex-app")].vrf = "tenant-acme"
        tenants.rules!.append(.init(from: "acme-web", to: "globex-app", protocol: "tcp", port: 5432))
        let tenantProblem = try #require(IntentVerifier.verify(tenants).problems.first)
        #expect(tenantProblem.code == "policy-violation" && tenantProblem.message.hasPrefix("tenant ↔ tenant: acme-web → globex-app (tcp/5432)"))

        var oob = base
        oob.networks[try Self.index(base, "acme-web")].vrf = nil
        oob.rules!.append(.init(from: "acme-web", to: "oob", protocol: "tcp", port: 623))
        #expect(IntentVerifier.verify(oob).problems.map(\.message) == ["tenant → oob: acme-web → oob (tcp/623) opens the oob network"])

        var sovereign = base
        sovereign.networks[try Self.index(base, "health-records")].vrf = nil
        sovereign.rules!.append(.init(from: "external", to: "health-records", protocol: "tcp", port: 443))
        let violation = try #require(IntentVerifier.verify(sovereign).problems.first)
        #expect(violation.message.contains("CRITICAL_SOVEREIGN_HEALTH") && violation.message.contains("outside the border"), "\(violation)")

        var foreign = base
        foreign.networks.append(.init(name: "se-analytics", vlan: 400, vrf: "sovereign", prefix: "10.40.0.0/24", gateway: "10.40.0.1",
                                      role: "storage", jurisdiction: "SE"))
        foreign.rules!.append(.init(from: "se-analytics", to: "health-records", protocol: "tcp", port: 5432))
        #expect(IntentVerifier.verify(foreign).problems.first?.message.contains("from jurisdiction SE") == true)
        // The same flow from a Norwegian network in that VRF is allowed.
        var domestic = foreign
        domestic.networks[domestic.networks.count - 1].jurisdiction = "NO"
        #expect(IntentVerifier.verify(domestic).ok, "\(IntentVerifier.verify(domestic).problems)")
        // A deny rule takes a flow back out of the matrix.
        var denied = sovereign
        denied.rules!.append(.init(from: "external", to: "health-records", protocol: "tcp", port: 443, action: "deny"))
        #expect(IntentVerifier.verify(denied).ok)
    }

    @Test("a changeset's matrix diff shows what it opens and closes")
    func matrixDiff() throws {
        let base = try Self.example()
        var next = base
        next.rules!.removeAll { $0.from == "mgmt" && $0.to == "oob" }
        next.rules!.append(.init(from: "mgmt", to: "public-lb", protocol: "icmp"))
        let (opened, closed) = IntentVerifier.verify(next).matrix.diff(from: IntentVerifier.verify(base).matrix)
        #expect(opened == ["mgmt → public-lb: icmp"])
        #expect(closed == ["mgmt → oob: tcp/22"])
    }

    @Test("malformed intents are refused with the field named")
    func malformed() {
        #expect(throws: DataverketError.self) { try NetworkIntent.load(yaml: "datacenter: osl1\nnetworks: 12\n") }
        do {
            _ = try NetworkIntent.load(yaml: "datacenter: osl1\njurisdiction: NO\nnetworks:\n  - {name: a, vlan: x, prefix: 10.0.0.0/24, role: oob}\n",
                                       source: "n.yaml")
            Issue.record("accepted a VLAN that is not a number")
        } catch {
            #expect(error.message.hasPrefix("n.yaml: networks[0].vlan:"), "\(error.message)")
        }
        var bad = NetworkIntent(datacenter: "osl1", jurisdiction: "NO", networks: [
            .init(name: "a", vlan: 10, prefix: "10.0.0.1/24", role: "oob"),
            .init(name: "b", vlan: 10, prefix: "10.1.0.0/24", role: "weird"),
        ])
        bad.rules = [.init(from: "a", to: "nowhere", protocol: "sctp")]
        #expect(Set(Self.codes(bad)) == ["malformed-prefix", "duplicate-vlan", "unknown-role", "unknown-network", "malformed-rule"])
    }

    @Test("hostile intents are refused before decoding: alias bombs, deep nesting, duplicate keys with their line")
    func hostile() {
        let laughs = HostileInput.billionLaughs(first: "datacenter", prefix: "x", use: "networks: *l9\n")
        for (text, fragment) in [
            (laughs, "n.yaml: line 5, column"),
            ("datacenter: osl1\nnetworks: " + String(repeating: "[", count: 50_000), "nest too deep"),
            ("datacenter: osl1\njurisdiction: NO\ndatacenter: osl2\nnetworks: []\n", "duplicate key 'datacenter'"),
        ] {
            do {
                _ = try NetworkIntent.load(yaml: text, source: "n.yaml")
                Issue.record("accepted \(text.prefix(40))")
            } catch {
                #expect(error.code == .invalidArgument)
                #expect(error.message.contains(fragment), "\(error.message)")
                #expect(error.message.count < 300, "\(error.message)")
            }
        }
    }

    // Both stopped the process (the server verifies every intent it is sent; dvnet every file it reads):
    // Fuzz/corpus/FuzzNetworkIntent/regress-vlan-range-reversed.yaml and regress-base60-overflow.yaml.
    @Test("a reversed vlanRange is a problem, not a trap; a base-60 VLAN too large for Int is refused at its place")
    func trapsFound() throws {
        var reversed = try Self.example()
        reversed.vlanRange = [3999, 2]
        #expect(Self.codes(reversed) == ["malformed-vlan-range"])
        reversed.vlanRange = [2]
        #expect(Self.codes(reversed) == ["malformed-vlan-range"])

        let head = "datacenter: osl1\njurisdiction: \"NO\"\nnetworks:\n"
        do {
            _ = try NetworkIntent.load(yaml: head + "  - {name: a, vlan: 1:1:1:1:1:1:1:1:1:1:1, prefix: 10.0.0.0/24, role: oob}\n", source: "n.yaml")
            Issue.record("accepted a VLAN of 11 base-60 digits")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.hasPrefix("n.yaml: line 4, column 21: '1:1:1:1:1:1:1:1:1:1:1' reads as a base-60 number"), "\(error.message)")
        }
        // YAML 1.1 base 60 still reads where it fits: 1:30 is 90.
        let small = try NetworkIntent.load(yaml: head + "  - {name: a, vlan: 1:30, prefix: 10.0.0.0/24, role: oob}\n", source: "n.yaml")
        #expect(small.networks.first?.vlan == 90)
    }

    @Test("a name that would smuggle lines into a device's configuration is a problem, named, before any renderer sees it")
    func configurationInjection() throws {
        var hostile = try Self.example()
        hostile.vrfs![0].name = "tenant-acme\nrouter bgp 666"
        hostile.networks[3].vrf = hostile.vrfs![0].name
        let report = IntentVerifier.verify(hostile)
        let named = report.problems.filter { $0.code == "malformed-name" }
        #expect(named.map(\.objects) == [["vrf name"], ["network acme-web vrf"]], "\(report.problems)")
        #expect(named.first?.message.contains("tenant-acme\\nrouter bgp 666") == true, "the newline is shown escaped: \(named)")
        for (field, edit) in [("port interface", { (intent: inout NetworkIntent) in intent.ports![0].interface = "bond48 lacp=off" }),
                              ("router name", { (intent: inout NetworkIntent) in intent.routers![0].name = "" }),
                              ("rule 1 protocol", { (intent: inout NetworkIntent) in intent.rules![0].protocol = "tcp; flush ruleset" }),
                              ("port profile name", { (intent: inout NetworkIntent) in intent.portProfiles![0].name = String(repeating: "p", count: 65) })] {
            var intent = try Self.example()
            edit(&intent)
            #expect(IntentVerifier.verify(intent).problems.contains { $0.code == "malformed-name" && $0.objects.first?.hasSuffix(field) == true },
                    "\(field): \(IntentVerifier.verify(intent).problems)")
        }
        #expect(IntentVerifier.isConfigurationWord("osl1-leaf2:bond48") && IntentVerifier.isConfigurationWord("65010:110"))
        #expect(!IntentVerifier.isConfigurationWord("acme web") && !IntentVerifier.isConfigurationWord("ø") && !IntentVerifier.isConfigurationWord(""))
        #expect(IntentVerifier.verify(try Self.example()).ok, "the example's names are all fine")
    }

    @Test("a generated 50-switch fabric with 500 networks verifies")
    func generatedFabric() {
        let intent = FabricGenerator.fabric(switches: 50, networks: 500)
        let report = IntentVerifier.verify(intent)
        #expect(report.ok, "\(report.problems.prefix(5))")
        #expect(intent.ports?.count == 50 * 24 + 50)
        #expect(report.matrix.allowed.values.reduce(0) { $0 + $1.count } == 250)
    }

    @Test("changes between intents, object by object: added with its fields, removed, changed field by field; none for the same intent")
    func changes() throws {
        let old = try Self.example()
        #expect(old.changes(from: old).isEmpty)
        var new = old
        new.networks[new.networks.firstIndex { $0.name == "acme-web" }!].mtu = nil
        new.networks.append(.init(name: "dmz", vlan: 400, prefix: "10.40.0.0/24", gateway: "10.40.0.1", role: "public"))
        new.vrfs!.removeAll { $0.name == "tenant-globex" }
        new.portProfiles![0].lacp = false
        new.jurisdiction = "SE"
        let lines = new.changes(from: old)
        #expect(lines.contains("~ jurisdiction: NO → SE"), "\(lines)")
        #expect(lines.contains("~ network acme-web: mtu 9000 → (none)"), "\(lines)")
        #expect(lines.contains("+ network dmz {gateway: 10.40.0.1, prefix: 10.40.0.0/24, role: public, vlan: 400}"), "\(lines)")
        #expect(lines.contains("- vrf tenant-globex"), "\(lines)")
        #expect(lines.contains("~ profile leaf-trunk: lacp true → false"), "\(lines)")
        #expect(lines.count == 5, "\(lines)")
        #expect(old.changes(from: nil).filter { $0.hasPrefix("+ network ") }.count == old.networks.count)
    }

}
