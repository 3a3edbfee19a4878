#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import DataverketCore
import NettIntent
import DataverketStore
import SQLKit

/// An address as two order-preserving signed 64-bit halves (the sign bit flipped), so `(hi, lo)` row-value
/// comparisons in SQL order addresses numerically on both engines.
struct Split: Sendable, Hashable {
    var hi: Int64
    var lo: Int64

    init(_ value: UInt128) {
        hi = Int64(bitPattern: UInt64(truncatingIfNeeded: value >> 64) ^ (1 << 63))
        lo = Int64(bitPattern: UInt64(truncatingIfNeeded: value) ^ (1 << 63))
    }

    init(_ address: IPAddress) { self.init(address.value) }

    var value: UInt128 {
        UInt128(UInt64(bitPattern: hi) ^ (1 << 63)) << 64 | UInt128(UInt64(bitPattern: lo) ^ (1 << 63))
    }
}

extension SQLQueryString {
    /// `(?, ?)` of a split address.
    mutating func split(_ split: Split) {
        raw("(")
        value(split.hi)
        raw(", ")
        value(split.lo)
        raw(")")
    }
}

/// Nett's column types, beside the store's (`DataverketStore.Column`).
extension Column {
    static func date(_ row: any SQLRow) throws -> Date { try time(row, "created_at") }

    static func family(_ row: any SQLRow) throws -> IPAddress.Family {
        guard let family = IPAddress.Family(rawValue: try int(row, "family")) else { throw DataverketError(.internal, "bad family in the store") }
        return family
    }

    static func address(_ row: any SQLRow, _ column: String) throws -> IPAddress {
        guard let address = IPAddress(try string(row, column)) else { throw DataverketError(.internal, "bad address in the store") }
        return address
    }

    static func cidr(_ row: any SQLRow, _ column: String = "prefix") throws -> CIDR {
        guard let cidr = CIDR(try string(row, column)) else { throw DataverketError(.internal, "bad prefix in the store") }
        return cidr
    }
}

/// Field rules of the IPAM objects.
enum Rules {
    /// A route distinguisher or route target (RFC 4364 / RFC 4360 text forms): `ASN:number` (a 2-byte ASN with
    /// a 32-bit number, or a 4-byte ASN with a 16-bit number) or `IPv4:number` (16-bit).
    static func checkRouteValue(_ text: String, field: String) throws(DataverketError) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let assigned = UInt64(parts[1]), parts[1].allSatisfy(\.isNumber) else {
            throw .invalid(field, "'\(text)' is not ASN:number or IPv4:number")
        }
        if let v4 = IPAddress.parseV4(parts[0]) {
            _ = v4
            guard assigned <= 65535 else { throw .invalid(field, "'\(text)': the number after an IPv4 address is at most 65535") }
        } else if let asn = UInt64(parts[0]), parts[0].allSatisfy(\.isNumber) {
            guard asn <= UInt64(UInt32.max) else { throw .invalid(field, "'\(text)': the ASN is at most 4294967295") }
            if asn > 65535 {
                guard assigned <= 65535 else { throw .invalid(field, "'\(text)': after a 4-byte ASN the number is at most 65535") }
            } else {
                guard assigned <= UInt64(UInt32.max) else { throw .invalid(field, "'\(text)': the number is at most 4294967295") }
            }
        } else {
            throw .invalid(field, "'\(text)' is not ASN:number or IPv4:number")
        }
    }

    /// A DNS name: dot-separated labels of `[a-z0-9-]` (also `_` for service labels), at most 253 characters,
    /// an optional trailing dot. Stored lowercase without the trailing dot. No name is `nil`; an empty one is refused, as
    /// the OpenAPI document's pattern refuses it (the contract's negative pass found it accepted).
    static func dnsName(_ text: String?, field: String = "dnsName") throws(DataverketError) -> String? {
        guard var name = text?.lowercased() else { return nil }
        if name.hasSuffix(".") { name.removeLast() }
        guard !name.isEmpty, name.utf8.count <= 253 else { throw .invalid(field, "'\(text ?? "")' is not a DNS name (1–253 characters)") }
        for label in name.split(separator: ".", omittingEmptySubsequences: false) {
            let bytes = Array(label.utf8)
            let ok = (1...63).contains(bytes.count) && bytes.first != 0x2D && bytes.last != 0x2D
                && bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x5F }
            guard ok else { throw .invalid(field, "'\(text ?? "")' is not a DNS name: label '\(label)' is not 1–63 of [a-z0-9-_], not starting or ending with -") }
        }
        return name
    }

    /// A name as every resource's: a DNS label in lowercase, as the OpenAPI document says (not folded: `Red` is refused,
    /// as it is for a tenant).
    static func name(_ text: String, field: String = "name") throws(DataverketError) -> String {
        try Validation.checkName(text, field: field)
        return text
    }

    /// A name that may be left out; given, it is a name (an empty one is refused, as the document's minLength says).
    static func optionalName(_ text: String?, field: String) throws(DataverketError) -> String? {
        guard let text else { return nil }
        return try name(text, field: field)
    }

    static func idempotencyKey(_ key: String?) throws(DataverketError) -> String? {
        guard let key else { return nil }
        guard (1...255).contains(key.utf8.count), key.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            throw .invalid("idempotencyKey", "must be 1–255 printable ASCII characters without spaces")
        }
        return key
    }
}
