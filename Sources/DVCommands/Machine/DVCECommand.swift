import ArgumentParser

/// `dvce`: compute — bare-metal machines (and, later, VMs).
public struct DVCECommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dvce",
        abstract: "Dataverket compute: bare-metal machines — enroll, inspect, allocate, deploy, release, power.",
        subcommands: [MachineCommand.self])

    public init() {}
}

/// `dvce machine …`
struct MachineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "machine", abstract: "Bare-metal machines and their lifecycle.",
        discussion: """
            enrolled → verifying → manageable → inspecting → available → allocated → deploying → deployed → releasing → wiping → available;
            plus rescue, failed(step), maintenance (quarantine) and retired. An action the state does not allow is refused with the allowed ones.
            """,
        subcommands: [
            MachineEnroll.self, MachineList.self, MachineShow.self, MachineDiscovered.self,
            MachineVerify.self, MachineManage.self, MachineInspect.self, MachineProvide.self, MachineAllocate.self, MachineDeploy.self,
            MachineRelease.self, MachineRescue.self, MachineUnrescue.self, MachineMaintain.self, MachineUnmaintain.self,
            MachineRetire.self, MachinePower.self,
        ])
}
