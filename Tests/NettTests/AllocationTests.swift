import DataverketCore
import DataverketStore
import Foundation
import Nett
import NettIntent
import SQLKit
import Testing
import DataverketTestSupport

/// Runs `clients` concurrent tasks, each `perClient` times calling `body(client, round)`; returns every result
/// or error (none is dropped).
func concurrently<T: Sendable>(_ clients: Int, _ perClient: Int,
                               _ body: @escaping @Sendable (Int, Int) async throws -> T) async -> [Result<T, any Error>] {
    await withTaskGroup(of: [Result<T, any Error>].self) { group in
        for client in 0..<clients {
            group.addTask {
                var mine: [Result<T, any Error>] = []
                for round in 0..<perClient {
                    do { mine.append(.success(try await body(client, round))) } catch { mine.append(.failure(error)) }
                }
                return mine
            }
        }
        return await group.reduce(into: []) { $0 += $1 }
    }
}

extension Array {
    func successes<T>() -> [T] where Element == Result<T, any Error> { compactMap { try? $0.get() } }
    func failures<T>() -> [any Error] where Element == Result<T, any Error> {
        compactMap { if case .failure(let error) = $0 { error } else { nil } }
    }
}

/// The rows actually stored (not what the clients were told).
func storedAddresses(_ ipam: IPAM) async throws -> [IPAddressRecord] {
    var all: [IPAddressRecord] = []
    var cursor: String?
    repeat {
        let page = try await ipam.addresses(limit: 1000, cursor: cursor)
        all += page.items
        cursor = page.nextCursor
    } while cursor != nil
    return all
}

@Suite("IPAM allocation", .serialized)
struct AllocationTests {
    @Test("100 concurrent clients allocating from one /22: 1,000 addresses, zero duplicates", arguments: Backend.available)
    func onePool(_ backend: Backend) async throws {
        // A small chunk, so the pool is refilled many times under contention.
        try await withIPAM(backend, chunk: 64, connections: 60) { ipam in
            let pool = try await ipam.createPrefix(PrefixSpec(prefix: "10.20.0.0/22", role: .tenant), context: ops)
            let results = await concurrently(100, 10) { client, round in
                try await ipam.allocateAddress(in: pool.id, assignedTo: "client-\(client)/\(round)", context: ops)
            }
            #expect(results.failures().isEmpty, "\(results.failures().prefix(3))")
            let given: [IPAddressRecord] = results.successes()
            #expect(given.count == 1000)
            #expect(Set(given.map(\.address)).count == 1000, "duplicate addresses handed out")
            #expect(given.allSatisfy { pool.prefix.contains($0.address) && $0.address != pool.prefix.first && $0.address != pool.prefix.last })
            let stored = try await storedAddresses(ipam)
            #expect(stored.count == 1000)
            #expect(Set(stored.map(\.address)) == Set(given.map(\.address)))
            // Lowest first: exactly 10.20.0.1 … the 1000th usable address are in use.
            let expected = Set((1...1000).map { IPAddress(v4: 0x0A14_0000 + UInt32($0)) })
            #expect(Set(stored.map(\.address)) == expected)
            // The rest of the /22 (22 addresses), then a clear conflict.
            for _ in 0..<22 { _ = try await ipam.allocateAddress(in: pool.id, context: ops) }
            await expectError(.conflict, "10.20.0.0/22", "no free address") { try await ipam.allocateAddress(in: pool.id, context: ops) }
        }
    }

    @Test("100 concurrent clients over 100 pools: zero duplicates, each address from its own pool", arguments: Backend.available)
    func manyPools(_ backend: Backend) async throws {
        try await withIPAM(backend, connections: 60) { ipam in
            _ = try await ipam.createPrefix(PrefixSpec(prefix: "10.128.0.0/16", status: .container), context: ops)
            var pools: [PrefixRecord] = []
            for _ in 0..<100 { pools.append(try await ipam.allocatePrefix(from: "10.128.0.0/16", length: 26, context: ops)) }
            #expect(Set(pools.map(\.prefix)).count == 100)
            let frozen = pools
            let results = await concurrently(100, 10) { client, _ in
                let address = try await ipam.allocateAddress(in: frozen[client].id, context: ops)
                return (client, address)
            }
            #expect(results.failures().isEmpty, "\(results.failures().prefix(3))")
            let given: [(Int, IPAddressRecord)] = results.successes()
            #expect(given.count == 1000)
            #expect(Set(given.map(\.1.address)).count == 1000)
            #expect(given.allSatisfy { client, record in record.prefixID == frozen[client].id && frozen[client].prefix.contains(record.address) })
            #expect(try await storedAddresses(ipam).count == 1000)
        }
    }

    @Test("more clients than addresses: exactly the pool's size succeed, the rest get a conflict", arguments: Backend.available)
    func concurrentExhaustion(_ backend: Backend) async throws {
        try await withIPAM(backend, chunk: 8, connections: 60) { ipam in
            let pool = try await ipam.createPrefix(PrefixSpec(prefix: "10.30.0.0/27"), context: ops)
            let results = await concurrently(50, 1) { _, _ in try await ipam.allocateAddress(in: pool.id, context: ops) }
            let given: [IPAddressRecord] = results.successes()
            #expect(given.count == 30)
            #expect(Set(given.map(\.address)).count == 30)
            let failures = results.failures()
            #expect(failures.count == 20)
            #expect(failures.allSatisfy { ($0 as? DataverketError)?.code == .conflict }, "\(failures.prefix(3))")
            #expect(try await storedAddresses(ipam).count == 30)
        }
    }

    @Test("an idempotency key replays its allocation, also when replayed concurrently", arguments: Backend.available)
    func idempotency(_ backend: Backend) async throws {
        try await withIPAM(backend, connections: 40) { ipam in
            let pool = try await ipam.createPrefix(PrefixSpec(prefix: "10.40.0.0/24"), context: ops)
            let other = try await ipam.createPrefix(PrefixSpec(prefix: "10.41.0.0/24"), context: ops)
            let first = try await ipam.allocateAddress(in: pool.id, dnsName: "a.example", idempotencyKey: "req-1", context: ops)
            let again = try await ipam.allocateAddress(in: "10.40.0.0/24", dnsName: "a.example", idempotencyKey: "req-1", context: ops)
            #expect(again == first)
            #expect(try await storedAddresses(ipam).count == 1)
            await expectError(.idempotencyKeyReused, "req-1") {
                try await ipam.allocateAddress(in: other.id, idempotencyKey: "req-1", context: ops)
            }
            // 30 clients with one fresh key: one allocation, the same answer for all.
            let results = await concurrently(30, 1) { _, _ in try await ipam.allocateAddress(in: pool.id, idempotencyKey: "req-2", context: ops) }
            #expect(results.failures().isEmpty, "\(results.failures().prefix(3))")
            let answers: [IPAddressRecord] = results.successes()
            #expect(Set(answers.map(\.id)).count == 1)
            #expect(try await storedAddresses(ipam).count == 2)
            // The slots the losers held were given back (they rolled back): the next allocation is the lowest
            // address not taken by the two keys (on PostgreSQL the winner may have held any of .2–.31).
            let taken = Set([first.address, try #require(answers.first).address])
            let lowest = try #require((2...40).map { IPAddress(v4: 0x0A28_0000 + UInt32($0)) }.first { !taken.contains($0) })
            #expect(try await ipam.allocateAddress(in: pool.id, context: ops).address == lowest)
            await expectError(.invalidArgument, "idempotencyKey") { try await ipam.allocateAddress(in: pool.id, idempotencyKey: "has space", context: ops) }

            let group = try await ipam.createVLANGroup(VLANGroupSpec(name: "g", minVID: 10, maxVID: 20), context: ops)
            let vlan = try await ipam.allocateVLAN(in: "g", idempotencyKey: "v-1", context: ops)
            #expect(try await ipam.allocateVLAN(in: group.id, idempotencyKey: "v-1", context: ops) == vlan)
            _ = try await ipam.createASNPool(ASNPoolSpec(name: "p", first: 65001, last: 65010), context: ops)
            let asn = try await ipam.allocateASN(from: "p", idempotencyKey: "a-1", context: ops)
            #expect(try await ipam.allocateASN(from: "p", idempotencyKey: "a-1", context: ops) == asn)
            #expect(try await ipam.asns().items.count == 1)
            _ = try await ipam.createPrefix(PrefixSpec(prefix: "172.16.0.0/16", status: .container), context: ops)
            let child = try await ipam.allocatePrefix(from: "172.16.0.0/16", length: 24, idempotencyKey: "p-1", context: ops)
            #expect(try await ipam.allocatePrefix(from: "172.16.0.0/16", length: 24, idempotencyKey: "p-1", context: ops) == child)
            await expectError(.idempotencyKeyReused) { try await ipam.allocatePrefix(from: "172.16.0.0/16", length: 25, idempotencyKey: "p-1", context: ops) }
        }
    }

    @Test("child prefixes: first free aligned block, concurrent allocations never overlap, exhaustion", arguments: Backend.available)
    func childPrefixes(_ backend: Backend) async throws {
        try await withIPAM(backend, connections: 40) { ipam in
            let site = try await ipam.createPrefix(PrefixSpec(prefix: "10.64.0.0/20", status: .container), context: ops)
            _ = try await ipam.createPrefix(PrefixSpec(prefix: "10.64.0.0/24"), context: ops)
            _ = try await ipam.createPrefix(PrefixSpec(prefix: "10.64.1.0/26"), context: ops)
            let next = try await ipam.allocatePrefix(from: site.id, length: 25, role: .storage, context: ops)
            #expect(next.prefix.description == "10.64.1.128/25")
            #expect(next.parentID == site.id)
            #expect(next.role == .storage)
            let smaller = try await ipam.allocatePrefix(from: "10.64.0.0/20", length: 26, context: ops)
            #expect(smaller.prefix.description == "10.64.1.64/26")
            // 40 clients race for /24s of the remaining 14.
            let results = await concurrently(40, 1) { _, _ in try await ipam.allocatePrefix(from: site.id, length: 24, context: ops) }
            let given: [PrefixRecord] = results.successes()
            #expect(given.count == 14)
            #expect(results.failures().allSatisfy { ($0 as? DataverketError)?.code == .conflict })
            for (index, a) in given.enumerated() {
                #expect(site.prefix.contains(a.prefix))
                for b in given[(index + 1)...] { #expect(!a.prefix.overlaps(b.prefix), "\(a.prefix) overlaps \(b.prefix)") }
            }
            await expectError(.conflict, "10.64.0.0/20", "no free /24") { try await ipam.allocatePrefix(from: site.id, length: 24, context: ops) }
            await expectError(.invalidArgument, "not a container") { try await ipam.allocatePrefix(from: "10.64.0.0/24", length: 28, context: ops) }
            await expectError(.invalidArgument, "/21–/32") { try await ipam.allocatePrefix(from: site.id, length: 16, context: ops) }
            _ = try await ipam.createPrefix(PrefixSpec(prefix: "2001:db8::/32", status: .container), context: ops)
            #expect(try await ipam.allocatePrefix(from: "2001:db8::/32", length: 64, context: ops).prefix.description == "2001:db8::/64")
            #expect(try await ipam.allocatePrefix(from: "2001:db8::/32", length: 48, context: ops).prefix.description == "2001:db8:1::/48")
        }
    }

    @Test("VLAN IDs and ASNs: concurrent allocation fills the range exactly once, then a clear conflict", arguments: Backend.available)
    func vlansAndASNs(_ backend: Backend) async throws {
        try await withIPAM(backend, chunk: 16, connections: 40) { ipam in
            _ = try await ipam.createVLANGroup(VLANGroupSpec(name: "osl1", scope: "osl1", minVID: 100, maxVID: 199), context: ops)
            _ = try await ipam.createVLAN(VLANSpec(group: "osl1", vid: 150, name: "fixed"), context: ops)
            let vlans = await concurrently(100, 1) { _, _ in try await ipam.allocateVLAN(in: "osl1", context: ops) }
            let vids: [VLANRecord] = vlans.successes()
            #expect(vids.count == 99)
            #expect(Set(vids.map(\.vid)) == Set(100...199).subtracting([150]))
            #expect(vlans.failures().count == 1)
            await expectError(.conflict, "osl1", "no free VLAN ID", "100–199") { try await ipam.allocateVLAN(in: "osl1", context: ops) }

            _ = try await ipam.createASNPool(ASNPoolSpec(name: "leaves", first: 4_200_000_000, last: 4_200_000_049), context: ops)
            let asns = await concurrently(60, 1) { _, _ in try await ipam.allocateASN(from: "leaves", context: ops) }
            let numbers: [ASNRecord] = asns.successes()
            #expect(numbers.count == 50)
            #expect(Set(numbers.map(\.asn)).count == 50)
            #expect(asns.failures().count == 10)
            await expectError(.conflict, "leaves", "no free ASN") { try await ipam.allocateASN(from: "leaves", context: ops) }
        }
    }

    @Test("refills skip addresses taken by hand beyond the materialized slots", arguments: Backend.available)
    func refillSkipsManual(_ backend: Backend) async throws {
        try await withIPAM(backend, chunk: 4) { ipam in
            _ = try await ipam.createPrefix(PrefixSpec(prefix: "10.50.0.0/28"), context: ops)
            #expect(try await ipam.allocateAddress(in: "10.50.0.0/28", context: ops).address.description == "10.50.0.1")
            for address in ["10.50.0.2", "10.50.0.6", "10.50.0.7", "10.50.0.9"] {
                _ = try await ipam.createAddress(AddressSpec(address: address), context: ops)
            }
            var got: [String] = []
            for _ in 0..<9 { got.append(try await ipam.allocateAddress(in: "10.50.0.0/28", context: ops).address.description) }
            #expect(got == ["10.50.0.3", "10.50.0.4", "10.50.0.5", "10.50.0.8", "10.50.0.10", "10.50.0.11", "10.50.0.12", "10.50.0.13",
                            "10.50.0.14"])
            await expectError(.conflict, "no free address") { try await ipam.allocateAddress(in: "10.50.0.0/28", context: ops) }
        }
    }
}
