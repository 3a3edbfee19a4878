#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import DataverketCore
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
    mutating func raw(_ text: String) { appendInterpolation(unsafeRaw: text) }
    mutating func value(_ value: some Encodable & Sendable) { appendInterpolation(bind: value) }
    /// `(?, ?)` of a split address.
    mutating func split(_ split: Split) {
        raw("(")
        value(split.hi)
        raw(", ")
        value(split.lo)
        raw(")")
    }
}

enum Column {
    static func string(_ row: any SQLRow, _ column: String) throws -> String { try row.decode(column: column, as: String.self) }
    static func optional(_ row: any SQLRow, _ column: String) throws -> String? { try row.decode(column: column, as: String?.self) }
    static func int(_ row: any SQLRow, _ column: String) throws -> Int64 { try row.decode(column: column, as: Int64.self) }
    static func optionalInt(_ row: any SQLRow, _ column: String) throws -> Int64? { try row.decode(column: column, as: Int64?.self) }
    static func date(_ row: any SQLRow) throws -> Date { StoreTime.decode(try int(row, "created_at")) }

    static func enumValue<T: RawRepresentable>(_ row: any SQLRow, _ column: String) throws -> T where T.RawValue == String {
        let raw = try string(row, column)
        guard let value = T(rawValue: raw) else { throw DataverketError(.internal, "unknown \(column) '\(raw)' in the store") }
        return value
    }

    static func list(_ text: String) -> [String] { text.isEmpty ? [] : text.split(separator: ",").map(String.init) }

    static func family(_ row: any SQLRow) throws -> IPAddress.Family {
        guard let family = IPAddress.Family(rawValue: Int(try int(row, "family"))) else { throw DataverketError(.internal, "bad family in the store") }
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

/// Opaque keyset cursors: the sort key of a page's last item, base64url.
enum PageCursor {
    static func encode(_ parts: [String]) -> String {
        Data(parts.joined(separator: "\u{1F}").utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ cursor: String?, count: Int) throws(DataverketError) -> [String]? {
        guard let cursor, !cursor.isEmpty else { return nil }
        var base64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard cursor.utf8.count <= 600, let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8) else {
            throw DataverketError(.malformedRequest, "cursor is not one this server issued")
        }
        let parts = text.split(separator: "\u{1F}", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == count else { throw DataverketError(.malformedRequest, "cursor is not one this server issued") }
        return parts
    }

    static func limit(_ requested: Int?) throws(DataverketError) -> Int {
        guard let requested else { return 100 }
        guard (1...1000).contains(requested) else { throw .invalid("limit", "must be between 1 and 1000, got \(requested)") }
        return requested
    }

    static func int(_ text: String) throws(DataverketError) -> Int64 {
        guard let value = Int64(text) else { throw DataverketError(.malformedRequest, "cursor is not one this server issued") }
        return value
    }

    /// The page of `rows` (fetched with `limit + 1`), the cursor made from the last shown item's key.
    static func page<Item>(_ items: [Item], limit: Int, key: (Item) -> [String]) -> IPAMPage<Item> {
        guard items.count > limit else { return IPAMPage(items: items, nextCursor: nil) }
        let shown = Array(items.prefix(limit))
        return IPAMPage(items: shown, nextCursor: encode(key(shown[shown.count - 1])))
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
    /// an optional trailing dot. Stored lowercase without the trailing dot.
    static func dnsName(_ text: String?, field: String = "dnsName") throws(DataverketError) -> String? {
        guard var name = text?.lowercased(), !name.isEmpty else { return nil }
        if name.hasSuffix(".") { name.removeLast() }
        guard !name.isEmpty, name.utf8.count <= 253 else { throw .invalid(field, "'\(text ?? "")' is not a DNS name (1–253 characters)") }
        for label in name.split(separator: ".", omittingEmptySubsequences: false) {
            let bytes = Array(label.utf8)
            let ok = (1...63).contains(bytes.count) && bytes.first != 0x2D && bytes.last != 0x2D
                && bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x5F }
            guard ok else { throw .invalid(field, "'\(text ?? "")' is not a DNS name: label '\(label)' is not 1–63 of [a-z0-9-_]") }
        }
        return name
    }

    static func name(_ text: String, field: String = "name") throws(DataverketError) -> String {
        let name = text.lowercased()
        try Validation.checkName(name, field: field)
        return name
    }

    static func optionalName(_ text: String?, field: String) throws(DataverketError) -> String? {
        guard let text, !text.isEmpty else { return nil }
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
