import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing
@testable import NATS
import DataverketTestSupport

/// A scripted in-process "server": for each accepted connection, `script` decides what to answer to each client line.
final class FakeServerHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Mode: Sendable { case ignorePingsAfterHandshake, garbageAfterHandshake }

    let mode: Mode
    let connections: NIOLockedValueBox<Int>
    private var pending = ""
    private var pongs = 0

    init(mode: Mode, connections: NIOLockedValueBox<Int>) {
        self.mode = mode
        self.connections = connections
    }

    func channelActive(context: ChannelHandlerContext) {
        connections.withLockedValue { $0 += 1 }
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "INFO {\"server_id\":\"FAKE\",\"headers\":true,\"max_payload\":1024}\r\n")), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        pending += String(buffer: unwrapInboundIn(data))
        while let range = pending.range(of: "\r\n") {
            let line = String(pending[..<range.lowerBound])
            pending = String(pending[range.upperBound...])
            guard line == "PING" else { continue }
            if pongs == 0 {
                pongs += 1
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "PONG\r\n")), promise: nil)
                if mode == .garbageAfterHandshake {
                    context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "MSG a 1 99999999\r\n")), promise: nil)
                }
            }
            // ignorePingsAfterHandshake: never answer again
        }
    }
}

func startFakeServer(mode: FakeServerHandler.Mode) async throws -> (any Channel, NIOLockedValueBox<Int>) {
    let counter = NIOLockedValueBox(0)
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(FakeServerHandler(mode: mode, connections: counter))
            }
        }
        .bind(host: "127.0.0.1", port: 0).get()
    return (channel, counter)
}

@Suite struct FakeServerTests {
    @Test func staleConnectionDetectedAndReconnected() async throws {
        let (server, connections) = try await startFakeServer(mode: .ignorePingsAfterHandshake)
        defer { server.close(promise: nil) }
        let port = try #require(server.localAddress?.port)
        let client = try await TestEnv.connect("nats://127.0.0.1:\(port)") {
            $0.pingInterval = .milliseconds(100)
            $0.maxPingsOut = 2
            $0.reconnect = NATSReconnectPolicy(initialDelay: .milliseconds(20), maxDelay: .milliseconds(50), maxAttempts: 50)
        }
        var sawStale = false
        var sawReconnect = false
        let deadline = ContinuousClock.now + .seconds(5)
        var iterator = client.events.makeAsyncIterator()
        while ContinuousClock.now < deadline, !(sawStale && sawReconnect), let event = await iterator.next() {
            if event.kind == .disconnected, event.error?.code == .staleConnection { sawStale = true }
            if event.kind == .reconnected { sawReconnect = true }
        }
        #expect(sawStale)
        #expect(sawReconnect)
        #expect(connections.withLockedValue { $0 } >= 2)
        await client.close()
    }

    @Test func hostileServerGetsProtocolViolation() async throws {
        let (server, _) = try await startFakeServer(mode: .garbageAfterHandshake)
        defer { server.close(promise: nil) }
        let port = try #require(server.localAddress?.port)
        let client = try await TestEnv.connect("nats://127.0.0.1:\(port)") { $0.reconnect = .never }
        var iterator = client.events.makeAsyncIterator()
        var kinds: [NATSClientEvent] = []
        while let event = await iterator.next() { kinds.append(event) }  // ends when closed for good
        #expect(kinds.map(\.kind) == [.connected, .disconnected, .closed])
        #expect(kinds.dropFirst().first?.error?.code == .protocolViolation)
        #expect(await client.state == .closed)
    }

    @Test func givesUpAfterMaxReconnectAttempts() async throws {
        let server = try NATSServerProcess(port: TestEnv.restartPort + 3)
        defer { server.stop() }
        try await server.start()
        let client = try await TestEnv.connect("nats://127.0.0.1:\(server.port)") {
            $0.reconnect = NATSReconnectPolicy(initialDelay: .milliseconds(10), maxDelay: .milliseconds(20), maxAttempts: 3)
        }
        let sub = try await client.subscribe("x")
        try await client.flush()
        try await server.kill()
        // The subscription ends when the client gives up.
        let got = await collect(sub, count: 1, timeout: .seconds(5))
        #expect(got.isEmpty)
        #expect(await client.state == .closed)
        await #expect(throws: NATSError.self) { try await client.publish("x", payload: "y") }
    }
}
