import Foundation
import NIOCore

/// Decodes server protocol operations: INFO, MSG, HMSG, PING, PONG, +OK, -ERR.
///
/// The decoder is strict and bounded: control lines longer than `maxControlLineLength` and payloads larger
/// than the negotiated `max_payload` (hard cap 64 MiB) are rejected with a `NATSError.protocolViolation`
/// *before* their bytes are buffered, so a hostile peer cannot make it buffer without bound.
struct NATSFrameDecoder: NIOSingleStepByteToMessageDecoder {
    typealias InboundOut = NATSServerOp

    static let defaultMaxControlLineLength = 4096
    static let defaultMaxPayload = 1 << 20
    static let hardPayloadCap = 64 << 20

    let maxControlLineLength: Int
    /// Upper bound for MSG/HMSG total sizes. Updated from INFO `max_payload`.
    private(set) var maxPayload: Int

    init(maxControlLineLength: Int = NATSFrameDecoder.defaultMaxControlLineLength,
         maxPayload: Int = NATSFrameDecoder.defaultMaxPayload) {
        self.maxControlLineLength = maxControlLineLength
        self.maxPayload = min(max(0, maxPayload), Self.hardPayloadCap)
    }

    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> NATSServerOp? {
        try decode(buffer: &buffer)
    }

    mutating func decode(buffer: inout ByteBuffer) throws -> NATSServerOp? {
        let readable = buffer.readableBytes
        guard readable > 0 else { return nil }
        // Search for LF within the allowed control-line window (+2 for CRLF).
        let window = min(readable, maxControlLineLength + 2)
        let start = buffer.readerIndex
        guard let lfOffset = buffer.readableBytesView.prefix(window).firstIndex(of: UInt8(ascii: "\n")).map({ $0 - start }) else {
            if readable >= maxControlLineLength + 2 {
                throw NATSError.protocolViolation("control line exceeds \(maxControlLineLength) bytes")
            }
            return nil
        }
        var lineLength = lfOffset
        if lineLength > 0, buffer.getInteger(at: start + lineLength - 1, as: UInt8.self) == UInt8(ascii: "\r") {
            lineLength -= 1
        }
        guard lineLength <= maxControlLineLength else {
            throw NATSError.protocolViolation("control line exceeds \(maxControlLineLength) bytes")
        }
        let lineEnd = lfOffset + 1  // bytes consumed by the control line
        let line = buffer.getSlice(at: start, length: lineLength)!

        // Op name: bytes up to first space/tab.
        let lineView = line.readableBytesView
        let opEnd = lineView.firstIndex(where: { $0 == 32 || $0 == 9 }) ?? lineView.endIndex
        let opLength = opEnd - lineView.startIndex
        guard opLength > 0, opLength <= 5 else {
            throw NATSError.protocolViolation("unknown operation")
        }
        var opBytes = [UInt8](lineView[lineView.startIndex..<opEnd])
        for i in opBytes.indices where opBytes[i] >= 97 && opBytes[i] <= 122 { opBytes[i] -= 32 }
        let argsView = lineView[opEnd...]

        switch opBytes {
        case Array("PING".utf8):
            guard argsView.allSatisfy({ $0 == 32 || $0 == 9 }) else { throw NATSError.protocolViolation("PING with arguments") }
            buffer.moveReaderIndex(forwardBy: lineEnd)
            return .ping
        case Array("PONG".utf8):
            guard argsView.allSatisfy({ $0 == 32 || $0 == 9 }) else { throw NATSError.protocolViolation("PONG with arguments") }
            buffer.moveReaderIndex(forwardBy: lineEnd)
            return .pong
        case Array("+OK".utf8):
            buffer.moveReaderIndex(forwardBy: lineEnd)
            return .ok
        case Array("-ERR".utf8):
            var text = String(decoding: argsView, as: UTF8.self).trimmingCharacters(in: .whitespaces)
            if text.count >= 2, text.hasPrefix("'"), text.hasSuffix("'") {
                text = String(text.dropFirst().dropLast())
            }
            buffer.moveReaderIndex(forwardBy: lineEnd)
            return .err(text)
        case Array("INFO".utf8):
            let json = Data(argsView)
            let info: NATSServerInfo
            do {
                info = try JSONDecoder().decode(NATSServerInfo.self, from: json)
            } catch {
                throw NATSError(code: .protocolViolation, message: "invalid INFO json", cause: error)
            }
            if let mp = info.maxPayload, mp > 0 {
                maxPayload = min(mp, Self.hardPayloadCap)
            }
            buffer.moveReaderIndex(forwardBy: lineEnd)
            return .info(info)
        case Array("MSG".utf8), Array("HMSG".utf8):
            let isHeader = opBytes.count == 4
            let args = Self.splitArgs(argsView)
            // MSG subject sid [reply] size ; HMSG subject sid [reply] hdrsize totalsize
            let minArgs = isHeader ? 4 : 3
            guard args.count == minArgs || args.count == minArgs + 1 else {
                throw NATSError.protocolViolation("wrong number of \(isHeader ? "HMSG" : "MSG") arguments")
            }
            guard let subject = String(validating: args[0], as: UTF8.self) else {
                throw NATSError.protocolViolation("subject is not valid UTF-8")
            }
            guard let sid = Self.parseInt(args[1]) else { throw NATSError.protocolViolation("invalid sid") }
            let reply: String?
            if args.count == minArgs + 1 {
                guard let r = String(validating: args[2], as: UTF8.self) else {
                    throw NATSError.protocolViolation("reply subject is not valid UTF-8")
                }
                reply = r
            } else {
                reply = nil
            }
            let headerSize: Int
            let totalSize: Int
            if isHeader {
                guard let h = Self.parseInt(args[args.count - 2]), let t = Self.parseInt(args[args.count - 1]) else {
                    throw NATSError.protocolViolation("invalid HMSG sizes")
                }
                guard h <= t else { throw NATSError.protocolViolation("HMSG header size exceeds total size") }
                guard h >= 10 else { throw NATSError.protocolViolation("HMSG header size too small") }
                headerSize = Int(h)
                totalSize = Int(t)
            } else {
                guard let t = Self.parseInt(args[args.count - 1]) else { throw NATSError.protocolViolation("invalid MSG size") }
                headerSize = 0
                totalSize = Int(t)
            }
            guard totalSize <= maxPayload else {
                throw NATSError(code: .protocolViolation, message: "message size \(totalSize) exceeds max payload \(maxPayload)")
            }
            // Need control line + payload + CRLF.
            guard readable >= lineEnd + totalSize + 2 else { return nil }
            let crlfAt = start + lineEnd + totalSize
            guard buffer.getInteger(at: crlfAt, as: UInt8.self) == 13,
                  buffer.getInteger(at: crlfAt + 1, as: UInt8.self) == 10 else {
                throw NATSError.protocolViolation("message payload not terminated by CRLF")
            }
            var headers: NATSHeaders?
            if isHeader {
                let hdrView = buffer.getSlice(at: start + lineEnd, length: headerSize)!.readableBytesView
                headers = try NATSHeaders.parse(hdrView)
            }
            // Copy the payload so a message held in a subscription buffer does not pin the (possibly large)
            // cumulation buffer it was decoded from.
            let payloadLength = totalSize - headerSize
            var payload = ByteBufferAllocator().buffer(capacity: payloadLength)
            payload.writeImmutableBuffer(buffer.getSlice(at: start + lineEnd + headerSize, length: payloadLength)!)
            buffer.moveReaderIndex(forwardBy: lineEnd + totalSize + 2)
            return .msg(NATSMessage(subject: subject, sid: sid, replyTo: reply, headers: headers, payload: payload))
        default:
            throw NATSError.protocolViolation("unknown operation '\(String(decoding: opBytes.prefix(8), as: UTF8.self))'")
        }
    }

    static func splitArgs(_ view: ByteBufferView.SubSequence) -> [ArraySlice<UInt8>] {
        let bytes = Array(view)[...]
        return bytes.split(whereSeparator: { $0 == 32 || $0 == 9 })
    }

    /// Strict unsigned decimal: digits only, at most 18 digits (no overflow).
    static func parseInt(_ bytes: ArraySlice<UInt8>) -> UInt64? {
        guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
        var v: UInt64 = 0
        for b in bytes {
            guard b >= 48 && b <= 57 else { return nil }
            v = v * 10 + UInt64(b - 48)
        }
        return v
    }
}
