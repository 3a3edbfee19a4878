import NIOCore
import Testing
@testable import NATS

/// Decodes all ops from `input`, feeding `chunk` bytes at a time through the single-step processor.
func decodeAll(_ input: String, chunk: Int = Int.max, decoder: NATSFrameDecoder = NATSFrameDecoder()) throws -> [NATSServerOp] {
    try decodeAll(Array(input.utf8), chunk: chunk, decoder: decoder)
}

func decodeAll(_ bytes: [UInt8], chunk: Int = Int.max, decoder: NATSFrameDecoder = NATSFrameDecoder()) throws -> [NATSServerOp] {
    let processor = NIOSingleStepByteToMessageProcessor(decoder)
    var ops: [NATSServerOp] = []
    var index = 0
    while index < bytes.count {
        let end = min(bytes.count, index + max(1, min(chunk, bytes.count)))
        try processor.process(buffer: ByteBuffer(bytes: bytes[index..<end])) { ops.append($0) }
        index = end
    }
    return ops
}

@Suite struct DecoderTests {
    static let stream = """
    INFO {"server_id":"S1","version":"2.9.10","headers":true,"max_payload":1048576,"proto":1}\r
    PING\r
    PONG\r
    +OK\r
    -ERR 'Authorization Violation'\r
    MSG foo.bar 9 5\r
    hello\r
    MSG foo.bar 10 reply.to 0\r
    \r
    HMSG h.sub 11 _INBOX.x 24 29\r
    NATS/1.0\r
    A: 1\r
    A: 2\r
    \r
    world\r
    HMSG noresp 12 16 16\r
    NATS/1.0 503\r
    \r
    \r
    msg a 1 3\r
    abc\r

    """

    func check(_ ops: [NATSServerOp]) {
        #expect(ops.count == 10)
        guard ops.count == 10 else { return }
        if case .info(let info) = ops[0] {
            #expect(info.serverID == "S1")
            #expect(info.maxPayload == 1_048_576)
            #expect(info.headers == true)
        } else { Issue.record("expected INFO") }
        #expect(ops[1] == .ping)
        #expect(ops[2] == .pong)
        #expect(ops[3] == .ok)
        #expect(ops[4] == .err("Authorization Violation"))
        #expect(ops[5] == .msg(NATSMessage(subject: "foo.bar", sid: 9, payload: ByteBuffer(string: "hello"))))
        #expect(ops[6] == .msg(NATSMessage(subject: "foo.bar", sid: 10, replyTo: "reply.to", payload: ByteBuffer())))
        if case .msg(let m) = ops[7] {
            #expect(m.subject == "h.sub")
            #expect(m.sid == 11)
            #expect(m.replyTo == "_INBOX.x")
            #expect(m.headers?.values(for: "A") == ["1", "2"])
            #expect(m.headers?.status == nil)
            #expect(m.payloadString == "world")
        } else { Issue.record("expected HMSG") }
        if case .msg(let m) = ops[8] {
            #expect(m.status == 503)
            #expect(m.payload.readableBytes == 0)
        } else { Issue.record("expected HMSG 503") }
        #expect(ops[9] == .msg(NATSMessage(subject: "a", sid: 1, payload: ByteBuffer(string: "abc"))))
    }

    @Test func decodesAllOpsInOneChunk() throws {
        check(try decodeAll(Self.stream))
    }

    @Test func decodesByteByByte() throws {
        check(try decodeAll(Self.stream, chunk: 1))
    }

    @Test func decodesAtEveryChunkSize() throws {
        for chunk in [2, 3, 5, 7, 11, 13, 64] {
            check(try decodeAll(Self.stream, chunk: chunk))
        }
    }

    @Test func payloadMayContainCRLF() throws {
        let ops = try decodeAll("MSG a 1 5\r\nx\r\ny\r\r\n", chunk: 1)
        #expect(ops == [.msg(NATSMessage(subject: "a", sid: 1, payload: ByteBuffer(string: "x\r\ny\r")))])
    }

    @Test func rejectsOverlongControlLine() {
        let line = "MSG " + String(repeating: "a", count: 5000)
        #expect(throws: NATSError.self) { try decodeAll(line) }
        #expect(throws: NATSError.self) { try decodeAll(line, chunk: 100) }
    }

    @Test func rejectsPayloadBeyondMaxBeforeBuffering() throws {
        // Default limit is 1 MiB; 2 MiB announced must throw immediately, without the payload.
        #expect(throws: NATSError.self) { try decodeAll("MSG a 1 2097152\r\n") }
        // INFO lowers the limit.
        #expect(throws: NATSError.self) { try decodeAll("INFO {\"max_payload\":10}\r\nMSG a 1 11\r\n") }
        // Hard cap even if the server claims more.
        #expect(throws: NATSError.self) { try decodeAll("INFO {\"max_payload\":999999999999}\r\nMSG a 1 67108865\r\n") }
        #expect(try decodeAll("INFO {\"max_payload\":10}\r\nMSG a 1 10\r\n0123456789\r\n").count == 2)
    }

    @Test func rejectsMalformedFrames() {
        let bad = [
            "FOO\r\n",
            "MSG a\r\n",
            "MSG a b 3\r\nabc\r\n",
            "MSG a 1 -3\r\n",
            "MSG a 1 3\r\nabcd\r\n",
            "MSG a 1 2 3 4\r\n",
            "HMSG a 1 20 10\r\n",
            "HMSG a 1 3 5\r\n",
            "HMSG a 1 12 12\r\nXATS/1.0\r\n\r\n\r\n",
            "INFO {not json\r\n",
            "PING x\r\n",
            "\r\n",
            "MSG a 1 99999999999999999999\r\n",
        ]
        for input in bad {
            #expect(throws: NATSError.self, "\(input.debugDescription)") { try decodeAll(input) }
        }
    }

    @Test func incompleteFrameWaitsWithoutConsuming() throws {
        var decoder = NATSFrameDecoder()
        var buffer = ByteBuffer(string: "MSG a 1 5\r\nhel")
        #expect(try decoder.decode(buffer: &buffer) == nil)
        #expect(buffer.readableBytes == 14)
        buffer.writeString("lo\r\n")
        #expect(try decoder.decode(buffer: &buffer) == .msg(NATSMessage(subject: "a", sid: 1, payload: ByteBuffer(string: "hello"))))
        #expect(buffer.readableBytes == 0)
    }

    @Test func fuzzNeverCrashesOrLoops() throws {
        var rng = SplitMix64(seed: 0xDA7A_5EED)
        let seeds = Self.stream.split(separator: "\n").map { Array($0.utf8) + [10] } + [Array(Self.stream.utf8)]
        let alphabet = Array("MSGHINFOPGK+-ER 0123456789\r\n.{}:\"'*>_abc".utf8)
        var decodedOps = 0
        var thrown = 0
        for iteration in 0..<4000 {
            var input: [UInt8]
            switch iteration % 4 {
            case 0:
                input = (0..<Int.random(in: 0...200, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            case 1:
                input = (0..<Int.random(in: 0...200, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
            default:
                input = seeds.randomElement(using: &rng)!
                for _ in 0..<Int.random(in: 1...6, using: &rng) where !input.isEmpty {
                    let i = Int.random(in: 0..<input.count, using: &rng)
                    switch Int.random(in: 0..<4, using: &rng) {
                    case 0: input[i] = UInt8.random(in: 0...255, using: &rng)
                    case 1: input.remove(at: i)
                    case 2: input.insert(alphabet.randomElement(using: &rng)!, at: i)
                    default: input = Array(input[..<i])
                    }
                }
            }
            // Direct decode loop: every successful decode must consume bytes.
            var decoder = NATSFrameDecoder()
            var buffer = ByteBuffer(bytes: input)
            var steps = 0
            while steps < 10_000 {
                steps += 1
                let before = buffer.readerIndex
                do {
                    guard try decoder.decode(buffer: &buffer) != nil else { break }
                    decodedOps += 1
                    #expect(buffer.readerIndex > before, "decoder produced a value without consuming input")
                } catch {
                    thrown += 1
                    break
                }
            }
            #expect(steps < 10_000)
            // Chunked through the processor as well.
            if iteration % 8 == 0 {
                _ = try? decodeAll(input, chunk: Int.random(in: 1...17, using: &rng))
            }
        }
        #expect(decodedOps > 0)
        #expect(thrown > 0)
    }
}
