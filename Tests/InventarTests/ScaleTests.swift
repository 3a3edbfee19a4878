import Foundation
import Inventar
import Testing

/// A generated datacenter: `racks` racks of one switch and `servers` servers each, every server with four
/// interfaces and its first one cabled to the rack's switch.
func generatedSite(racks: Int, servers: Int) -> SiteModel {
    var model = SiteModel()
    model.datacenters = [Datacenter(name: "gen1", country: "NO", jurisdiction: "NO", regionRole: .secondary)]
    model.failureDomains = [FailureDomain(datacenter: "gen1", name: "fd-a"), FailureDomain(datacenter: "gen1", name: "fd-b")]
    model.rooms = [Room(datacenter: "gen1", name: "hall-1")]
    for r in 1...racks {
        let rack = String(format: "gen1-r%03d", r), fd = r % 2 == 0 ? "fd-a" : "fd-b"
        model.racks.append(Rack(name: rack, datacenter: "gen1", room: "hall-1", failureDomain: fd, units: 48))
        let tor = "\(rack)-tor"
        model.devices.append(Device(name: tor, kind: .switch, role: .infra, datacenter: "gen1", failureDomain: fd, rack: rack, position: 48))
        for p in 1...servers { model.interfaces.append(Interface(device: tor, name: "swp\(p)", speedMbps: 25_000)) }
        for s in 1...servers {
            let name = String(format: "\(rack)-srv%02d", s)
            model.devices.append(Device(
                name: name, kind: .server, role: s % 10 == 0 ? .gpu : .compute, serial: "SN-\(r)-\(s)", datacenter: "gen1",
                failureDomain: fd, rack: rack, position: s, pool: "general", tags: s % 2 == 0 ? ["even"] : [],
                hardware: HardwareFacts(cpu: CPU(model: "x", sockets: 2, cores: 64), memoryGiB: 512)))
            for i in 0..<4 {
                let mac = String(format: "02:%02x:%02x:%02x:00:%02x", r / 256, r % 256, s, i)
                model.interfaces.append(Interface(device: name, name: "eno\(i + 1)", mac: mac, speedMbps: 25_000))
            }
            model.links.append(Link(a: Endpoint(device: name, interface: "eno1"), b: Endpoint(device: tor, interface: "swp\(s)")))
        }
    }
    return model
}

@Suite("Scale")
struct ScaleTests {
    @Test("thousands of devices apply in multi-row batches, re-apply as a no-op, and page and trace", arguments: Backend.available)
    func generated(_ backend: Backend) async throws {
        let model = generatedSite(racks: 50, servers: 40)
        let (validated, issues) = SiteValidator.validate(model)
        #expect(issues.isEmpty)
        try await withInventory(backend) { inventory in
            let clock = ContinuousClock()
            let start = clock.now
            let result = try await inventory.apply(validated, context: operatorContext)
            let loaded = clock.now - start
            #expect(result.plan.immediate.count == model.objects.count)
            #expect(model.devices.count == 2050)
            #expect(model.interfaces.count == 10_000)
            #expect(loaded < .seconds(60), "loading took \(loaded)")
            #expect(try await inventory.apply(validated, options: ApplyOptions(dryRun: true), context: operatorContext).plan.isEmpty)
            let page = try await inventory.devices(DeviceFilter(datacenter: "gen1", failureDomain: "fd-a", role: .gpu, tag: "even"), limit: 50)
            #expect(page.items.count == 50)
            #expect(page.items.allSatisfy { $0.interfaces.count == 4 && $0.device.failureDomain == "fd-a" })
            let next = try await inventory.devices(DeviceFilter(datacenter: "gen1", failureDomain: "fd-a", role: .gpu, tag: "even"), limit: 50, cursor: page.nextCursor)
            #expect(next.items.count == 25 * 4 - 50)
            #expect(next.nextCursor == nil)
            let trace = try await inventory.trace(device: "gen1-r017-srv33", interface: "eno1")
            #expect(trace.far?.interface.endpoint == Endpoint(device: "gen1-r017-tor", interface: "swp33"))
            #expect(try await inventory.capacity(datacenter: "gen1").first?.total.cpuCores == 2000 * 64)
        }
    }
}
