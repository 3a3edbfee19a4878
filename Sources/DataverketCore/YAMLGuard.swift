import CYaml
import Yams

/// Bounds a YAML (or JSON) text before anything composes it into a tree.
///
/// Composing YAML is not linear in its size: an alias repeats its anchor's whole node, so 500 bytes of
/// nested aliases ("billion laughs") expand to 10⁹ nodes, and a key that is such an alias is hashed in full by
/// the duplicate-key check. Nesting is recursive in every composer, so 100,000 `[` overflow the stack. The
/// guard streams the text through libyaml's event parser once — linear in its bytes, no tree — and refuses it
/// when it is larger, deeper, or expands further through aliases than the limits allow, or holds a number
/// Yams would trap on (see `overflowsAsBase60`). Its syntax errors name their line and column and quote at
/// most that line.
public enum YAMLGuard {
    public struct Limits: Sendable, Hashable {
        /// Bytes of text.
        public var maxBytes: Int
        /// Nesting of sequences and mappings.
        public var maxDepth: Int
        /// Nodes that aliases may add by repeating their anchors, beyond the ones written out: the larger of
        /// this and the number of nodes written out (aliases may at most double a document).
        public var aliasExpansionAllowance: Int

        public init(maxBytes: Int = 16 << 20, maxDepth: Int = 64, aliasExpansionAllowance: Int = 10_000) {
            self.maxBytes = maxBytes
            self.maxDepth = maxDepth
            self.aliasExpansionAllowance = aliasExpansionAllowance
        }

        public static let `default` = Limits()
    }

    /// A place in the text: 1-based line and column.
    public struct Position: Sendable, Hashable, CustomStringConvertible {
        public var line: Int
        public var column: Int
        public init(line: Int, column: Int) {
            self.line = line
            self.column = column
        }
        public var description: String { "line \(line), column \(column)" }
    }

    /// Why a text was refused: a message that names the place and quotes at most its line.
    public struct Problem: Error, Sendable, Hashable, CustomStringConvertible {
        public enum Code: String, Sendable, Hashable {
            case syntax, tooLarge = "too-large", tooDeep = "too-deep", aliasExpansion = "alias-expansion"
            case numberTooLarge = "number-too-large"
        }
        public var code: Code
        public var position: Position?
        public var message: String
        public init(_ code: Code, at position: Position?, _ message: String) {
            self.code = code
            self.position = position
            self.message = message
        }
        public var description: String { position.map { "\($0): \(message)" } ?? message }

        /// As the error every API and CLI answer carries: too large is 413, the rest 422.
        public func error(source: String) -> DataverketError {
            code == .tooLarge
                ? DataverketError(.payloadTooLarge, "\(source): \(description)")
                : DataverketError.invalid(source, description)
        }
    }

    /// Refuses `text` if it breaks `limits` or is not well-formed YAML.
    public static func check(_ text: String, limits: Limits = .default) throws(Problem) {
        let bytes = Array(text.utf8)
        guard bytes.count <= limits.maxBytes else {
            throw Problem(.tooLarge, at: nil, "the text is \(bytes.count) bytes; at most \(limits.maxBytes) are accepted")
        }
        var scanner = Scanner(limits: limits)
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { throw Problem(.syntax, at: nil, "the YAML parser could not start") }
        defer { yaml_parser_delete(&parser) }
        try bytes.withUnsafeBufferPointer { (buffer) throws(Problem) in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var event = yaml_event_t()
            // Each round consumes input or ends the stream, so the loop is bounded by the text's length.
            while true {
                guard yaml_parser_parse(&parser, &event) == 1 else { throw syntaxProblem(parser, bytes) }
                defer { yaml_event_delete(&event) }
                let position = Position(line: event.start_mark.line + 1, column: event.start_mark.column + 1)
                switch event.type {
                case YAML_STREAM_END_EVENT:
                    return
                case YAML_SCALAR_EVENT:
                    scanner.scalar(anchor: name(event.data.scalar.anchor))
                    if event.data.scalar.style == YAML_PLAIN_SCALAR_STYLE, let value = base60Candidate(event), overflowsAsBase60(value) {
                        let shown = value.count > 64 ? String(value.prefix(64)) + "…" : value
                        throw Problem(.numberTooLarge, at: position,
                                      "'\(shown)' reads as a base-60 number (YAML 1.1, like 1:30) too large for 64 bits; quote it if it is text")
                    }
                case YAML_ALIAS_EVENT:
                    try scanner.alias(name(event.data.alias.anchor) ?? "", at: position)
                case YAML_SEQUENCE_START_EVENT:
                    try scanner.open(anchor: name(event.data.sequence_start.anchor), at: position)
                case YAML_MAPPING_START_EVENT:
                    try scanner.open(anchor: name(event.data.mapping_start.anchor), at: position)
                case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                    scanner.close()
                default:
                    continue
                }
            }
        }
    }

    /// Node counting: each node is 1 plus its children; an alias counts as its anchor's whole node.
    struct Scanner {
        let limits: Limits
        var sizes: [String: Int] = [:]
        var open: [(anchor: String?, size: Int)] = []
        var written = 0
        var expanded = 0

        init(limits: Limits) { self.limits = limits }

        mutating func scalar(anchor: String?) {
            written += 1
            finish(size: 1, anchor: anchor)
        }

        mutating func alias(_ anchor: String, at position: Position) throws(Problem) {
            let size = sizes[anchor] ?? 1
            expanded += size
            let allowed = max(limits.aliasExpansionAllowance, written)
            guard expanded <= allowed else {
                throw Problem(.aliasExpansion, at: position,
                              "aliases expand to more than \(allowed) nodes (the alias *\(anchor.prefix(64)) repeats \(size)); write the data out instead")
            }
            finish(size: size, anchor: nil)
        }

        mutating func open(anchor: String?, at position: Position) throws(Problem) {
            guard open.count < limits.maxDepth else {
                throw Problem(.tooDeep, at: position, "sequences and mappings nest deeper than \(limits.maxDepth) levels")
            }
            written += 1
            open.append((anchor, 1))
        }

        mutating func close() {
            guard let node = open.popLast() else { return }
            finish(size: node.size, anchor: node.anchor)
        }

        private mutating func finish(size: Int, anchor: String?) {
            if let anchor { sizes[anchor] = size }
            if !open.isEmpty { open[open.count - 1].size = min(open[open.count - 1].size + size, Int.max / 2) }
        }
    }

    /// A plain scalar's text when it has a `:` (what a base-60 number needs), else nil without decoding it.
    private static func base60Candidate(_ event: yaml_event_t) -> String? {
        guard let value = event.data.scalar.value else { return nil }
        let bytes = UnsafeBufferPointer(start: value, count: event.data.scalar.length)
        guard bytes.contains(UInt8(ascii: ":")) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Whether Yams, reading the plain scalar `text` as an `Int`, would trap. YAML 1.1 reads `190:20:30` as a base-60
    /// number, and Yams (6.2, `String.sexagesimal()`) computes it with unchecked Int arithmetic: 11 parts, or a large
    /// one, overflow and stop the process. This follows its steps exactly (underscores dropped; not `0`; one sign; not
    /// a `0`-prefixed radix form; every `:`-separated part a decimal integer, itself optionally signed) with checked
    /// arithmetic.
    public static func overflowsAsBase60(_ text: String) -> Bool {
        let value = text.filter { $0 != "_" }
        guard value != "0" else { return false }
        var body = Substring(value)
        let negative = body.hasPrefix("-")
        if negative || body.hasPrefix("+") { body = body.dropFirst() }
        guard !body.hasPrefix("0"), body.contains(":") else { return false }
        var parts: [Int] = []
        for part in body.split(separator: ":", omittingEmptySubsequences: false) {
            guard let number = Int(part, radix: 10) else { return false }
            parts.append(number)
        }
        var base = 1, total = 0
        for digit in parts.reversed() {
            let (product, productOverflow) = digit.multipliedReportingOverflow(by: base)
            let (sum, sumOverflow) = total.addingReportingOverflow(product)
            let (next, baseOverflow) = base.multipliedReportingOverflow(by: 60)
            if productOverflow || sumOverflow || baseOverflow { return true }
            (total, base) = (sum, next)
        }
        // Yams multiplies by the sign last: -1 × Int.min overflows too.
        return negative && total == .min
    }

    private static func name(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: $0) }
    }

    private static func syntaxProblem(_ parser: yaml_parser_t, _ bytes: [UInt8]) -> Problem {
        let problem = parser.problem.map { String(cString: $0) } ?? "not valid YAML"
        let position: Position
        if parser.error == YAML_READER_ERROR {
            position = self.position(ofByte: parser.problem_offset, in: bytes)
        } else {
            position = self.position(line: parser.problem_mark.line + 1, column: parser.problem_mark.column + 1, in: bytes)
        }
        var message = problem
        if parser.error == YAML_READER_ERROR, parser.problem_value >= 0 {
            message += " (byte 0x" + String(UInt32(bitPattern: parser.problem_value), radix: 16) + ")"
        }
        if let context = parser.context.map({ String(cString: $0) }) { message = "\(problem) \(context)" }
        // libyaml bounds flow nesting (`[[[[…`) itself, before it emits the events counted here.
        if problem.hasPrefix("Maximum nesting level") {
            return Problem(.tooDeep, at: position, "sequences and mappings nest too deep")
        }
        return Problem(.syntax, at: position, message + quote(line: position.line, in: bytes))
    }

    /// The lines of `bytes` as libyaml counts them — a line ends at LF, CR LF, CR, NEL, LS or PS — as byte ranges
    /// without their breaks. There is always at least one.
    static func lines(of bytes: [UInt8]) -> [Range<Int>] {
        var lines: [Range<Int>] = []
        var start = 0, index = 0
        while index < bytes.count {
            let next = index + 1 < bytes.count ? bytes[index + 1] : 0
            let length = switch bytes[index] {
            case 0x0A: 1
            case 0x0D: next == 0x0A ? 2 : 1
            case 0xC2 where next == 0x85: 2
            case 0xE2 where next == 0x80 && index + 2 < bytes.count && (bytes[index + 2] == 0xA8 || bytes[index + 2] == 0xA9): 3
            default: 0
            }
            guard length > 0 else {
                index += 1
                continue
            }
            lines.append(start..<index)
            index += length
            start = index
        }
        lines.append(start..<bytes.count)
        return lines
    }

    /// The 1-based line and column (in characters, as libyaml counts them) of a byte offset.
    public static func position(ofByte offset: Int, in bytes: [UInt8]) -> Position {
        let end = min(max(offset, 0), bytes.count)
        let lines = self.lines(of: bytes)
        // The line the offset is on, or whose break it is in.
        let index = lines.firstIndex { end <= $0.upperBound } ?? lines.count - 1
        let line = lines[index]
        let column = String(decoding: bytes[line.lowerBound..<max(line.lowerBound, min(end, line.upperBound))], as: UTF8.self).unicodeScalars.count + 1
        return Position(line: index + 1, column: column)
    }

    /// A 1-based place from libyaml or Yams, kept inside the text: at the end of a text without a final line break
    /// libyaml reports the line after the last, which is then the end of the last line.
    public static func position(line: Int, column: Int, in bytes: [UInt8]) -> Position {
        let lines = self.lines(of: bytes)
        guard line > lines.count else { return Position(line: max(line, 1), column: max(column, 1)) }
        return position(ofByte: bytes.count, in: bytes)
    }

    /// `: "…"` quoting the line (at most 120 characters, control characters escaped), or nothing.
    public static func quote(line: Int, in bytes: [UInt8]) -> String {
        let lines = self.lines(of: bytes)
        guard line >= 1, line <= lines.count else { return "" }
        let text = String(decoding: bytes[lines[line - 1]], as: UTF8.self)
        let shown = text.unicodeScalars.prefix(120).map { $0.value < 0x20 || $0.value == 0x7f ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined()
        guard !shown.allSatisfy({ $0 == " " || $0 == "\t" }) else { return "" }
        return ": \"\(shown)\(text.unicodeScalars.count > 120 ? "…" : "")\""
    }
}

extension YAMLGuard {
    /// A composer's error (Yams) as a problem with a place and a short message: Yams' own descriptions quote
    /// the whole text, and its duplicate-key error has no line of its own.
    public static func problem(composing error: any Error, text: String) -> Problem {
        let bytes = Array(text.utf8)
        func at(_ mark: Mark, _ message: String) -> Problem {
            let position = self.position(line: mark.line, column: mark.column, in: bytes)
            return Problem(.syntax, at: position, message + quote(line: position.line, in: bytes))
        }
        if let error = error as? DecodingError, case .dataCorrupted(let context) = error, let underlying = context.underlyingError {
            return problem(composing: underlying, text: text)
        }
        guard let error = error as? YamlError else { return Problem(.syntax, at: nil, String("\(error)".prefix(200))) }
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return at(mark, problem)
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.prefix(5).map { "'\($0.prefix(64))'" }.joined(separator: ", ")
            return at(context.mark, "duplicate key \(keys) in one mapping")
        case .reader(let problem, let offset, _, _):
            // Yams counts the offset in characters.
            let prefix = offset.map { String(text.prefix($0)).utf8.count } ?? 0
            let position = self.position(ofByte: prefix, in: bytes)
            return Problem(.syntax, at: position, problem + quote(line: position.line, in: bytes))
        default:
            return Problem(.syntax, at: nil, String("\(error)".prefix(200)))
        }
    }
}
