import ArgumentParser

/// `dvnet`: networks — IPAM and network intent.
public struct DVNetCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dvnet",
        abstract: "Dataverket networks: VRFs, prefixes, addresses, VLANs and ASNs (IPAM), DNS records, network intent: plan, apply (changesets), drift, rendered device configs.",
        subcommands: [VRFCommand.self, PrefixCommand.self, IPCommand.self, VLANCommand.self, ASNCommand.self, DNSCommand.self,
                      NetworkPlanCommand.self, NetworkApply.self, ChangesetCommand.self, DriftCommand.self, NetworkDeviceCommand.self, NetworkRender.self])

    public init() {}
}

/// `dvnet prefix …`
struct PrefixCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prefix", abstract: "Prefixes: record, allocate the next free child, list, show, delete.",
        subcommands: [PrefixCreate.self, PrefixAllocate.self, PrefixList.self, PrefixShow.self, PrefixDelete.self])
}

/// `dvnet ip …`
struct IPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ip", abstract: "Addresses: allocate the next free one of a prefix, record one, release, list, show.",
        subcommands: [IPAllocate.self, IPCreate.self, IPRelease.self, IPList.self, IPShow.self])
}

enum NetworkText {
    static let prefixColumns: [(header: String, path: String)] = [
        ("PREFIX", "prefix"), ("VRF", "vrf"), ("ROLE", "role"), ("STATUS", "status"), ("DATACENTER", "datacenter"), ("ID", "id"),
    ]
    static let addressColumns: [(header: String, path: String)] = [
        ("ADDRESS", "address"), ("LENGTH", "length"), ("VRF", "vrf"), ("DNS NAME", "dnsName"), ("ASSIGNED TO", "assignedTo"),
        ("STATUS", "status"),
    ]
}
