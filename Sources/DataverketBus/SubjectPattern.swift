import DataverketCore

/// NATS subject rules shared by both bus implementations: `.`-separated tokens, `*` matches one token,
/// `>` (last token only) matches one or more tokens.
enum SubjectPattern {
    /// Throws `.invalidArgument` unless `subject` is a valid subject (a pattern when `wildcards`).
    static func validate(_ subject: String, wildcards: Bool, field: String = "subject") throws {
        guard !subject.isEmpty, subject.utf8.count <= 1024 else {
            throw DataverketError.invalid(field, "must be 1...1024 bytes")
        }
        let tokens = subject.split(separator: ".", omittingEmptySubsequences: false)
        for (index, token) in tokens.enumerated() {
            guard !token.isEmpty else { throw DataverketError.invalid(field, "'\(subject)' has an empty token") }
            guard !token.utf8.contains(where: { $0 <= 32 || $0 == 127 }) else {
                throw DataverketError.invalid(field, "'\(subject)' contains whitespace or control characters")
            }
            let isWildcard = token == "*" || token == ">"
            if isWildcard {
                guard wildcards else { throw DataverketError.invalid(field, "'\(subject)' must not contain wildcards") }
                if token == ">" && index != tokens.count - 1 {
                    throw DataverketError.invalid(field, "'\(subject)': '>' must be the last token")
                }
            } else if token.contains("*") || token.contains(">") {
                throw DataverketError.invalid(field, "'\(subject)': wildcards must be whole tokens")
            }
        }
    }

    /// Whether the literal `subject` matches `pattern`.
    static func matches(_ pattern: String, _ subject: String) -> Bool {
        overlaps(pattern, subject)
    }

    /// Whether some literal subject matches both patterns.
    static func overlaps(_ a: String, _ b: String) -> Bool {
        let x = a.split(separator: ".", omittingEmptySubsequences: false)
        let y = b.split(separator: ".", omittingEmptySubsequences: false)
        var i = 0
        while i < x.count && i < y.count {
            if x[i] == ">" || y[i] == ">" { return true }
            if x[i] != "*" && y[i] != "*" && x[i] != y[i] { return false }
            i += 1
        }
        return x.count == y.count
    }
}

extension BusMessage {
    /// Checks what both implementations require of a stored or broadcast message: a literal subject, a non-empty id
    /// (stored messages only), header names without ':' / whitespace / control characters, values without CR/LF,
    /// and a payload plus headers of at most `maxBytes`.
    func validate(stored: Bool, maxBytes: Int) throws {
        try SubjectPattern.validate(subject, wildcards: false)
        if stored, id.isEmpty { throw DataverketError.invalid("id", "must not be empty") }
        if id.utf8.contains(where: { $0 == 13 || $0 == 10 }) { throw DataverketError.invalid("id", "must not contain CR or LF") }
        var size = payload.count
        for (name, value) in headers {
            guard !name.isEmpty, !name.utf8.contains(where: { $0 == UInt8(ascii: ":") || $0 <= 32 || $0 == 127 }) else {
                throw DataverketError.invalid("headers", "invalid header name '\(name)'")
            }
            guard !value.utf8.contains(where: { $0 == 13 || $0 == 10 }) else {
                throw DataverketError.invalid("headers", "value of '\(name)' contains CR or LF")
            }
            size += name.utf8.count + value.utf8.count + 4
        }
        guard size <= maxBytes else {
            throw DataverketError(.payloadTooLarge, "message of \(size) bytes exceeds the bus limit of \(maxBytes) bytes")
        }
    }
}
