#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A resource identifier: a kind prefix and a ULID, e.g. `prj_01JD3Z9W4Q6M7R8T9V0X1Y2Z3A`.
///
/// ULIDs sort by creation time, so IDs double as stable cursor keys for pagination. Names are DNS labels
/// and can never contain `_`, so a path segment is unambiguously either a name or an ID.
public struct ResourceID: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    public let rawValue: String

    public init?(_ rawValue: String, prefix: String) {
        guard rawValue.hasPrefix(prefix + "_"),
              rawValue.utf8.count == prefix.utf8.count + 1 + 26,
              rawValue.utf8.dropFirst(prefix.utf8.count + 1).allSatisfy({ ULID.alphabetSet.contains($0) })
        else { return nil }
        self.rawValue = rawValue
    }

    private init(unchecked: String) { self.rawValue = unchecked }

    /// A new ID for `prefix`, time-ordered.
    public static func generate(prefix: String, now: Date = Date()) -> ResourceID {
        ResourceID(unchecked: prefix + "_" + ULID.make(now: now))
    }

    /// Whether `text` looks like an ID of any kind (contains `_`), as opposed to a name.
    public static func looksLikeID(_ text: String) -> Bool { text.contains("_") }

    public var description: String { rawValue }
    public static func < (lhs: ResourceID, rhs: ResourceID) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        self.rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// Universally Unique Lexicographically Sortable Identifier: 48 bits of milliseconds, 80 random bits,
/// Crockford base32.
public enum ULID {
    static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)
    static let alphabetSet = Set(alphabet)

    public static func make(now: Date = Date()) -> String {
        var rng = SystemRandomNumberGenerator()
        return make(milliseconds: UInt64(max(0, now.timeIntervalSince1970 * 1000)), using: &rng)
    }

    public static func make(milliseconds: UInt64, using rng: inout some RandomNumberGenerator) -> String {
        var out = [UInt8](repeating: 0, count: 26)
        var time = milliseconds & 0xFFFF_FFFF_FFFF
        for index in stride(from: 9, through: 0, by: -1) {
            out[index] = alphabet[Int(time & 31)]
            time >>= 5
        }
        // 80 random bits = 16 base32 characters.
        var high = rng.next() & 0xFF_FFFF_FFFF  // 40 bits
        var low = rng.next() & 0xFF_FFFF_FFFF   // 40 bits
        for index in stride(from: 25, through: 18, by: -1) {
            out[index] = alphabet[Int(low & 31)]
            low >>= 5
        }
        for index in stride(from: 17, through: 10, by: -1) {
            out[index] = alphabet[Int(high & 31)]
            high >>= 5
        }
        return String(decoding: out, as: UTF8.self)
    }
}
