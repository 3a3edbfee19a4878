import Foundation
import NIOCore
import NIOEmbedded
import Logging
import Testing
@testable import NATS

@Suite struct HeaderTests {
    @Test func parsesStatusLines() throws {
        let cases: [(String, Int?, String?)] = [
            ("NATS/1.0\r\n\r\n", nil, nil),
            ("NATS/1.0 503\r\n\r\n", 503, nil),
            ("NATS/1.0 408 Request Timeout\r\n\r\n", 408, "Request Timeout"),
            ("NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 0\r\n\r\n", 100, "Idle Heartbeat"),
            ("NATS/1.0 404 No Messages\r\n\r\n", 404, "No Messages"),
            ("NATS/1.0 409 Exceeded MaxWaiting\r\n\r\n", 409, "Exceeded MaxWaiting"),
        ]
        for (text, status, desc) in cases {
            let h = try NATSHeaders.parse(text)
            #expect(h.status == status)
            #expect(h.statusDescription == desc)
        }
        #expect(try NATSHeaders.parse(cases[3].0)["Nats-Last-Consumer"] == "0")
    }

    @Test func multiValuedAndRoundTrip() throws {
        var h = NATSHeaders()
        h.append("X-Tag", "a")
        h.append("X-Tag", "b")
        h["Nats-Msg-Id"] = "id-1"
        h["Nats-Msg-Id"] = "id-2"
        #expect(h.values(for: "X-Tag") == ["a", "b"])
        #expect(h["Nats-Msg-Id"] == "id-2")
        var buf = ByteBuffer()
        let n = h.write(into: &buf)
        #expect(n == buf.readableBytes)
        #expect(buf.string == "NATS/1.0\r\nX-Tag: a\r\nX-Tag: b\r\nNats-Msg-Id: id-2\r\n\r\n")
        #expect(try NATSHeaders.parse(buf.readableBytesView) == h)
        var s = NATSHeaders()
        s.status = 408
        s.statusDescription = "Request Timeout"
        var sb = ByteBuffer()
        s.write(into: &sb)
        #expect(sb.string == "NATS/1.0 408 Request Timeout\r\n\r\n")
    }

    @Test func rejectsBadHeaders() {
        #expect(throws: NATSError.self) { try NATSHeaders.parse("HTTP/1.1\r\n\r\n") }
        #expect(throws: NATSError.self) { try NATSHeaders.parse("NATS/1.0 50x\r\n\r\n") }
        #expect(throws: NATSError.self) { try NATSHeaders.parse("NATS/1.0\r\nno-colon\r\n\r\n") }
        var h = NATSHeaders()
        h["Bad Name"] = "x"
        #expect(throws: NATSError.self) { try h.validate() }
        var v = NATSHeaders()
        v["A"] = "x\r\nB: y"
        #expect(throws: NATSError.self) { try v.validate() }
    }
}

@Suite struct EncoderTests {
    func encode(_ op: NATSClientOp) throws -> String {
        var buf = ByteBuffer()
        try NATSFrameEncoder.encode(op, into: &buf)
        return buf.string
    }

    @Test func encodesClientOps() throws {
        #expect(try encode(.ping) == "PING\r\n")
        #expect(try encode(.pong) == "PONG\r\n")
        #expect(try encode(.sub(subject: "a.*", queue: nil, sid: 7)) == "SUB a.* 7\r\n")
        #expect(try encode(.sub(subject: "a.>", queue: "q", sid: 8)) == "SUB a.> q 8\r\n")
        #expect(try encode(.unsub(sid: 7, max: nil)) == "UNSUB 7\r\n")
        #expect(try encode(.unsub(sid: 7, max: 5)) == "UNSUB 7 5\r\n")
        #expect(try encode(.pub(subject: "s", reply: nil, headers: nil, payload: ByteBuffer(string: "hi"))) == "PUB s 2\r\nhi\r\n")
        #expect(try encode(.pub(subject: "s", reply: "r", headers: nil, payload: ByteBuffer())) == "PUB s r 0\r\n\r\n")
        var h = NATSHeaders()
        h["K"] = "V"
        // header block "NATS/1.0\r\nK: V\r\n\r\n" = 18 bytes
        #expect(try encode(.pub(subject: "s", reply: "r", headers: h, payload: ByteBuffer(string: "abc"))) == "HPUB s r 18 21\r\nNATS/1.0\r\nK: V\r\n\r\nabc\r\n")
        var c = ConnectInfo()
        c.user = "u"
        c.pass = "p"
        c.echo = false
        let connect = try encode(.connect(c))
        #expect(connect.hasPrefix("CONNECT {"))
        #expect(connect.hasSuffix("}\r\n"))
        let json = try JSONSerialization.jsonObject(with: Data(connect.utf8.dropFirst(8).dropLast(2))) as? [String: Any]
        #expect(json?["user"] as? String == "u")
        #expect(json?["echo"] as? Bool == false)
        #expect(json?["headers"] as? Bool == true)
        #expect(json?["no_responders"] as? Bool == true)
        #expect(json?["verbose"] as? Bool == false)
        #expect(json?["auth_token"] == nil)
    }

    @Test func encodedFramesDecodeBack() throws {
        var h = NATSHeaders()
        h.append("A", "1")
        var buf = ByteBuffer()
        try NATSFrameEncoder.encode(.pub(subject: "x.y", reply: "r.s", headers: h, payload: ByteBuffer(string: "data")), into: &buf)
        // A PUB/HPUB becomes MSG/HMSG with a sid on the way back; emulate by rewriting the op.
        let text = buf.string.replacingOccurrences(of: "HPUB x.y r.s", with: "HMSG x.y 3 r.s")
        let ops = try decodeAll(text, chunk: 1)
        guard case .msg(let m) = ops.first else { Issue.record("no message"); return }
        #expect(m.headers?["A"] == "1")
        #expect(m.payloadString == "data")
    }

    @Test func validatesSubjects() {
        #expect(throws: NATSError.self) { try NATSFrameEncoder.validateSubject("", allowWildcards: true) }
        #expect(throws: NATSError.self) { try NATSFrameEncoder.validateSubject("a b", allowWildcards: true) }
        #expect(throws: NATSError.self) { try NATSFrameEncoder.validateSubject("a..b", allowWildcards: true) }
        #expect(throws: NATSError.self) { try NATSFrameEncoder.validateSubject("a.*", allowWildcards: false) }
        #expect(throws: NATSError.self) { try NATSFrameEncoder.validateSubject("a.>.b", allowWildcards: true) }
        #expect(throws: NATSError.self) { try NATSFrameEncoder.validateSubject("a\r\nPUB", allowWildcards: false) }
        #expect(throws: Never.self) { try NATSFrameEncoder.validateSubject("$JS.API.STREAM.CREATE.x", allowWildcards: false) }
        #expect(throws: Never.self) { try NATSFrameEncoder.validateSubject("a.*.>", allowWildcards: true) }
    }
}

@Suite struct StateMachineTests {
    static let config = ConnectionStateMachine.Configuration(connectInfo: ConnectInfo(), requireTLS: false, maxPingsOut: 2)
    static let info: NATSServerInfo = {
        var i = NATSServerInfo()
        i.serverID = "S"
        i.headers = true
        return i
    }()

    func connected() -> ConnectionStateMachine {
        var sm = ConnectionStateMachine(configuration: Self.config)
        _ = sm.channelActive()
        _ = sm.received(.info(Self.info))
        _ = sm.received(.pong)
        return sm
    }

    @Test func handshake() {
        var sm = ConnectionStateMachine(configuration: Self.config)
        #expect(sm.channelActive() == .none)
        #expect(sm.state == .waitingForInfo)
        #expect(sm.received(.ping) == .sendPong)
        #expect(sm.received(.info(Self.info)) == .sendConnect(ConnectInfo(), upgradeToTLS: false))
        #expect(sm.received(.ok) == .none)
        #expect(sm.received(.pong) == .handshakeComplete(Self.info))
        #expect(sm.isConnected)
    }

    @Test func tlsRequiredByServerUpgrades() {
        var sm = ConnectionStateMachine(configuration: Self.config)
        _ = sm.channelActive()
        var info = Self.info
        info.tlsRequired = true
        var expected = ConnectInfo()
        expected.tlsRequired = true
        #expect(sm.received(.info(info)) == .sendConnect(expected, upgradeToTLS: true))
    }

    @Test func serverWithoutHeadersDisablesThem() {
        var sm = ConnectionStateMachine(configuration: Self.config)
        _ = sm.channelActive()
        var info = Self.info
        info.headers = false
        guard case .sendConnect(let c, _) = sm.received(.info(info)) else { Issue.record("no connect"); return }
        #expect(c.headers == false)
        #expect(c.noResponders == false)
    }

    @Test func authErrorDuringHandshake() {
        var sm = ConnectionStateMachine(configuration: Self.config)
        _ = sm.channelActive()
        _ = sm.received(.info(Self.info))
        guard case .closeConnection(let e) = sm.received(.err("Authorization Violation")) else { Issue.record("expected close"); return }
        #expect(e.code == .authorizationViolation)
        #expect(sm.received(.pong) == .none)
        guard case .connectionClosed(let closed) = sm.channelInactive() else { Issue.record("expected closed"); return }
        #expect(closed?.code == .authorizationViolation)
        #expect(sm.channelInactive() == .none)
    }

    @Test func protocolViolations() {
        var sm = ConnectionStateMachine(configuration: Self.config)
        _ = sm.channelActive()
        guard case .closeConnection(let e) = sm.received(.pong) else { Issue.record("expected close"); return }
        #expect(e.code == .protocolViolation)
        var sm2 = ConnectionStateMachine(configuration: Self.config)
        _ = sm2.channelActive()
        _ = sm2.received(.info(Self.info))
        guard case .closeConnection = sm2.received(.msg(NATSMessage(subject: "a", sid: 1, payload: ByteBuffer()))) else { Issue.record("expected close"); return }
    }

    @Test func connectedOps() {
        var sm = connected()
        let msg = NATSMessage(subject: "a", sid: 1, payload: ByteBuffer(string: "x"))
        #expect(sm.received(.msg(msg)) == .deliver(msg))
        #expect(sm.received(.ping) == .sendPong)
        #expect(sm.received(.pong) == .pongReceived)
        #expect(sm.received(.ok) == .none)
        var info2 = Self.info
        info2.serverName = "n2"
        #expect(sm.received(.info(info2)) == .serverInfoUpdated(info2))
        guard case .reportServerError(let pe) = sm.received(.err("Permissions Violation for Publish to \"x\"")) else { Issue.record("expected report"); return }
        #expect(pe.code == .serverError)
        #expect(sm.isConnected)
        guard case .closeConnection(let se) = sm.received(.err("Stale Connection")) else { Issue.record("expected close"); return }
        #expect(se.code == .staleConnection)
    }

    @Test func pingTimerDetectsStaleConnection() {
        var sm = connected()
        #expect(sm.pingTimerFired() == .sendPing)
        #expect(sm.pingTimerFired() == .sendPing)
        guard case .closeConnection(let e) = sm.pingTimerFired() else { Issue.record("expected stale close"); return }
        #expect(e.code == .staleConnection)
        var sm2 = connected()
        #expect(sm2.pingTimerFired() == .sendPing)
        #expect(sm2.received(.pong) == .pongReceived)
        #expect(sm2.pingsOut == 0)
        #expect(sm2.pingTimerFired() == .sendPing)
        // No pings before connected.
        var sm3 = ConnectionStateMachine(configuration: Self.config)
        #expect(sm3.pingTimerFired() == .none)
    }

    @Test func closeRequestedAndPeerClose() {
        var sm = connected()
        guard case .closeConnection(let e) = sm.closeRequested() else { Issue.record("expected close"); return }
        #expect(e.code == .closed)
        #expect(sm.closeRequested() == .none)
        #expect(sm.received(.ping) == .none)
        #expect(sm.channelInactive() == .connectionClosed(nil))

        var sm2 = connected()
        guard case .connectionClosed(let lost) = sm2.channelInactive() else { Issue.record("expected lost"); return }
        #expect(lost?.code == .connectionClosed)

        var sm3 = connected()
        guard case .closeConnection = sm3.errorCaught(NATSError.protocolViolation("x")) else { Issue.record("expected close"); return }
        guard case .connectionClosed(let pv) = sm3.channelInactive() else { Issue.record("expected closed"); return }
        #expect(pv?.code == .protocolViolation)
    }
}

@Suite struct HandlerTests {
    struct Harness {
        let channel: EmbeddedChannel
        let handshake: EventLoopPromise<NATSServerInfo>
        let closed: EventLoopPromise<NATSError?>
    }

    func makeHarness(pingInterval: TimeAmount = .zero, coalescesFlushes: Bool = false) throws -> Harness {
        let channel = EmbeddedChannel()
        let handshake = channel.eventLoop.makePromise(of: NATSServerInfo.self)
        let closed = channel.eventLoop.makePromise(of: NATSError?.self)
        var connect = ConnectInfo()
        connect.name = "t"
        let config = NATSChannelHandler.Configuration(
            stateMachine: .init(connectInfo: connect, requireTLS: false, maxPingsOut: 2),
            sslContext: nil, serverHostname: nil, pingInterval: pingInterval, coalescesFlushes: coalescesFlushes)
        let handler = NATSChannelHandler(configuration: config, handshakePromise: handshake, closedPromise: closed, logger: TestEnv.logger)
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 4222)).wait()
        return Harness(channel: channel, handshake: handshake, closed: closed)
    }

    func readOutbound(_ channel: EmbeddedChannel) throws -> String {
        var out = ""
        while let buf = try channel.readOutbound(as: ByteBuffer.self) { out += buf.string }
        return out
    }

    func handshake(_ h: Harness) throws {
        try h.channel.writeInbound(ByteBuffer(string: "INFO {\"server_id\":\"S\",\"headers\":true,\"max_payload\":1024}\r\n"))
        let out = try readOutbound(h.channel)
        #expect(out.hasPrefix("CONNECT {"))
        #expect(out.hasSuffix("}\r\nPING\r\n"))
        try h.channel.writeInbound(ByteBuffer(string: "PONG\r\n"))
        let info = try h.handshake.futureResult.wait()
        #expect(info.serverID == "S")
    }

    @Test func handshakeSubscribeDeliverAndPing() async throws {
        let h = try makeHarness()
        try handshake(h)
        let (stream, cont) = AsyncStream.makeStream(of: NATSMessage.self, bufferingPolicy: .bufferingOldest(2))
        let sink = SubscriptionSink(sid: 1, continuation: cont)
        try h.channel.writeOutbound(NATSHandlerCommand.subscribe(sink: sink, subject: "foo", queue: "q", max: nil))
        #expect(try readOutbound(h.channel) == "SUB foo q 1\r\n")
        try h.channel.writeOutbound(NATSHandlerCommand.publish(subject: "foo", reply: nil, headers: nil, payload: ByteBuffer(string: "x")))
        #expect(try readOutbound(h.channel) == "PUB foo 1\r\nx\r\n")
        // Deliver split across writes, plus a message for an unknown sid that is ignored.
        try h.channel.writeInbound(ByteBuffer(string: "MSG foo 1 5\r\nhel"))
        try h.channel.writeInbound(ByteBuffer(string: "lo\r\nMSG foo 99 1\r\nz\r\nMSG foo 1 1\r\n2\r\nMSG foo 1 1\r\n3\r\n"))
        // Buffer of 2 -> third message dropped (slow consumer).
        #expect(sink.delivered == 3)
        #expect(sink.dropped == 1)
        cont.finish()
        var got: [String] = []
        for await m in stream { got.append(m.payloadString) }
        #expect(got == ["hello", "2"])
        // Server PING -> PONG.
        try h.channel.writeInbound(ByteBuffer(string: "PING\r\n"))
        #expect(try readOutbound(h.channel) == "PONG\r\n")
        // Flush: client PING completed by PONG.
        let ping = h.channel.eventLoop.makePromise(of: Void.self)
        try h.channel.writeOutbound(NATSHandlerCommand.ping(ping))
        #expect(try readOutbound(h.channel) == "PING\r\n")
        try h.channel.writeInbound(ByteBuffer(string: "PONG\r\n"))
        try await ping.futureResult.get()
        // Unsubscribe.
        try h.channel.writeOutbound(NATSHandlerCommand.unsubscribe(sid: 1, max: nil))
        #expect(try readOutbound(h.channel) == "UNSUB 1\r\n")
        _ = try h.channel.finish(acceptAlreadyClosed: true)
    }

    @Test func flushesOfOneTickBecomeOne() throws {
        let h = try makeHarness(coalescesFlushes: true)
        try handshake(h)
        let loop = try #require(h.channel.eventLoop as? EmbeddedEventLoop)
        // Three publishes, each with its own flush, as the client sends them: nothing leaves until the loop turns,
        // then all three leave together, in order. (Not `writeOutbound`: it waits for each write to complete.)
        let publish = { (payload: String) in
            h.channel.writeAndFlush(NATSHandlerCommand.publish(subject: "s", reply: nil, headers: nil, payload: ByteBuffer(string: payload)))
        }
        let written = ["1", "2", "3"].map(publish)
        #expect(try readOutbound(h.channel) == "")
        loop.run()
        #expect(try readOutbound(h.channel) == "PUB s 1\r\n1\r\nPUB s 1\r\n2\r\nPUB s 1\r\n3\r\n")
        for write in written { try write.wait() }
        // A write after that flush queues the next one: nothing is left unflushed.
        let fourth = publish("4")
        loop.run()
        #expect(try readOutbound(h.channel) == "PUB s 1\r\n4\r\n")
        try fourth.wait()
        _ = try h.channel.finish(acceptAlreadyClosed: true)
    }

    @Test func autoUnsubscribeMax() throws {
        let h = try makeHarness()
        try handshake(h)
        let (stream, cont) = AsyncStream.makeStream(of: NATSMessage.self, bufferingPolicy: .bufferingOldest(10))
        defer { withExtendedLifetime(stream) {} }
        let sink = SubscriptionSink(sid: 4, continuation: cont)
        _ = sink.setMax(2)
        try h.channel.writeOutbound(NATSHandlerCommand.subscribe(sink: sink, subject: "a", queue: nil, max: 2))
        #expect(try readOutbound(h.channel) == "SUB a 4\r\nUNSUB 4 2\r\n")
        try h.channel.writeInbound(ByteBuffer(string: "MSG a 4 1\r\n1\r\nMSG a 4 1\r\n2\r\nMSG a 4 1\r\n3\r\n"))
        #expect(sink.delivered == 2)
        #expect(sink.isFinished)
        _ = try h.channel.finish(acceptAlreadyClosed: true)
    }

    @Test func authFailureFailsHandshakeAndCloses() throws {
        let h = try makeHarness()
        try h.channel.writeInbound(ByteBuffer(string: "INFO {\"server_id\":\"S\",\"auth_required\":true}\r\n"))
        _ = try readOutbound(h.channel)
        try h.channel.writeInbound(ByteBuffer(string: "-ERR 'Authorization Violation'\r\n"))
        #expect(throws: NATSError.self) { try h.handshake.futureResult.wait() }
        #expect(!h.channel.isActive)
        let closedError = try h.closed.futureResult.wait()
        #expect(closedError?.code == .authorizationViolation)
    }

    @Test func garbageClosesWithProtocolViolation() throws {
        let h = try makeHarness()
        try handshake(h)
        try h.channel.writeInbound(ByteBuffer(string: "BOGUS\r\n"))
        #expect(!h.channel.isActive)
        #expect(try h.closed.futureResult.wait()?.code == .protocolViolation)
    }

    @Test func oversizedMessageFromInfoLimitCloses() throws {
        let h = try makeHarness()
        try handshake(h)  // INFO max_payload 1024
        try h.channel.writeInbound(ByteBuffer(string: "MSG a 1 2048\r\n"))
        #expect(!h.channel.isActive)
        #expect(try h.closed.futureResult.wait()?.code == .protocolViolation)
    }

    @Test func pingTimerSendsPingsAndDetectsStale() throws {
        let h = try makeHarness(pingInterval: .seconds(1))
        try handshake(h)
        let loop = h.channel.embeddedEventLoop
        loop.advanceTime(by: .seconds(1))
        #expect(try readOutbound(h.channel) == "PING\r\n")
        try h.channel.writeInbound(ByteBuffer(string: "PONG\r\n"))
        loop.advanceTime(by: .seconds(1))
        loop.advanceTime(by: .seconds(1))
        #expect(try readOutbound(h.channel) == "PING\r\nPING\r\n")
        loop.advanceTime(by: .seconds(1))
        #expect(!h.channel.isActive)
        #expect(try h.closed.futureResult.wait()?.code == .staleConnection)
    }
}

@Suite struct MiscUnitTests {
    @Test func metadataV1AndV2() {
        let v1 = JetStreamMetadata(replySubject: "$JS.ACK.ORDERS.dur.2.15.7.1700000000000000000.3")
        #expect(v1?.stream == "ORDERS")
        #expect(v1?.consumer == "dur")
        #expect(v1?.numDelivered == 2)
        #expect(v1?.streamSequence == 15)
        #expect(v1?.consumerSequence == 7)
        #expect(v1?.timestamp == 1_700_000_000_000_000_000)
        #expect(v1?.numPending == 3)
        #expect(v1?.domain == nil)
        let v2 = JetStreamMetadata(replySubject: "$JS.ACK.hub.ACCHASH.S.C.1.2.3.4.5.rand")
        #expect(v2?.domain == "hub")
        #expect(v2?.accountHash == "ACCHASH")
        #expect(v2?.stream == "S")
        #expect(v2?.numPending == 5)
        let v2b = JetStreamMetadata(replySubject: "$JS.ACK._.H.S.C.1.2.3.4.5")
        #expect(v2b?.domain == nil)
        #expect(JetStreamMetadata(replySubject: "$JS.ACK.S.C.x.2.3.4.5") == nil)
        #expect(JetStreamMetadata(replySubject: "_INBOX.abc") == nil)
        #expect(JetStreamMetadata(replySubject: "$JS.ACK.S.C.1.2.3.4") == nil)
    }

    @Test func reconnectBackoff() {
        let p = NATSReconnectPolicy(initialDelay: .milliseconds(100), maxDelay: .seconds(2), multiplier: 2, jitter: 0.2)
        #expect(p.delay(forAttempt: 0, random: 0.5) == .milliseconds(100))
        #expect(p.delay(forAttempt: 3, random: 0.5) == .milliseconds(800))
        #expect(p.delay(forAttempt: 50, random: 0.5) == .seconds(2))
        #expect(p.delay(forAttempt: 50, random: 0.0) == .milliseconds(1600))
        #expect(p.delay(forAttempt: 1000, random: 0.999) <= .milliseconds(2400))
    }

    @Test func serverURLs() throws {
        let a = try NATSServerAddress(parsing: "nats://u:p@host.example:4333")
        #expect(a == NATSServerAddress(host: "host.example", port: 4333, tls: false, user: "u", password: "p"))
        #expect(try NATSServerAddress(parsing: "tls://h") == NATSServerAddress(host: "h", port: 4222, tls: true))
        #expect(try NATSServerAddress(parsing: "127.0.0.1:1") == NATSServerAddress(host: "127.0.0.1", port: 1))
        #expect(try NATSServerAddress(parsing: "nats://[::1]:5") == NATSServerAddress(host: "::1", port: 5))
        #expect(throws: NATSError.self) { try NATSServerAddress(parsing: "http://h") }
        #expect(throws: NATSError.self) { try NATSServerAddress(parsing: "nats://h:0") }
    }

    @Test func jetStreamConfigJSON() throws {
        let cfg = StreamConfig(name: "S", subjects: ["a.>"], retention: .workQueue, storage: .memory, maxAge: .seconds(60), duplicateWindow: .seconds(2))
        let data = try JSONEncoder().encode(cfg)
        let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        #expect(obj?["max_age"] as? Int64 == 60_000_000_000)
        #expect(obj?["duplicate_window"] as? Int64 == 2_000_000_000)
        #expect(obj?["retention"] as? String == "workqueue")
        #expect(try JSONDecoder().decode(StreamConfig.self, from: data) == cfg)
        let err = NATSMessage(subject: "x", sid: 1, payload: ByteBuffer(string: #"{"type":"io.nats.jetstream.api.v1.stream_info_response","error":{"code":404,"err_code":10059,"description":"stream not found"}}"#))
        do {
            _ = try JetStream.decodeResponse(StreamInfo.self, from: err)
            Issue.record("expected error")
        } catch let e as JetStreamError {
            #expect(e.errCode == JetStreamError.streamNotFound)
            #expect(e.code == 404)
        } catch {
            Issue.record("wrong error \(error)")
        }
    }
}
