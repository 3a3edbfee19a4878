import DataverketCore
import Foundation

extension NetworkIntent {
    /// What changes from `old` to this intent, object by object, in `dvnet plan`'s terms:
    /// `+ network dmz {gateway: 10.9.0.1, …}` (added), `- port osl1-leaf1:Ethernet9` (removed),
    /// `~ network acme-web: mtu 9000 → 1500, vlan 110 → 111` (changed fields). Objects are keyed by name (ports by
    /// `device:interface`; a rule is its own key, so a changed rule is one removed and one added). Without `old`,
    /// everything is added.
    public func changes(from old: NetworkIntent?) -> [String] {
        var lines: [String] = []
        for field in ["datacenter", "jurisdiction", "vlanRange"] {
            let before = old.map { Self.fields(of: $0)[field] ?? "(none)" }, after = Self.fields(of: self)[field] ?? "(none)"
            if let before, before != after { lines.append("~ \(field): \(before) → \(after)") }
        }
        // The fields a key already says are not repeated for an added object.
        func compare<Item: Encodable>(_ kind: String, _ new: [Item]?, _ previous: [Item]?, keyFields: Set<String>, key: (Item) -> String) {
            let newItems = Dictionary((new ?? []).map { (key($0), Self.fields(of: $0)) }, uniquingKeysWith: { first, _ in first })
            let oldItems = Dictionary((previous ?? []).map { (key($0), Self.fields(of: $0)) }, uniquingKeysWith: { first, _ in first })
            for name in Set(newItems.keys).union(oldItems.keys).sorted() {
                switch (oldItems[name], newItems[name]) {
                case (nil, let added?):
                    let fields = added.filter { !keyFields.contains($0.key) }.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
                    lines.append("+ \(kind) \(name)" + (fields.isEmpty ? "" : " {\(fields.joined(separator: ", "))}"))
                case (_?, nil):
                    lines.append("- \(kind) \(name)")
                case (let before?, let after?) where before != after:
                    let changed = Set(before.keys).union(after.keys).sorted().filter { before[$0] != after[$0] }
                        .map { "\($0) \(before[$0] ?? "(none)") → \(after[$0] ?? "(none)")" }
                    lines.append("~ \(kind) \(name): \(changed.joined(separator: ", "))")
                default:
                    break
                }
            }
        }
        compare("vrf", vrfs, old?.vrfs, keyFields: ["name"]) { $0.name }
        compare("network", networks, old?.networks, keyFields: ["name"]) { $0.name }
        compare("profile", portProfiles, old?.portProfiles, keyFields: ["name"]) { $0.name }
        compare("port", ports, old?.ports, keyFields: ["device", "interface"]) { "\($0.device):\($0.interface)" }
        compare("router", routers, old?.routers, keyFields: ["name"]) { $0.name }
        compare("rule", rules, old?.rules, keyFields: ["action", "from", "to", "protocol", "port"]) { rule in
            "\(rule.action) \(rule.from) → \(rule.to) \(IntentVerifier.flow(rule))"
        }
        return lines
    }

    /// An object's fields as `name → value` text: scalars as they are, lists and objects as compact JSON.
    static func fields(of value: some Encodable) -> [String: String] {
        guard let data = try? JSONEncoder().encode(value), case .object(let object)? = try? JSONDecoder().decode(JSONValue.self, from: data) else {
            return [:]
        }
        return object.mapValues { field in
            if case .string(let text) = field { return text }
            return field.compactJSON
        }
    }
}
