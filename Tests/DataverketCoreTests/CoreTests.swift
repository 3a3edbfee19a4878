import DataverketCore
import Foundation
import Testing

@Suite("Resource IDs")
struct ResourceIDTests {
    @Test("IDs are prefix_ULID, valid, and sort by creation time")
    func format() {
        let early = ResourceID.generate(prefix: "prj", now: Date(timeIntervalSince1970: 1_000_000))
        let late = ResourceID.generate(prefix: "prj", now: Date(timeIntervalSince1970: 2_000_000))
        #expect(early.rawValue.count == 30)
        #expect(ResourceID(early.rawValue, prefix: "prj") == early)
        #expect(ResourceID(early.rawValue, prefix: "ten") == nil)
        #expect(early < late)
        #expect(ResourceID("prj_not-a-ulid", prefix: "prj") == nil)
    }

    @Test("a thousand IDs in one millisecond are distinct")
    func unique() {
        let ids = Set((0..<1000).map { _ in ULID.make(now: Date(timeIntervalSince1970: 5)) })
        #expect(ids.count == 1000)
    }
}

@Suite("Validation")
struct ValidationTests {
    @Test("DNS label names", arguments: [
        ("acme", true), ("a", true), ("web-1", true), ("1st", true), (String(repeating: "a", count: 63), true),
        ("", false), ("Acme", false), ("-web", false), ("web-", false), ("we_b", false), ("web.shop", false),
        (String(repeating: "a", count: 64), false), ("wéb", false),
    ])
    func names(_ name: String, _ valid: Bool) {
        let ok = (try? Validation.checkName(name)) != nil
        #expect(ok == valid, "\(name)")
    }

    @Test("labels: key charset, value length, count")
    func labels() throws {
        try Validation.checkLabels(["app.kubernetes.io/name": "web", "tier": ""])
        #expect(throws: DataverketError.self) { try Validation.checkLabels(["bad key": "v"]) }
        #expect(throws: DataverketError.self) { try Validation.checkLabels(["k": String(repeating: "v", count: 257)]) }
        let many = Dictionary(uniqueKeysWithValues: (0..<65).map { ("k\($0)", "v") })
        #expect(throws: DataverketError.self) { try Validation.checkLabels(many) }
    }

    @Test("text rejects control characters and overlong values")
    func text() throws {
        try Validation.checkText("line one\nline two", field: "description", max: 100)
        #expect(throws: DataverketError.self) { try Validation.checkText("bell\u{07}", field: "description", max: 100) }
        #expect(throws: DataverketError.self) { try Validation.checkText("toolong", field: "description", max: 3) }
    }

    @Test("lengths count Unicode characters as JSON Schema does; ranges, counts and name-or-ID references as the document says")
    func bounds() throws {
        try Validation.checkLength("ø\u{01}", field: "f", max: 2)
        try Validation.checkLength(nil, field: "f", min: 1, max: 2)
        #expect(throws: DataverketError.self) { try Validation.checkLength("øøø", field: "f", max: 2) }
        #expect(throws: DataverketError.self) { try Validation.checkLength("", field: "f", min: 1, max: 2) }
        try Validation.checkRange(31_536_000, field: "staleAfter", 1...31_536_000)
        #expect(throws: DataverketError.self) { try Validation.checkRange(31_536_001, field: "staleAfter", 1...31_536_000) }
        #expect(throws: DataverketError.self) { try Validation.checkRange(0, field: "staleAfter", 1...31_536_000) }
        try Validation.checkCount(64, field: "macs", max: 64)
        #expect(throws: DataverketError.self) { try Validation.checkCount(65, field: "macs", max: 64) }
        for ok in ["global", "a", "pfx_01M8000000000000000000000Z", "vrf_01M8000000000000000000000Z"] {
            try Validation.checkReference(ok, field: "vrf")
        }
        for bad in ["", "Global", "-a", "a_b", "pfx_01M800000000000000000000", "pfx_01M8000000000000000000000U", "PFX_01M8000000000000000000000Z",
                    "x_01M8000000000000000000000Z", String(repeating: "a", count: 64)] {
            #expect(throws: DataverketError.self, "\(bad)") { try Validation.checkReference(bad, field: "vrf") }
        }
    }
}

@Suite("Event envelope")
struct CloudEventTests {
    @Test("round-trips with the payload embedded as JSON, not as a string")
    func roundTrip() throws {
        let event = CloudEvent(source: "/dataverket/sentral", type: "dv.sentral.evt.tenant.created", subject: "ten_1",
                               data: JSONText(#"{"name":"acme"}"#), correlationid: "c1", actor: "anonymous")
        let encoded = String(decoding: try JSONEncoder().encode(event), as: UTF8.self)
        #expect(encoded.contains(#""data":{"name":"acme"}"#))
        #expect(encoded.contains(#""specversion":"1.0""#))
        let decoded = try JSONDecoder().decode(CloudEvent.self, from: Data(encoded.utf8))
        #expect(decoded.data == event.data)
        #expect(decoded.id == event.id)
    }

    @Test("subjects follow the taxonomy")
    func subjects() {
        #expect(Subjects.event(service: "maskin", entity: "machine", verb: "deployed") == "dv.maskin.evt.machine.deployed")
        #expect(Subjects.command(service: "nett", action: "apply") == "dv.nett.cmd.apply")
        #expect(Subjects.task(verb: "succeeded") == "dv.task.evt.succeeded")
    }
}
