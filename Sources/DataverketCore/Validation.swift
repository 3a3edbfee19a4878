/// Naming and label rules shared by every resource.
public enum Validation {
    /// RFC 1123 DNS label: 1–63 characters of `[a-z0-9-]`, starting and ending alphanumeric.
    public static func checkName(_ name: String, field: String = "name") throws(DataverketError) {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty else { throw .invalid(field, "must not be empty") }
        guard bytes.count <= 63 else { throw .invalid(field, "must be at most 63 characters, got \(bytes.count)") }
        func alnum(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) }
        guard bytes.allSatisfy({ alnum($0) || $0 == 0x2D }) else {
            throw .invalid(field, "'\(name)' may contain only lowercase letters, digits and '-' (a DNS label)")
        }
        guard alnum(bytes.first!), alnum(bytes.last!) else {
            throw .invalid(field, "'\(name)' must start and end with a lowercase letter or digit")
        }
    }

    public static let maxLabels = 64

    /// Label keys: 1–63 of `[A-Za-z0-9._/-]`; values at most 256 characters; at most 64 labels.
    public static func checkLabels(_ labels: [String: String], field: String = "labels") throws(DataverketError) {
        var violations: [DataverketError.FieldViolation] = []
        if labels.count > maxLabels {
            violations.append(.init(field: field, message: "at most \(maxLabels) labels, got \(labels.count)"))
        }
        for (key, value) in labels.sorted(by: { $0.key < $1.key }) {
            let keyBytes = Array(key.utf8)
            let keyOK = !keyBytes.isEmpty && keyBytes.count <= 63 && keyBytes.allSatisfy { b in
                (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || (b >= 0x30 && b <= 0x39)
                    || b == 0x2E || b == 0x5F || b == 0x2F || b == 0x2D
            }
            if !keyOK {
                violations.append(.init(field: "\(field).\(key)", message: "label keys are 1–63 characters of [A-Za-z0-9._/-]"))
            }
            if value.unicodeScalars.count > 256 {
                violations.append(.init(field: "\(field).\(key)", message: "label values are at most 256 characters"))
            }
        }
        if !violations.isEmpty {
            throw DataverketError(.invalidArgument, violations.map { "\($0.field): \($0.message)" }.joined(separator: "; "), violations: violations)
        }
    }

    /// Free text fields: bounded length (in Unicode characters, as the OpenAPI document's `maxLength` counts), no
    /// control characters except newline and tab.
    public static func checkText(_ text: String?, field: String, max: Int) throws(DataverketError) {
        guard let text else { return }
        try checkLength(text, field: field, max: max)
        if text.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" && $0 != "\t" }) {
            throw .invalid(field, "must not contain control characters")
        }
    }

    /// A string bounded as the OpenAPI document's `minLength`/`maxLength` say (Unicode characters, as JSON Schema counts
    /// them): filters, references and file names, which may hold any character but NUL (refused for every request).
    public static func checkLength(_ text: String?, field: String, min: Int = 0, max: Int) throws(DataverketError) {
        guard let text else { return }
        let count = text.unicodeScalars.count
        if count > max { throw .invalid(field, "must be at most \(max) characters, got \(count)") }
        if count < min { throw .invalid(field, min == 1 ? "must not be empty" : "must be at least \(min) characters, got \(count)") }
    }

    /// A number bounded as the OpenAPI document's `minimum`/`maximum` say.
    public static func checkRange(_ value: Int?, field: String, _ range: ClosedRange<Int>) throws(DataverketError) {
        guard let value, !range.contains(value) else { return }
        throw .invalid(field, "must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
    }

    /// An array bounded as the OpenAPI document's `maxItems` says.
    public static func checkCount(_ count: Int, field: String, max: Int) throws(DataverketError) {
        if count > max { throw .invalid(field, "at most \(max) items, got \(count)") }
    }

    /// A reference to a resource by name or by ID: a DNS label (`checkName`) or `<kind>_<ULID>` (`pfx_01J…`), at most
    /// 63 characters — the document's name-or-ID pattern.
    public static func checkReference(_ reference: String?, field: String) throws(DataverketError) {
        guard let reference else { return }
        let bytes = Array(reference.utf8)
        if let underscore = bytes.firstIndex(of: UInt8(ascii: "_")) {
            let kind = bytes[..<underscore], id = bytes[(underscore + 1)...]
            guard (2...4).contains(kind.count), kind.allSatisfy({ $0 >= 0x61 && $0 <= 0x7A }), id.count == 26,
                  id.allSatisfy({ ULID.alphabetSet.contains($0) }) else {
                throw .invalid(field, "'\(reference.prefix(80))' is neither a name (a DNS label) nor an ID (kind_ULID)")
            }
            return
        }
        try checkName(reference, field: field)
    }
}
