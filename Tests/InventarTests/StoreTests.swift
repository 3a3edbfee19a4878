import DataverketCore
import DataverketStore
import Foundation
import Inventar
import SQLKit
import Testing
import DataverketTestSupport

/// The example site with `replacements` applied to its text.
func editedExample(_ replacements: [(String, String)]) throws -> [SiteSource] {
    var source = try #require(try exampleSite().first)
    for (from, to) in replacements {
        #expect(source.text.contains(from), "'\(from)' not in the example")
        source.text = source.text.replacingOccurrences(of: from, with: to)
    }
    return [source]
}

@Suite("Inventory store")
struct StoreTests {
    @Test("the example applies cleanly, re-applies as a no-op, and exports to a file that applies as a no-op",
          arguments: Backend.available)
    func applyAndRoundTrip(_ backend: Backend) async throws {
        try await withInventory(backend) { inventory in
            let first = try await inventory.apply(sources: try exampleSite(), context: operatorContext)
            #expect(first.applied)
            #expect(first.plan.pending.isEmpty)
            #expect(first.plan.immediate.count == (try exampleModel()).objects.count)

            let again = try await inventory.apply(sources: try exampleSite(), context: operatorContext)
            #expect(again.plan.isEmpty)
            #expect(!again.applied)
            let dry = try await inventory.apply(sources: try exampleSite(), options: ApplyOptions(dryRun: true), context: operatorContext)
            #expect(dry.plan.isEmpty)

            let exported = try await inventory.export()
            #expect(exported == (try exampleModel()).sorted())
            let yaml = SiteWriter.yaml(exported)
            let reapplied = try await inventory.apply(sources: [SiteSource(name: "export.yaml", text: yaml)], context: operatorContext)
            #expect(reapplied.plan.isEmpty, "\(reapplied.plan.render())")
        }
    }

    @Test("a dry run of an edited file shows the exact diff and writes nothing", arguments: Backend.available)
    func dryRunDiff(_ backend: Backend) async throws {
        try await withInventory(backend) { inventory in
            _ = try await inventory.apply(sources: try exampleSite(), context: operatorContext)
            let edited = try editedExample([("model: PowerEdge R660\n    serial: DL11X0017", "model: PowerEdge R760\n    serial: DL11X0017"),
                                            ("    pool: gpu\n    tags: [gpu, h100]\n    powerFeeds: [osl1-r01", "    pool: gpu\n    tags: [gpu]\n    powerFeeds: [osl1-r01")])
            let dry = try await inventory.apply(sources: edited, options: ApplyOptions(dryRun: true), context: operatorContext)
            #expect(!dry.applied)
            #expect(dry.plan.render() == """
                ~ device osl1-r01-srv01
                    model: "PowerEdge R660" → "PowerEdge R760"
                ~ device osl1-r01-srv04
                    tags: "gpu, h100" → "gpu"

                Plan: 0 to create, 2 to update, 0 to delete.

                """)
            #expect(try await inventory.device("osl1-r01-srv01").device.model == "PowerEdge R660")
            let applied = try await inventory.apply(sources: edited, context: operatorContext)
            #expect(applied.plan.immediate.count == 2)
            let record = try await inventory.device("OSL1-R01-SRV01")
            #expect(record.device.model == "PowerEdge R760")
            #expect(record.version == 2)
            let page = try await inventory.devices(DeviceFilter(tag: "h100"))
            #expect(page.items.map(\.device.name) == ["osl1-r02-srv04"])
        }
    }

    @Test("an invalid file is rejected as a whole and nothing is written", arguments: Backend.available)
    func invalidRejected(_ backend: Backend) async throws {
        try await withInventory(backend) { inventory in
            let bad = try editedExample([("position: 2\n", "position: 4\n"), ("rack: OSL1-R02\n    position: 40", "rack: OSL1-R03\n    position: 40")])
            do {
                _ = try await inventory.apply(sources: bad, context: operatorContext)
                Issue.record("an invalid site applied")
            } catch let error as DataverketError {
                #expect(error.code == .invalidArgument)
                #expect(error.violations.count == 3, "\(error.violations)")
                #expect(error.violations.allSatisfy { $0.field.hasPrefix("\(bad[0].name):") })
            }
            #expect(try await inventory.export().objects.isEmpty)
        }
    }

    @Test("sensitive changes become approval requests; approving applies them and records who", arguments: Backend.available)
    func approve(_ backend: Backend) async throws {
        try await withInventory(backend) { inventory in
            _ = try await inventory.apply(sources: try exampleSite(), context: operatorContext)
            // Re-cable srv01's eno1 to a new port swp9, change a serial, and a harmless edit.
            let edited = try editedExample([
                ("a: osl1-r01-srv01:eno1\n    b: osl1-leaf1:swp1", "a: osl1-r01-srv01:eno1\n    b: osl1-leaf1:swp9"),
                ("      - { name: swp8, mac: \"3c:ec:ef:20:01:08\"", "      - { name: swp9, speed: 25G }\n      - { name: swp8, mac: \"3c:ec:ef:20:01:08\""),
                ("serial: DL12X0027", "serial: DL12X9999"),
                ("model: MX204", "model: MX204-HW"),
            ])
            let result = try await inventory.apply(sources: edited, options: ApplyOptions(reason: "CHG-1234"), context: operatorContext)
            #expect(result.applied)
            #expect(Set(result.plan.immediate.map(\.ref)) == [ObjectRef(.device, "osl1-border1"), ObjectRef(.interface, "osl1-leaf1:swp9")])
            #expect(result.approvals.count == 2)
            #expect(try await inventory.device("osl1-border1").device.model == "MX204-HW")
            #expect(try await inventory.device("osl1-r01-srv02").device.serial == "DL12X0027")
            #expect(try await inventory.trace(device: "osl1-r01-srv01", interface: "eno1").far?.interface.endpoint.description == "osl1-leaf1:swp1")

            // Applying the same file again does not duplicate the requests.
            let again = try await inventory.apply(sources: edited, options: ApplyOptions(reason: "CHG-1234"), context: operatorContext)
            #expect(again.plan.immediate.isEmpty)
            #expect(Set(again.approvals.map(\.id)) == Set(result.approvals.map(\.id)))
            let pending = try await inventory.approvals(status: .pending)
            #expect(pending.items.count == 2)

            let recable = try #require(result.approvals.first { $0.summary.contains("re-cabled") })
            #expect(recable.reason == "CHG-1234")
            #expect(recable.requestedBy == "user:ops")
            let approved = try await inventory.approve(recable.id, note: "checked on site", context: approverContext)
            #expect(approved.status == .approved)
            #expect(approved.decidedBy == "user:approver")
            #expect(try await inventory.approval(recable.id).decisionNote == "checked on site")
            #expect(try await inventory.trace(device: "osl1-r01-srv01", interface: "eno1").far?.interface.endpoint.description == "osl1-leaf1:swp9")
            #expect(try await inventory.trace(device: "osl1-leaf1", interface: "swp1").link == nil)

            let serial = try #require(result.approvals.first { $0.summary.contains("serial") })
            let rejected = try await inventory.reject(serial.id, note: "typo", context: approverContext)
            #expect(rejected.status == .rejected)
            #expect(rejected.decidedBy == "user:approver")
            #expect(try await inventory.device("osl1-r01-srv02").device.serial == "DL12X0027")
            await #expect(throws: DataverketError.self) { try await inventory.approve(serial.id, context: approverContext) }

            // Now only the rejected serial differs.
            let after = try await inventory.apply(sources: edited, options: ApplyOptions(dryRun: true), context: operatorContext)
            #expect(after.plan.immediate.isEmpty)
            #expect(after.plan.pending.map(\.summary) == ["serial of device osl1-r01-srv02 changes from DL12X0027 to DL12X9999"])
        }
    }

    @Test("removing a device is approved with its cables; a stale approval conflicts", arguments: Backend.available)
    func removeDeviceAndStaleApproval(_ backend: Backend) async throws {
        try await withInventory(backend) { inventory in
            _ = try await inventory.apply(sources: try exampleSite(), context: operatorContext)
            var text = try #require(try exampleSite().first).text
            let start = text.range(of: "  - name: osl1-r02-srv03\n")!.lowerBound
            let end = text.range(of: "  - name: osl1-r02-srv04\n")!.lowerBound
            text.removeSubrange(start..<end)
            text = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                .reduce(into: [String]()) { lines, line in
                    // Drop the link entries whose a-end is a removed interface (a line, then b/cable/label).
                    if line.hasPrefix("  - a: osl1-r02-srv03:") || (lines.last?.hasPrefix("#drop") == true && line.hasPrefix("    ")) {
                        lines.append("#drop")
                    } else {
                        lines.append(line)
                    }
                }.filter { $0 != "#drop" }.joined(separator: "\n")
            let source = [SiteSource(name: "site.yaml", text: text)]
            let result = try await inventory.apply(sources: source, context: operatorContext)
            #expect(result.plan.immediate.isEmpty)
            let request = try #require(result.approvals.first)
            #expect(result.approvals.count == 1)
            #expect(request.changes.filter { $0.ref.kind == .link }.count == 3)
            #expect(request.changes.filter { $0.ref.kind == .interface }.count == 3)
            #expect(try await inventory.device("osl1-r02-srv03").device.name == "osl1-r02-srv03")

            // Someone edits the device in between: the approval no longer matches the store.
            try await inventory.setAllocation(device: "osl1-r02-srv03", to: "machine-1", context: operatorContext)
            do {
                _ = try await inventory.approve(request.id, context: approverContext)
                Issue.record("a stale approval applied")
            } catch let error as DataverketError {
                #expect(error.code == .conflict)
            }
            // A fresh apply supersedes the stale request with a new one, which applies.
            let fresh = try await inventory.apply(sources: source, context: operatorContext)
            let newRequest = try #require(fresh.approvals.first)
            #expect(newRequest.id != request.id)
            #expect(try await inventory.approval(request.id).status == .superseded)
            _ = try await inventory.approve(newRequest.id, context: approverContext)
            await #expect(throws: DataverketError.self) { try await inventory.device("osl1-r02-srv03") }
            #expect(try await inventory.trace(device: "osl1-leaf1", interface: "swp7").link == nil)
            #expect(try await inventory.apply(sources: source, options: ApplyOptions(dryRun: true), context: operatorContext).plan.isEmpty)
        }
    }

    @Test("device lists filter in SQL and paginate with interfaces attached", arguments: Backend.available)
    func listsAndPages(_ backend: Backend) async throws {
        try await withInventory(backend) { inventory in
            _ = try await inventory.apply(sources: try exampleSite(), context: operatorContext)
            func names(_ filter: DeviceFilter) async throws -> [String] {
                try await inventory.devices(filter, limit: 1000).items.map(\.device.name)
            }
            #expect(try await names(DeviceFilter(role: .gpu)) == ["osl1-r01-srv04", "osl1-r02-srv04"])
            #expect(try await names(DeviceFilter(failureDomain: "fd-b", kind: .server)).count == 4)
            #expect(try await names(DeviceFilter(rack: "OSL1-R01", kind: .switch)) == ["osl1-leaf1", "osl1-r01-oob01"])
            #expect(try await names(DeviceFilter(datacenter: "osl1", tag: "ceph")) == ["osl1-r02-srv03"])
            #expect(try await names(DeviceFilter(role: .compute, pool: "general")).count == 4)
            #expect(try await names(DeviceFilter(datacenter: "ber1")).isEmpty)

            try await inventory.setAllocation(device: "osl1-r01-srv01", to: "machine-a", context: operatorContext)
            let free = try await names(DeviceFilter(kind: .server, freeOnly: true))
            #expect(free.count == 7)
            #expect(!free.contains("osl1-r01-srv01"))

            // Walk every device two at a time: each exactly once, in name order, with interfaces and cabling.
            var seen: [String] = []
            var cursor: String?
            var pages = 0
            repeat {
                let page = try await inventory.devices(limit: 2, cursor: cursor)
                #expect(page.items.count <= 2)
                seen += page.items.map(\.device.name)
                for record in page.items where record.device.kind == .server {
                    #expect(record.interfaces.map(\.interface.name) == ["bmc", "eno1", "eno2"])
                    #expect(record.interfaces.allSatisfy { $0.linkedTo != nil })
                }
                cursor = page.nextCursor
                pages += 1
            } while cursor != nil && pages < 100
            let all = (try exampleModel()).devices.map(\.name).sorted()
            #expect(seen == all)
            #expect(pages == (all.count + 1) / 2)
            await #expect(throws: DataverketError.self) { try await inventory.devices(cursor: "not a cursor!") }
            await #expect(throws: DataverketError.self) { try await inventory.devices(limit: 0) }
        }
    }

    @Test("get by kind and name, rack elevation, cable trace and capacity", arguments: Backend.available)
    func queries(_ backend: Backend) async throws {
        try await withInventory(backend) { inventory in
            _ = try await inventory.apply(sources: try exampleSite(), context: operatorContext)
            guard case .rack(let rack) = try await inventory.object(.rack, "OSL1-R01").object else {
                Issue.record("not a rack")
                return
            }
            #expect(rack.feedA == "osl1-r01-pdu-a")
            #expect(try await inventory.object(.failureDomain, "osl1/fd-b").object.key == "osl1/fd-b")
            #expect(try await inventory.object(.interface, "osl1-leaf1:swp1").object.key == "osl1-leaf1:swp1")
            #expect(try await inventory.object(.link, "osl1-leaf1:swp1").object.key == "osl1-leaf1:swp1<>osl1-r01-srv01:eno1")
            await #expect(throws: DataverketError.self) { try await inventory.object(.device, "nope") }

            let elevation = try await inventory.elevation(rack: "OSL1-R01")
            #expect(elevation.units.count == 42)
            #expect(elevation.units.first?.unit == 42)
            #expect(elevation.units.first { $0.unit == 41 }?.device == "osl1-border1")
            #expect(elevation.units.filter { $0.device == "osl1-r01-srv04" }.map(\.unit) == [15, 14, 13, 12, 11, 10])
            #expect(elevation.units.first { $0.unit == 9 }?.device == nil)
            #expect(elevation.zeroU == ["osl1-r01-pdu-a", "osl1-r01-pdu-b"])
            let text = elevation.render()
            #expect(text.contains("U41  │ osl1-border1  router/infra"))
            #expect(text.contains("U10  │ osl1-r01-srv04 (6U)  server/gpu"))
            #expect(text.contains("U11  │   ⋮ osl1-r01-srv04"))
            #expect(text.contains("12/42 units used; zero-U: osl1-r01-pdu-a, osl1-r01-pdu-b"))

            let trace = try await inventory.trace(device: "osl1-r02-srv01", interface: "eno2")
            #expect(trace.far?.interface.endpoint == Endpoint(device: "osl1-leaf2", interface: "swp5"))
            #expect(trace.far?.deviceKind == .switch)
            #expect(trace.far?.rack == "osl1-r02")
            #expect(trace.render() == "osl1-r02-srv01:eno2 (server, osl1-r02 U2, 25G) ── dac OSL1-C0025 ──▶ osl1-leaf2:swp5 (switch, osl1-r02 U40, 25G)\n")
            let reverse = try await inventory.trace(device: "osl1-leaf2", interface: "swp5")
            #expect(reverse.far?.interface.endpoint == Endpoint(device: "osl1-r02-srv01", interface: "eno2"))
            await #expect(throws: DataverketError.self) { try await inventory.trace(device: "osl1-leaf1", interface: "swp99") }

            try await inventory.setAllocation(device: "osl1-r01-srv04", to: "machine-gpu", context: operatorContext)
            let capacity = try await inventory.capacity()
            #expect(capacity.count == 1)
            let osl1 = try #require(capacity.first)
            #expect(osl1.datacenter == "osl1")
            #expect(osl1.total == CapacitySummary.Resources(servers: 8, cpuCores: 6 * 64 + 2 * 96, memoryGiB: 6 * 512 + 2 * 1536,
                                                            gpus: 16, storageGB: 6 * 4800 + 2 * 15360))
            #expect(osl1.allocated == CapacitySummary.Resources(servers: 1, cpuCores: 96, memoryGiB: 1536, gpus: 8, storageGB: 15360))
            #expect(osl1.free.gpus == 8)
            #expect(try await inventory.capacity(datacenter: "ber1").isEmpty)
        }
    }

    @Test("drift: missing, unexpected, and mismatched serial, MAC and cabling", arguments: Backend.available)
    func drift(_ backend: Backend) async throws {
        try await withInventory(backend) { inventory in
            _ = try await inventory.apply(sources: try exampleSite(), context: operatorContext)
            let filter = DriftFilter(device: "osl1-r01-srv01")
            #expect(try await inventory.drift(filter).map(\.kind) == [.missing])

            // BMC inventory matched by serial, reporting the declared MACs: nothing drifts.
            let bmc = try await inventory.observe(Observation(
                source: .bmc, serial: "DL11X0017", macs: ["3c:ec:ef:31:01:01", "3C-EC-EF-31-01-02"],
                hardware: HardwareFacts(cpu: CPU(model: "Intel Xeon Gold 6430", sockets: 2, cores: 64), memoryGiB: 512)), context: operatorContext)
            #expect(bmc.device == "osl1-r01-srv01")
            #expect(try await inventory.drift(filter).isEmpty)

            // LLDP says eno1 goes to leaf2:swp3, not leaf1:swp1; boot says a different serial and less memory.
            let lldp = try await inventory.observe(Observation(
                source: .lldp, device: "osl1-r01-srv01",
                interfaces: [ObservedInterface(name: "eno1", neighbor: Endpoint(device: "osl1-leaf2", interface: "swp3")),
                             ObservedInterface(name: "eno2", neighbor: Endpoint(device: "osl1-leaf2", interface: "swp1"))]), context: operatorContext)
            #expect(lldp.device == "osl1-r01-srv01")
            _ = try await inventory.observe(Observation(
                source: .boot, macs: ["3c:ec:ef:31:01:01"], interfaces: [ObservedInterface(name: "eno2", mac: "3c:ec:ef:31:01:09")],
                hardware: HardwareFacts(memoryGiB: 384)), context: operatorContext)
            let items = try await inventory.drift(filter)
            #expect(items.count == 3, "\(items)")
            let cable = try #require(items.first { $0.field == "link" })
            #expect(cable.kind == .mismatch)
            #expect(cable.name == "osl1-r01-srv01:eno1")
            #expect(cable.declared == "osl1-leaf1:swp1")
            #expect(cable.observed == "osl1-leaf2:swp3")
            #expect(cable.source == .lldp)
            #expect(items.contains { $0.field == "mac" && $0.declared == "3c:ec:ef:31:01:02" && $0.observed == "3c:ec:ef:31:01:09" && $0.source == .boot })
            #expect(items.contains { $0.field == "hardware.memoryGiB" && $0.declared == "512" && $0.observed == "384" })

            // Something nobody declared; and a whole-datacenter view lists the never-observed devices.
            _ = try await inventory.observe(Observation(source: .boot, serial: "UNKNOWN-1", macs: ["02:00:00:00:00:01"]), context: operatorContext)
            let all = try await inventory.drift(DriftFilter(datacenter: "osl1"))
            #expect(all.filter { $0.kind == .unexpected }.map(\.name) == ["serial:UNKNOWN-1"])
            #expect(all.filter { $0.kind == .missing }.count == (try exampleModel()).devices.count - 1)
            let stale = try await inventory.drift(DriftFilter(device: "osl1-r01-srv01", staleAfter: .seconds(60)), now: Date().addingTimeInterval(3600))
            #expect(stale.contains { $0.kind == .missing })

            await #expect(throws: DataverketError.self) {
                try await inventory.observe(Observation(source: .manual, macs: ["nope"]), context: operatorContext)
            }
        }
    }
}
