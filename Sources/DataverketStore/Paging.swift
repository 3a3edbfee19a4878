#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import DataverketCore

/// A page of a list, with the cursor for the next one (`nil` on the last page).
public struct Page<Item: Sendable>: Sendable {
    public var items: [Item]
    public var nextCursor: String?

    public init(items: [Item], nextCursor: String?) {
        self.items = items
        self.nextCursor = nextCursor
    }

    /// The same page with each item transformed.
    public func map<T: Sendable>(_ transform: (Item) throws -> T) rethrows -> Page<T> {
        Page<T>(items: try items.map(transform), nextCursor: nextCursor)
    }
}

/// Keyset pagination, the one scheme every list uses: a list is ordered by a unique key, a page is fetched with
/// `limit + 1` rows after the cursor's key, and the cursor is the last shown item's key — one or more parts —
/// as opaque base64url. Limits are 1–1000, 100 when not given (the OpenAPI document says the same).
public enum Paging {
    public static let defaultLimit = 100
    public static let maxLimit = 1000
    /// The longest cursor accepted, in bytes.
    public static let maxCursorBytes = 600
    static let separator: Character = "\u{1F}"

    /// The requested page size, or the default; outside 1…``maxLimit`` is invalid (422).
    public static func limit(_ requested: Int?) throws(DataverketError) -> Int {
        guard let requested else { return defaultLimit }
        guard (1...maxLimit).contains(requested) else {
            throw .invalid("limit", "must be between 1 and \(maxLimit), got \(requested)")
        }
        return requested
    }

    /// The cursor pointing after the item whose sort key is `parts`.
    public static func encode(_ parts: [String]) -> String {
        Data(parts.joined(separator: String(separator)).utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The cursor pointing after the item whose sort key is `key`.
    public static func encode(_ key: String) -> String { encode([key]) }

    /// The key a cursor points after, in `parts` parts; a cursor this server did not issue is a malformed
    /// request (400).
    public static func decode(_ cursor: String?, parts: Int) throws(DataverketError) -> [String]? {
        guard let cursor, !cursor.isEmpty else { return nil }
        var base64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard cursor.utf8.count <= maxCursorBytes, let data = Data(base64Encoded: base64),
              let text = String(data: data, encoding: .utf8),
              !text.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\u{1F}" })
        else { throw malformed }
        let split = text.split(separator: separator, omittingEmptySubsequences: false).map(String.init)
        guard split.count == parts else { throw malformed }
        return split
    }

    /// The one-part key a cursor points after.
    public static func decode(_ cursor: String?) throws(DataverketError) -> String? {
        try decode(cursor, parts: 1)?[0]
    }

    /// The resource ID (`<kind>_<ULID>`) a cursor points after, for lists ordered by ID.
    public static func decodeID(_ cursor: String?) throws(DataverketError) -> String? {
        guard let id = try decode(cursor) else { return nil }
        guard id.count < 64, ResourceID.looksLikeID(id),
              id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") })
        else { throw malformed }
        return id
    }

    /// A numeric cursor part.
    public static func int(_ text: String) throws(DataverketError) -> Int64 {
        guard let value = Int64(text) else { throw malformed }
        return value
    }

    /// The page of `items` (fetched with `limit + 1`), its cursor made from the last shown item's key.
    public static func page<Item>(_ items: [Item], limit: Int, key: (Item) -> [String]) -> Page<Item> {
        guard items.count > limit else { return Page(items: items, nextCursor: nil) }
        let shown = Array(items.prefix(limit))
        return Page(items: shown, nextCursor: encode(key(shown[shown.count - 1])))
    }

    /// The page of `items` (fetched with `limit + 1`) of a list ordered by a one-part key.
    public static func page<Item>(_ items: [Item], limit: Int, id: (Item) -> String) -> Page<Item> {
        page(items, limit: limit) { [id($0)] }
    }

    static var malformed: DataverketError { DataverketError(.malformedRequest, "cursor is not one this server issued") }
}
