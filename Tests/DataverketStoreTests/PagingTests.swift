import DataverketCore
import DataverketStore
import Testing

/// The one keyset paging scheme every list uses (no database needed).
@Suite("Store toolkit: paging")
struct PagingTests {
    @Test("limits: 100 by default, 1–1000 accepted, outside refused as invalid")
    func limits() throws {
        #expect(try Paging.limit(nil) == 100)
        #expect(try Paging.limit(1) == 1)
        #expect(try Paging.limit(1000) == 1000)
        for bad in [0, -1, 1001, Int.max] {
            let error = #expect(throws: DataverketError.self) { try Paging.limit(bad) }
            #expect(error?.code == .invalidArgument && error?.message.contains("1 and 1000") == true)
        }
    }

    @Test("cursors round-trip keys of one or more parts, including separators' neighbours and unicode")
    func roundTrip() throws {
        for parts in [["tn_01HZX"], ["10.0.0.0/24", "4", "0", "7"], ["", "a"], ["ø/æ+å=", "x"]] {
            let cursor = Paging.encode(parts)
            #expect(!cursor.contains("+") && !cursor.contains("/") && !cursor.contains("="), "base64url without padding: \(cursor)")
            #expect(try Paging.decode(cursor, parts: parts.count) == parts)
        }
        #expect(try Paging.decode(nil, parts: 2) == nil)
        #expect(try Paging.decode("", parts: 2) == nil)
    }

    @Test("a cursor this server did not issue is a malformed request: wrong part count, not base64, control bytes, too long, not an ID")
    func malformed() throws {
        let two = Paging.encode(["a", "b"])
        let cases: [() throws -> Void] = [
            { _ = try Paging.decode(two, parts: 1) },
            { _ = try Paging.decode("%%%", parts: 1) },
            { _ = try Paging.decode(Paging.encode(["a\u{0}b"]), parts: 1) },
            { _ = try Paging.decode(String(repeating: "A", count: Paging.maxCursorBytes + 4), parts: 1) },
            { _ = try Paging.decodeID(Paging.encode("not an id")) },
            { _ = try Paging.int("12x") },
        ]
        for check in cases {
            let error = #expect(throws: DataverketError.self) { try check() }
            #expect(error?.code == .malformedRequest, "\(String(describing: error))")
        }
        #expect(try Paging.decodeID(Paging.encode("tn_01HZX8Y7ZQ3N4M5P6R7S8T9V0W")) == "tn_01HZX8Y7ZQ3N4M5P6R7S8T9V0W")
    }

    @Test("a page of limit + 1 fetched rows shows limit and points after the last shown; a short page has no cursor")
    func page() throws {
        let rows = (1...4).map { "k\($0)" }
        let full = Paging.page(rows, limit: 3) { $0 }
        #expect(full.items == ["k1", "k2", "k3"])
        #expect(try Paging.decode(full.nextCursor) == "k3")
        let last = Paging.page(Array(rows.prefix(3)), limit: 3) { $0 }
        #expect(last.items.count == 3 && last.nextCursor == nil)
        #expect(full.map { $0.uppercased() }.items == ["K1", "K2", "K3"])
        #expect(full.map { $0.uppercased() }.nextCursor == full.nextCursor)
    }
}
