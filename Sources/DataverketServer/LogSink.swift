import Foundation

/// Where log lines go: appended to a buffer, written to a file descriptor by one background thread that wakes when
/// the buffer stops being empty, lets lines gather for a few milliseconds and writes them all in one `write(2)`. Lines
/// keep their order. Nothing is dropped: when more than `maxPending` bytes wait (the descriptor is slower than the
/// logging), the caller writes them itself. `flush()` writes what waits now; standard error's sink flushes at exit too.
public final class LogSink: @unchecked Sendable {
    /// Standard error, flushed when the process exits normally.
    public static let standardError: LogSink = {
        let sink = LogSink(fileDescriptor: 2)
        atexit { LogSink.standardError.flush() }
        return sink
    }()

    private let fileDescriptor: Int32
    private let maxPending: Int
    /// How long the writer lets lines gather after it wakes: the most a line waits when nothing else flushes it.
    private let gatherMicroseconds: UInt32
    /// Guards `pending` and `started`; `wait()`ed on by the writer thread while `pending` is empty.
    private let condition = NSCondition()
    private var pending: [UInt8] = []
    private var started = false
    /// Held while a chunk is taken and written, so that chunks reach the descriptor in the order they were taken.
    private let writing = NSLock()

    public init(fileDescriptor: Int32, maxPending: Int = 1 << 20, gather: Duration = .milliseconds(5)) {
        self.fileDescriptor = fileDescriptor
        self.maxPending = maxPending
        self.gatherMicroseconds = UInt32(gather.components.seconds * 1_000_000 + gather.components.attoseconds / 1_000_000_000_000)
    }

    /// Appends one line (or several); with `flush`, writes everything pending before returning.
    public func write(_ bytes: [UInt8], flush: Bool = false) {
        condition.lock()
        if !started {
            started = true
            let thread = Thread { [self] in runWriter() }
            thread.name = "dataverket-log"
            thread.start()
        }
        let wasEmpty = pending.isEmpty
        pending.append(contentsOf: bytes)
        let backlog = pending.count
        if wasEmpty { condition.signal() }
        condition.unlock()
        if flush || backlog > maxPending { self.flush() }
    }

    /// Writes everything appended so far.
    public func flush() {
        writing.lock()
        defer { writing.unlock() }
        condition.lock()
        var chunk: [UInt8] = []
        swap(&chunk, &pending)
        condition.unlock()
        writeAll(chunk)
    }

    /// The writer thread: for the life of the process, waits until something is pending, lets a little more gather
    /// (`gather`: under load that is many lines, so one wake-up and one `write(2)` serve them all, and a logging request
    /// rarely has to wake this thread — it is signalled only when the buffer stops being empty), then writes it.
    private func runWriter() {
        while true {
            condition.lock()
            while pending.isEmpty { condition.wait() }
            condition.unlock()
            usleep(gatherMicroseconds)
            flush()
        }
    }

    private func writeAll(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            var retries = 0
            // Bounded: each round writes at least one byte, or retries an interrupted or full descriptor (at most
            // 1,000 times, a millisecond apart), or gives up on any other error.
            while offset < buffer.count {
                let written = Foundation.write(fileDescriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0, errno == EINTR || errno == EAGAIN, retries < 1_000 {
                    retries += 1
                    if errno == EAGAIN { usleep(1_000) }
                } else {
                    return
                }
            }
        }
    }
}
