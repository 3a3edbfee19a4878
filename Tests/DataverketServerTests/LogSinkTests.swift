import DataverketTestSupport
@testable import DataverketServer
import Foundation
import Logging
import Testing

/// The access log is buffered off the request path: lines keep their order, none is lost, a flush writes what waits,
/// and what a line says is valid JSON whatever the message holds.
@Suite("Log sink and JSON log lines")
struct LogSinkTests {
    /// A pipe whose read end is drained into memory.
    final class Capture: @unchecked Sendable {
        let pipe = Pipe()
        let sink: LogSink
        init() { sink = LogSink(fileDescriptor: pipe.fileHandleForWriting.fileDescriptor, maxPending: 4096) }
        func text(after sink: LogSink) -> String {
            sink.flush()
            try? pipe.fileHandleForWriting.close()
            return String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        }
    }

    @Test("lines from many writers arrive whole, each writer's in its order, none lost (also past the backlog limit)")
    func orderAndCompleteness() async throws {
        let capture = Capture()
        let sink = capture.sink
        await withTaskGroup(of: Void.self) { group in
            for writer in 0..<8 {
                group.addTask {
                    for line in 0..<500 { sink.write(Array("w\(writer) \(line)\n".utf8)) }
                }
            }
        }
        let lines = capture.text(after: sink).split(separator: "\n")
        #expect(lines.count == 8 * 500)
        for writer in 0..<8 {
            let mine = lines.filter { $0.hasPrefix("w\(writer) ") }.map { Int($0.split(separator: " ")[1])! }
            #expect(mine == Array(0..<500), "writer \(writer)")
        }
    }

    @Test("a flushed line is written before write returns; an unflushed one is written by the sink's own thread")
    func flushAndBackground() throws {
        let capture = Capture()
        let sink = capture.sink
        let descriptor = capture.pipe.fileHandleForReading.fileDescriptor
        /// What the pipe holds within `timeout` milliseconds (poll: waits for the bytes, bounded; never a fixed sleep).
        func readAvailable(timeout: Int32) -> String {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, timeout) == 1 else { return "" }
            var bytes = [UInt8](repeating: 0, count: 64)
            let count = read(descriptor, &bytes, 64)
            return String(decoding: bytes.prefix(max(0, count)), as: UTF8.self)
        }
        sink.write(Array("first\n".utf8), flush: true)
        #expect(readAvailable(timeout: 0) == "first\n")
        sink.write(Array("second\n".utf8))
        #expect(readAvailable(timeout: 30_000) == "second\n")
    }

    @Test("JSON lines: fixed keys first, metadata sorted, every control character escaped, the timestamp RFC 3339 UTC")
    func jsonLines() throws {
        let capture = Capture()
        var handler = JSONLogHandler(label: "dv\"test", sink: capture.sink)
        handler[metadataKey: "zeta"] = "z"
        handler[metadataKey: "alpha"] = "tab\there \u{1} \\ é"
        var logger = Logger(label: "x", factory: { _ in handler })
        logger.logLevel = .info
        logger.info("line\nbreak \"quoted\"", metadata: ["middle": "m"])
        let text = capture.text(after: capture.sink)
        let line = try #require(text.split(separator: "\n").first)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        #expect(object["msg"] == "line\nbreak \"quoted\"")
        #expect(object["logger"] == "dv\"test")
        #expect(object["alpha"] == "tab\there \u{1} \\ é")
        #expect(object["level"] == "info")
        #expect(line.hasPrefix(#"{"ts":""#))
        let keys = ["\"alpha\"", "\"middle\"", "\"zeta\""].map { line.range(of: $0)!.lowerBound }
        #expect(keys == keys.sorted())
        let ts = try #require(object["ts"])
        #expect(ts.count == 24 && ts.hasSuffix("Z"), "\(ts)")
        #expect(ts.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/) != nil, "\(ts)")
    }

    @Test("the timestamp of a known instant")
    func timestamp() {
        var out: [UInt8] = []
        JSONLogHandler.appendTimestamp(&out, now: timespec(tv_sec: 1_796_693_405, tv_nsec: 7_000_000))
        #expect(String(decoding: out, as: UTF8.self) == "2026-12-08T01:30:05.007Z")
    }
}
