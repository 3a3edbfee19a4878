import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Testing
@testable import NATS

// Tests of the client's decisions (`ClientStateMachine`) without sockets: a mock clock (`StateMachineDriver.now`)
// only moves when a test advances it, and fires the timers that the machine's own actions armed, the way
// `NATSClient` runs `.scheduleTimer`/`.cancelTimer`. At the end, two tests check that the actor runs those timers on
// the clock it is given (a manual clock against the in-process fake server).

private typealias Action = ClientStateMachine.Action

private let a = NATSServerAddress(host: "a", port: 4222)
private let b = NATSServerAddress(host: "b", port: 4222)
private let c = NATSServerAddress(host: "c", port: 4222)

private func refused(_ n: Int = 0) -> NATSError {
    NATSError(code: .connectionFailed, message: "refused #\(n)")
}

private func reconnectPolicy(initial: Duration = .milliseconds(100), max: Duration = .seconds(1), jitter: Double = 0.2, maxAttempts: Int? = nil) -> NATSReconnectPolicy {
    NATSReconnectPolicy(initialDelay: initial, maxDelay: max, multiplier: 2, jitter: jitter, maxAttempts: maxAttempts)
}

private func message(_ subject: String, payload: String = "", status: Int? = nil) -> NATSMessage {
    var headers: NATSHeaders?
    if let status {
        var h = NATSHeaders()
        h.status = status
        headers = h
    }
    return NATSMessage(subject: subject, sid: 1, headers: headers, payload: ByteBuffer(string: payload))
}

/// Drives a `ClientStateMachine` like `NATSClient` does, on a mock clock.
private struct StateMachineDriver {
    var machine: ClientStateMachine
    /// The mock clock: time since the client was created.
    private(set) var now: Duration = .zero
    /// Timers armed by the machine's actions and not cancelled or fired yet, with their deadlines.
    private(set) var timers: [ClientStateMachine.TimerID: Duration] = [:]
    /// The jitter sample handed to the machine; 0.5 means "no jitter".
    var jitter = 0.5

    init(servers: [NATSServerAddress] = [a, b, c], configuration: ReconnectStateMachine.Configuration = .init(reconnect: reconnectPolicy())) {
        machine = ClientStateMachine(servers: servers, configuration: configuration)
    }

    /// Applies the timer actions, as `runStateMachineActions` does, and returns `actions`.
    @discardableResult
    mutating func run(_ actions: [Action]) -> [Action] {
        for action in actions {
            switch action {
            case .scheduleTimer(let id, let deadline): timers[id] = deadline
            case .cancelTimer(let id): timers[id] = nil
            default: break
            }
        }
        return actions
    }

    /// Moves the clock by `duration`; each timer due fires at its deadline, earliest first.
    mutating func advance(by duration: Duration) -> [Action] {
        let target = now + duration
        var actions: [Action] = []
        while let due = timers.filter({ $0.value <= target }).min(by: { $0.value < $1.value }) {
            timers[due.key] = nil
            now = due.value
            actions += run(machine.timerFired(due.key, now: due.value))
        }
        now = target
        return actions
    }

    mutating func start() -> [Action] { run(machine.start()) }
    mutating func connected(_ info: NATSServerInfo = NATSServerInfo()) -> [Action] { run(machine.connected(info: info)) }
    mutating func connectFailed(_ error: any Error = refused()) -> [Action] { run(machine.connectFailed(error, now: now, jitter: jitter)) }
    mutating func connectionLost(_ error: NATSError? = NATSError(code: .staleConnection, message: "stale")) -> [Action] {
        run(machine.connectionLost(error, now: now, jitter: jitter))
    }
    mutating func close() -> [Action] { run(machine.closeRequested()) }
    mutating func serverInfoUpdated(_ info: NATSServerInfo) -> [Action] { run(machine.serverInfoUpdated(info)) }

    /// `request()`: reserve, publish, then wait with `timeout`.
    mutating func request(_ token: String, subject: String = "svc", timeout: Duration = .seconds(5), cancelled: Bool = false) -> [Action] {
        machine.requestReserved(token: token)
        return run(machine.requestStarted(token: token, subject: subject, timeout: timeout, now: now, cancelled: cancelled))
    }

    mutating func reply(_ token: String, _ message: NATSMessage) -> [Action] { run(machine.responseArrived(token: token, message)) }

    /// Connects to the first server.
    mutating func connect(_ info: NATSServerInfo = NATSServerInfo()) {
        _ = start()
        _ = connected(info)
    }

    var state: NATSClient.State { machine.state }
}

/// The servers that `.connect(to:)` actions ask for, as host names.
private func connectTargets(_ actions: [Action]) -> [String] {
    actions.compactMap { if case .connect(let server) = $0 { server.host } else { nil } }
}

private func closeError(_ actions: [Action]) -> NATSError? {
    for case .closeClient(let error, _) in actions { return error }
    return nil
}

@Suite struct ClientStateMachineConnectTests {
    @Test func initialConnectTriesEachConfiguredServerOnceThenFails() throws {
        var d = StateMachineDriver()
        #expect(d.start() == [.connect(to: a)])
        #expect(d.state == .connecting)
        #expect(d.connectFailed(refused(1)) == [.connect(to: b)])
        #expect(d.connectFailed(refused(2)) == [.connect(to: c)])
        let actions = d.connectFailed(refused(3))
        #expect(actions.count == 1)
        guard case .failStart(let error)? = actions.first else {
            Issue.record("expected failStart, got \(actions)")
            return
        }
        #expect(error.code == .connectionFailed)
        #expect(error.message.contains("a:4222: NATSError(connectionFailed): refused #1"))
        #expect(error.message.contains("c:4222: NATSError(connectionFailed): refused #3"))
        #expect(d.state == .closed)
        // No backoff timer during the initial connect: the servers are tried back to back.
        #expect(d.timers.isEmpty)
    }

    @Test func authorizationViolationStopsTheInitialConnect() {
        var d = StateMachineDriver()
        _ = d.start()
        let auth = NATSError(code: .authorizationViolation, message: "Authorization Violation")
        #expect(d.connectFailed(auth) == [.failStart(auth)])
        #expect(d.state == .closed)
    }

    @Test func initialConnectInstallsAndEmitsConnected() {
        var d = StateMachineDriver()
        _ = d.start()
        _ = d.connectFailed()
        #expect(d.connected() == [.installConnection, .emit(.connected, error: nil)])
        #expect(d.state == .connected)
        #expect(d.machine.connection.serverIndex == 1)
        #expect(d.machine.connection.reconnectCount == 0)
        // A second start is a no-op.
        #expect(d.start() == [])
    }
}

@Suite struct ClientStateMachineReconnectTests {
    @Test func backoffDoublesUpToTheCapAndReconnects() {
        var d = StateMachineDriver(servers: [a], configuration: .init(reconnect: reconnectPolicy(initial: .milliseconds(100), max: .seconds(1))))
        d.connect()
        _ = d.advance(by: .seconds(10))
        let lost = NATSError(code: .connectionClosed, message: "peer closed")
        #expect(d.connectionLost(lost) == [.emit(.disconnected, error: lost), .scheduleTimer(.reconnect, deadline: .seconds(10) + .milliseconds(100))])
        #expect(d.state == .reconnecting)
        #expect(d.machine.connection.lastError == lost)

        // Nothing happens before the deadline.
        #expect(d.advance(by: .milliseconds(99)) == [])
        #expect(d.advance(by: .milliseconds(1)) == [.connect(to: a)])
        #expect(d.timers.isEmpty)

        // Each failed attempt waits twice as long, up to maxDelay.
        var delays: [Duration] = []
        for attempt in 1...6 {
            let before = d.now
            let actions = d.connectFailed(refused(attempt))
            guard case .scheduleTimer(.reconnect, let deadline)? = actions.first, actions.count == 1 else {
                Issue.record("attempt \(attempt): \(actions)")
                return
            }
            delays.append(deadline - before)
            #expect(d.advance(by: deadline - before - .milliseconds(1)) == [])
            #expect(d.advance(by: .milliseconds(1)) == [.connect(to: a)])
            #expect(d.state == .reconnecting)
        }
        #expect(delays == [.milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1), .seconds(1)])
        #expect(d.machine.connection.lastError == refused(6))

        #expect(d.connected() == [.installConnection, .emit(.reconnected, error: nil)])
        #expect(d.state == .connected)
        #expect(d.machine.connection.reconnectCount == 1)

        // After a successful reconnect the backoff starts over.
        #expect(d.connectionLost() == [.emit(.disconnected, error: NATSError(code: .staleConnection, message: "stale")), .scheduleTimer(.reconnect, deadline: d.now + .milliseconds(100))])
    }

    @Test func jitterSpreadsTheDelayBothWays() {
        for (jitter, expected) in [(0.0, Duration.milliseconds(80)), (0.5, .milliseconds(100)), (1.0, .milliseconds(120))] {
            var d = StateMachineDriver(configuration: .init(reconnect: reconnectPolicy(initial: .milliseconds(100), jitter: 0.2)))
            d.connect()
            d.jitter = jitter
            #expect(d.connectionLost().last == .scheduleTimer(.reconnect, deadline: expected), "jitter \(jitter)")
        }
    }

    @Test func rotatesThroughTheServersStartingAfterTheLostOne() {
        var d = StateMachineDriver(servers: [a, b, c])
        _ = d.start()
        _ = d.connectFailed()  // a refused: connected to b
        _ = d.connected()
        _ = d.connectionLost()
        var targets: [String] = []
        for _ in 0..<4 {
            targets += connectTargets(d.advance(by: .seconds(5)))
            _ = d.connectFailed()
        }
        // b was lost: c, a, then b again.
        #expect(targets == ["c", "a", "b", "c"])
        #expect(connectTargets(d.advance(by: .seconds(5))) == ["a"])
        _ = d.connected()
        #expect(d.machine.connection.serverIndex == 0)
        _ = d.connectionLost()
        #expect(connectTargets(d.advance(by: .seconds(5))) == ["b"])
    }

    @Test func givesUpAfterMaxAttemptsAndFailsPendingRequests() throws {
        var d = StateMachineDriver(servers: [a, b], configuration: .init(reconnect: reconnectPolicy(jitter: 0, maxAttempts: 3)))
        d.connect()
        _ = d.request("t1", timeout: .seconds(60))
        _ = d.connectionLost()
        for attempt in 1...2 {
            #expect(connectTargets(d.advance(by: .seconds(5))).count == 1)
            #expect(d.connectFailed(refused(attempt)).count == 1)
        }
        #expect(connectTargets(d.advance(by: .seconds(5))).count == 1)
        let actions = d.connectFailed(refused(3))
        let error = try #require(closeError(actions))
        #expect(error.code == .connectionClosed)
        #expect(error.message == "gave up reconnecting after 3 attempts")
        #expect((error.cause as? NATSError) == refused(3))
        // The waiting request fails with the same error before the client closes.
        #expect(actions == [.cancelTimer(.requestDeadline), .failRequest(token: "t1", .closed(error)), .closeClient(error, droppedPublishes: 0)])
        #expect(d.state == .closed)
        #expect(d.timers.isEmpty)
    }

    @Test func withoutReconnectALostConnectionCloses() {
        var d = StateMachineDriver(configuration: .init(reconnect: .never))
        d.connect()
        let lost = NATSError(code: .protocolViolation, message: "garbage")
        #expect(d.connectionLost(lost) == [.emit(.disconnected, error: lost), .closeClient(lost, droppedPublishes: 0)])
        #expect(d.state == .closed)
        #expect(d.timers.isEmpty)
    }

    @Test func lateReportsAreIgnored() {
        var d = StateMachineDriver()
        d.connect()
        _ = d.connectionLost()
        // A second close report while already reconnecting, a connect failure nobody asked for.
        #expect(d.connectionLost() == [])
        #expect(d.connectFailed() == [])
        #expect(d.state == .reconnecting)
        // The reconnect timer fired twice (a stale fire after a reschedule): one attempt only.
        #expect(connectTargets(d.advance(by: .seconds(5))).count == 1)
        #expect(d.run(d.machine.timerFired(.reconnect, now: d.now)) == [])
    }
}

@Suite struct ClientStateMachineDiscoveryTests {
    @Test func discoveredServersJoinTheRotation() {
        var d = StateMachineDriver(servers: [NATSServerAddress(host: "a", port: 4222, tls: true)])
        _ = d.start()
        var info = NATSServerInfo()
        info.connectURLs = ["a:4222", "b:4223", "not a url:x", "b:4223"]
        #expect(d.connected(info) == [.installConnection, .emit(.serversDiscovered, error: nil), .emit(.connected, error: nil)])
        // Duplicates and unparsable URLs are skipped; new servers inherit TLS from the current one.
        #expect(d.machine.connection.servers == [NATSServerAddress(host: "a", port: 4222, tls: true), NATSServerAddress(host: "b", port: 4223, tls: true)])
        _ = d.connectionLost()
        #expect(d.advance(by: .seconds(5)) == [.connect(to: NATSServerAddress(host: "b", port: 4223, tls: true))])
    }

    @Test func thePoolIsCappedAt64() {
        var d = StateMachineDriver(servers: [a])
        d.connect()
        var info = NATSServerInfo()
        info.connectURLs = (1...100).map { "10.0.0.\($0):4222" }
        #expect(d.serverInfoUpdated(info) == [.emit(.serversDiscovered, error: nil)])
        #expect(d.machine.connection.servers.count == 64)
        #expect(d.machine.connection.servers.last == NATSServerAddress(host: "10.0.0.63", port: 4222))
        info.connectURLs = ["10.0.1.1:4222"]
        #expect(d.serverInfoUpdated(info) == [])
        #expect(d.machine.connection.servers.count == 64)
    }

    @Test func lameDuckAndDiscoveryOff() {
        var d = StateMachineDriver(servers: [a], configuration: .init(discoverServers: false))
        d.connect()
        var info = NATSServerInfo()
        info.connectURLs = ["b:4222"]
        info.ldm = true
        #expect(d.serverInfoUpdated(info) == [.emit(.lameDuck, error: nil)])
        #expect(d.machine.connection.servers == [a])
        // INFO while not connected is ignored.
        _ = d.connectionLost()
        #expect(d.serverInfoUpdated(info) == [])
    }
}

@Suite struct ClientStateMachineBufferTests {
    private func publish(_ subject: String, bytes: Int) -> BufferedPublish {
        BufferedPublish(subject: subject, payload: ByteBuffer(repeating: 0x61, count: bytes))
    }

    @Test func reconnectBufferIsCappedAndFlushedInOrder() throws {
        // Each publish costs 10 payload + 1 subject + 32 = 43 bytes.
        var d = StateMachineDriver(configuration: .init(reconnect: reconnectPolicy(), reconnectBufferSize: 100))
        d.connect()
        #expect(d.machine.publish(publish("x", bytes: 10)) == .write)
        _ = d.connectionLost()
        #expect(d.machine.publish(publish("1", bytes: 10)) == .buffered)
        #expect(d.machine.publish(publish("2", bytes: 10)) == .buffered)
        #expect(d.machine.connection.bufferedBytes == 86)
        let overflow = d.machine.publish(publish("3", bytes: 10))
        guard case .fail(let error) = overflow else {
            Issue.record("expected the third publish to fail, got \(overflow)")
            return
        }
        #expect(error.code == .reconnectBufferFull)
        #expect(error.message == "reconnect buffer full (86 of 100 bytes)")
        // Even an empty publish (33 bytes) no longer fits; the rejected ones left the buffer as it was.
        #expect(d.machine.publish(publish("4", bytes: 0)) == .fail(NATSError(code: .reconnectBufferFull, message: "reconnect buffer full (86 of 100 bytes)")))
        #expect(d.machine.connection.buffer.map(\.subject) == ["1", "2"])

        _ = d.advance(by: .seconds(5))
        #expect(d.connected() == [.installConnection, .flushBuffer([publish("1", bytes: 10), publish("2", bytes: 10)]), .emit(.reconnected, error: nil)])
        #expect(d.machine.connection.buffer.isEmpty)
        #expect(d.machine.connection.bufferedBytes == 0)
        // The next outage has the whole buffer again.
        _ = d.connectionLost()
        #expect(d.machine.publish(publish("5", bytes: 10)) == .buffered)
        #expect(d.machine.publish(publish("6", bytes: 10)) == .buffered)
    }

    @Test func publishesDuringTheInitialConnectAreBufferedToo() {
        var d = StateMachineDriver()
        _ = d.start()
        #expect(d.machine.publish(publish("early", bytes: 1)) == .buffered)
        #expect(d.connected() == [.installConnection, .flushBuffer([publish("early", bytes: 1)]), .emit(.connected, error: nil)])
    }

    @Test func costCountsReplyAndHeaders() {
        var headers = NATSHeaders()
        headers["K"] = "V"  // "NATS/1.0\r\nK: V\r\n\r\n" = 18 bytes
        let p = BufferedPublish(subject: "abc", reply: "_INBOX.x", headers: headers, payload: ByteBuffer(string: "hello"))
        #expect(p.cost == 5 + 18 + 3 + 8 + 32)
    }
}

@Suite struct ClientStateMachineSubscriptionTests {
    @Test func liveSubscriptionsAreReplayedInSidOrderBeforeBufferedPublishes() {
        var d = StateMachineDriver()
        d.connect()
        d.machine.subscribed(SubscriptionSpec(sid: 3, subject: "c.>"))
        d.machine.subscribed(SubscriptionSpec(sid: 1, subject: "a", queue: "workers"))
        d.machine.subscribed(SubscriptionSpec(sid: 2, subject: "b"))
        d.machine.unsubscribed(sid: 2)
        _ = d.connectionLost()
        let request = BufferedPublish(subject: "svc", reply: "_INBOX.mux.t1", payload: ByteBuffer(string: "q"))
        #expect(d.machine.publish(request) == .buffered)
        _ = d.advance(by: .seconds(5))
        // SUBs first: the reply to a buffered request must find the inbox subscription.
        #expect(d.connected() == [
            .installConnection,
            .replaySubscriptions([SubscriptionSpec(sid: 1, subject: "a", queue: "workers"), SubscriptionSpec(sid: 3, subject: "c.>")]),
            .flushBuffer([request]),
            .emit(.reconnected, error: nil),
        ])
        // Every new connection gets them again.
        d.machine.unsubscribed(sid: 1)
        _ = d.connectionLost()
        _ = d.advance(by: .seconds(5))
        #expect(d.connected() == [.installConnection, .replaySubscriptions([SubscriptionSpec(sid: 3, subject: "c.>")]), .emit(.reconnected, error: nil)])
    }

    @Test func closingForgetsSubscriptions() {
        var d = StateMachineDriver()
        d.connect()
        d.machine.subscribed(SubscriptionSpec(sid: 1, subject: "a"))
        _ = d.close()
        #expect(d.machine.connection.subscriptions.isEmpty)
        d.machine.subscribed(SubscriptionSpec(sid: 2, subject: "b"))
        #expect(d.machine.connection.subscriptions.isEmpty)
    }
}

@Suite struct ClientStateMachineRequestTests {
    @Test func requestsTimeOutAtTheirOwnDeadlinesOnOneTimer() throws {
        var d = StateMachineDriver()
        d.connect()
        #expect(d.request("t1", subject: "slow", timeout: .seconds(2)) == [.scheduleTimer(.requestDeadline, deadline: .seconds(2))])
        _ = d.advance(by: .milliseconds(500))
        // An earlier deadline moves the timer; a later one does not.
        #expect(d.request("t2", subject: "fast", timeout: .seconds(1)) == [.scheduleTimer(.requestDeadline, deadline: .milliseconds(1500))])
        #expect(d.request("t3", subject: "slower", timeout: .seconds(5)) == [])
        #expect(d.machine.requests.pendingCount == 3)

        #expect(d.advance(by: .milliseconds(999)) == [])
        #expect(d.advance(by: .milliseconds(1)) == [
            .failRequest(token: "t2", .timeout(subject: "fast", after: .seconds(1))),
            .scheduleTimer(.requestDeadline, deadline: .seconds(2)),
        ])
        #expect(d.advance(by: .milliseconds(500)) == [
            .failRequest(token: "t1", .timeout(subject: "slow", after: .seconds(2))),
            .scheduleTimer(.requestDeadline, deadline: .milliseconds(5500)),
        ])
        // A reply in time resolves t3; the timer stays armed (no request of its own for the next one).
        let reply = message("_INBOX.mux.t3", payload: "ok")
        #expect(d.reply("t3", reply) == [.succeedRequest(token: "t3", reply)])
        #expect(d.timers[.requestDeadline] != nil)
        #expect(d.machine.requests.pendingCount == 0)
        // A request now, due after the armed deadline, rides on that timer; when it fires, it re-arms for this one.
        #expect(d.request("t4", subject: "next", timeout: .seconds(5)) == [])
        #expect(d.advance(by: .milliseconds(3500)) == [.scheduleTimer(.requestDeadline, deadline: .seconds(7))])
        let fourth = message("_INBOX.mux.t4", payload: "ok")
        #expect(d.reply("t4", fourth) == [.succeedRequest(token: "t4", fourth)])
        // Idle, it fires once more, finds nothing due and stops.
        #expect(d.advance(by: .seconds(2)) == [])
        #expect(d.timers.isEmpty)
        // A reply after the timeout goes nowhere.
        #expect(d.reply("t1", message("_INBOX.mux.t1")) == [])

        let error = try #require(RequestMuxStateMachine.Failure.timeout(subject: "fast", after: .seconds(1)).error as? NATSError)
        #expect(error.code == .timeout)
        #expect(error.message == "request to 'fast' timed out after 1.0 seconds")
    }

    @Test func requestsWithTheSameDeadlineTimeOutTogether() {
        var d = StateMachineDriver()
        d.connect()
        _ = d.request("t1", timeout: .seconds(1))
        _ = d.request("t2", timeout: .seconds(1))
        let fired = d.advance(by: .seconds(1))
        #expect(Set(fired.compactMap { if case .failRequest(let token, .timeout) = $0 { token } else { nil } }) == ["t1", "t2"])
        #expect(fired.count == 2)
        #expect(d.timers.isEmpty)
    }

    @Test func repliesAreRoutedByToken() throws {
        var d = StateMachineDriver()
        d.connect()
        _ = d.request("t1")
        _ = d.request("t2")
        let r2 = message("_INBOX.mux.t2", payload: "two")
        let r1 = message("_INBOX.mux.t1", payload: "one")
        #expect(d.reply("t2", r2) == [.succeedRequest(token: "t2", r2)])
        #expect(d.timers[.requestDeadline] != nil)  // t1 still waits
        #expect(d.reply("t1", r1) == [.succeedRequest(token: "t1", r1)])
        // Unknown tokens and second replies are dropped.
        #expect(d.reply("nobody", r1) == [])
        #expect(d.reply("t1", r1) == [])
    }

    @Test func noRespondersStatusFailsTheRequest() throws {
        var d = StateMachineDriver()
        d.connect()
        _ = d.request("t1")
        #expect(d.reply("t1", message("_INBOX.mux.t1", status: 503)) == [.failRequest(token: "t1", .noResponders)])
        let error = try #require(RequestMuxStateMachine.Failure.noResponders.error as? NATSError)
        #expect(error.code == .noResponders)
    }

    @Test func aReplyBeforeTheCallerWaitsIsKeptForIt() {
        var d = StateMachineDriver()
        d.connect()
        // Reserved before the publish; the reply overtakes the caller.
        d.machine.requestReserved(token: "t1")
        let early = message("_INBOX.mux.t1", payload: "fast")
        #expect(d.reply("t1", early) == [])
        #expect(d.machine.requests.reservedCount == 1)
        // When the caller waits, it gets the reply at once and no timer is armed.
        #expect(d.run(d.machine.requestStarted(token: "t1", subject: "svc", timeout: .seconds(1), now: d.now, cancelled: false)) == [.succeedRequest(token: "t1", early)])
        #expect(d.timers.isEmpty)
        #expect(d.machine.requests.reservedCount == 0)
        // An early 503 fails it the same way.
        d.machine.requestReserved(token: "t2")
        _ = d.reply("t2", message("_INBOX.mux.t2", status: 503))
        #expect(d.run(d.machine.requestStarted(token: "t2", subject: "svc", timeout: .seconds(1), now: d.now, cancelled: false)) == [.failRequest(token: "t2", .noResponders)])
    }

    @Test func abandonedAndCancelledRequests() {
        var d = StateMachineDriver()
        d.connect()
        // The publish failed: the token is forgotten, a reply to it is dropped.
        d.machine.requestReserved(token: "t1")
        d.machine.requestAbandoned(token: "t1")
        #expect(d.reply("t1", message("_INBOX.mux.t1")) == [])
        #expect(d.machine.requests.reservedCount == 0)
        // Cancelled before waiting: fails at once, no timer.
        #expect(d.request("t2", cancelled: true) == [.failRequest(token: "t2", .cancelled)])
        #expect(d.timers.isEmpty)
        // Cancelled while waiting: fails (the timer, left armed, later fires on nothing).
        _ = d.request("t3")
        #expect(d.run(d.machine.requestCancelled(token: "t3")) == [.failRequest(token: "t3", .cancelled)])
        #expect(d.run(d.machine.requestCancelled(token: "t3")) == [])
        #expect(RequestMuxStateMachine.Failure.cancelled.error is CancellationError)
    }

    @Test func requestsSurviveAReconnect() {
        var d = StateMachineDriver()
        d.connect()
        _ = d.request("t1", timeout: .seconds(10))
        _ = d.connectionLost()
        _ = d.advance(by: .seconds(2))
        _ = d.connected()
        #expect(d.machine.requests.pendingCount == 1)
        let reply = message("_INBOX.mux.t1")
        #expect(d.reply("t1", reply) == [.succeedRequest(token: "t1", reply)])
    }
}

@Suite struct ClientStateMachineCloseTests {
    @Test func closeWhileWaitingToReconnectCancelsTheTimerAndDropsTheBuffer() throws {
        var d = StateMachineDriver(configuration: .init(reconnect: reconnectPolicy(jitter: 0)))
        d.connect()
        d.machine.subscribed(SubscriptionSpec(sid: 1, subject: "a"))
        _ = d.request("t1", timeout: .seconds(30))
        _ = d.connectionLost()
        #expect(d.machine.publish(BufferedPublish(subject: "p", payload: ByteBuffer())) == .buffered)
        #expect(d.machine.publish(BufferedPublish(subject: "q", payload: ByteBuffer())) == .buffered)
        #expect(d.timers.keys.sorted { $0.description < $1.description } == [.reconnect, .requestDeadline])

        let closed = NATSError(code: .closed, message: "client closed")
        #expect(d.close() == [
            .cancelTimer(.reconnect),
            .cancelTimer(.requestDeadline),
            .failRequest(token: "t1", .closed(closed)),
            .closeClient(closed, droppedPublishes: 2),
        ])
        #expect(d.state == .closed)
        #expect(d.timers.isEmpty)
        #expect(d.machine.connection.buffer.isEmpty)
        // Time passes: no reconnect attempt, nothing times out.
        #expect(d.advance(by: .seconds(60)) == [])
        #expect(d.run(d.machine.timerFired(.reconnect, now: d.now)) == [])
        // Everything after close fails or is a no-op.
        #expect(d.close() == [])
        #expect(d.machine.publish(BufferedPublish(subject: "r", payload: ByteBuffer())) == .fail(NATSError(code: .closed, message: "client is closed")))
        #expect(d.request("t2") == [.failRequest(token: "t2", .closed(closed))])
        #expect(d.connectionLost() == [])
    }

    @Test func closeDuringAReconnectAttemptDiscardsItsConnection() {
        var d = StateMachineDriver()
        d.connect()
        _ = d.connectionLost()
        #expect(connectTargets(d.advance(by: .seconds(5))) == ["b"])
        // The attempt is in flight: no timer to cancel.
        let closed = NATSError(code: .closed, message: "client closed")
        #expect(d.close() == [.closeClient(closed, droppedPublishes: 0)])
        // The attempt completes after all: its connection is closed, not installed.
        #expect(d.connected() == [.discardConnection])
        #expect(d.connectFailed() == [])
        #expect(d.state == .closed)
        #expect(d.machine.connection.reconnectCount == 0)
    }

    @Test func closeWhileConnected() {
        var d = StateMachineDriver()
        d.connect()
        _ = d.request("t1")
        let closed = NATSError(code: .closed, message: "client closed")
        #expect(d.close() == [.cancelTimer(.requestDeadline), .failRequest(token: "t1", .closed(closed)), .closeClient(closed, droppedPublishes: 0)])
        // A late close report of the connection changes nothing.
        #expect(d.connectionLost() == [])
        #expect(d.machine.connection.lastError == closed)
    }
}

// MARK: The actor runs the timers on its injected clock

/// A clock whose time only moves in `advance(by:)`.
final class ManualClock: Clock, Sendable {
    struct Instant: InstantProtocol {
        var offset: Swift.Duration
        func advanced(by duration: Swift.Duration) -> Instant { Instant(offset: offset + duration) }
        func duration(to other: Instant) -> Swift.Duration { other.offset - offset }
        static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private struct Sleeper: Sendable {
        var deadline: Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State: Sendable {
        var now = Instant(offset: .zero)
        var nextID: UInt64 = 0
        var sleepers: [UInt64: Sleeper] = [:]
        var cancelled: Set<UInt64> = []
    }

    private let state = NIOLockedValueBox(State())

    var now: Instant { state.withLockedValue { $0.now } }
    var minimumResolution: Swift.Duration { .zero }

    /// Deadlines (offsets) of the sleepers waiting, earliest first.
    var sleeperDeadlines: [Swift.Duration] { state.withLockedValue { $0.sleepers.values.map(\.deadline.offset).sorted() } }

    func sleep(until deadline: Instant, tolerance: Swift.Duration?) async throws {
        let id = state.withLockedValue { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome: Result<Void, any Error>? = state.withLockedValue { s in
                    if s.cancelled.remove(id) != nil { return .failure(CancellationError()) }
                    if s.now >= deadline { return .success(()) }
                    s.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let sleeper = state.withLockedValue { s -> Sleeper? in
                guard let sleeper = s.sleepers.removeValue(forKey: id) else {
                    s.cancelled.insert(id)
                    return nil
                }
                return sleeper
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    func advance(by duration: Swift.Duration) {
        let due = state.withLockedValue { s -> [Sleeper] in
            s.now = s.now.advanced(by: duration)
            let now = s.now
            let due = s.sleepers.filter { $0.value.deadline <= now }
            for id in due.keys { s.sleepers.removeValue(forKey: id) }
            return Array(due.values)
        }
        for sleeper in due { sleeper.continuation.resume() }
    }
}

/// Polls `condition` (real time) until it holds or `timeout` passes (generous: a busy machine schedules late).
private func eventually(timeout: Duration = .seconds(30), _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return await condition()
}

@Suite struct NATSClientClockTests {
    @Test func measuresFromItsOriginAndSleepsOnTheClock() async throws {
        let manual = ManualClock()
        manual.advance(by: .seconds(100))
        let clock = NATSClientClock(manual)
        #expect(clock.now == .zero)
        manual.advance(by: .seconds(3))
        #expect(clock.now == .seconds(3))
        let woke = NIOLockedValueBox(false)
        let sleeper = Task {
            try await clock.sleep(until: .seconds(5))
            woke.withLockedValue { $0 = true }
        }
        #expect(await eventually { manual.sleeperDeadlines == [.seconds(105)] })
        manual.advance(by: .seconds(1))
        try await Task.sleep(for: .milliseconds(50))
        #expect(woke.withLockedValue { $0 } == false)
        manual.advance(by: .seconds(1))
        try await sleeper.value
        #expect(woke.withLockedValue { $0 })
        // Cancelled sleeps throw and leave no sleeper behind.
        let cancelled = Task { try await clock.sleep(until: .seconds(60)) }
        #expect(await eventually { manual.sleeperDeadlines.count == 1 })
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        #expect(manual.sleeperDeadlines.isEmpty)
    }

    @Test func requestTimeoutRunsOnTheInjectedClock() async throws {
        let (server, _) = try await startFakeServer(mode: .ignorePingsAfterHandshake)
        defer { server.close(promise: nil) }
        let port = try #require(server.localAddress?.port)
        let clock = ManualClock()
        let client = try await NATSClient.connect(TestEnv.options("nats://127.0.0.1:\(port)"), logger: TestEnv.logger, clock: clock)
        let finished = NIOLockedValueBox(false)
        let request = Task {
            defer { finished.withLockedValue { $0 = true } }
            return try await client.request("svc", payload: "ping", timeout: .seconds(30))
        }
        // The deadline timer sleeps on the manual clock, 30 s after "now" (its origin).
        #expect(await eventually { clock.sleeperDeadlines == [.seconds(30)] })
        clock.advance(by: .seconds(29))
        try await Task.sleep(for: .milliseconds(100))
        #expect(finished.withLockedValue { $0 } == false)
        clock.advance(by: .seconds(1))
        await #expect { _ = try await request.value } throws: { ($0 as? NATSError)?.code == .timeout }
        #expect(clock.sleeperDeadlines.isEmpty)
        await client.close()
    }

    @Test func reconnectBackoffRunsOnTheInjectedClock() async throws {
        let (server, connections) = try await startFakeServer(mode: .ignorePingsAfterHandshake)
        defer { server.close(promise: nil) }
        let port = try #require(server.localAddress?.port)
        let clock = ManualClock()
        var options = TestEnv.options("nats://127.0.0.1:\(port)")
        options.pingInterval = .milliseconds(100)
        options.maxPingsOut = 2
        options.reconnect = NATSReconnectPolicy(initialDelay: .seconds(10), maxDelay: .seconds(10), jitter: 0, maxAttempts: 5)
        let client = try await NATSClient.connect(options, logger: TestEnv.logger, clock: clock)
        let kinds = NIOLockedValueBox<[NATSClientEvent.Kind]>([])
        let watcher = Task {
            for await event in client.events { kinds.withLockedValue { $0.append(event.kind) } }
        }
        // The fake server stops answering PINGs: the connection goes stale (on real time, in the channel).
        #expect(await eventually { kinds.withLockedValue { $0.contains(.disconnected) } })
        #expect(await client.state == .reconnecting)
        #expect(await eventually { clock.sleeperDeadlines == [.seconds(10)] })
        // The backoff waits for the manual clock, however much real time passes.
        try await Task.sleep(for: .milliseconds(200))
        #expect(connections.withLockedValue { $0 } == 1)
        #expect(await client.state == .reconnecting)
        clock.advance(by: .seconds(10))
        #expect(await eventually { kinds.withLockedValue { $0.contains(.reconnected) } })
        #expect(connections.withLockedValue { $0 } == 2)
        #expect(await client.reconnectCount == 1)
        await client.close()
        await watcher.value
        #expect(kinds.withLockedValue { $0.last } == .closed)
    }
}
