import ArgumentParser
import DataverketClient

/// `dv device list [--datacenter DC] [--failure-domain FD] [--rack R] [--role R] [--kind K] [--tag T] [--pool P] [--free]`
struct DeviceList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List devices, filtered on the server, by name.")
    @Option(help: "Only this datacenter.") var datacenter: String?
    @Option(name: .customLong("failure-domain"), help: "Only this failure domain.") var failureDomain: String?
    @Option(help: "Only this rack.") var rack: String?
    @Option(help: "compute, gpu, storage, infra or control-plane.") var role: String?
    @Option(help: "server, switch, router, firewall, pdu or ups.") var kind: String?
    @Option(help: "Only devices with this tag.") var tag: String?
    @Option(help: "Only this resource pool.") var pool: String?
    @Flag(help: "Only devices not allocated (free capacity).") var free = false
    @OptionGroup var list: ListOptions
    @OptionGroup var global: GlobalOptions

    static let columns: [(header: String, path: String)] = [
        ("NAME", "device.name"), ("KIND", "device.kind"), ("ROLE", "device.role"), ("DATACENTER", "device.datacenter"),
        ("FAILURE DOMAIN", "device.failureDomain"), ("RACK", "device.rack"), ("U", "device.position"), ("POOL", "device.pool"),
        ("SERIAL", "device.serial"), ("ALLOCATED", "allocatedTo"), ("TAGS", "device.tags"),
    ]

    func run() async throws {
        let parsedRole = try role.map { value in
            guard let role = Operations.ListInventoryDevices.Input.Query.RolePayload(rawValue: value) else {
                throw ValidationError("unknown role '\(value)'; one of compute, gpu, storage, infra, control-plane")
            }
            return role
        }
        let parsedKind = try kind.map { value in
            guard let kind = Operations.ListInventoryDevices.Input.Query.KindPayload(rawValue: value) else {
                throw ValidationError("unknown kind '\(value)'; one of server, switch, router, firewall, pdu, ups")
            }
            return kind
        }
        let api = try await global.api()
        let items = try await list.collect { size, cursor in
            let page = try await api.call {
                try await $0.listInventoryDevices(query: .init(
                    datacenter: datacenter, failureDomain: failureDomain, rack: rack, role: parsedRole, kind: parsedKind, tag: tag,
                    pool: pool, free: free ? true : nil, limit: size, cursor: cursor)).ok.body.json
            }
            return (page.items, page.nextCursor)
        }
        try InventoryValue.print(items, columns: Self.columns, format: global.output)
    }
}
