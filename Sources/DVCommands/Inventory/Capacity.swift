import ArgumentParser
import DataverketClient

/// `dv capacity [--datacenter DC]`
struct Capacity: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Server capacity per datacenter: total, allocated and free.")
    @Option(help: "Only this datacenter.") var datacenter: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let items = try await global.api().call { try await $0.getInventoryCapacity(query: .init(datacenter: datacenter)).ok.body.json.items }
        var columns: [(header: String, path: String)] = [("DATACENTER", "datacenter")]
        for (header, key) in [("SERVERS", "servers"), ("CORES", "cpuCores"), ("RAM GiB", "memoryGiB"), ("GPUS", "gpus"), ("STORAGE GB", "storageGB")] {
            columns += [("\(header)", "total.\(key)"), ("FREE", "free.\(key)")]
        }
        try InventoryValue.print(items, columns: columns, format: global.output)
    }
}
