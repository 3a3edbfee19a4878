#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AsyncHTTPClient
import DataverketCore
import NettIntent
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// One DNS record set as Nett manages it: forward (`A`/`AAAA`) and reverse (`PTR`) records of allocated addresses.
public struct DNSRecordSet: Codable, Sendable, Hashable, Comparable {
    public var zone: String
    /// Fully qualified, with the trailing dot.
    public var name: String
    public var type: String
    public var ttl: Int
    public var contents: [String]

    public init(zone: String, name: String, type: String, ttl: Int, contents: [String]) {
        self.zone = zone
        self.name = name
        self.type = type
        self.ttl = ttl
        self.contents = contents.sorted()
    }

    public static func < (lhs: DNSRecordSet, rhs: DNSRecordSet) -> Bool {
        (lhs.zone, lhs.name, lhs.type) < (rhs.zone, rhs.name, rhs.type)
    }
}

/// PowerDNS's authoritative HTTP API (`/api/v1/servers/<id>/zones`): zones and RRsets. The API key is sent in
/// `X-API-Key` and never logged or put into an error.
public struct PowerDNSClient: Sendable {
    public let baseURL: String
    public let serverID: String
    private let apiKey: String
    private let http: HTTPClient
    private let timeout: TimeAmount
    /// The caller's HTTP client (the caller shuts it down).
    public var httpClient: HTTPClient { http }

    /// `httpClient` belongs to the caller.
    public init(baseURL: String, apiKey: String, httpClient: HTTPClient, serverID: String = "localhost", timeout: Duration = .seconds(10)) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.apiKey = apiKey
        self.http = httpClient
        self.serverID = serverID
        self.timeout = .seconds(max(1, timeout.components.seconds))
    }

    struct Zone: Codable {
        var name: String
        var kind: String?
        var rrsets: [RRSet]?
    }

    struct RRSet: Codable {
        struct Record: Codable { var content: String; var disabled: Bool }
        struct Comment: Codable { var content: String; var account: String }
        var name: String
        var type: String
        var ttl: Int?
        var changetype: String?
        var records: [Record]?
        var comments: [Comment]?
    }

    /// The zone's RRsets, or nil when PowerDNS has no such zone.
    func zone(_ name: String) async throws -> Zone? {
        let (status, body) = try await request(.GET, "/zones/\(name)")
        if status == 404 || status == 422 { return nil }
        try check(status, body, "reading zone \(name)")
        return try JSONDecoder().decode(Zone.self, from: body)
    }

    /// The names of every zone PowerDNS holds.
    func zoneNames() async throws -> [String] {
        struct Listed: Codable { var name: String }
        let (status, body) = try await request(.GET, "/zones")
        try check(status, body, "listing zones")
        return try JSONDecoder().decode([Listed].self, from: body).map(\.name)
    }

    func createZone(_ name: String) async throws {
        let body = try JSONEncoder().encode(["name": name, "kind": "Native", "soa_edit_api": "INCEPTION-INCREMENT"])
        let (status, response) = try await request(.POST, "/zones", body: body)
        if status == 409 { return }
        try check(status, response, "creating zone \(name)")
    }

    func patch(_ zone: String, _ rrsets: [RRSet]) async throws {
        guard !rrsets.isEmpty else { return }
        let (status, response) = try await request(.PATCH, "/zones/\(zone)", body: try JSONEncoder().encode(["rrsets": rrsets]))
        try check(status, response, "changing \(rrsets.count) record sets of zone \(zone)")
    }

    /// Every request Nett sends is idempotent (reads, zone creation answered 409 when done, `REPLACE`/`DELETE` patches),
    /// so a 5xx — e.g. PowerDNS's SQLite backend answering "database is locked" to concurrent writers — is retried
    /// up to seven times, backing off from about 50 ms, doubling, to at most 1 s (about 3.5 s in all); the last
    /// answer is returned.
    private func request(_ method: HTTPMethod, _ path: String, body: Data? = nil) async throws -> (Int, Data) {
        var attempt = 0
        while true {
            let (status, data) = try await send(method, path, body: body)
            guard status >= 500, attempt < 7 else { return (status, data) }
            try await Task.sleep(for: .milliseconds(min(50 << attempt, 1_000) + Int.random(in: 0..<25)))
            attempt += 1
        }
    }

    private func send(_ method: HTTPMethod, _ path: String, body: Data?) async throws -> (Int, Data) {
        var request = HTTPClientRequest(url: "\(baseURL)/api/v1/servers/\(serverID)\(path)")
        request.method = method
        request.headers.add(name: "X-API-Key", value: apiKey)
        request.headers.add(name: "Accept", value: "application/json")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: body))
        }
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: timeout)
        } catch {
            throw DataverketError(.unavailable, "PowerDNS at \(baseURL) did not answer: \(error)")
        }
        let bytes = try await response.body.collect(upTo: 16 << 20)
        return (Int(response.status.code), Data(buffer: bytes))
    }

    private func check(_ status: Int, _ body: Data, _ what: String) throws {
        guard !(200..<300).contains(status) else { return }
        let detail = (try? JSONDecoder().decode([String: String].self, from: body))?["error"]
            ?? String(decoding: body.prefix(200), as: UTF8.self)
        throw DataverketError(.unavailable, "PowerDNS refused \(what): HTTP \(status) \(detail)")
    }
}

/// What one synchronization changed.
public struct DNSSyncResult: Sendable, Hashable, Codable {
    public var zonesCreated: [String] = []
    public var replaced: [DNSRecordSet] = []
    public var deleted: [DNSRecordSet] = []
    /// Names no configured forward zone holds (their addresses get a PTR only).
    public var outsideZones: [String] = []

    public var changes: Int { zonesCreated.count + replaced.count + deleted.count }
}

/// Keeps PowerDNS in step with the IPAM: every active address with a DNS name gets its forward record (`A`/`AAAA`,
/// in the longest configured forward zone that holds the name) and its reverse record (`PTR`, in the IPv4 /24 or
/// IPv6 /64 reverse zone, created on demand). Record sets Nett writes carry the comment account `dataverket`; only
/// those are replaced or deleted, so records an operator keeps by hand in the same zones are left alone.
public struct DNSSync: Sendable {
    public static let account = "dataverket"

    public let ipam: IPAM
    public let client: PowerDNSClient
    /// Forward zones, fully qualified (`osl1.example.org.`).
    public let forwardZones: [String]
    public let ttl: Int
    let logger: Logger

    public init(ipam: IPAM, client: PowerDNSClient, forwardZones: [String], ttl: Int = 300, logger: Logger) {
        self.ipam = ipam
        self.client = client
        self.forwardZones = forwardZones.map(Self.qualified).sorted { $0.count > $1.count }
        self.ttl = ttl
        self.logger = logger
    }

    static func qualified(_ name: String) -> String {
        let lower = name.lowercased()
        return lower.hasSuffix(".") ? lower : lower + "."
    }

    /// The reverse name of an address and its reverse zone (IPv4 /24, IPv6 /64).
    public static func reverse(_ address: IPAddress) -> (name: String, zone: String) {
        switch address.family {
        case .v4:
            let value = UInt32(truncatingIfNeeded: address.value)
            let octets = (0..<4).map { String((value >> (24 - 8 * UInt32($0))) & 0xff) }
            return ("\(octets[3]).\(octets[2]).\(octets[1]).\(octets[0]).in-addr.arpa.", "\(octets[2]).\(octets[1]).\(octets[0]).in-addr.arpa.")
        case .v6:
            let value = address.value
            let nibbles = (0..<32).map { String((value >> (124 - 4 * UInt128($0))) & 0xf, radix: 16) }
            let reversed = nibbles.reversed().joined(separator: ".")
            let zone = nibbles.prefix(16).reversed().joined(separator: ".")
            return ("\(reversed).ip6.arpa.", "\(zone).ip6.arpa.")
        }
    }

    /// The record sets the IPAM asks for, and the names outside every forward zone.
    public func desired() async throws -> (sets: [DNSRecordSet], outside: [String]) {
        var forward: [String: (zone: String, type: String, contents: Set<String>)] = [:]
        var reverse: [String: (zone: String, contents: Set<String>)] = [:]
        var outside: Set<String> = []
        var cursor: String?
        for _ in 0..<10_000 {
            let page = try await ipam.addresses(AddressFilter(), limit: 500, cursor: cursor)
            for record in page.items where record.status == .active || record.status == .dhcp {
                guard let dnsName = record.dnsName, !dnsName.isEmpty else { continue }
                let name = Self.qualified(dnsName)
                let type = record.address.family == .v4 ? "A" : "AAAA"
                if let zone = forwardZones.first(where: { name == $0 || name.hasSuffix("." + $0) }) {
                    forward["\(name)|\(type)", default: (zone, type, [])].contents.insert(record.address.description)
                } else {
                    outside.insert(name)
                }
                let (ptr, zone) = Self.reverse(record.address)
                reverse[ptr, default: (zone, [])].contents.insert(name)
            }
            guard let next = page.nextCursor else { break }
            cursor = next
        }
        var sets = forward.map { key, value in
            DNSRecordSet(zone: value.zone, name: String(key.split(separator: "|")[0]), type: value.type, ttl: ttl, contents: Array(value.contents))
        }
        sets += reverse.map { name, value in
            DNSRecordSet(zone: value.zone, name: name, type: "PTR", ttl: ttl, contents: Array(value.contents))
        }
        return (sets.sorted(), outside.sorted())
    }

    /// The record sets Nett manages, as PowerDNS has them, in `zones` (default: the forward zones, the reverse
    /// zones the IPAM's addresses need, and the reverse zones PowerDNS holds for networks of the IPAM's prefixes).
    public func records(zones: [String]? = nil) async throws -> [DNSRecordSet] {
        let names: [String]
        if let zones {
            names = zones
        } else {
            names = try await managedZones(try await desired().sets)
        }
        var found: [DNSRecordSet] = []
        for zone in names {
            guard let stored = try await client.zone(zone) else { continue }
            for set in stored.rrsets ?? [] where (set.comments ?? []).contains(where: { $0.account == Self.account }) {
                found.append(DNSRecordSet(zone: zone, name: set.name, type: set.type, ttl: set.ttl ?? ttl,
                                          contents: (set.records ?? []).map(\.content)))
            }
        }
        return found.sorted()
    }

    /// The forward zones, the zones of `sets`, and the reverse zones PowerDNS already holds for networks of the IPAM's
    /// prefixes: there the PTRs of released addresses remain to be deleted, also once a zone's last address is gone.
    private func managedZones(_ sets: [DNSRecordSet]) async throws -> [String] {
        var zones = Set(forwardZones + sets.map(\.zone))
        let reverse = try await client.zoneNames().map(Self.qualified).filter { !zones.contains($0) && Self.reverseNetwork($0) != nil }
        if !reverse.isEmpty {
            var prefixes: [CIDR] = []
            var cursor: String?
            for _ in 0..<10_000 {
                let page = try await ipam.prefixes(limit: 500, cursor: cursor)
                prefixes += page.items.map(\.prefix)
                guard let next = page.nextCursor else { break }
                cursor = next
            }
            for zone in reverse {
                if let network = Self.reverseNetwork(zone), prefixes.contains(where: { $0.overlaps(network) }) { zones.insert(zone) }
            }
        }
        return zones.sorted()
    }

    /// The network of a reverse zone as Nett makes them (`c.b.a.in-addr.arpa.` → `a.b.c.0/24`, 16 nibbles under
    /// `ip6.arpa.` → a /64); nil for any other name.
    static func reverseNetwork(_ zone: String) -> CIDR? {
        let labels = zone.split(separator: ".").map(String.init)
        if labels.count == 5, labels.suffix(2) == ["in-addr", "arpa"] {
            let octets = labels.prefix(3).reversed().compactMap { UInt8($0) }
            guard octets.count == 3, labels.prefix(3).allSatisfy({ $0 == String(UInt8($0) ?? 0) }) else { return nil }
            return CIDR("\(octets[0]).\(octets[1]).\(octets[2]).0/24")
        }
        if labels.count == 18, labels.suffix(2) == ["ip6", "arpa"] {
            var value: UInt128 = 0
            for nibble in labels.prefix(16).reversed() {
                guard nibble.count == 1, let digit = UInt8(nibble, radix: 16) else { return nil }
                value = value << 4 | UInt128(digit)
            }
            return CIDR(containing: IPAddress(v6: value << 64), length: 64)
        }
        return nil
    }

    /// Makes PowerDNS hold exactly the desired record sets (of those Nett manages).
    @discardableResult
    public func sync() async throws -> DNSSyncResult {
        let (wanted, outside) = try await desired()
        var result = DNSSyncResult(outsideZones: outside)
        let zones = try await managedZones(wanted)
        for zone in zones where try await client.zone(zone) == nil {
            try await client.createZone(zone)
            result.zonesCreated.append(zone)
        }
        let current = try await records(zones: zones)
        let currentByKey = Dictionary(current.map { ("\($0.name)|\($0.type)", $0) }, uniquingKeysWith: { first, _ in first })
        let wantedKeys = Set(wanted.map { "\($0.name)|\($0.type)" })
        var changes: [String: [PowerDNSClient.RRSet]] = [:]
        for set in wanted where currentByKey["\(set.name)|\(set.type)"] != set {
            changes[set.zone, default: []].append(PowerDNSClient.RRSet(
                name: set.name, type: set.type, ttl: set.ttl, changetype: "REPLACE",
                records: set.contents.map { .init(content: $0, disabled: false) },
                comments: [.init(content: "managed by Dataverket Nett (IPAM)", account: Self.account)]))
            result.replaced.append(set)
        }
        for set in current where !wantedKeys.contains("\(set.name)|\(set.type)") {
            changes[set.zone, default: []].append(PowerDNSClient.RRSet(name: set.name, type: set.type, changetype: "DELETE"))
            result.deleted.append(set)
        }
        for (zone, sets) in changes.sorted(by: { $0.key < $1.key }) {
            try await client.patch(zone, sets)
        }
        if result.changes > 0 {
            logger.info("DNS synchronized", metadata: ["zones_created": "\(result.zonesCreated.count)",
                                                       "replaced": "\(result.replaced.count)", "deleted": "\(result.deleted.count)"])
        }
        return result
    }
}
