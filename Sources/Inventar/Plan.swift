/// Who manages a stored object: a site file (`dv apply`), the API, or discovery. Only objects managed by a
/// site file are ever deleted by an apply.
public enum ManagedBy: String, Codable, Sendable, CaseIterable { case site, api, discovery }

/// An object as stored: its value, its optimistic version, and who manages it.
public struct StoredObject: Codable, Sendable, Hashable {
    public var object: InventoryObject
    public var version: Int64
    public var managedBy: ManagedBy

    public init(object: InventoryObject, version: Int64, managedBy: ManagedBy) {
        self.object = object
        self.version = version
        self.managedBy = managedBy
    }
}

public enum ChangeAction: String, Codable, Sendable { case create, update, delete }

public struct FieldChange: Codable, Sendable, Hashable {
    public var field: String
    public var before: String?
    public var after: String?

    public init(field: String, before: String?, after: String?) {
        self.field = field
        self.before = before
        self.after = after
    }
}

/// One object's change: what it is now (`current`, at `baseVersion`), what it becomes (`desired`), field by
/// field. `sensitive` says why it needs approval, when it does.
public struct Change: Codable, Sendable, Hashable {
    public var action: ChangeAction
    public var ref: ObjectRef
    public var fields: [FieldChange]
    public var desired: InventoryObject?
    public var current: InventoryObject?
    public var baseVersion: Int64?
    public var sensitive: String?

    /// Execution order: parents before children for creates and updates, cables unplugged before they are
    /// plugged elsewhere, children before parents for deletes.
    var phase: Int {
        switch (action, ref.kind) {
        case (.delete, .link): 1
        case (_, .link): 2
        case (.delete, _): 3
        default: 0
        }
    }

    static func executionOrder(_ lhs: Change, _ rhs: Change) -> Bool {
        if lhs.phase != rhs.phase { return lhs.phase < rhs.phase }
        if lhs.ref.kind != rhs.ref.kind { return lhs.phase == 3 ? rhs.ref.kind < lhs.ref.kind : lhs.ref.kind < rhs.ref.kind }
        if lhs.action != rhs.action { return lhs.action == .create }
        return lhs.ref.key < rhs.ref.key
    }
}

/// Sensitive changes, with everything that must apply together with them: they wait for one approval.
public struct ApprovalGroup: Codable, Sendable, Hashable {
    public var reasons: [String]
    public var changes: [Change]

    public var summary: String { reasons.joined(separator: "; ") }
}

/// The difference between a declaration and the store: what applies now and what waits for approval.
public struct Plan: Codable, Sendable, Hashable {
    /// In execution order.
    public var immediate: [Change]
    public var pending: [ApprovalGroup]

    public init(immediate: [Change] = [], pending: [ApprovalGroup] = []) {
        self.immediate = immediate
        self.pending = pending
    }

    public var isEmpty: Bool { immediate.isEmpty && pending.isEmpty }
    public var allChanges: [Change] { immediate + pending.flatMap(\.changes) }

    public func count(_ action: ChangeAction) -> Int { allChanges.filter { $0.action == action }.count }
}

/// Computes plans. Pure: no I/O.
public enum Planner {
    /// The plan that turns `current` into `declared`.
    ///
    /// - `declared`: a validated, resolved declaration.
    /// - `current`: the stored objects in the declaration's scope (its datacenters), by ref.
    ///
    /// Declared objects missing from `current` are created, differing ones updated (an object the API or
    /// discovery created becomes managed by the site file). Stored objects managed by a site file that are
    /// not declared are deleted; others are left alone. Sensitive changes — removing a device, unplugging or
    /// re-cabling a link, changing a known device's serial or a known interface's MAC — and everything that
    /// depends on them go to approval groups.
    public static func plan(declared: SiteModel, current: [ObjectRef: StoredObject]) -> Plan {
        var changes: [Change] = []
        var declaredRefs: Set<ObjectRef> = []
        for object in declared.objects {
            let ref = object.ref
            declaredRefs.insert(ref)
            let after = object.fields
            guard let stored = current[ref] else {
                let fields = after.keys.sorted().map { FieldChange(field: $0, before: nil, after: after[$0]) }
                changes.append(Change(action: .create, ref: ref, fields: fields, desired: object, current: nil, baseVersion: nil))
                continue
            }
            let before = stored.object.fields
            var fields = Set(before.keys).union(after.keys).sorted().compactMap { key in
                before[key] == after[key] ? nil : FieldChange(field: key, before: before[key], after: after[key])
            }
            if stored.managedBy != .site {
                fields.append(FieldChange(field: "managedBy", before: stored.managedBy.rawValue, after: ManagedBy.site.rawValue))
            }
            guard !fields.isEmpty else { continue }
            var change = Change(action: .update, ref: ref, fields: fields, desired: object, current: stored.object, baseVersion: stored.version)
            if ref.kind == .device, let serial = fields.first(where: { $0.field == "serial" }), let old = serial.before {
                change.sensitive = "serial of device \(ref.key) changes from \(old) to \(serial.after ?? "none")"
            }
            if ref.kind == .interface, let mac = fields.first(where: { $0.field == "mac" }), let old = mac.before {
                change.sensitive = "MAC of interface \(ref.key) changes from \(old) to \(mac.after ?? "none")"
            }
            changes.append(change)
        }
        for (ref, stored) in current where stored.managedBy == .site && !declaredRefs.contains(ref) {
            let before = stored.object.fields
            var change = Change(action: .delete, ref: ref, fields: before.keys.sorted().map { FieldChange(field: $0, before: before[$0], after: nil) },
                                desired: nil, current: stored.object, baseVersion: stored.version)
            if ref.kind == .device { change.sensitive = "device \(ref.key) is removed" }
            if ref.kind == .link { change.sensitive = "link \(display(ref)) is unplugged" }
            changes.append(change)
        }
        changes.sort(by: Change.executionOrder)
        return group(changes)
    }

    /// Splits changes into those that apply now and approval groups: a sensitive change and every change
    /// connected to it by a dependency (a delete and the deletes of what refers to it; a link unplugged and
    /// the links plugged into the same interfaces) wait together.
    static func group(_ changes: [Change]) -> Plan {
        var parent = Array(changes.indices)
        func find(_ i: Int) -> Int {
            var i = i
            while parent[i] != i {
                parent[i] = parent[parent[i]]
                i = parent[i]
            }
            return i
        }
        func union(_ a: Int, _ b: Int) { parent[find(a)] = find(b) }

        var deleteIndex: [ObjectRef: Int] = [:]
        var linkChangesByEnd: [Endpoint: [Int]] = [:]
        for (index, change) in changes.enumerated() {
            if change.action == .delete { deleteIndex[change.ref] = index }
            if case .link(let link)? = change.desired ?? change.current {
                for end in link.ends { linkChangesByEnd[end, default: []].append(index) }
            }
        }
        for (index, change) in changes.enumerated() {
            if change.action == .delete, let current = change.current {
                for target in references(of: current) {
                    if let other = deleteIndex[target] { union(index, other) }
                }
            }
            if change.ref.kind == .link, case .link(let link)? = change.desired ?? change.current {
                for end in link.ends {
                    for other in linkChangesByEnd[end, default: []] where changes[other].action == .delete || change.action == .delete {
                        union(index, other)
                    }
                }
            }
        }
        var groups: [Int: [Int]] = [:]
        for index in changes.indices { groups[find(index), default: []].append(index) }
        var deferred: Set<Int> = []
        var pending: [ApprovalGroup] = []
        for members in groups.values.sorted(by: { $0[0] < $1[0] }) where members.contains(where: { changes[$0].sensitive != nil }) {
            deferred.formUnion(members)
            let groupChanges = members.map { changes[$0] }
            var reasons = groupChanges.compactMap(\.sensitive)
            let hasPlug = groupChanges.contains { $0.ref.kind == .link && $0.action != .delete }
            if hasPlug {
                reasons = reasons.map { $0.hasSuffix("is unplugged") ? $0.replacingOccurrences(of: "is unplugged", with: "is re-cabled") : $0 }
            }
            pending.append(ApprovalGroup(reasons: reasons, changes: groupChanges))
        }
        return Plan(immediate: changes.indices.filter { !deferred.contains($0) }.map { changes[$0] }, pending: pending)
    }

    /// The objects `object` refers to (what must outlive it).
    static func references(of object: InventoryObject) -> [ObjectRef] {
        switch object {
        case .datacenter: return []
        case .failureDomain(let x): return [ObjectRef(.datacenter, x.datacenter)]
        case .room(let x): return [ObjectRef(.datacenter, x.datacenter)]
        case .network(let x): return [ObjectRef(.datacenter, x.datacenter)]
        case .rack(let x):
            return [ObjectRef(.datacenter, x.datacenter), ObjectRef(.room, "\(x.datacenter)/\(x.room)"),
                    ObjectRef(.failureDomain, "\(x.datacenter)/\(x.failureDomain)")]
        case .device(let x):
            return [ObjectRef(.datacenter, x.datacenter), ObjectRef(.failureDomain, "\(x.datacenter)/\(x.failureDomain)")]
                + (x.rack.map { [ObjectRef(.rack, $0)] } ?? [])
        case .interface(let x):
            return [ObjectRef(.device, x.device)] + (x.network.map { [ObjectRef(.network, $0)] } ?? [])
        case .link(let x):
            return x.ends.flatMap { [ObjectRef(.interface, $0.description), ObjectRef(.device, $0.device)] }
        }
    }

    static func display(_ ref: ObjectRef) -> String {
        ref.kind == .link ? ref.key.replacingOccurrences(of: "<>", with: " ↔ ") : ref.key
    }
}

// MARK: - rendering

extension Plan {
    /// A readable diff, like `terraform plan`: `+` create, `~` update (with each field's change), `-` delete;
    /// `verbose` also lists the fields of created and deleted objects.
    public func render(verbose: Bool = false) -> String {
        if isEmpty { return "No changes: the inventory matches the declaration.\n" }
        var out = ""
        for change in immediate { out += Self.render(change, verbose: verbose) }
        for (index, group) in pending.enumerated() {
            out += "\nNeeds approval (\(index + 1) of \(pending.count)): \(group.summary)\n"
            for change in group.changes { out += Self.render(change, verbose: verbose) }
        }
        let deferred = pending.reduce(0) { $0 + $1.changes.count }
        out += "\nPlan: \(count(.create)) to create, \(count(.update)) to update, \(count(.delete)) to delete"
        out += deferred > 0 ? "; \(deferred) of them wait for approval in \(pending.count) request(s).\n" : ".\n"
        return out
    }

    static func render(_ change: Change, verbose: Bool) -> String {
        let symbol = switch change.action { case .create: "+"; case .update: "~"; case .delete: "-" }
        var out = "\(symbol) \(change.ref.kind.rawValue) \(Planner.display(change.ref))\n"
        if change.action == .update || verbose {
            for field in change.fields {
                switch change.action {
                case .create: out += "    \(field.field): \(quote(field.after))\n"
                case .delete: out += "    \(field.field): \(quote(field.before))\n"
                case .update: out += "    \(field.field): \(quote(field.before)) → \(quote(field.after))\n"
                }
            }
        }
        return out
    }

    static func quote(_ value: String?) -> String {
        guard let value else { return "(none)" }
        return "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
