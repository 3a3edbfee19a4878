import Foundation

/// Latencies of one measured loop.
struct Measurement {
    var name: String
    var count: Int
    var elapsed: Duration
    var latencies: [Duration]

    var perSecond: Double { Double(count) / seconds(elapsed) }
    func percentile(_ p: Double) -> Duration {
        let sorted = latencies.sorted()
        guard !sorted.isEmpty else { return .zero }
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
    }

    /// Runs `operation(i)` for i in 0..<count with `concurrency` workers; records each call's latency.
    static func run(_ name: String, count: Int, concurrency: Int, _ operation: @escaping @Sendable (Int) async throws -> Void) async throws -> Measurement {
        let clock = ContinuousClock()
        let start = clock.now
        let latencies = try await withThrowingTaskGroup(of: [Duration].self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var mine: [Duration] = []
                    var index = worker
                    while index < count {
                        let began = clock.now
                        try await operation(index)
                        mine.append(clock.now - began)
                        index += concurrency
                    }
                    return mine
                }
            }
            return try await group.reduce(into: [Duration]()) { $0 += $1 }
        }
        return Measurement(name: name, count: count, elapsed: clock.now - start, latencies: latencies)
    }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func milliseconds(_ duration: Duration) -> String {
    String(format: "%.2f", seconds(duration) * 1000)
}

/// Cells padded to column widths (0: the last, unpadded) and joined by a space; a cell wider than its column is
/// printed whole (the row shifts) rather than cut.
func tableRow(_ cells: [String], _ widths: [Int]) -> String {
    zip(cells, widths).map { cell, width in
        width == 0 ? cell : cell.padding(toLength: max(width, cell.count), withPad: " ", startingAt: 0)
    }.joined(separator: " ")
}
