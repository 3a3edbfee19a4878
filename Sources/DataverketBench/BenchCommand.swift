import ArgumentParser
import Foundation

/// `dv-bench`: the project's benchmarks, run by scripts/bench. Every figure is printed next to a baseline
/// measured in the same run, as a ratio, so results compare across machines.
public struct BenchCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dv-bench", abstract: "Dataverket benchmarks.", subcommands: [APIBench.self, FloorServer.self, BusBench.self, InventoryBench.self, MaskinBench.self, NettBench.self])
    public init() {}
}
