import NIOCore

/// NATS message headers (`NATS/1.0` block), including the optional status line.
/// Header names are case-sensitive (as in the Go and Rust clients); multiple values per name are kept in order.
public struct NATSHeaders: Sendable, Hashable, Sequence {
    public typealias Element = (name: String, value: String)

    /// Status code from the first line, e.g. 503, 408, 404, 409, 100.
    public var status: Int?
    /// Status description, e.g. "Request Timeout", "No Messages", "Idle Heartbeat".
    public var statusDescription: String?
    private var fields: [Field] = []

    private struct Field: Sendable, Hashable {
        var name: String
        var value: String
    }

    public init() {}

    public init(_ pairs: [(String, String)]) {
        for (n, v) in pairs { fields.append(Field(name: n, value: v)) }
    }

    public var isEmpty: Bool { fields.isEmpty && status == nil }
    public var count: Int { fields.count }

    /// First value for `name`.
    public subscript(name: String) -> String? {
        get { fields.first(where: { $0.name == name })?.value }
        set {
            fields.removeAll { $0.name == name }
            if let newValue { fields.append(Field(name: name, value: newValue)) }
        }
    }

    public func values(for name: String) -> [String] {
        fields.filter { $0.name == name }.map(\.value)
    }

    public mutating func append(_ name: String, _ value: String) {
        fields.append(Field(name: name, value: value))
    }

    public mutating func remove(_ name: String) {
        fields.removeAll { $0.name == name }
    }

    public func makeIterator() -> AnyIterator<Element> {
        var it = fields.makeIterator()
        return AnyIterator { it.next().map { ($0.name, $0.value) } }
    }

    /// Validates names and values so that encoding cannot produce a broken frame.
    func validate() throws {
        for f in fields {
            if f.name.isEmpty || f.name.utf8.contains(where: { $0 == UInt8(ascii: ":") || $0 <= 32 || $0 == 127 }) {
                throw NATSError(code: .invalidArgument, message: "invalid header name '\(f.name)'")
            }
            if f.value.utf8.contains(where: { $0 == 13 || $0 == 10 }) {
                throw NATSError(code: .invalidArgument, message: "header value for '\(f.name)' contains CR/LF")
            }
        }
    }

    // MARK: Wire format

    /// Writes the header block (`NATS/1.0[ status[ description]]\r\n` + fields + `\r\n`). Returns bytes written.
    @discardableResult
    func write(into buffer: inout ByteBuffer) -> Int {
        var n = buffer.writeString("NATS/1.0")
        if let status {
            n += buffer.writeString(" \(status)")
            if let statusDescription, !statusDescription.isEmpty {
                n += buffer.writeString(" \(statusDescription)")
            }
        }
        n += buffer.writeString("\r\n")
        for f in fields {
            n += buffer.writeString(f.name)
            n += buffer.writeString(": ")
            n += buffer.writeString(f.value)
            n += buffer.writeString("\r\n")
        }
        n += buffer.writeString("\r\n")
        return n
    }

    var encodedLength: Int {
        var b = ByteBuffer()
        return write(into: &b)
    }

    /// Parses a complete header block (exactly the `hdrsize` bytes of an HMSG).
    static func parse(_ bytes: ByteBufferView) throws -> NATSHeaders {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw NATSError.protocolViolation("header block is not valid UTF-8")
        }
        return try parse(text)
    }

    static func parse(_ text: String) throws -> NATSHeaders {
        // Split on LF at the scalar level ("\r\n" is one Character in Swift), dropping a trailing CR.
        var lines: [Substring] = []
        var lineStart = text.unicodeScalars.startIndex
        var index = lineStart
        let scalars = text.unicodeScalars
        while index < scalars.endIndex {
            if scalars[index] == "\n" {
                var end = index
                if end > lineStart, scalars[scalars.index(before: end)] == "\r" { end = scalars.index(before: end) }
                lines.append(Substring(scalars[lineStart..<end]))
                lineStart = scalars.index(after: index)
            }
            index = scalars.index(after: index)
        }
        if lineStart < scalars.endIndex { lines.append(Substring(scalars[lineStart...])) }
        guard let first = lines.first else { throw NATSError.protocolViolation("empty header block") }
        lines.removeFirst()
        guard first.hasPrefix("NATS/") else {
            throw NATSError.protocolViolation("header block does not start with NATS/1.0")
        }
        var headers = NATSHeaders()
        // "NATS/1.0 503 No Responders" -> status 503, description "No Responders"
        let afterVersion = first.drop(while: { $0 != " " && $0 != "\t" })
        let rest = afterVersion.drop(while: { $0 == " " || $0 == "\t" })
        if !rest.isEmpty {
            let codePart = rest.prefix(while: { $0 != " " && $0 != "\t" })
            guard codePart.count == 3, codePart.allSatisfy({ $0.isASCII && $0.isNumber }), let code = Int(codePart) else {
                throw NATSError.protocolViolation("invalid status in header line '\(first)'")
            }
            headers.status = code
            let desc = rest.dropFirst(codePart.count).drop(while: { $0 == " " || $0 == "\t" })
            if !desc.isEmpty { headers.statusDescription = String(desc) }
        }
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else {
                throw NATSError.protocolViolation("malformed header line '\(line.prefix(64))'")
            }
            let name = line[..<colon].trimmingSpaces()
            guard !name.isEmpty else { throw NATSError.protocolViolation("empty header name") }
            let value = line[line.index(after: colon)...].trimmingSpaces()
            headers.fields.append(Field(name: String(name), value: String(value)))
        }
        return headers
    }

    public static func == (lhs: NATSHeaders, rhs: NATSHeaders) -> Bool {
        lhs.status == rhs.status && lhs.statusDescription == rhs.statusDescription && lhs.fields == rhs.fields
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(status)
        hasher.combine(statusDescription)
        hasher.combine(fields)
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return s
    }
}
