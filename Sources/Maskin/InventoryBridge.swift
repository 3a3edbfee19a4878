import DataverketCore
import Foundation
import Inventar

/// What Maskin tells the inventory: a machine that network-booted with an unknown MAC (an observation from `boot`),
/// and the facts an inspection read from a BMC (an observation from `bmc`, matched to the declared device by name,
/// serial or MAC), so `dv inventory drift` compares them with the declaration.
public struct InventoryBridge: Sendable {
    public let inventory: Inventory

    public init(inventory: Inventory) {
        self.inventory = inventory
    }

    func discovered(mac: String, serial: String?, context: OperationContext) async throws {
        _ = try await inventory.observe(Observation(source: .boot, serial: serial.flatMap { $0.isEmpty ? nil : $0 }, macs: [mac]),
                                        context: context)
    }

    func inspected(_ machine: MachineRecord, facts: SystemFacts, context: OperationContext) async throws {
        let macs = Set([machine.mac] + facts.macAddresses.compactMap(MachineIdentity.normalizeMAC))
        _ = try await inventory.observe(
            Observation(source: .bmc, device: machine.device, serial: facts.serial ?? machine.serial, macs: macs.sorted(),
                        hardware: Self.hardware(facts)),
            context: context)
    }

    static func hardware(_ facts: SystemFacts) -> HardwareFacts {
        let cpu = facts.cpu.map { cpu in
            Inventar.CPU(model: cpu.model ?? "unknown", sockets: cpu.sockets ?? 1, cores: cpu.cores ?? 0)
        }
        let disks = facts.disks.map { disk in
            let type: DiskType = (disk.interface ?? "").uppercased() == "NVME" ? .nvme
                : (disk.mediaType ?? "").uppercased() == "SSD" ? .ssd : .hdd
            return Inventar.Disk(name: disk.name, type: type, sizeGB: Int((disk.sizeBytes ?? 0) / 1_000_000_000))
        }
        return HardwareFacts(cpu: cpu, memoryGiB: facts.memoryGiB.map { Int($0.rounded()) }, disks: disks)
    }
}
