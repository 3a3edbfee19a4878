import Foundation
import DataverketCore
import Yams

/// One site file's text and the name it is reported under (its path).
public struct SiteSource: Sendable, Hashable, Codable {
    public var name: String
    public var text: String

    public init(name: String, text: String) {
        self.name = name
        self.text = text
    }

    /// Reads files and directories (every `*.yaml`/`*.yml` directly inside, sorted by name).
    public static func read(paths: [String]) throws(DataverketError) -> [SiteSource] {
        var sources: [SiteSource] = []
        let manager = FileManager.default
        for path in paths {
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else { throw .notFound("file", path) }
            var files = [path]
            if isDirectory.boolValue {
                let names = (try? manager.contentsOfDirectory(atPath: path)) ?? []
                files = names.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
                    .map { (path as NSString).appendingPathComponent($0) }
            }
            for file in files {
                guard let data = manager.contents(atPath: file) else { throw .invalid("file", "cannot read \(file)") }
                sources.append(SiteSource(name: file, text: String(decoding: data, as: UTF8.self)))
            }
        }
        return sources
    }
}

/// A place in a site file.
public struct SourceLocation: Sendable, Hashable, Codable, CustomStringConvertible {
    public var file: String
    public var line: Int
    /// Set for syntax errors, which point into a line.
    public var column: Int?

    public init(file: String, line: Int, column: Int? = nil) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line)" + (column.map { ":\($0)" } ?? "") }
}

/// Where an object and each of its fields were declared.
public struct ObjectLocation: Sendable, Hashable {
    public var location: SourceLocation
    public var fields: [String: SourceLocation]

    public subscript(field: String) -> SourceLocation { fields[field] ?? location }
}

/// One problem with a declaration, at the line it concerns.
public struct SiteIssue: Sendable, Hashable, CustomStringConvertible {
    public var location: SourceLocation?
    public var message: String

    public init(_ location: SourceLocation?, _ message: String) {
        self.location = location
        self.message = message
    }

    public var description: String { location.map { "\($0): \(message)" } ?? message }
}

/// A parsed declaration: the objects, where each was declared, and the names of objects that were declared
/// but had errors (so references to them are not reported a second time as unknown).
public struct SiteDocument: Sendable {
    public var model: SiteModel
    public var locations: [ObjectRef: ObjectLocation]
    public var broken: Set<ObjectRef>

    public init(model: SiteModel, locations: [ObjectRef: ObjectLocation] = [:], broken: Set<ObjectRef> = []) {
        self.model = model
        self.locations = locations
        self.broken = broken
    }
}

/// The site file format (see `examples/site-osl1.yaml` and ADR 008).
public enum SiteFile {
    /// Parses and validates `sources` as one declaration; every problem in any file is reported together.
    /// The result's model is resolved (devices carry their rack's datacenter and failure domain).
    public static func load(_ sources: [SiteSource]) throws(DataverketError) -> SiteDocument {
        let (document, issues) = check(sources)
        if !issues.isEmpty { throw SiteFile.error(issues) }
        return document
    }

    /// Parses and validates, returning every issue rather than throwing.
    public static func check(_ sources: [SiteSource]) -> (SiteDocument, [SiteIssue]) {
        var (document, issues) = parse(sources)
        let (resolved, more) = SiteValidator.validate(document.model, locations: document.locations, broken: document.broken)
        document.model = resolved
        issues += more
        return (document, issues)
    }

    /// Parses only (syntax, fields, types, duplicates), without cross-object checks.
    public static func parse(_ sources: [SiteSource]) -> (SiteDocument, [SiteIssue]) {
        let parser = SiteParser()
        for source in sources { parser.parse(source) }
        return (SiteDocument(model: parser.model, locations: parser.locations, broken: parser.broken), parser.issues)
    }

    /// The issues as one `invalid-argument` error whose violations are `file:line` → message.
    public static func error(_ issues: [SiteIssue]) -> DataverketError {
        let violations = issues.map { DataverketError.FieldViolation(field: $0.location?.description ?? "site", message: $0.message) }
        let noun = issues.count == 1 ? "error" : "errors"
        return DataverketError(.invalidArgument, "the site declaration has \(issues.count) \(noun):\n" + issues.map(\.description).joined(separator: "\n"),
                               violations: violations)
    }

    static let topLevelKeys = ["datacenters", "networks", "racks", "devices", "links"]
}

// MARK: - parsing

final class SiteParser {
    var model = SiteModel()
    var locations: [ObjectRef: ObjectLocation] = [:]
    var broken: Set<ObjectRef> = []
    var issues: [SiteIssue] = []
    var file = ""

    func issue(_ node: Node?, _ message: String) {
        issues.append(SiteIssue(location(node), message))
    }

    func location(_ node: Node?) -> SourceLocation {
        SourceLocation(file: file, line: node?.mark?.line ?? 0)
    }

    func parse(_ source: SiteSource) {
        file = source.name
        var documents: [Node] = []
        do {
            // Bounded first (size, depth, alias expansion), so composing cannot run away.
            try YAMLGuard.check(source.text)
            var sequence = try Yams.compose_all(yaml: source.text)
            while let node = sequence.next() { documents.append(node) }
            if let error = sequence.error { throw error }
        } catch let problem as YAMLGuard.Problem {
            issues.append(SiteIssue(SourceLocation(file: file, line: problem.position?.line ?? 1, column: problem.position?.column),
                                    problem.code == .syntax ? "not valid YAML: \(problem.message)" : problem.message))
            return
        } catch {
            let problem = YAMLGuard.problem(composing: error, text: source.text)
            issues.append(SiteIssue(SourceLocation(file: file, line: problem.position?.line ?? 1, column: problem.position?.column),
                                    "not valid YAML: \(problem.message)"))
            return
        }
        for document in documents {
            if case .scalar = document, isNull(document) { continue }
            let top = Fields(self, document, what: "site file", allowed: SiteFile.topLevelKeys)
            guard top.isMapping else { continue }
            for node in top.list("datacenters") { datacenter(node) }
            for node in top.list("networks") { network(node) }
            for node in top.list("racks") { rack(node) }
            for node in top.list("devices") { device(node) }
            for node in top.list("links") { link(node) }
        }
    }

    /// Records an object unless its key was declared before (a duplicate is an issue at the second place).
    func record(_ object: InventoryObject?, ref: ObjectRef?, fields: Fields) {
        guard let ref else { return }
        if let first = locations[ref] {
            issue(fields.node, "duplicate \(ref.kind.rawValue) '\(ref.key)' (first declared at \(first.location))")
            return
        }
        locations[ref] = ObjectLocation(location: location(fields.node), fields: fields.fieldLocations)
        if let object, fields.ok {
            model.add(object)
        } else {
            broken.insert(ref)
        }
    }

    func datacenter(_ node: Node) {
        let f = Fields(self, node, what: "datacenter", allowed: ["name", "displayName", "country", "jurisdiction", "regionRole", "failureDomains", "rooms"])
        guard f.isMapping else { return }
        let name = f.name(required: true)
        let country = f.string("country", required: true)?.uppercased()
        if let country, country.count != 2 || !country.allSatisfy({ $0.isASCII && $0.isLetter }) {
            f.fail("country", "country must be an ISO 3166-1 alpha-2 code (like NO), got '\(country)'")
        }
        let dc = Datacenter(
            name: name ?? "", displayName: f.text("displayName"), country: country ?? "",
            jurisdiction: f.string("jurisdiction", required: true) ?? "", regionRole: f.enumValue("regionRole", required: true) ?? .primary)
        record(.datacenter(dc), ref: name.map { ObjectRef(.datacenter, $0) }, fields: f)
        for child in f.list("failureDomains") {
            let (childName, description, cf) = namedChild(child, what: "failure domain")
            guard let cf else { continue }
            let ref = childName.flatMap { c in name.map { ObjectRef(.failureDomain, "\($0)/\(c)") } }
            record(.failureDomain(FailureDomain(datacenter: name ?? "", name: childName ?? "", description: description)), ref: ref, fields: cf)
        }
        for child in f.list("rooms") {
            let (childName, description, cf) = namedChild(child, what: "room")
            guard let cf else { continue }
            let ref = childName.flatMap { c in name.map { ObjectRef(.room, "\($0)/\(c)") } }
            record(.room(Room(datacenter: name ?? "", name: childName ?? "", description: description)), ref: ref, fields: cf)
        }
    }

    /// A failure domain or room: a bare name, or `{name, description}`.
    func namedChild(_ node: Node, what: String) -> (String?, String?, Fields?) {
        if case .scalar = node {
            let f = Fields(self, node, what: what, allowed: [])
            return (f.checkName(node.scalar?.string ?? "", node: node, field: "name"), nil, f)
        }
        let f = Fields(self, node, what: what, allowed: ["name", "description"])
        guard f.isMapping else { return (nil, nil, nil) }
        return (f.name(required: true), f.text("description"), f)
    }

    func network(_ node: Node) {
        let f = Fields(self, node, what: "network", allowed: ["name", "datacenter", "role", "vlan", "description"])
        guard f.isMapping else { return }
        let name = f.name(required: true)
        let network = Network(
            name: name ?? "", datacenter: f.name("datacenter", required: true) ?? "", role: f.enumValue("role", required: true) ?? .data,
            vlan: f.int("vlan", range: 1...4094), description: f.text("description"))
        record(.network(network), ref: name.map { ObjectRef(.network, $0) }, fields: f)
    }

    func rack(_ node: Node) {
        let f = Fields(self, node, what: "rack", allowed: ["name", "datacenter", "room", "failureDomain", "units", "power"])
        guard f.isMapping else { return }
        let name = f.name(required: true)
        var feedA: String?, feedB: String?
        if let power = f.mapping("power") {
            let p = Fields(self, power, what: "power", allowed: ["a", "b"], parent: f, prefix: "power.")
            feedA = p.name("a")
            feedB = p.name("b")
        }
        let rack = Rack(
            name: name ?? "", datacenter: f.name("datacenter", required: true) ?? "", room: f.name("room", required: true) ?? "",
            failureDomain: f.name("failureDomain", required: true) ?? "", units: f.int("units", required: true, range: 1...100) ?? 42,
            feedA: feedA, feedB: feedB)
        record(.rack(rack), ref: name.map { ObjectRef(.rack, $0) }, fields: f)
    }

    func device(_ node: Node) {
        let f = Fields(self, node, what: "device", allowed: [
            "name", "kind", "role", "vendor", "model", "serial", "assetTag", "datacenter", "failureDomain", "rack", "position",
            "height", "pool", "tags", "powerFeeds", "hardware", "bmc", "interfaces",
        ])
        guard f.isMapping else { return }
        let name = f.name(required: true)
        var hardware = HardwareFacts()
        if let node = f.mapping("hardware") {
            let h = Fields(self, node, what: "hardware", allowed: ["cpu", "memoryGiB", "disks", "gpus"], parent: f, prefix: "hardware.")
            if let cpuNode = h.mapping("cpu") {
                let c = Fields(self, cpuNode, what: "cpu", allowed: ["model", "sockets", "cores"], parent: h, prefix: "cpu.")
                let model = c.text("model", required: true), sockets = c.int("sockets", required: true, range: 1...16)
                let cores = c.int("cores", required: true, range: 1...4096)
                if let model, let sockets, let cores { hardware.cpu = CPU(model: model, sockets: sockets, cores: cores) }
            }
            hardware.memoryGiB = h.int("memoryGiB", range: 1...1_048_576)
            for diskNode in h.list("disks") {
                let d = Fields(self, diskNode, what: "disk", allowed: ["name", "type", "sizeGB"], parent: h, prefix: "disks.")
                guard d.isMapping else { continue }
                let diskName = d.text("name", required: true), type: DiskType? = d.enumValue("type", required: true)
                let size = d.int("sizeGB", required: true, range: 1...1_000_000)
                if let diskName, let type, let size { hardware.disks.append(Disk(name: diskName, type: type, sizeGB: size)) }
            }
            for gpuNode in h.list("gpus") {
                let g = Fields(self, gpuNode, what: "gpu", allowed: ["model", "count"], parent: h, prefix: "gpus.")
                guard g.isMapping else { continue }
                let model = g.text("model", required: true), count = g.int("count", range: 1...64) ?? 1
                if let model { hardware.gpus.append(GPU(model: model, count: count)) }
            }
        }
        var bmc: BMC?
        if let node = f.mapping("bmc") {
            let b = Fields(self, node, what: "bmc", allowed: ["protocol", "address", "credentialsRef"], parent: f, prefix: "bmc.")
            let proto: BMCProtocol? = b.enumValue("protocol", required: true)
            let address = b.string("address", required: true)
            if let address, !BMCAddress.isValid(address) {
                b.fail("address", "bmc address '\(address)' is not an IP address or host name")
            }
            let ref = b.string("credentialsRef")
            if let ref, !CredentialsRef.isValid(ref) {
                b.fail("credentialsRef", "credentialsRef must be a reference like vault://path or secret:name, never the secret itself")
            }
            if let proto, let address { bmc = BMC(protocol: proto, address: address, credentialsRef: ref) }
        }
        let kind: DeviceKind? = f.enumValue("kind", required: true)
        let device = Device(
            name: name ?? "", kind: kind ?? .server, role: f.enumValue("role"), vendor: f.text("vendor"), model: f.text("model"),
            serial: f.text("serial"), assetTag: f.text("assetTag"),
            datacenter: f.name("datacenter") ?? "", failureDomain: f.name("failureDomain") ?? "",
            rack: f.name("rack"), position: f.int("position", range: 1...100), height: f.int("height", range: 1...100) ?? 1,
            pool: f.name("pool"), tags: f.stringList("tags", validate: Tags.check), powerFeeds: f.nameList("powerFeeds"),
            hardware: hardware, bmc: bmc)
        let interfaces = f.list("interfaces")
        record(.device(device), ref: name.map { ObjectRef(.device, $0) }, fields: f)
        for node in interfaces { interface(node, device: name) }
    }

    func interface(_ node: Node, device: String?) {
        let f = Fields(self, node, what: "interface", allowed: ["name", "mac", "speed", "kind", "network"])
        guard f.isMapping else { return }
        var name = f.string("name", required: true)
        if let n = name, !InterfaceName.isValid(n) {
            f.fail("name", "interface name '\(n)' must be 1–64 characters of letters, digits, '.', '_', '/', '-'")
            name = nil
        }
        var mac: String?
        if let text = f.string("mac") {
            mac = MACAddress.normalize(text)
            if mac == nil { f.fail("mac", "'\(text)' is not a MAC address (six hex octets like 3c:ec:ef:01:02:03)") }
        }
        var speed: Int?
        if let text = f.string("speed") {
            speed = Speed.parse(text)
            if speed == nil { f.fail("speed", "speed '\(text)' is not like 25G, 100M or a number of Mbit/s") }
        }
        let value = Interface(device: device ?? "", name: name ?? "", mac: mac, speedMbps: speed,
                              kind: f.enumValue("kind") ?? .ethernet, network: f.name("network"))
        let ref = device.flatMap { d in name.map { ObjectRef(.interface, "\(d):\($0)") } }
        if device == nil { f.ok = false }
        record(.interface(value), ref: ref, fields: f)
    }

    func link(_ node: Node) {
        let f = Fields(self, node, what: "link", allowed: ["a", "b", "cable", "label"])
        guard f.isMapping else { return }
        func end(_ key: String) -> Endpoint? {
            guard let text = f.string(key, required: true) else { return nil }
            guard let endpoint = Endpoint(parsing: text) else {
                f.fail(key, "link end \(key) '\(text)' must be device:interface")
                return nil
            }
            return endpoint
        }
        let a = end("a"), b = end("b")
        guard let a, let b else {
            f.ok = false
            return
        }
        let link = Link(a: a, b: b, cable: f.enumValue("cable"), label: f.text("label"))
        // Store the field lines under the canonical a/b (the declared order may be swapped).
        if link.a != a, let la = f.fieldLocations["a"], let lb = f.fieldLocations["b"] {
            f.fieldLocations["a"] = lb
            f.fieldLocations["b"] = la
        }
        record(.link(link), ref: ObjectRef(.link, link.key), fields: f)
    }
}

func isNull(_ node: Node) -> Bool {
    guard let scalar = node.scalar else { return false }
    return scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
}

/// The fields of one mapping, read with checks; every problem becomes an issue and marks the object not ok.
final class Fields {
    let parser: SiteParser
    let node: Node
    let what: String
    let parent: Fields?
    let prefix: String
    var values: [String: (key: Node, value: Node)] = [:]
    var fieldLocations: [String: SourceLocation] = [:]
    var ok = true {
        didSet { if !ok { parent?.ok = false } }
    }
    var isMapping: Bool

    init(_ parser: SiteParser, _ node: Node, what: String, allowed: [String], parent: Fields? = nil, prefix: String = "") {
        self.parser = parser
        self.node = node
        self.what = what
        self.parent = parent
        self.prefix = prefix
        guard let mapping = node.mapping else {
            isMapping = false
            if !allowed.isEmpty {
                parser.issue(node, "\(what) must be a mapping of fields")
                ok = false
                parent?.ok = false
            }
            return
        }
        isMapping = true
        for (key, value) in mapping {
            guard let name = key.scalar?.string else {
                parser.issue(key, "\(what): field names must be plain text")
                ok = false
                continue
            }
            guard allowed.contains(name) else {
                let hint = Suggest.closest(name, in: allowed).map { " (did you mean '\($0)'?)" } ?? ""
                // Reported, but the object's declared values are still good: it stays in the model.
                parser.issue(key, "unknown field '\(name)' in \(what)\(hint); allowed: \(allowed.joined(separator: ", "))")
                continue
            }
            if values[name] != nil {
                parser.issue(key, "field '\(name)' appears twice in \(what)")
                ok = false
            }
            values[name] = (key, value)
            let location = parser.location(key)
            fieldLocations[name] = location
            parent?.fieldLocations[prefix + name] = location
        }
    }

    func fail(_ field: String, _ message: String) {
        parser.issues.append(SiteIssue(values[field].map { parser.location($0.key) } ?? parser.location(node), message))
        ok = false
    }

    private func present(_ field: String, required: Bool) -> Node? {
        guard let entry = values[field], !isNull(entry.value) else {
            if required {
                parser.issue(node, "\(what) is missing required field '\(field)'")
                ok = false
            }
            return nil
        }
        return entry.value
    }

    func string(_ field: String, required: Bool = false) -> String? {
        guard let value = present(field, required: required) else { return nil }
        guard let scalar = value.scalar else {
            fail(field, "\(what).\(field) must be a single value, not a list or mapping")
            return nil
        }
        return scalar.string
    }

    /// Free text: at most 256 bytes, no control characters.
    func text(_ field: String, required: Bool = false) -> String? {
        guard let value = string(field, required: required) else { return nil }
        do throws(DataverketError) {
            try Validation.checkText(value, field: field, max: 256)
        } catch {
            fail(field, "\(what).\(error.message)")
            return nil
        }
        return value
    }

    func int(_ field: String, required: Bool = false, range: ClosedRange<Int>) -> Int? {
        guard let text = string(field, required: required) else { return nil }
        guard let value = Int(text) else {
            fail(field, "\(what).\(field) must be a whole number, got '\(text)'")
            return nil
        }
        guard range.contains(value) else {
            fail(field, "\(what).\(field) must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
            return nil
        }
        return value
    }

    func enumValue<E: RawRepresentable & CaseIterable>(_ field: String, required: Bool = false) -> E? where E.RawValue == String {
        guard let text = string(field, required: required) else { return nil }
        guard let value = E(rawValue: text.lowercased()) else {
            let allowed = E.allCases.map(\.rawValue)
            let hint = Suggest.closest(text.lowercased(), in: allowed).map { " (did you mean '\($0)'?)" } ?? ""
            fail(field, "bad value '\(text)' for \(what).\(field)\(hint): expected one of \(allowed.joined(separator: ", "))")
            return nil
        }
        return value
    }

    /// A name (DNS label, case-insensitive): returned lowercased.
    func name(_ field: String = "name", required: Bool = false) -> String? {
        guard let text = string(field, required: required), let value = values[field]?.value else { return nil }
        return checkName(text, node: value, field: field)
    }

    func checkName(_ text: String, node: Node, field: String) -> String? {
        let lower = text.lowercased()
        do throws(DataverketError) {
            try Validation.checkName(lower, field: field)
        } catch {
            parser.issue(values[field]?.key ?? node, "\(what).\(error.message)")
            ok = false
            return nil
        }
        return lower
    }

    func mapping(_ field: String) -> Node? {
        guard let value = present(field, required: false) else { return nil }
        guard value.mapping != nil else {
            fail(field, "\(what).\(field) must be a mapping of fields")
            return nil
        }
        return value
    }

    func list(_ field: String) -> [Node] {
        guard let value = present(field, required: false) else { return [] }
        guard let sequence = value.sequence else {
            fail(field, "\(what).\(field) must be a list")
            return []
        }
        return Array(sequence)
    }

    func stringList(_ field: String, validate: (String) -> String? = { _ in nil }) -> [String] {
        var out: [String] = []
        for item in list(field) {
            guard let text = item.scalar?.string else {
                parser.issue(item, "\(what).\(field) entries must be single values")
                ok = false
                continue
            }
            if let problem = validate(text) {
                parser.issue(item, "\(what).\(field): \(problem)")
                ok = false
                continue
            }
            out.append(text)
        }
        return out
    }

    func nameList(_ field: String) -> [String] {
        list(field).compactMap { item in
            guard let text = item.scalar?.string else {
                parser.issue(item, "\(what).\(field) entries must be names")
                ok = false
                return nil
            }
            return checkName(text, node: item, field: field)
        }
    }
}

enum Tags {
    /// Tags: 1–63 characters of `[a-z0-9._-]` (label-key-like, lowercase).
    static func check(_ tag: String) -> String? {
        let ok = !tag.isEmpty && tag.utf8.count <= 63 && tag.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" || $0 == "."
        }
        return ok ? nil : "tag '\(tag)' must be 1–63 characters of a-z, 0-9, '.', '_', '-'"
    }
}

enum InterfaceName {
    static func isValid(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64 && name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "._/-".unicodeScalars.contains($0)
        }
    }
}

enum BMCAddress {
    /// An IPv4/IPv6 address or a host name.
    static func isValid(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 253 else { return false }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        if parts.count == 4, parts.allSatisfy({ Int($0).map { (0...255).contains($0) } ?? false }) { return true }
        if text.contains(":") { return text.allSatisfy { $0.isHexDigit || $0 == ":" } }
        return parts.allSatisfy { part in
            !part.isEmpty && part.count <= 63 && part.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
    }
}

enum CredentialsRef {
    /// `scheme:rest` with a URI-like scheme (`vault://…`, `secret:…`, `env:…`), no whitespace.
    static func isValid(_ text: String) -> Bool {
        guard let colon = text.firstIndex(of: ":"), text.utf8.count <= 512 else { return false }
        let scheme = text[..<colon]
        return !scheme.isEmpty && scheme.first!.isLetter
            && scheme.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" || $0 == ".") }
            && text.index(after: colon) < text.endIndex && !text.contains(where: \.isWhitespace)
    }
}

/// "Did you mean": the closest candidate within a small edit distance.
enum Suggest {
    static func closest(_ word: String, in candidates: [String]) -> String? {
        let scored = candidates.map { ($0, distance(word.lowercased(), $0.lowercased())) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(2, word.count / 3) else { return nil }
        return best.0
    }

    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
