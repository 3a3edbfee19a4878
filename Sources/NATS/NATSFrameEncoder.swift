import Foundation
import NIOCore

/// Encodes client protocol operations: CONNECT, PUB, HPUB, SUB, UNSUB, PING, PONG.
struct NATSFrameEncoder: MessageToByteEncoder {
    typealias OutboundIn = NATSClientOp

    func encode(data: NATSClientOp, out: inout ByteBuffer) throws {
        try Self.encode(data, into: &out)
    }

    static func encode(_ op: NATSClientOp, into out: inout ByteBuffer) throws {
        switch op {
        case .connect(let info):
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let json = try encoder.encode(info)
            out.writeString("CONNECT ")
            out.writeBytes(json)
            out.writeString("\r\n")
        case .pub(let subject, let reply, let headers, let payload):
            if let headers {
                var hdr = ByteBuffer()
                let hlen = headers.write(into: &hdr)
                out.writeString("HPUB \(subject) ")
                if let reply { out.writeString("\(reply) ") }
                out.writeString("\(hlen) \(hlen + payload.readableBytes)\r\n")
                out.writeImmutableBuffer(hdr)
            } else {
                out.writeString("PUB \(subject) ")
                if let reply { out.writeString("\(reply) ") }
                out.writeString("\(payload.readableBytes)\r\n")
            }
            out.writeImmutableBuffer(payload)
            out.writeString("\r\n")
        case .sub(let subject, let queue, let sid):
            if let queue {
                out.writeString("SUB \(subject) \(queue) \(sid)\r\n")
            } else {
                out.writeString("SUB \(subject) \(sid)\r\n")
            }
        case .unsub(let sid, let max):
            if let max {
                out.writeString("UNSUB \(sid) \(max)\r\n")
            } else {
                out.writeString("UNSUB \(sid)\r\n")
            }
        case .ping:
            out.writeString("PING\r\n")
        case .pong:
            out.writeString("PONG\r\n")
        }
    }

    /// Subjects: non-empty, no whitespace/control chars, no empty tokens.
    static func validateSubject(_ subject: String, allowWildcards: Bool) throws {
        guard !subject.isEmpty, subject.utf8.count <= 1024 else {
            throw NATSError(code: .invalidArgument, message: "invalid subject (empty or too long)")
        }
        for b in subject.utf8 where b <= 32 || b == 127 {
            throw NATSError(code: .invalidArgument, message: "subject '\(subject)' contains whitespace or control characters")
        }
        let tokens = subject.split(separator: ".", omittingEmptySubsequences: false)
        for (i, t) in tokens.enumerated() {
            if t.isEmpty { throw NATSError(code: .invalidArgument, message: "subject '\(subject)' has an empty token") }
            if !allowWildcards, t == "*" || t == ">" {
                throw NATSError(code: .invalidArgument, message: "wildcards are not allowed in publish subject '\(subject)'")
            }
            if t == ">" && i != tokens.count - 1 {
                throw NATSError(code: .invalidArgument, message: "'>' must be the last token in '\(subject)'")
            }
        }
    }

    static func validateQueue(_ queue: String) throws {
        guard !queue.isEmpty, queue.utf8.count <= 256, !queue.utf8.contains(where: { $0 <= 32 || $0 == 127 }) else {
            throw NATSError(code: .invalidArgument, message: "invalid queue group name '\(queue)'")
        }
    }
}
