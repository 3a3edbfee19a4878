import DataverketCore
import Foundation

/// What Maskin tells the inventory, through the narrow ``HardwareObserver`` contract (the composition root hands
/// it the inventory): a machine that network-booted with an unknown MAC (an observation from `boot`), and the
/// facts an inspection read from a BMC (an observation from `bmc`, matched to the declared device by name, serial
/// or MAC), so `dv inventory drift` compares them with the declaration.
public struct InventoryBridge: Sendable {
    public let observer: any HardwareObserver

    public init(observer: any HardwareObserver) {
        self.observer = observer
    }

    func discovered(mac: String, serial: String?, context: OperationContext) async throws {
        try await observer.observe(HardwareObservation(source: .boot, serial: serial.flatMap { $0.isEmpty ? nil : $0 }, macs: [mac]),
                                   context: context)
    }

    func inspected(_ machine: MachineRecord, facts: SystemFacts, context: OperationContext) async throws {
        let macs = Set([machine.mac] + facts.macAddresses.compactMap(MachineIdentity.normalizeMAC))
        try await observer.observe(Self.observation(facts, device: machine.device, serial: facts.serial ?? machine.serial,
                                                    macs: macs.sorted()),
                                   context: context)
    }

    static func observation(_ facts: SystemFacts, device: String?, serial: String?, macs: [String]) -> HardwareObservation {
        let cpu = facts.cpu.map { cpu in
            HardwareObservation.CPU(model: cpu.model ?? "unknown", sockets: cpu.sockets ?? 1, cores: cpu.cores ?? 0)
        }
        let disks = facts.disks.map { disk in
            let kind: HardwareObservation.Disk.Kind = (disk.interface ?? "").uppercased() == "NVME" ? .nvme
                : (disk.mediaType ?? "").uppercased() == "SSD" ? .ssd : .hdd
            return HardwareObservation.Disk(name: disk.name, kind: kind, sizeGB: Int((disk.sizeBytes ?? 0) / 1_000_000_000))
        }
        return HardwareObservation(source: .bmc, device: device, serial: serial, macs: macs, cpu: cpu,
                                   memoryGiB: facts.memoryGiB.map { Int($0.rounded()) }, disks: disks)
    }
}
