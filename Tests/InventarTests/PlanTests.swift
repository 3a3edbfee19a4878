import Inventar
import Testing

func stored(_ model: SiteModel, managedBy: ManagedBy = .site) -> [ObjectRef: StoredObject] {
    Dictionary(uniqueKeysWithValues: model.objects.map { ($0.ref, StoredObject(object: $0, version: 3, managedBy: managedBy)) })
}

func baseModel() throws -> SiteModel { try SiteFile.load([SiteSource(name: "site.yaml", text: baseSite)]).model }

func edited(_ replacements: [(String, String)]) throws -> SiteModel {
    var text = baseSite
    for (from, to) in replacements {
        #expect(text.contains(from), "'\(from)' not in the base site")
        text = text.replacingOccurrences(of: from, with: to)
    }
    return try SiteFile.load([SiteSource(name: "site.yaml", text: text)]).model
}

@Suite("Plans")
struct PlanTests {
    @Test("everything is created from nothing, parents first")
    func createAll() throws {
        let model = try baseModel()
        let plan = Planner.plan(declared: model, current: [:])
        #expect(plan.pending.isEmpty)
        #expect(plan.immediate.count == model.objects.count)
        #expect(plan.immediate.allSatisfy { $0.action == .create })
        let kinds = plan.immediate.map(\.ref.kind)
        #expect(kinds == kinds.sorted())
        #expect(plan.render().contains("+ device osl1-r01-srv01\n"))
        #expect(plan.render().contains("Plan: \(model.objects.count) to create, 0 to update, 0 to delete."))
    }

    @Test("the same declaration again is an empty plan")
    func noOp() throws {
        let model = try baseModel()
        let plan = Planner.plan(declared: model, current: stored(model))
        #expect(plan.isEmpty)
        #expect(plan.render() == "No changes: the inventory matches the declaration.\n")
    }

    @Test("an edit is one update with exactly the changed fields")
    func fieldUpdate() throws {
        let current = stored(try baseModel())
        let plan = Planner.plan(declared: try edited([("    kind: switch\n", "    kind: switch\n    vendor: NVIDIA\n    tags: [leaf]\n")]), current: current)
        #expect(plan.pending.isEmpty)
        #expect(plan.immediate.count == 1)
        let change = try #require(plan.immediate.first)
        #expect(change.action == .update)
        #expect(change.ref == ObjectRef(.device, "osl1-leaf1"))
        #expect(change.baseVersion == 3)
        #expect(change.fields == [FieldChange(field: "tags", before: nil, after: "leaf"), FieldChange(field: "vendor", before: nil, after: "NVIDIA")])
        #expect(plan.render() == """
            ~ device osl1-leaf1
                tags: (none) → "leaf"
                vendor: (none) → "NVIDIA"

            Plan: 0 to create, 1 to update, 0 to delete.

            """)
    }

    @Test("objects a site file declared before are deleted when dropped; others are left alone")
    func deletionSemantics() throws {
        var current = stored(try baseModel())
        let orphanRack = Rack(name: "osl1-r09", datacenter: "osl1", room: "hall-1", failureDomain: "fd-a", units: 42)
        current[ObjectRef(.rack, "osl1-r09")] = StoredObject(object: .rack(orphanRack), version: 1, managedBy: .site)
        let apiRack = Rack(name: "osl1-r10", datacenter: "osl1", room: "hall-1", failureDomain: "fd-a", units: 42)
        current[ObjectRef(.rack, "osl1-r10")] = StoredObject(object: .rack(apiRack), version: 1, managedBy: .api)
        let plan = Planner.plan(declared: try baseModel(), current: current)
        #expect(plan.immediate.map(\.ref) == [ObjectRef(.rack, "osl1-r09")])
        #expect(plan.immediate.first?.action == .delete)
        #expect(plan.render().contains("- rack osl1-r09\n"))
    }

    @Test("declaring an object the API created takes it over without other changes")
    func takeOver() throws {
        let model = try baseModel()
        var current = stored(model)
        let ref = ObjectRef(.rack, "osl1-r01")
        current[ref]?.managedBy = .api
        let plan = Planner.plan(declared: model, current: current)
        #expect(plan.immediate.map(\.ref) == [ref])
        #expect(plan.immediate.first?.fields == [FieldChange(field: "managedBy", before: "api", after: "site")])
    }

    @Test("a serial change of a known device waits for approval; the rest applies")
    func serialNeedsApproval() throws {
        let before = try edited([("    kind: server\n", "    kind: server\n    serial: A1\n")])
        let after = try edited([("    kind: server\n", "    kind: server\n    serial: B2\n    vendor: Dell\n"), ("units: 42", "units: 48")])
        let plan = Planner.plan(declared: after, current: stored(before))
        #expect(plan.immediate.map(\.ref) == [ObjectRef(.rack, "osl1-r01")])
        #expect(plan.pending.count == 1)
        let group = try #require(plan.pending.first)
        #expect(group.changes.map(\.ref) == [ObjectRef(.device, "osl1-r01-srv01")])
        #expect(group.summary == "serial of device osl1-r01-srv01 changes from A1 to B2")
        // A first serial (none before) is not sensitive.
        let first = Planner.plan(declared: before, current: stored(try baseModel()))
        #expect(first.pending.isEmpty)
        #expect(first.immediate.count == 1)
    }

    @Test("a MAC change of a known interface waits for approval")
    func macNeedsApproval() throws {
        let plan = Planner.plan(declared: try edited([("aa:bb:cc:00:00:01", "aa:bb:cc:00:00:09")]), current: stored(try baseModel()))
        #expect(plan.immediate.isEmpty)
        #expect(plan.pending.map(\.summary) == ["MAC of interface osl1-r01-srv01:eno1 changes from aa:bb:cc:00:00:01 to aa:bb:cc:00:00:09"])
    }

    @Test("re-cabling is one approval holding the unplug and the new link")
    func recable() throws {
        let plan = Planner.plan(declared: try edited([("b: osl1-leaf1:swp1", "b: osl1-leaf1:swp2")]), current: stored(try baseModel()))
        #expect(plan.immediate.isEmpty)
        let group = try #require(plan.pending.first)
        #expect(plan.pending.count == 1)
        #expect(group.changes.map(\.action) == [.delete, .create])
        #expect(group.changes.map(\.ref.key) == ["osl1-leaf1:swp1<>osl1-r01-srv01:eno1", "osl1-leaf1:swp2<>osl1-r01-srv01:eno1"])
        #expect(group.summary == "link osl1-leaf1:swp1 ↔ osl1-r01-srv01:eno1 is re-cabled")
        let text = plan.render()
        #expect(text.contains("Needs approval (1 of 1): link osl1-leaf1:swp1 ↔ osl1-r01-srv01:eno1 is re-cabled\n- link osl1-leaf1:swp1 ↔ osl1-r01-srv01:eno1\n+ link osl1-leaf1:swp2 ↔ osl1-r01-srv01:eno1\n"))
        #expect(text.hasSuffix("Plan: 1 to create, 0 to update, 1 to delete; 2 of them wait for approval in 1 request(s).\n"))
    }

    @Test("removing a device waits for approval together with its interfaces and cables")
    func removeDevice() throws {
        let text = baseSite
        let start = text.range(of: "  - name: osl1-r01-srv01")!.lowerBound
        let end = text.range(of: "  - name: osl1-leaf1")!.lowerBound
        var trimmed = text
        trimmed.removeSubrange(start..<end)
        trimmed = trimmed.replacingOccurrences(of: "links:\n  - { a: osl1-r01-srv01:eno1, b: osl1-leaf1:swp1 }\n", with: "")
        let declared = try SiteFile.load([SiteSource(name: "site.yaml", text: trimmed)]).model
        let plan = Planner.plan(declared: declared, current: stored(try baseModel()))
        #expect(plan.immediate.isEmpty)
        #expect(plan.pending.count == 1)
        let group = try #require(plan.pending.first)
        #expect(Set(group.changes.map(\.ref)) == [
            ObjectRef(.device, "osl1-r01-srv01"), ObjectRef(.interface, "osl1-r01-srv01:eno1"),
            ObjectRef(.link, "osl1-leaf1:swp1<>osl1-r01-srv01:eno1"),
        ])
        #expect(group.changes.allSatisfy { $0.action == .delete })
        // Execution order: the cable first, the device last.
        #expect(group.changes.map(\.ref.kind) == [.link, .interface, .device])
        #expect(group.reasons.contains("device osl1-r01-srv01 is removed"))
    }
}
