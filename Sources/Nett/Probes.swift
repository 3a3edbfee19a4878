import Foundation
import DataverketCore
import DataverketProcess
import Logging
import NettIntent

/// One probe generated from the intent: from a host on one network to a host on another, expected to pass (an
/// allowed flow) or to fail (no flow allowed, or not this protocol).
public struct Probe: Codable, Sendable, Hashable, CustomStringConvertible {
    public var from: String
    public var to: String
    /// `icmp` or `tcp/PORT`.
    public var flow: String
    public var expect: Bool

    public init(from: String, to: String, flow: String, expect: Bool) {
        self.from = from
        self.to = to
        self.flow = flow
        self.expect = expect
    }

    public var description: String { "\(from) → \(to) \(flow) (expected \(expect ? "to pass" : "to be blocked"))" }
}

public struct ProbeResult: Codable, Sendable, Hashable {
    public var probe: Probe
    public var passed: Bool
    public var ok: Bool { passed == probe.expect }
}

public enum ProbePlanner {
    /// For every ordered pair of networks with an endpoint: each allowed flow (`any` and `icmp` as ping, `tcp/N` as a
    /// TCP connect) expected to pass; a pair with no flow, or with no ICMP among its flows, gets a ping expected to fail.
    public static func plan(_ intent: NetworkIntent, endpoints: [ProbeEndpoint]) -> [Probe] {
        let matrix = IntentVerifier.reachability(intent)
        let networks = Set(endpoints.map(\.network))
        var probes: [Probe] = []
        for from in networks.sorted() {
            for to in networks.sorted() where to != from {
                let flows = matrix.flows(from: from, to: to)
                var pinged = false
                for flow in flows {
                    if flow == "any" || flow == "icmp" {
                        if !pinged { probes.append(Probe(from: from, to: to, flow: "icmp", expect: true)) }
                        pinged = true
                    } else if flow.hasPrefix("tcp/") {
                        probes.append(Probe(from: from, to: to, flow: flow, expect: true))
                    }
                }
                if !pinged { probes.append(Probe(from: from, to: to, flow: "icmp", expect: false)) }
            }
        }
        return probes
    }
}

/// Runs probes between network namespaces: ping, and TCP connects to listeners it starts on the targets for the run.
public struct ProbeRunner: Sendable {
    public let endpoints: [ProbeEndpoint]
    public let concurrency: Int

    public init(endpoints: [ProbeEndpoint], concurrency: Int = 12) {
        self.endpoints = endpoints
        self.concurrency = max(1, concurrency)
    }

    public func run(_ probes: [Probe]) async throws -> [ProbeResult] {
        let byNetwork = Dictionary(endpoints.map { ($0.network, $0) }, uniquingKeysWith: { first, _ in first })
        var listeners: [Int32] = []
        defer { for pid in listeners { kill(pid, SIGTERM) } }
        let ports = Set(probes.compactMap { probe -> String? in
            guard probe.flow.hasPrefix("tcp/"), let target = byNetwork[probe.to] else { return nil }
            return "\(target.namespace) \(target.address) \(probe.flow.dropFirst(4))"
        })
        for entry in ports.sorted() {
            let parts = entry.split(separator: " ").map(String.init)
            listeners.append(try await Self.listen(namespace: parts[0], address: parts[1], port: parts[2]))
        }
        if !listeners.isEmpty { try await Task.sleep(for: .milliseconds(300)) }
        return try await withThrowingTaskGroup(of: (Int, ProbeResult).self) { group in
            var results: [ProbeResult?] = Array(repeating: nil, count: probes.count)
            var next = 0
            func start(_ index: Int) {
                let probe = probes[index]
                group.addTask {
                    guard let source = byNetwork[probe.from], let target = byNetwork[probe.to] else {
                        return (index, ProbeResult(probe: probe, passed: false))
                    }
                    return (index, ProbeResult(probe: probe, passed: try await Self.attempt(probe, source: source, target: target)))
                }
            }
            while next < min(concurrency, probes.count) { start(next); next += 1 }
            while let (index, result) = try await group.next() {
                results[index] = result
                if next < probes.count { start(next); next += 1 }
            }
            return results.compactMap { $0 }
        }
    }

    /// A passing probe is tried up to 3 times (first packets wait for ARP); a blocked one once, with a short wait.
    static func attempt(_ probe: Probe, source: ProbeEndpoint, target: ProbeEndpoint) async throws -> Bool {
        for attempt in 1...(probe.expect ? 3 : 1) {
            let arguments: [String]
            if probe.flow == "icmp" {
                arguments = ["netns", "exec", source.namespace, "ping", "-n", "-q", "-c", "1", "-W", "1", target.address]
            } else {
                let port = probe.flow.dropFirst(4)
                arguments = ["netns", "exec", source.namespace, "timeout", "2", "bash", "-c", "exec 3<>/dev/tcp/\(target.address)/\(port)"]
            }
            guard let result = try await runSubprocess("/usr/sbin/ip", arguments, environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"],
                                                       timeout: .seconds(5)) else { continue }
            if result.status == 0 { return true }
            if attempt < 3 { try await Task.sleep(for: .milliseconds(300)) }
        }
        return false
    }

    static let listener = """
        import socket, sys, time
        s = socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(128); s.settimeout(0.5)
        end = time.time() + 60
        while time.time() < end:
            try:
                c, _ = s.accept(); c.close()
            except OSError:
                pass
        """

    /// Starts a listener in the target's namespace for the probes' run (at most 60 s) and returns its PID. It is
    /// started detached, with every inherited descriptor closed: Foundation's `Process` sees a child exit only when
    /// no other process holds a copy of its descriptors, and a listener that outlives the probes must not hold theirs.
    static func listen(namespace: String, address: String, port: String) async throws -> Int32 {
        let script = """
            for fd in /proc/$$/fd/*; do fd=${fd##*/}; if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null; fi; done
            setsid ip netns exec "$3" python3 -c "$0" "$1" "$2" </dev/null >/dev/null 2>&1 &
            echo $!
            """
        guard let result = try await runSubprocess("/bin/bash", ["-c", script, listener, address, port, namespace],
                                                   environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"], timeout: .seconds(10)),
              result.status == 0, let pid = Int32(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw DataverketError(.unavailable, "cannot start a probe listener on \(address):\(port) in \(namespace)")
        }
        return pid
    }
}
