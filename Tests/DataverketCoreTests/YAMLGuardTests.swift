import DataverketCore
import DataverketTestSupport
import Foundation
import Testing

/// The YAML bounds every parser of site files and intents applies before composing (issue 16 §10).
@Suite("YAML guard")
struct YAMLGuardTests {
    /// The 528-byte file that pinned both cores: nine levels of ten aliases (10⁹ nodes), used as a mapping key.
    static let laughs = HostileInput.billionLaughs()

    @Test("a billion laughs is refused at the alias that crosses the bound, in milliseconds")
    func billionLaughs() throws {
        let start = ContinuousClock.now
        let problem = try #require(throws: YAMLGuard.Problem.self) { try YAMLGuard.check(Self.laughs) }
        #expect(problem.code == .aliasExpansion)
        #expect(problem.position?.line == 5, "\(problem)")
        #expect(problem.description.contains("aliases expand to more than 10000 nodes"))
        // Not a timing assertion on speed: a bound far above any honest run, proving it did not expand.
        #expect(ContinuousClock.now - start < .seconds(60))
    }

    @Test("aliases that at most double a document pass; one more level does not")
    func moderateAliases() throws {
        var text = "base: &b {cpu: 8, ram: 64}\nhosts:\n"
        for index in 0..<500 { text += "  - {name: h\(index), spec: *b}\n" }
        try YAMLGuard.check(text)
        // 500 aliases of 5 nodes each (2,500) against 2,000 nodes written out: more than double.
        #expect(throws: YAMLGuard.Problem.self) { try YAMLGuard.check(text, limits: .init(aliasExpansionAllowance: 100)) }
        let small = YAMLGuard.Limits(aliasExpansionAllowance: 10)
        #expect(throws: YAMLGuard.Problem.self) {
            try YAMLGuard.check("a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\nb: [*a, *a]\n", limits: small)
        }
    }

    @Test("deep nesting is refused before any recursive composer sees it")
    func depth() throws {
        // Flow nesting: libyaml's scanner stops it (its own bound), reported as too deep with a place.
        let flow = try #require(throws: YAMLGuard.Problem.self) { try YAMLGuard.check(String(repeating: "[", count: 100_000)) }
        #expect(flow.code == .tooDeep, "\(flow)")
        #expect(flow.position?.line == 1)
        try YAMLGuard.check(String(repeating: "[", count: 64) + String(repeating: "]", count: 64))
        // Block nesting: one mapping per line, indented one deeper each time.
        let block = (0..<200).map { String(repeating: " ", count: $0) + "k\($0):" }.joined(separator: "\n") + " 1\n"
        let problem = try #require(throws: YAMLGuard.Problem.self) { try YAMLGuard.check(block) }
        #expect(problem.code == .tooDeep)
        #expect(problem.position == .init(line: 65, column: 65), "\(problem)")
    }

    @Test("size is bounded; the refusal is 413")
    func size() throws {
        let problem = try #require(throws: YAMLGuard.Problem.self) {
            try YAMLGuard.check(String(repeating: "a: 1\n", count: 100), limits: .init(maxBytes: 100))
        }
        #expect(problem.code == .tooLarge)
        #expect(problem.error(source: "site.yaml").code == .payloadTooLarge)
    }

    @Test("syntax errors name line and column and quote only that line: NUL, control characters, bad flow")
    func syntax() throws {
        let filler = String(repeating: "pad: 0123456789\n", count: 50)
        for (text, line, column) in [
            ("name: ok\nbad: a\u{0}b\n" + filler, 2, 7),
            ("name: ok\nother: ok\nbad: x\u{7}y\n" + filler, 3, 7),
            ("a:\n  - [1, 2\nb: 3\n" + filler, 3, 2),
        ] {
            let problem = try #require(throws: YAMLGuard.Problem.self) { try YAMLGuard.check(text) }
            #expect(problem.code == .syntax)
            #expect(problem.position?.line == line, "\(problem)")
            #expect(problem.position?.column == column, "\(problem)")
            #expect(!problem.description.contains("pad:"), "quotes more than its line: \(problem)")
            #expect(problem.description.count < 300)
        }
    }

    // Found by scripts/fuzz (Fuzz/corpus/FuzzYAMLGuard/regress-error-at-end-without-newline.yaml): libyaml puts the end
    // of a text without a final line break on the line after the last, a place with nothing to quote.
    @Test("an error at the end of a text without a final line break is placed at the end of its last line")
    func errorAtEnd() throws {
        let problem = try #require(throws: YAMLGuard.Problem.self) { try YAMLGuard.check("a:\n  - [1, 2lowe\nbz 3,") }
        #expect(problem.code == .syntax)
        #expect(problem.position == .init(line: 3, column: 6), "\(problem)")
        #expect(problem.description.hasSuffix(": \"bz 3,\""), "\(problem)")
    }

    @Test("lines are counted as libyaml counts them: CR, CR LF, NEL, LS and PS end a line too")
    func lineBreaks() throws {
        for separator in ["\r", "\r\n", "\u{85}", "\u{2028}", "\u{2029}"] {
            let text = ["ok: 1", "also: 2", "bad: x\u{7}y", "after: 3"].joined(separator: separator) + separator
            let problem = try #require(throws: YAMLGuard.Problem.self) { try YAMLGuard.check(text) }
            #expect(problem.position == .init(line: 3, column: 7), "\(separator.unicodeScalars.map(\.value)): \(problem)")
            #expect(problem.description.contains("bad: x\\u{7}y\""), "\(problem)")
            #expect(!problem.description.contains("ok:") && !problem.description.contains("after:"), "quotes more than its line: \(problem)")
        }
        #expect(YAMLGuard.position(ofByte: 9, in: Array("a: 1\r\nbc: 2".utf8)) == .init(line: 2, column: 4))
        #expect(YAMLGuard.position(ofByte: 100, in: Array("a: 1\nb".utf8)) == .init(line: 2, column: 2))
    }

    // Yams reads a plain `a:b:c` as a base-60 integer with unchecked arithmetic: `vlan: 1:1:1:1:1:1:1:1:1:1:1` in an
    // intent stopped the process that decoded it.
    @Test("a base-60 number Yams would overflow on is refused with its place; ordinary ones pass")
    func base60() throws {
        let problem = try #require(throws: YAMLGuard.Problem.self) {
            try YAMLGuard.check("networks:\n  - {name: a, vlan: 1:1:1:1:1:1:1:1:1:1:1}\n")
        }
        #expect(problem.code == .numberTooLarge)
        #expect(problem.position == .init(line: 2, column: 21), "\(problem)")
        #expect(problem.error(source: "n.yaml").code == .invalidArgument)
        for overflowing in ["1:1:1:1:1:1:1:1:1:1:1", "9223372036854775807:0", "-9_223_372_036_854_775_807:59", "--1:-9223372036854775748"] {
            #expect(YAMLGuard.overflowsAsBase60(overflowing), "\(overflowing)")
        }
        let fine = ["1:1:1:1:1:1:1:1:1:1", "190:20:30", "0:1:1:1:1:1:1:1:1:1:1:1", "1::2", "1:a", "00:11:22:33:44:55", "2001:1000:2000:3000:4000:5000:6000:7000"]
        for value in fine {
            #expect(!YAMLGuard.overflowsAsBase60(value), "\(value)")
            try YAMLGuard.check("v: \(value)\n")
        }
        // Quoted, it is text: never read as a number.
        try YAMLGuard.check("v: \"1:1:1:1:1:1:1:1:1:1:1\"\n")
    }
}
