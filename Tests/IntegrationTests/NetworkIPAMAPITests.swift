import DataverketCore
import DVCommands
import Foundation
import Nett
import NettIntent
import Sentral
import DataverketTasks
import Testing
import DataverketTestSupport

/// The rest of Nett's IPAM over `/v1/network` and `dvnet`: VRFs, prefix and address lookups, hand-recorded
/// addresses, VLAN groups and VLANs, ASN pools and ASNs — the vertical slice on both engines, the CLI for the
/// same, and bad input on every endpoint.
@Suite("Network IPAM API (Nett)")
struct NetworkIPAMAPITests {
    typealias Response = (status: Int, headers: [String: String], body: String)

    /// A live server whose database has Nett's schema too.
    static func withIPAMServer(_ backend: Backend, _ body: @Sendable @escaping (TestServer) async throws -> Void) async throws {
        try await withServer(backend) { server in
            try await body(server)
        }
    }

    static func object(_ response: Response) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any], "\(response.body)")
    }

    static func items(_ response: Response) throws -> [[String: Any]] {
        try #require(try object(response)["items"] as? [[String: Any]], "\(response.body)")
    }

    static func dvnet(_ server: TestServer, _ arguments: String...) async -> (code: Int32, out: String, err: String) {
        await run(DVNetCommand.self, Array(arguments) + ["--server", server.baseURL, "--token", server.token])
    }

    @Test("VRF → container → allocated child → addresses with DNS names → show/list → release → reallocation; VLANs and ASNs",
          arguments: Backend.allCases)
    func slice(_ backend: Backend) async throws {
        try await Self.withIPAMServer(backend) { server in
            // VRFs.
            let vrf = try await server.raw(.POST, "/v1/network/vrfs",
                                           body: #"{"name": "tenant-acme", "routeDistinguisher": "65000:100", "importTargets": ["65000:100"]}"#)
            #expect(vrf.status == 201, "\(vrf.body)")
            #expect(try Self.object(vrf)["routeDistinguisher"] as? String == "65000:100")
            let vrfs = try Self.items(try await server.raw(.GET, "/v1/network/vrfs")).compactMap { $0["name"] as? String }
            #expect(vrfs.contains("global") && vrfs.contains("tenant-acme"), "\(vrfs)")
            #expect(try Self.object(try await server.raw(.GET, "/v1/network/vrfs/tenant-acme"))["name"] as? String == "tenant-acme")
            #expect(try await server.raw(.POST, "/v1/network/vrfs", body: #"{"name": "tenant-acme"}"#).status == 409)

            // A container in the VRF, a child allocated from it (idempotent), addresses with DNS names.
            let container = try await server.raw(.POST, "/v1/network/prefixes",
                                                 body: #"{"prefix": "10.80.0.0/16", "vrf": "tenant-acme", "status": "container", "role": "tenant"}"#)
            #expect(container.status == 201, "\(container.body)")
            let key = ["Idempotency-Key": "acme-web-subnet"]
            let childBody = #"{"parent": "10.80.0.0/16", "vrf": "tenant-acme", "length": 24}"#
            let child = try await server.raw(.POST, "/v1/network/prefixes/allocate", body: childBody, headers: key)
            let replayed = try await server.raw(.POST, "/v1/network/prefixes/allocate", body: childBody, headers: key)
            #expect(child.status == 201 && replayed.status == 201, "\(child.body) \(replayed.body)")
            let childID = try Self.object(child)["id"] as? String
            #expect(try Self.object(child)["prefix"] as? String == "10.80.0.0/24")
            #expect(try Self.object(replayed)["id"] as? String == childID)
            let shown = try await server.raw(.GET, "/v1/network/prefixes/10.80.0.0%2F24?vrf=tenant-acme")
            #expect(try shown.status == 200 && (try Self.object(shown)["id"] as? String) == childID, "\(shown.body)")
            #expect(try await server.raw(.GET, "/v1/network/prefixes/\(childID ?? "")").status == 200)

            var addresses: [String] = []
            for name in ["web1", "web2", "web3"] {
                let made = try await server.raw(.POST, "/v1/network/addresses/allocate", body: """
                    {"prefix": "10.80.0.0/24", "vrf": "tenant-acme", "dnsName": "\(name).acme.example.org", "assignedTo": "vm:\(name)"}
                    """)
                #expect(made.status == 201, "\(made.body)")
                let object = try Self.object(made)
                #expect(object["dnsName"] as? String == "\(name).acme.example.org" && object["assignedTo"] as? String == "vm:\(name)")
                addresses.append(object["address"] as? String ?? "")
            }
            #expect(addresses == ["10.80.0.1", "10.80.0.2", "10.80.0.3"])
            let address = try await server.raw(.GET, "/v1/network/addresses/10.80.0.2?vrf=tenant-acme")
            #expect(try address.status == 200 && (try Self.object(address)["dnsName"] as? String) == "web2.acme.example.org", "\(address.body)")
            #expect(try await server.raw(.GET, "/v1/network/addresses/10.80.0.2").status == 404)  // not in the global VRF

            // By hand: a specific address; taken twice is a conflict.
            let gateway = try await server.raw(.POST, "/v1/network/addresses",
                                               body: #"{"address": "10.80.0.254", "vrf": "tenant-acme", "status": "reserved", "dnsName": "gw.acme.example.org"}"#)
            #expect(try gateway.status == 201 && (try Self.object(gateway)["length"] as? Int) == 24, "\(gateway.body)")
            #expect(try await server.raw(.POST, "/v1/network/addresses", body: #"{"address": "10.80.0.254", "vrf": "tenant-acme"}"#).status == 409)

            // Release → the lowest free slot is reused.
            #expect(try await server.raw(.DELETE, "/v1/network/addresses/10.80.0.2?vrf=tenant-acme").status == 204)
            let listed = try Self.items(try await server.raw(.GET, "/v1/network/addresses?vrf=tenant-acme&prefix=10.80.0.0/24"))
            #expect(listed.compactMap { $0["address"] as? String } == ["10.80.0.1", "10.80.0.3", "10.80.0.254"])
            let again = try await server.raw(.POST, "/v1/network/addresses/allocate", body: #"{"prefix": "10.80.0.0/24", "vrf": "tenant-acme"}"#)
            #expect(try Self.object(again)["address"] as? String == "10.80.0.2", "\(again.body)")

            // A prefix or VRF that still holds things is a conflict; empty ones go.
            #expect(try await server.raw(.DELETE, "/v1/network/prefixes/10.80.0.0%2F24?vrf=tenant-acme").status == 409)
            #expect(try await server.raw(.DELETE, "/v1/network/vrfs/tenant-acme").status == 409)
            #expect(try await server.raw(.POST, "/v1/network/vrfs", body: #"{"name": "scratch"}"#).status == 201)
            #expect(try await server.raw(.DELETE, "/v1/network/vrfs/scratch").status == 204)
            #expect(try await server.raw(.GET, "/v1/network/vrfs/scratch").status == 404)
            #expect(try await server.raw(.POST, "/v1/network/prefixes", body: #"{"prefix": "10.81.0.0/24"}"#).status == 201)
            #expect(try await server.raw(.DELETE, "/v1/network/prefixes/10.81.0.0%2F24").status == 204)
            #expect(try await server.raw(.GET, "/v1/network/prefixes/10.81.0.0%2F24").status == 404)

            // VLANs: lowest free first, released IDs reused, idempotent, a hand-made ID in range.
            let group = try await server.raw(.POST, "/v1/network/vlan-groups", body: #"{"name": "osl1-fabric", "scope": "osl1", "minVID": 100, "maxVID": 110}"#)
            #expect(group.status == 201, "\(group.body)")
            var vids: [Int] = []
            for name in ["acme-web", "acme-db"] {
                let made = try await server.raw(.POST, "/v1/network/vlans/allocate", body: #"{"group": "osl1-fabric", "name": "\#(name)"}"#)
                #expect(made.status == 201, "\(made.body)")
                vids.append(try Self.object(made)["vid"] as? Int ?? 0)
            }
            #expect(vids == [100, 101])
            let vlanKey = ["Idempotency-Key": "acme-storage-vlan"]
            let first = try await server.raw(.POST, "/v1/network/vlans/allocate", body: #"{"group": "osl1-fabric"}"#, headers: vlanKey)
            let retry = try await server.raw(.POST, "/v1/network/vlans/allocate", body: #"{"group": "osl1-fabric"}"#, headers: vlanKey)
            #expect(try Self.object(first)["vid"] as? Int == 102 && (try Self.object(retry)["id"] as? String) == (try Self.object(first)["id"] as? String))
            #expect(try await server.raw(.POST, "/v1/network/vlans", body: #"{"group": "osl1-fabric", "vid": 110, "name": "transit"}"#).status == 201)
            #expect(try await server.raw(.DELETE, "/v1/network/vlans/100?group=osl1-fabric").status == 204)
            let reused = try await server.raw(.POST, "/v1/network/vlans/allocate", body: #"{"group": "osl1-fabric"}"#)
            #expect(try Self.object(reused)["vid"] as? Int == 100)
            let vlans = try Self.items(try await server.raw(.GET, "/v1/network/vlans?group=osl1-fabric")).compactMap { $0["vid"] as? Int }
            #expect(vlans == [100, 101, 102, 110], "\(vlans)")
            #expect(try Self.items(try await server.raw(.GET, "/v1/network/vlan-groups")).count == 1)

            // ASNs.
            #expect(try await server.raw(.POST, "/v1/network/asn-pools", body: #"{"name": "osl1-private", "first": 4200000000, "last": 4200000009}"#).status == 201)
            let asnKey = ["Idempotency-Key": "leaf-7-asn"]
            let asn = try await server.raw(.POST, "/v1/network/asns/allocate", body: #"{"pool": "osl1-private"}"#, headers: asnKey)
            let asnAgain = try await server.raw(.POST, "/v1/network/asns/allocate", body: #"{"pool": "osl1-private"}"#, headers: asnKey)
            #expect(try asn.status == 201 && (try Self.object(asn)["asn"] as? Int) == 4_200_000_000, "\(asn.body)")
            #expect(try Self.object(asnAgain)["id"] as? String == (try Self.object(asn)["id"] as? String))
            let second = try await server.raw(.POST, "/v1/network/asns/allocate", body: #"{"pool": "osl1-private"}"#)
            #expect(try Self.object(second)["asn"] as? Int == 4_200_000_001)
            #expect(try await server.raw(.DELETE, "/v1/network/asns/4200000000?pool=osl1-private").status == 204)
            let third = try await server.raw(.POST, "/v1/network/asns/allocate", body: #"{"pool": "osl1-private"}"#)
            #expect(try Self.object(third)["asn"] as? Int == 4_200_000_000)
            let asns = try Self.items(try await server.raw(.GET, "/v1/network/asns?pool=osl1-private")).compactMap { $0["asn"] as? Int }
            #expect(asns == [4_200_000_000, 4_200_000_001], "\(asns)")
            #expect(try Self.items(try await server.raw(.GET, "/v1/network/asn-pools")).count == 1)

            // Every mutation is audited through Sentral.
            let audit = Set(try await server.sentral.audit.list(AuditFilter(), limit: 500, cursor: nil).items.map(\.action))
            for action in ["nett.vrf.create", "nett.vrf.delete", "nett.prefix.allocate", "nett.address.allocate", "nett.address.create",
                           "nett.address.release", "nett.vlan-group.create", "nett.vlan.allocate", "nett.vlan.release", "nett.asn.allocate",
                           "nett.asn.release"] {
                #expect(audit.contains(action), "\(action) missing from \(audit.sorted())")
            }
        }
    }

    @Test("dvnet: vrf, prefix, ip, vlan and asn subcommands end to end", arguments: Backend.allCases)
    func cli(_ backend: Backend) async throws {
        try await Self.withIPAMServer(backend) { server in
            let created = await Self.dvnet(server, "vrf", "create", "tenant-beta", "--rd", "65000:200", "--import-target", "65000:200")
            #expect(created.code == 0 && created.out.contains("tenant-beta") && created.out.contains("65000:200"), "\(created)")
            let vrfs = await Self.dvnet(server, "vrf", "list")
            #expect(vrfs.code == 0 && vrfs.out.hasPrefix("NAME") && vrfs.out.contains("global") && vrfs.out.contains("tenant-beta"), "\(vrfs)")
            let vrf = await Self.dvnet(server, "vrf", "show", "tenant-beta")
            #expect(vrf.code == 0 && vrf.out.contains("routeDistinguisher: 65000:200"), "\(vrf)")

            let container = await Self.dvnet(server, "prefix", "create", "10.90.0.0/16", "--vrf", "tenant-beta", "--container", "--role", "tenant")
            #expect(container.code == 0 && container.out.contains("container"), "\(container)")
            let child = await Self.dvnet(server, "prefix", "allocate", "10.90.0.0/16", "--vrf", "tenant-beta", "--length", "26")
            #expect(child.code == 0 && child.out.contains("10.90.0.0/26"), "\(child)")
            let prefix = await Self.dvnet(server, "prefix", "show", "10.90.0.0/26", "--vrf", "tenant-beta")
            #expect(prefix.code == 0 && prefix.out.contains("prefix:") && prefix.out.contains("10.90.0.0/26"), "\(prefix)")

            let args = ["ip", "allocate", "10.90.0.0/26", "--vrf", "tenant-beta", "--dns-name", "api1.beta.example.org",
                        "--assigned-to", "device:osl1-r01-srv01/eno1", "--idempotency-key", "beta-api1", "-o", "json"]
            let ip = await run(DVNetCommand.self, args + ["--server", server.baseURL, "--token", server.token])
            let ipAgain = await run(DVNetCommand.self, args + ["--server", server.baseURL, "--token", server.token])
            #expect(ip.code == 0 && ip.out.contains("10.90.0.1") && ip.out.contains("api1.beta.example.org"), "\(ip)")
            #expect(ipAgain.code == 0 && ipAgain.out == ip.out, "\(ipAgain)")
            let hand = await Self.dvnet(server, "ip", "create", "10.90.0.62", "--vrf", "tenant-beta", "--status", "reserved")
            #expect(hand.code == 0 && hand.out.contains("10.90.0.62"), "\(hand)")
            let shown = await Self.dvnet(server, "ip", "show", "10.90.0.1", "--vrf", "tenant-beta")
            #expect(shown.code == 0 && shown.out.contains("assignedTo:") && shown.out.contains("device:osl1-r01-srv01/eno1"), "\(shown)")
            let listed = await Self.dvnet(server, "ip", "list", "--vrf", "tenant-beta")
            #expect(listed.code == 0 && listed.out.contains("10.90.0.1") && listed.out.contains("10.90.0.62"), "\(listed)")
            let released = await Self.dvnet(server, "ip", "release", "10.90.0.62", "--vrf", "tenant-beta")
            #expect(released.code == 0, "\(released)")
            let busy = await Self.dvnet(server, "prefix", "delete", "10.90.0.0/26", "--vrf", "tenant-beta")
            #expect(busy.code != 0 && busy.err.contains("10.90.0.0/26"), "\(busy)")
            #expect(await Self.dvnet(server, "ip", "release", "10.90.0.1", "--vrf", "tenant-beta").code == 0)
            let deleted = await Self.dvnet(server, "prefix", "delete", "10.90.0.0/26", "--vrf", "tenant-beta")
            #expect(deleted.code == 0 && deleted.out.contains("deleted prefix 10.90.0.0/26"), "\(deleted)")
            #expect(await Self.dvnet(server, "prefix", "delete", "10.90.0.0/16", "--vrf", "tenant-beta").code == 0)
            let gone = await Self.dvnet(server, "vrf", "delete", "tenant-beta")
            #expect(gone.code == 0 && gone.out.contains("deleted VRF tenant-beta"), "\(gone)")

            let group = await Self.dvnet(server, "vlan", "group-create", "osl2-fabric", "--min", "200", "--max", "201")
            #expect(group.code == 0 && group.out.contains("osl2-fabric") && group.out.contains("200"), "\(group)")
            let vlan = await Self.dvnet(server, "vlan", "allocate", "osl2-fabric", "--name", "beta-web", "--idempotency-key", "beta-web-vlan")
            let vlanAgain = await Self.dvnet(server, "vlan", "allocate", "osl2-fabric", "--name", "beta-web", "--idempotency-key", "beta-web-vlan")
            #expect(vlan.code == 0 && vlan.out.contains("200") && vlan.out.contains("beta-web") && vlanAgain.out == vlan.out, "\(vlan) \(vlanAgain)")
            let made = await Self.dvnet(server, "vlan", "create", "osl2-fabric", "201", "--name", "beta-db")
            #expect(made.code == 0 && made.out.contains("beta-db"), "\(made)")
            let full = await Self.dvnet(server, "vlan", "allocate", "osl2-fabric")
            #expect(full.code != 0 && full.err.contains("osl2-fabric"), "\(full)")
            let outside = await Self.dvnet(server, "vlan", "create", "osl2-fabric", "300")
            #expect(outside.code != 0 && outside.err.contains("outside group"), "\(outside)")
            #expect(await Self.dvnet(server, "vlan", "release", "osl2-fabric", "201").code == 0)
            let vlans = await Self.dvnet(server, "vlan", "list", "--group", "osl2-fabric")
            #expect(vlans.code == 0 && vlans.out.hasPrefix("GROUP") && vlans.out.contains("beta-web") && !vlans.out.contains("beta-db"), "\(vlans)")
            let groups = await Self.dvnet(server, "vlan", "list", "--groups")
            #expect(groups.code == 0 && groups.out.contains("MIN VID") && groups.out.contains("osl2-fabric"), "\(groups)")

            let pool = await Self.dvnet(server, "asn", "pool-create", "osl2-private", "--first", "64512", "--last", "64513")
            #expect(pool.code == 0 && pool.out.contains("osl2-private"), "\(pool)")
            let asn = await Self.dvnet(server, "asn", "allocate", "osl2-private", "--idempotency-key", "spine-1")
            let asnAgain = await Self.dvnet(server, "asn", "allocate", "osl2-private", "--idempotency-key", "spine-1")
            #expect(asn.code == 0 && asn.out.contains("64512") && asnAgain.out == asn.out, "\(asn) \(asnAgain)")
            #expect(await Self.dvnet(server, "asn", "allocate", "osl2-private").out.contains("64513"))
            let exhausted = await Self.dvnet(server, "asn", "allocate", "osl2-private")
            #expect(exhausted.code != 0 && exhausted.err.contains("no free ASN"), "\(exhausted)")
            let releasedASN = await Self.dvnet(server, "asn", "release", "osl2-private", "64512")
            #expect(releasedASN.code == 0 && releasedASN.out.contains("released ASN osl2-private/64512"), "\(releasedASN)")
            let asns = await Self.dvnet(server, "asn", "list", "--pool", "osl2-private")
            #expect(asns.code == 0 && asns.out.contains("64513") && !asns.out.contains("64512"), "\(asns)")
            let pools = await Self.dvnet(server, "asn", "list", "--pools")
            #expect(pools.code == 0 && pools.out.contains("osl2-private") && pools.out.contains("FIRST"), "\(pools)")
        }
    }

    /// Every write endpoint with a valid body (for 401/403), and the ones that take a body (for 400/413).
    static let writes: [(method: String, path: String, body: String?)] = [
        ("POST", "/v1/network/vrfs", #"{"name": "x1"}"#),
        ("DELETE", "/v1/network/vrfs/x1", nil),
        ("POST", "/v1/network/prefixes", #"{"prefix": "10.200.0.0/24"}"#),
        ("POST", "/v1/network/prefixes/allocate", #"{"parent": "10.100.0.0/16", "length": 24}"#),
        ("DELETE", "/v1/network/prefixes/10.100.0.0%2F16", nil),
        ("POST", "/v1/network/addresses", #"{"address": "10.101.0.9"}"#),
        ("POST", "/v1/network/addresses/allocate", #"{"prefix": "10.101.0.0/30"}"#),
        ("DELETE", "/v1/network/addresses/10.101.0.1", nil),
        ("POST", "/v1/network/vlan-groups", #"{"name": "g2"}"#),
        ("POST", "/v1/network/vlans", #"{"group": "g1", "vid": 11}"#),
        ("POST", "/v1/network/vlans/allocate", #"{"group": "g1"}"#),
        ("DELETE", "/v1/network/vlans/10?group=g1", nil),
        ("POST", "/v1/network/asn-pools", #"{"name": "p2", "first": 64600, "last": 64601}"#),
        ("POST", "/v1/network/asns/allocate", #"{"pool": "p1"}"#),
        ("DELETE", "/v1/network/asns/64512?pool=p1", nil),
    ]
    static let reads = ["/v1/network/vrfs", "/v1/network/vrfs/global", "/v1/network/prefixes", "/v1/network/prefixes/10.100.0.0%2F16",
                        "/v1/network/addresses", "/v1/network/addresses/10.101.0.1", "/v1/network/vlan-groups", "/v1/network/vlans",
                        "/v1/network/asn-pools", "/v1/network/asns"]

    @Test("bad input: malformed (400), oversized (413), overlap (422 naming both), VLAN outside its group (422), exhausted (409), 401, 403, key reuse",
          arguments: Backend.allCases)
    func badInput(_ backend: Backend) async throws {
        try await Self.withIPAMServer(backend) { server in
            func send(_ method: String, _ path: String, _ body: String?, headers: [String: String] = [:]) async throws -> Response {
                try await server.raw(method == "POST" ? .POST : method == "DELETE" ? .DELETE : .GET, path, body: body, headers: headers)
            }
            // Fixtures the write list refers to.
            #expect(try await server.raw(.POST, "/v1/network/prefixes", body: #"{"prefix": "10.100.0.0/16", "status": "container"}"#).status == 201)
            #expect(try await server.raw(.POST, "/v1/network/prefixes", body: #"{"prefix": "10.101.0.0/30"}"#).status == 201)
            #expect(try await server.raw(.POST, "/v1/network/addresses/allocate", body: #"{"prefix": "10.101.0.0/30"}"#).status == 201)
            #expect(try await server.raw(.POST, "/v1/network/vlan-groups", body: #"{"name": "g1", "minVID": 10, "maxVID": 11}"#).status == 201)
            #expect(try await server.raw(.POST, "/v1/network/vlans/allocate", body: #"{"group": "g1"}"#).status == 201)
            #expect(try await server.raw(.POST, "/v1/network/asn-pools", body: #"{"name": "p1", "first": 64512, "last": 64512}"#).status == 201)
            #expect(try await server.raw(.POST, "/v1/network/asns/allocate", body: #"{"pool": "p1"}"#).status == 201)

            // Malformed and oversized bodies on every endpoint that takes one.
            let huge = #"{"name": "\#(String(repeating: "x", count: 2 << 20))"}"#
            for write in Self.writes where write.body != nil {
                let malformed = try await send(write.method, write.path, "{nope")
                #expect(malformed.status == 400, "\(write.path): \(malformed.status) \(malformed.body)")
                _ = try server.problem(malformed)
                let oversized = try await send(write.method, write.path, huge)
                #expect(oversized.status == 413, "\(write.path): \(oversized.status)")
            }
            // Unauthenticated and a viewer: every endpoint.
            let viewer = try await server.token(for: "user:net-viewer", roles: [.viewer])
            for write in Self.writes {
                let anonymous = try await send(write.method, write.path, write.body, headers: ["Authorization": "Bearer nope"])
                #expect(anonymous.status == 401, "\(write.method) \(write.path): \(anonymous.status)")
                let denied = try await send(write.method, write.path, write.body, headers: ["Authorization": "Bearer \(viewer)"])
                #expect(denied.status == 403, "\(write.method) \(write.path): \(denied.status) \(denied.body)")
            }
            for path in Self.reads {
                #expect(try await send("GET", path, nil, headers: ["Authorization": "Bearer nope"]).status == 401, "\(path)")
                let read = try await send("GET", path, nil, headers: ["Authorization": "Bearer \(viewer)"])
                #expect(read.status == 200, "\(path): \(read.status) \(read.body)")
            }

            // Overlap in one VRF: 422 naming both; nested in a container is fine; the same prefix twice is 409.
            #expect(try await server.raw(.POST, "/v1/network/prefixes", body: #"{"prefix": "10.110.0.0/24"}"#).status == 201)
            let overlap = try await server.raw(.POST, "/v1/network/prefixes", body: #"{"prefix": "10.110.0.0/23"}"#)
            #expect(overlap.status == 422)
            let detail = try server.problem(overlap)["detail"] as? String ?? ""
            #expect(detail.contains("10.110.0.0/24") && detail.contains("10.110.0.0/23"), "\(detail)")
            #expect(try await server.raw(.POST, "/v1/network/prefixes", body: #"{"prefix": "10.110.0.0/24"}"#).status == 409)
            #expect(try await server.raw(.POST, "/v1/network/prefixes", body: #"{"prefix": "10.100.5.0/24"}"#).status == 201)
            #expect(try await server.raw(.POST, "/v1/network/vrfs", body: #"{"name": "other"}"#).status == 201)
            #expect(try await server.raw(.POST, "/v1/network/prefixes", body: #"{"prefix": "10.110.0.0/23", "vrf": "other"}"#).status == 201)

            // A VLAN outside its group's range; a bad range; an unknown group.
            let outside = try await server.raw(.POST, "/v1/network/vlans", body: #"{"group": "g1", "vid": 300}"#)
            #expect(outside.status == 422)
            #expect((try server.problem(outside)["detail"] as? String ?? "").contains("outside group 'g1' range 10–11"), "\(outside.body)")
            #expect(try await server.raw(.POST, "/v1/network/vlans", body: #"{"group": "g1", "vid": 5000}"#).status == 422)
            #expect(try await server.raw(.POST, "/v1/network/vlan-groups", body: #"{"name": "g3", "minVID": 20, "maxVID": 10}"#).status == 422)
            #expect(try await server.raw(.POST, "/v1/network/vlans/allocate", body: #"{"group": "nope"}"#).status == 404)

            // Exhausted pools: 409 naming the pool.
            #expect(try await server.raw(.POST, "/v1/network/vlans/allocate", body: #"{"group": "g1"}"#).status == 201)
            let noVLAN = try await server.raw(.POST, "/v1/network/vlans/allocate", body: #"{"group": "g1"}"#)
            #expect(try noVLAN.status == 409 && (try server.problem(noVLAN)["detail"] as? String ?? "").contains("g1"), "\(noVLAN.body)")
            let noASN = try await server.raw(.POST, "/v1/network/asns/allocate", body: #"{"pool": "p1"}"#)
            #expect(try noASN.status == 409 && (try server.problem(noASN)["detail"] as? String ?? "").contains("p1"), "\(noASN.body)")
            #expect(try await server.raw(.POST, "/v1/network/addresses/allocate", body: #"{"prefix": "10.101.0.0/30"}"#).status == 201)
            #expect(try await server.raw(.POST, "/v1/network/addresses/allocate", body: #"{"prefix": "10.101.0.0/30"}"#).status == 409)
            #expect(try await server.raw(.POST, "/v1/network/prefixes", body: #"{"prefix": "10.120.0.0/30", "status": "container"}"#).status == 201)
            #expect(try await server.raw(.POST, "/v1/network/prefixes/allocate", body: #"{"parent": "10.120.0.0/30", "length": 31}"#).status == 201)
            #expect(try await server.raw(.POST, "/v1/network/prefixes/allocate", body: #"{"parent": "10.120.0.0/30", "length": 31}"#).status == 201)
            #expect(try await server.raw(.POST, "/v1/network/prefixes/allocate", body: #"{"parent": "10.120.0.0/30", "length": 31}"#).status == 409)

            // Invalid values are 422 with the field; unknown references 404.
            #expect(try await server.raw(.POST, "/v1/network/vrfs", body: #"{"name": "Bad Name!"}"#).status == 422)
            #expect(try await server.raw(.POST, "/v1/network/asn-pools", body: #"{"name": "p3", "first": 10, "last": 5}"#).status == 422)
            #expect(try await server.raw(.POST, "/v1/network/addresses", body: #"{"address": "192.0.2.1"}"#).status == 422)
            #expect(try await server.raw(.GET, "/v1/network/vrfs/nope").status == 404)
            #expect(try await server.raw(.DELETE, "/v1/network/vrfs/global").status == 409)

            // An idempotency key replays its allocation; used on another pool it is refused.
            #expect(try await server.raw(.POST, "/v1/network/asn-pools", body: #"{"name": "p4", "first": 65000, "last": 65010}"#).status == 201)
            let key = ["Idempotency-Key": "one-key"]
            let made = try await server.raw(.POST, "/v1/network/asns/allocate", body: #"{"pool": "p4"}"#, headers: key)
            let replay = try await server.raw(.POST, "/v1/network/asns/allocate", body: #"{"pool": "p4"}"#, headers: key)
            #expect(try made.status == 201 && replay.status == 201 && (try Self.object(replay)["asn"] as? Int) == (try Self.object(made)["asn"] as? Int))
            #expect(try Self.items(try await server.raw(.GET, "/v1/network/asns?pool=p4")).count == 1)
            let elsewhere = try await server.raw(.POST, "/v1/network/asn-pools", body: #"{"name": "p5", "first": 65100, "last": 65110}"#)
            #expect(elsewhere.status == 201)
            let crossPool = try await server.raw(.POST, "/v1/network/asns/allocate", body: #"{"pool": "p5"}"#, headers: key)
            #expect(try crossPool.status == 422 && (try server.problem(crossPool)["type"] as? String ?? "").hasSuffix("idempotency-key-reused"),
                    "\(crossPool.status) \(crossPool.body)")
        }
    }
}
