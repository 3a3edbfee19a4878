/// Inputs crafted to hurt a parser, shared by the suites that prove each parser is bounded.
public enum HostileInput {
    /// "Billion laughs": nine levels of ten aliases, each level repeating the one before (10⁹ nodes once expanded),
    /// in about 500 bytes. The anchor `&l0` is the value of `first`; levels are keys `<prefix>1`…`<prefix>9` on
    /// lines 2–10; `use` (a line, or lines) then uses `*l9` — as a mapping key (`? *l9\n: 1\n`) by default.
    public static func billionLaughs(first: String = "a", prefix: String = "b", use: String = "? *l9\n: 1\n") -> String {
        var text = "\(first): &l0 [lol]\n"
        for level in 1...9 {
            text += "\(prefix)\(level): &l\(level) [" + Array(repeating: "*l\(level - 1)", count: 10).joined(separator: ",") + "]\n"
        }
        return text + use
    }
}
