import DataverketCore
import DataverketStore
import Foundation
import Nett
import NettIntent
import SQLKit
import Testing
import DataverketTestSupport

@Suite("IPAM store")
struct StoreTests {
    @Test("VRFs: create, list, show, delete; duplicates and bad route targets refused", arguments: Backend.available)
    func vrfs(_ backend: Backend) async throws {
        let sink = AuditSink()
        try await withIPAM(backend, audit: sink) { ipam in
            // Names are lowercase DNS labels, as everywhere in the API: not folded.
            await expectError(.invalidArgument, "name", "lowercase") { try await ipam.createVRF(VRFSpec(name: "Tenant-Red"), context: ops) }
            await expectError(.invalidArgument, "tenant", "lowercase") {
                try await ipam.createVRF(VRFSpec(name: "tenant-red", tenant: "Red"), context: ops)
            }
            await expectError(.invalidArgument, "tenant", "empty") { try await ipam.createVRF(VRFSpec(name: "tenant-red", tenant: ""), context: ops) }
            await expectError(.invalidArgument, "importTargets", "at most 64") {
                try await ipam.createVRF(VRFSpec(name: "tenant-red", importTargets: (1...65).map { "65000:\($0)" }), context: ops)
            }
            let red = try await ipam.createVRF(VRFSpec(name: "tenant-red", routeDistinguisher: "65000:10", importTargets: ["65000:10", "65000:1"],
                                                       exportTargets: ["65000:10"], tenant: "red"), context: ops)
            #expect(red.name == "tenant-red")
            #expect(red.importTargets == ["65000:1", "65000:10"])
            #expect(try await ipam.vrf("tenant-red") == red)
            #expect(try await ipam.vrf(red.id) == red)
            #expect(try await ipam.vrfs().items.map(\.name) == ["global", "tenant-red"])
            let page = try await ipam.vrfs(limit: 1)
            #expect(page.items.map(\.name) == ["global"])
            #expect(try await ipam.vrfs(limit: 1, cursor: page.nextCursor).items.map(\.name) == ["tenant-red"])
            await expectError(.alreadyExists, "tenant-red") { try await ipam.createVRF(VRFSpec(name: "tenant-red"), context: ops) }
            await expectError(.alreadyExists, "65000:10", "tenant-red") {
                try await ipam.createVRF(VRFSpec(name: "blue", routeDistinguisher: "65000:10"), context: ops)
            }
            await expectError(.invalidArgument, "importTargets") { try await ipam.createVRF(VRFSpec(name: "blue", importTargets: ["65000"]), context: ops) }
            await expectError(.invalidArgument, "name") { try await ipam.createVRF(VRFSpec(name: "bad_name"), context: ops) }
            await expectError(.conflict, "global") { try await ipam.deleteVRF("global", context: ops) }
            _ = try await ipam.createPrefix(PrefixSpec(prefix: "10.0.0.0/24", vrf: "tenant-red"), context: ops)
            await expectError(.conflict, "still has prefixes") { try await ipam.deleteVRF("tenant-red", context: ops) }
            try await ipam.deletePrefix("10.0.0.0/24", vrf: "tenant-red", context: ops)
            try await ipam.deleteVRF("tenant-red", context: ops)
            await expectError(.notFound, "tenant-red") { try await ipam.vrf("tenant-red") }
        }
        let actions = await sink.entries.map(\.action)
        #expect(actions == ["nett.vrf.create", "nett.prefix.create", "nett.prefix.delete", "nett.vrf.delete"])
    }

    @Test("aggregates never overlap", arguments: Backend.available)
    func aggregates(_ backend: Backend) async throws {
        try await withIPAM(backend) { ipam in
            let ten = try await ipam.createAggregate(AggregateSpec(prefix: "10.0.0.0/8", rir: "rfc1918"), context: ops)
            _ = try await ipam.createAggregate(AggregateSpec(prefix: "2001:db8::/32"), context: ops)
            _ = try await ipam.createAggregate(AggregateSpec(prefix: "192.168.0.0/16"), context: ops)
            await expectError(.invalidArgument, "10.16.0.0/12", "overlaps", "10.0.0.0/8") {
                try await ipam.createAggregate(AggregateSpec(prefix: "10.16.0.0/12"), context: ops)
            }
            await expectError(.invalidArgument, "0.0.0.0/0", "10.0.0.0/8") { try await ipam.createAggregate(AggregateSpec(prefix: "0.0.0.0/0"), context: ops) }
            await expectError(.alreadyExists) { try await ipam.createAggregate(AggregateSpec(prefix: "10.0.0.0/8"), context: ops) }
            #expect(try await ipam.aggregates().items.map(\.prefix.description) == ["10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32"])
            let first = try await ipam.aggregates(limit: 2)
            #expect(try await ipam.aggregates(limit: 2, cursor: first.nextCursor).items.map(\.prefix.description) == ["2001:db8::/32"])
            #expect(try await ipam.aggregate("10.0.0.0/8") == ten)
            try await ipam.deleteAggregate(ten.id, context: ops)
            await expectError(.notFound) { try await ipam.aggregate("10.0.0.0/8") }
        }
    }

    @Test("prefixes nest in containers; an overlapping prefix is rejected naming both", arguments: Backend.available)
    func prefixHierarchy(_ backend: Backend) async throws {
        try await withIPAM(backend) { ipam in
            let site = try await ipam.createPrefix(PrefixSpec(prefix: "10.10.0.0/16", role: .tenant, status: .container), context: ops)
            let mgmt = try await ipam.createPrefix(PrefixSpec(prefix: "10.10.1.0/24", role: .mgmt), context: ops)
            #expect(mgmt.parentID == site.id)
            // Overlapping an active prefix: from inside, from outside, and the same block twice.
            await expectError(.invalidArgument, "10.10.1.128/25", "10.10.1.0/24", "overlaps") {
                try await ipam.createPrefix(PrefixSpec(prefix: "10.10.1.128/25"), context: ops)
            }
            await expectError(.invalidArgument, "10.10.0.0/23", "10.10.1.0/24", "overlaps") {
                try await ipam.createPrefix(PrefixSpec(prefix: "10.10.0.0/23", role: .storage), context: ops)
            }
            do {
                _ = try await ipam.createPrefix(PrefixSpec(prefix: "10.10.0.0/23"), context: ops)
            } catch let error as DataverketError {
                #expect(error.violations.first?.field == "prefix")
                #expect(error.message.contains(mgmt.id))
            }
            await expectError(.alreadyExists, "10.10.1.0/24") { try await ipam.createPrefix(PrefixSpec(prefix: "10.10.1.0/24"), context: ops) }
            await expectError(.invalidArgument, "host bits") { try await ipam.createPrefix(PrefixSpec(prefix: "10.10.1.1/24"), context: ops) }
            // The same block in another VRF is fine.
            _ = try await ipam.createVRF(VRFSpec(name: "red"), context: ops)
            _ = try await ipam.createPrefix(PrefixSpec(prefix: "10.10.1.0/24", vrf: "red"), context: ops)
            // A container inserted between adopts the prefixes it encloses.
            let middle = try await ipam.createPrefix(PrefixSpec(prefix: "10.10.0.0/20", status: .container), context: ops)
            #expect(middle.parentID == site.id)
            #expect(try await ipam.prefix("10.10.1.0/24").parentID == middle.id)
            // An explicit parent must contain the prefix.
            await expectError(.invalidArgument, "outside its parent", "10.10.0.0/20") {
                try await ipam.createPrefix(PrefixSpec(prefix: "10.10.32.0/24", parent: middle.id), context: ops)
            }
            let storage = try await ipam.createPrefix(PrefixSpec(prefix: "10.10.2.0/24", role: .storage, parent: "10.10.0.0/20"), context: ops)
            #expect(storage.parentID == middle.id)
            _ = try await ipam.createPrefix(PrefixSpec(prefix: "2001:db8:10::/48", role: .public), context: ops)

            #expect(try await ipam.prefixes(PrefixFilter(vrf: "global")).items.map(\.prefix.description)
                    == ["10.10.0.0/16", "10.10.0.0/20", "10.10.1.0/24", "10.10.2.0/24", "2001:db8:10::/48"])
            // Without a VRF, `within` spans every VRF.
            #expect(try await ipam.prefixes(PrefixFilter(within: "10.10.0.0/20")).items.map { "\($0.vrf)/\($0.prefix)" }
                    == ["global/10.10.1.0/24", "global/10.10.2.0/24", "red/10.10.1.0/24"])
            let within = try await ipam.prefixes(PrefixFilter(vrf: "global", within: "10.10.0.0/20"))
            #expect(within.items.map(\.prefix.description) == ["10.10.1.0/24", "10.10.2.0/24"])
            #expect(try await ipam.prefixes(PrefixFilter(role: .storage)).items.map(\.id) == [storage.id])
            var seen: [String] = []
            var cursor: String?
            repeat {
                let page = try await ipam.prefixes(limit: 2, cursor: cursor)
                seen += page.items.map { "\($0.vrf)/\($0.prefix)" }
                cursor = page.nextCursor
            } while cursor != nil
            #expect(seen == ["global/10.10.0.0/16", "global/10.10.0.0/20", "global/10.10.1.0/24", "global/10.10.2.0/24",
                             "global/2001:db8:10::/48", "red/10.10.1.0/24"])

            await expectError(.conflict, "still contains") { try await ipam.deletePrefix("10.10.0.0/20", context: ops) }
            try await ipam.deletePrefix(storage.id, context: ops)
            await expectError(.notFound) { try await ipam.prefix(storage.id) }
            await expectError(.notFound, "VRF", "nope") { try await ipam.createPrefix(PrefixSpec(prefix: "10.0.0.0/8", vrf: "nope"), context: ops) }
        }
    }

    @Test("addresses by hand: inside a prefix, not network or broadcast, unique per VRF", arguments: Backend.available)
    func addresses(_ backend: Backend) async throws {
        try await withIPAM(backend) { ipam in
            _ = try await ipam.createPrefix(PrefixSpec(prefix: "10.0.0.0/16", status: .container), context: ops)
            let lan = try await ipam.createPrefix(PrefixSpec(prefix: "10.0.1.0/24", role: .provisioning), context: ops)
            let gateway = try await ipam.createAddress(AddressSpec(address: "10.0.1.1", dnsName: "GW.osl1.example.", assignedTo: "device:osl1-leaf1/vlan10"),
                                                       context: ops)
            #expect(gateway.cidrNotation == "10.0.1.1/24")
            #expect(gateway.prefixID == lan.id)
            #expect(gateway.dnsName == "gw.osl1.example")
            let loop = try await ipam.createAddress(AddressSpec(address: "10.0.1.200/32"), context: ops)
            #expect(loop.length == 32)
            await expectError(.alreadyExists, "10.0.1.1", "global") { try await ipam.createAddress(AddressSpec(address: "10.0.1.1"), context: ops) }
            await expectError(.invalidArgument, "network address") { try await ipam.createAddress(AddressSpec(address: "10.0.1.0"), context: ops) }
            await expectError(.invalidArgument, "broadcast address") { try await ipam.createAddress(AddressSpec(address: "10.0.1.255"), context: ops) }
            await expectError(.invalidArgument, "container") { try await ipam.createAddress(AddressSpec(address: "10.0.9.9"), context: ops) }
            await expectError(.invalidArgument, "no prefix", "172.16.0.1") { try await ipam.createAddress(AddressSpec(address: "172.16.0.1"), context: ops) }
            await expectError(.invalidArgument, "outside prefix", "10.0.1.0/24") {
                try await ipam.createAddress(AddressSpec(address: "10.0.2.1", prefix: "10.0.1.0/24"), context: ops)
            }
            await expectError(.invalidArgument, "wider") { try await ipam.createAddress(AddressSpec(address: "10.0.1.9/16"), context: ops) }
            await expectError(.invalidArgument, "not an IPv4 or IPv6 address") { try await ipam.createAddress(AddressSpec(address: "10.0.1"), context: ops) }
            await expectError(.invalidArgument, "dnsName") { try await ipam.createAddress(AddressSpec(address: "10.0.1.7", dnsName: "a b"), context: ops) }
            // The next allocation skips addresses taken by hand.
            let next = try await ipam.allocateAddress(in: "10.0.1.0/24", context: ops)
            #expect(next.address.description == "10.0.1.2")
            #expect(try await ipam.address("10.0.1.1/24") == gateway)
            #expect(try await ipam.addresses(AddressFilter(prefix: "10.0.1.0/24")).items.map(\.address.description) == ["10.0.1.1", "10.0.1.2", "10.0.1.200"])
            #expect(try await ipam.addresses(AddressFilter(assignedTo: "device:osl1-leaf1/vlan10")).items.map(\.id) == [gateway.id])
            #expect(try await ipam.addresses(AddressFilter(dnsName: "gw.osl1.example")).items.map(\.id) == [gateway.id])
            await expectError(.conflict, "still has address") { try await ipam.deletePrefix(lan.id, context: ops) }
            try await ipam.releaseAddress("10.0.1.1", context: ops)
            await expectError(.notFound) { try await ipam.address("10.0.1.1") }
            // Released: the lowest free address again.
            #expect(try await ipam.allocateAddress(in: lan.id, context: ops).address.description == "10.0.1.1")

            // IPv6: the subnet-router anycast address is skipped; addresses beyond the materialized slots are fine.
            _ = try await ipam.createPrefix(PrefixSpec(prefix: "2001:db8:1::/64", role: .mgmt), context: ops)
            #expect(try await ipam.allocateAddress(in: "2001:db8:1::/64", context: ops).address.description == "2001:db8:1::1")
            let slaac = try await ipam.createAddress(AddressSpec(address: "2001:db8:1::f816:3eff:fe12:3456"), context: ops)
            #expect(slaac.length == 64)
            try await ipam.releaseAddress(slaac.id, context: ops)
        }
    }

    @Test("IP ranges are skipped by allocation and never overlap", arguments: Backend.available)
    func ranges(_ backend: Backend) async throws {
        try await withIPAM(backend, chunk: 16) { ipam in
            _ = try await ipam.createPrefix(PrefixSpec(prefix: "192.0.2.0/26", role: .provisioning), context: ops)
            #expect(try await ipam.allocateAddress(in: "192.0.2.0/26", context: ops).address.description == "192.0.2.1")
            // DHCP scope .2–.40: materialized in part (chunk 16) when created.
            let dhcp = try await ipam.createRange(IPRangeSpec(start: "192.0.2.2", end: "192.0.2.40", status: .dhcp), context: ops)
            await expectError(.invalidArgument, "overlaps", "192.0.2.2") {
                try await ipam.createRange(IPRangeSpec(start: "192.0.2.40", end: "192.0.2.45"), context: ops)
            }
            await expectError(.invalidArgument, "outside prefix") { try await ipam.createRange(IPRangeSpec(start: "192.0.2.50", end: "192.0.2.70"), context: ops) }
            await expectError(.invalidArgument, "before") { try await ipam.createRange(IPRangeSpec(start: "192.0.2.50", end: "192.0.2.45"), context: ops) }
            await expectError(.conflict, "192.0.2.0/26", "still has") { try await ipam.deletePrefix("192.0.2.0/26", context: ops) }
            #expect(try await ipam.allocateAddress(in: "192.0.2.0/26", context: ops).address.description == "192.0.2.41")
            #expect(try await ipam.ranges().items.map(\.id) == [dhcp.id])
            #expect(try await ipam.range("192.0.2.2") == dhcp)
            try await ipam.deleteRange(dhcp.id, context: ops)
            #expect(try await ipam.allocateAddress(in: "192.0.2.0/26", context: ops).address.description == "192.0.2.2")
        }
    }

    @Test("VLAN groups and VLANs: IDs inside the group's range, unique per group", arguments: Backend.available)
    func vlans(_ backend: Backend) async throws {
        try await withIPAM(backend) { ipam in
            let group = try await ipam.createVLANGroup(VLANGroupSpec(name: "osl1-fabric", scope: "osl1", minVID: 100, maxVID: 199), context: ops)
            await expectError(.invalidArgument, "maxVID") { try await ipam.createVLANGroup(VLANGroupSpec(name: "x", minVID: 10, maxVID: 5000), context: ops) }
            await expectError(.invalidArgument, "below") { try await ipam.createVLANGroup(VLANGroupSpec(name: "x", minVID: 10, maxVID: 5), context: ops) }
            await expectError(.alreadyExists) { try await ipam.createVLANGroup(VLANGroupSpec(name: "osl1-fabric"), context: ops) }
            let oob = try await ipam.createVLAN(VLANSpec(group: "osl1-fabric", vid: 100, name: "oob"), context: ops)
            await expectError(.invalidArgument, "VLAN ID 200", "outside", "osl1-fabric", "100–199") {
                try await ipam.createVLAN(VLANSpec(group: "osl1-fabric", vid: 200, name: "too-high"), context: ops)
            }
            await expectError(.invalidArgument, "1–4094") { try await ipam.createVLAN(VLANSpec(group: group.id, vid: 4095, name: "x"), context: ops) }
            await expectError(.alreadyExists, "VLAN ID 100") { try await ipam.createVLAN(VLANSpec(group: "osl1-fabric", vid: 100, name: "other"), context: ops) }
            await expectError(.alreadyExists, "oob") { try await ipam.createVLAN(VLANSpec(group: "osl1-fabric", vid: 101, name: "oob"), context: ops) }
            let next = try await ipam.allocateVLAN(in: "osl1-fabric", name: "provisioning", context: ops)
            #expect(next.vid == 101)
            await expectError(.alreadyExists, "provisioning") { try await ipam.allocateVLAN(in: "osl1-fabric", name: "provisioning", context: ops) }
            #expect(try await ipam.allocateVLAN(in: "osl1-fabric", context: ops).name == "vlan102")
            #expect(try await ipam.vlans(group: "osl1-fabric").items.map(\.vid) == [100, 101, 102])
            #expect(try await ipam.vlan("100", group: "osl1-fabric") == oob)
            // A prefix on a VLAN keeps the VLAN.
            _ = try await ipam.createPrefix(PrefixSpec(prefix: "10.99.0.0/24", role: .oob, vlan: oob.id), context: ops)
            await expectError(.conflict, "10.99.0.0/24") { try await ipam.releaseVLAN(oob.id, context: ops) }
            await expectError(.conflict, "still has VLAN") { try await ipam.deleteVLANGroup("osl1-fabric", context: ops) }
            try await ipam.releaseVLAN("101", group: "osl1-fabric", context: ops)
            #expect(try await ipam.allocateVLAN(in: group.id, context: ops).vid == 101)
        }
    }

    @Test("ASN pools never overlap; ASNs inside their pool", arguments: Backend.available)
    func asns(_ backend: Backend) async throws {
        try await withIPAM(backend) { ipam in
            _ = try await ipam.createASNPool(ASNPoolSpec(name: "leaves", first: 4_200_000_000, last: 4_200_000_999), context: ops)
            await expectError(.invalidArgument, "overlaps", "leaves") {
                try await ipam.createASNPool(ASNPoolSpec(name: "spines", first: 4_200_000_999, last: 4_200_001_999), context: ops)
            }
            await expectError(.invalidArgument, "4294967294") { try await ipam.createASNPool(ASNPoolSpec(name: "x", first: 0, last: 10), context: ops) }
            let fixed = try await ipam.createASN(ASNSpec(pool: "leaves", asn: 4_200_000_000), context: ops)
            await expectError(.invalidArgument, "outside pool", "leaves") { try await ipam.createASN(ASNSpec(pool: "leaves", asn: 65000), context: ops) }
            await expectError(.alreadyExists) { try await ipam.createASN(ASNSpec(pool: "leaves", asn: 4_200_000_000), context: ops) }
            #expect(try await ipam.allocateASN(from: "leaves", context: ops).asn == 4_200_000_001)
            #expect(try await ipam.asns(pool: "leaves").items.map(\.asn) == [4_200_000_000, 4_200_000_001])
            #expect(try await ipam.asn("4200000000", pool: "leaves") == fixed)
            try await ipam.releaseASN(fixed.id, context: ops)
            #expect(try await ipam.allocateASN(from: "leaves", context: ops).asn == 4_200_000_000)
            await expectError(.conflict, "still has ASN") { try await ipam.deleteASNPool("leaves", context: ops) }
        }
    }
}
