import DataverketStore
import Synchronization

/// Store time (microseconds) that stands still until a test moves it: for code that takes a `now` source, so a
/// lease, a poll interval or an expiry is judged by the test's timeline, never by how busy the machine is.
public final class ManualTime: Sendable {
    private let value: Mutex<Int64>

    public init(_ start: Int64 = StoreTime.now()) {
        value = Mutex(start)
    }

    public var now: Int64 { value.withLock { $0 } }

    /// A `now` source reading this time.
    public var source: @Sendable () -> Int64 { { self.now } }

    public func advance(_ duration: Duration) {
        let micro = duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
        value.withLock { $0 += micro }
    }
}
