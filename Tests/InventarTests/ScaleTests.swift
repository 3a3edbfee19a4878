import Foundation
import Inventar
import Testing
import DataverketTestSupport

@Suite("Scale")
struct ScaleTests {
    @Test("thousands of devices apply in multi-row batches, re-apply as a no-op, and page and trace", arguments: Backend.available)
    func generated(_ backend: Backend) async throws {
        let model = SyntheticSite.datacenter("gen1", racks: 50, servers: 40)
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
