import Foundation
import Logging
import Synchronization

/// Keeps every log line (`level message key=value …`, metadata sorted) for assertions.
public final class LogCapture: Sendable {
    private let storage = Mutex<[String]>([])

    public init() {}

    public var lines: [String] { storage.withLock { $0 } }

    public func append(_ line: String) { storage.withLock { $0.append(line) } }

    /// A logger at `trace` writing here.
    public func logger(_ label: String = "dataverket-test") -> Logger {
        var logger = Logger(label: label) { _ in LineLogHandler(logLevel: .trace) { [self] line in append(line) } }
        logger.logLevel = .trace
        return logger
    }
}

/// A log handler that renders each event as one line — `level message key=value …`, the logger's and the event's
/// metadata merged and sorted — and hands it to `write`.
public struct LineLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let write: @Sendable (String) -> Void

    public init(logLevel: Logger.Level = .info, write: @escaping @Sendable (String) -> Void) {
        self.logLevel = logLevel
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { _, new in new }
        let rendered = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        write("\(event.level) \(event.message) \(rendered)")
    }
}
