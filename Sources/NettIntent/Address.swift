import DataverketCore

/// An IPv4 or IPv6 address: the family and the address as a 128-bit unsigned integer (IPv4 in the low 32 bits).
///
/// Parsing is strict: IPv4 is four decimal octets without leading zeros (`010.0.0.1` is ambiguous — octal in
/// some parsers — and refused); IPv6 is RFC 4291 text (at most one `::`, an embedded IPv4 tail allowed, no
/// zone index). `description` is canonical: dotted quad, or RFC 5952 for IPv6 (lowercase, the longest run of
/// two or more zero groups compressed, `::ffff:a.b.c.d` for IPv4-mapped addresses).
public struct IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    public enum Family: Int, Hashable, Sendable, Codable, CustomStringConvertible {
        case v4 = 4
        case v6 = 6

        /// Bits in an address of this family.
        public var bitWidth: Int { self == .v4 ? 32 : 128 }
        public var description: String { self == .v4 ? "IPv4" : "IPv6" }
    }

    public let family: Family
    // Stored as two 64-bit halves: a stored UInt128 (16-byte aligned) in values captured by async closures
    // crashed the Linux toolchain (Swift 6.3) with a jump to address 0.
    private let high: UInt64
    private let low: UInt64

    /// The address as a 128-bit unsigned integer (IPv4 in the low 32 bits).
    public var value: UInt128 { UInt128(high) << 64 | UInt128(low) }

    public init(v4 value: UInt32) {
        self.init(family: .v4, value: UInt128(value))
    }

    public init(v6 value: UInt128) {
        self.init(family: .v6, value: value)
    }

    /// `value` must fit the family (checked).
    public init(family: Family, value: UInt128) {
        precondition(family == .v6 || value <= UInt128(UInt32.max), "IPv4 value out of range")
        self.family = family
        self.high = UInt64(truncatingIfNeeded: value >> 64)
        self.low = UInt64(truncatingIfNeeded: value)
    }

    /// Parses an address; nil if `text` is not one.
    public init?(_ text: String) {
        if text.contains(":") {
            guard let value = Self.parseV6(Substring(text)) else { return nil }
            self.init(v6: value)
        } else {
            guard let value = Self.parseV4(Substring(text)) else { return nil }
            self.init(v4: value)
        }
    }

    /// Parses an address or throws `invalid-argument` naming `field`.
    public static func parse(_ text: String, field: String = "address") throws(DataverketError) -> IPAddress {
        guard let address = IPAddress(text.trimmingWhitespace()) else {
            throw .invalid(field, "'\(text)' is not an IPv4 or IPv6 address")
        }
        return address
    }

    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        (lhs.family.rawValue, lhs.value) < (rhs.family.rawValue, rhs.value)
    }

    /// The largest value of the family.
    public static func maxValue(_ family: Family) -> UInt128 { family == .v4 ? UInt128(UInt32.max) : UInt128.max }

    /// The address `offset` above this one, or nil past the end of the family's space.
    public func advanced(by offset: UInt128) -> IPAddress? {
        let (sum, overflow) = value.addingReportingOverflow(offset)
        guard !overflow, sum <= Self.maxValue(family) else { return nil }
        return IPAddress(family: family, value: sum)
    }

    public var description: String {
        switch family {
        case .v4: return Self.formatV4(UInt32(truncatingIfNeeded: value))
        case .v6: return Self.formatV6(value)
        }
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let address = IPAddress(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not an IP address"))
        }
        self = address
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    // MARK: text

    public static func parseV4(_ text: Substring) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            let bytes = Array(part.utf8)
            guard (1...3).contains(bytes.count), bytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            if bytes.count > 1, bytes[0] == 0x30 { return nil }
            let octet = bytes.reduce(0) { $0 * 10 + Int($1 - 0x30) }
            guard octet <= 255 else { return nil }
            value = value << 8 | UInt32(octet)
        }
        return value
    }

    static func parseV6(_ text: Substring) -> UInt128? {
        guard !text.isEmpty, text.utf8.count <= 45 else { return nil }
        // Split at the one `::` (if any) into a head and a tail of groups.
        var head: [Substring] = []
        var tail: [Substring] = []
        var compressed = false
        if let range = text.range(of: "::") {
            compressed = true
            let before = text[..<range.lowerBound], after = text[range.upperBound...]
            if after.contains("::") { return nil }
            head = before.isEmpty ? [] : before.split(separator: ":", omittingEmptySubsequences: false)
            tail = after.isEmpty ? [] : after.split(separator: ":", omittingEmptySubsequences: false)
        } else {
            head = text.split(separator: ":", omittingEmptySubsequences: false)
        }
        // An embedded IPv4 address may end the text: it counts as two groups.
        var v4Tail: UInt32?
        if let last = compressed ? tail.last : head.last, last.contains(".") {
            guard let v4 = parseV4(last) else { return nil }
            v4Tail = v4
            if compressed { tail.removeLast() } else { head.removeLast() }
        }
        func group(_ part: Substring) -> UInt16? {
            guard (1...4).contains(part.utf8.count) else { return nil }
            return UInt16(part, radix: 16)
        }
        var groups: [UInt16] = []
        for part in head {
            guard let g = group(part) else { return nil }
            groups.append(g)
        }
        var tailGroups: [UInt16] = []
        for part in tail {
            guard let g = group(part) else { return nil }
            tailGroups.append(g)
        }
        if let v4Tail {
            tailGroups.append(UInt16(v4Tail >> 16))
            tailGroups.append(UInt16(v4Tail & 0xFFFF))
            if !compressed {
                groups += tailGroups
                tailGroups = []
            }
        }
        if compressed {
            // `::` stands for at least one zero group.
            guard groups.count + tailGroups.count <= 7 else { return nil }
            groups += Array(repeating: 0, count: 8 - groups.count - tailGroups.count) + tailGroups
        }
        guard groups.count == 8 else { return nil }
        return groups.reduce(UInt128(0)) { $0 << 16 | UInt128($1) }
    }

    static func formatV4(_ value: UInt32) -> String {
        "\(value >> 24).\((value >> 16) & 0xFF).\((value >> 8) & 0xFF).\(value & 0xFF)"
    }

    static func formatV6(_ value: UInt128) -> String {
        // IPv4-mapped (::ffff:0:0/96): RFC 5952 §5 recommends the dotted tail.
        if value >> 32 == 0xFFFF {
            return "::ffff:" + formatV4(UInt32(truncatingIfNeeded: value))
        }
        let groups = (0..<8).map { UInt16(truncatingIfNeeded: value >> (UInt128(7 - $0) * 16)) }
        // The longest run of at least two zero groups (the first on a tie) becomes `::`.
        var bestStart = -1, bestLength = 0, runStart = -1
        for index in 0...8 {
            if index < 8, groups[index] == 0 {
                if runStart < 0 { runStart = index }
            } else if runStart >= 0 {
                let length = index - runStart
                if length > bestLength, length >= 2 {
                    bestStart = runStart
                    bestLength = length
                }
                runStart = -1
            }
        }
        func hex(_ range: Range<Int>) -> String {
            groups[range].map { String($0, radix: 16) }.joined(separator: ":")
        }
        guard bestStart >= 0 else { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
    }
}

/// An IP network in CIDR notation: a network address with every host bit zero, and a prefix length.
public struct CIDR: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    public let network: IPAddress
    public let length: Int

    /// The network of `length` bits containing `address` (host bits cleared).
    public init(containing address: IPAddress, length: Int) {
        precondition((0...address.family.bitWidth).contains(length), "prefix length out of range")
        self.network = IPAddress(family: address.family, value: address.value & CIDR.mask(address.family, length))
        self.length = length
    }

    /// Parses `a.b.c.d/n` or `x:…:y/n` strictly: the host bits must be zero; nil otherwise.
    public init?(_ text: String) {
        guard let cidr = try? CIDR.parse(text) else { return nil }
        self = cidr
    }

    /// Parses a CIDR or throws `invalid-argument` naming `field` and saying what is wrong (a missing length,
    /// a length out of range, host bits set — with the network that was probably meant).
    public static func parse(_ text: String, field: String = "prefix") throws(DataverketError) -> CIDR {
        let trimmed = text.trimmingWhitespace()
        guard let slash = trimmed.firstIndex(of: "/") else {
            throw .invalid(field, "'\(text)' is not in CIDR notation (address/length)")
        }
        guard let address = IPAddress(String(trimmed[..<slash])) else {
            throw .invalid(field, "'\(text)' is not a valid CIDR: '\(trimmed[..<slash])' is not an IPv4 or IPv6 address")
        }
        let lengthText = trimmed[trimmed.index(after: slash)...]
        guard let length = Int(lengthText), lengthText.allSatisfy(\.isASCII), lengthText.allSatisfy(\.isNumber),
              (1...3).contains(lengthText.count), (0...address.family.bitWidth).contains(length)
        else {
            throw .invalid(field, "'\(text)' is not a valid CIDR: the length must be 0–\(address.family.bitWidth) for \(address.family)")
        }
        let cidr = CIDR(containing: address, length: length)
        guard cidr.network == address else {
            throw .invalid(field, "'\(text)' has host bits set: the network is \(cidr)")
        }
        return cidr
    }

    public var family: IPAddress.Family { network.family }
    /// Host bits: the width of the family minus the length.
    public var hostBits: Int { family.bitWidth - length }
    public var first: IPAddress { network }
    public var last: IPAddress { IPAddress(family: family, value: network.value | ~CIDR.mask(family, length) & IPAddress.maxValue(family)) }
    /// The number of addresses minus one (the whole IPv6 space does not fit in 128 bits).
    public var lastOffset: UInt128 { hostBits == 0 ? 0 : (hostBits >= 128 ? UInt128.max : (UInt128(1) << UInt128(hostBits)) - 1) }

    public func contains(_ address: IPAddress) -> Bool {
        address.family == family && address.value & CIDR.mask(family, length) == network.value
    }

    /// Whether `other` lies wholly inside this network (or is it).
    public func contains(_ other: CIDR) -> Bool {
        other.family == family && other.length >= length && contains(other.network)
    }

    /// CIDR blocks are either disjoint or nested: they overlap when one contains the other.
    public func overlaps(_ other: CIDR) -> Bool { contains(other) || other.contains(self) }

    /// The offset of `address` from the network address.
    public func offset(of address: IPAddress) -> UInt128 { address.value - network.value }

    public static func < (lhs: CIDR, rhs: CIDR) -> Bool {
        (lhs.network, lhs.length) < (rhs.network, rhs.length)
    }

    public var description: String { "\(network)/\(length)" }

    static func mask(_ family: IPAddress.Family, _ length: Int) -> UInt128 {
        let width = family.bitWidth
        guard length > 0 else { return 0 }
        let ones = UInt128.max << UInt128(128 - length)
        return width == 128 ? ones : (ones >> 96) & UInt128(UInt32.max)
    }

    /// The first free block of `length` bits inside this network that overlaps none of `taken` (which may
    /// nest and need not be sorted), or nil if there is none.
    public func firstFree(length childLength: Int, avoiding taken: [CIDR]) -> CIDR? {
        guard childLength >= length, childLength <= family.bitWidth else { return nil }
        let blockLast: UInt128 = childLength == family.bitWidth ? 0 : (UInt128(1) << UInt128(family.bitWidth - childLength)) - 1
        let end = last.value
        var candidate = network.value
        func alignUp(_ value: UInt128) -> UInt128? {
            let (sum, overflow) = value.addingReportingOverflow(blockLast)
            return overflow ? nil : sum & ~blockLast
        }
        for block in taken.filter({ $0.family == family && $0.overlaps(self) }).sorted() {
            let blockStart = block.network.value, blockEnd = block.last.value
            if blockEnd < candidate { continue }
            if candidate + blockLast < blockStart { break }
            // The candidate collides with this block: move past it, aligned.
            let (next, overflow) = blockEnd.addingReportingOverflow(1)
            guard !overflow, let aligned = alignUp(max(next, candidate)) else { return nil }
            candidate = aligned
            if candidate > end { return nil }
        }
        let (candidateEnd, overflow) = candidate.addingReportingOverflow(blockLast)
        guard !overflow, candidateEnd <= end else { return nil }
        return CIDR(containing: IPAddress(family: family, value: candidate), length: childLength)
    }
}

extension String {
    public func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars = scalars.dropFirst() }
        while let last = scalars.last, last.isWhitespace { scalars = scalars.dropLast() }
        return String(scalars)
    }
}

extension CIDR {
    /// Encoded as its text (`10.20.0.0/22`), like addresses.
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            self = try CIDR.parse(text)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
