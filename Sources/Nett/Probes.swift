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
    /// Whether the traffic got through.
    public var passed: Bool
    /// For a probe expected to be blocked: what showed it was blocked — an ICMP error from the network (net
    /// unreachable, administratively prohibited) or the firewall's default-drop counter rising while it ran. Nil when
    /// nothing did: a silent timeout proves nothing (the target may simply be gone).
    public var blockedBy: String?
    /// For a probe expected to be blocked: how the target was shown to answer in the same run — a probe from an allowed
    /// source, or a ping from its own segment (the router's leg on its network). Nil when it did not answer.
    public var targetAnswered: String?
    /// Why the probe could not run at all (no endpoint on one of its networks).
    public var error: String?

    public init(probe: Probe, passed: Bool, blockedBy: String? = nil, targetAnswered: String? = nil, error: String? = nil) {
        self.probe = probe
        self.passed = passed
        self.blockedBy = blockedBy
        self.targetAnswered = targetAnswered
        self.error = error
    }

    enum CodingKeys: String, CodingKey { case probe, passed, blockedBy, targetAnswered, error, ok }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        probe = try container.decode(Probe.self, forKey: .probe)
        passed = try container.decode(Bool.self, forKey: .passed)
        blockedBy = try container.decodeIfPresent(String.self, forKey: .blockedBy)
        targetAnswered = try container.decodeIfPresent(String.self, forKey: .targetAnswered)
        error = try container.decodeIfPresent(String.self, forKey: .error)
    }

    /// With `ok` spelled out, so readers of a report (the CLI, the SDKs) need not know the rule.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(probe, forKey: .probe)
        try container.encode(passed, forKey: .passed)
        try container.encodeIfPresent(blockedBy, forKey: .blockedBy)
        try container.encodeIfPresent(targetAnswered, forKey: .targetAnswered)
        try container.encodeIfPresent(error, forKey: .error)
        try container.encode(ok, forKey: .ok)
    }

    /// As intended: an allowed flow got through; a blocked one did not, something positively blocked it, and its
    /// target answered someone else in the same run.
    public var ok: Bool {
        guard error == nil else { return false }
        return probe.expect ? passed : (!passed && blockedBy != nil && targetAnswered != nil)
    }

    /// One line: the probe and, unless it went as intended, why not.
    public var summary: String {
        if let error { return "\(probe): \(error)" }
        if probe.expect { return passed ? "\(probe)" : "\(probe): no answer" }
        if passed { return "\(probe): it got through" }
        guard let blockedBy else { return "\(probe): no answer, but nothing showed what blocked it (no ICMP error, no firewall drop counted)" }
        guard targetAnswered != nil else { return "\(probe): \(blockedBy), but the target answered nobody in this run (it may be gone)" }
        return "\(probe): \(blockedBy)"
    }
}

/// What a run of probes can read beyond the endpoints to prove that a blocked probe was blocked, and that its target
/// was there to answer.
public struct ProbeEvidence: Sendable {
    /// The firewalls' default-drop counters, summed (nftables: `NftablesRenderer`'s counted last rule); nil when the
    /// intent has no firewall.
    public var defaultDrops: (@Sendable () async throws -> Int)?
    /// Per network: a network namespace on its segment — the router's leg there — to ping the network's endpoint from
    /// when no allowed probe of the run reached it.
    public var gateways: [String: String]

    public init(defaultDrops: (@Sendable () async throws -> Int)? = nil, gateways: [String: String] = [:]) {
        self.defaultDrops = defaultDrops
        self.gateways = gateways
    }
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
///
/// An allowed flow passes when it gets through. A flow expected to be blocked passes only with positive evidence:
/// the network answered with an ICMP error that means "not this way" (net unreachable: no route, as at a VRF boundary;
/// administratively prohibited: a reject), or — for a silent drop — the firewalls' default-drop counter rose while the
/// probe ran alone; and its target answered in the same run, from an allowed source or from its own segment. A probe
/// naming a network without an endpoint fails.
public struct ProbeRunner: Sendable {
    public let endpoints: [ProbeEndpoint]
    public let concurrency: Int
    public let evidence: ProbeEvidence

    public init(endpoints: [ProbeEndpoint], concurrency: Int = 12, evidence: ProbeEvidence = ProbeEvidence()) {
        self.endpoints = endpoints
        self.concurrency = max(1, concurrency)
        self.evidence = evidence
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
        var results = try await withThrowingTaskGroup(of: (Int, ProbeResult).self) { group in
            var results: [ProbeResult?] = Array(repeating: nil, count: probes.count)
            var next = 0
            func start(_ index: Int) {
                let probe = probes[index]
                group.addTask {
                    guard let source = byNetwork[probe.from], let target = byNetwork[probe.to] else {
                        let missing = [probe.from, probe.to].filter { byNetwork[$0] == nil }
                        return (index, ProbeResult(probe: probe, passed: false,
                                                   error: "no probe endpoint on \(missing.joined(separator: " or ")) (the devices file's `endpoints`)"))
                    }
                    let outcome = try await Self.attempt(probe, source: source, target: target)
                    return (index, ProbeResult(probe: probe, passed: outcome.passed, blockedBy: probe.expect ? nil : outcome.refusal))
                }
            }
            while next < min(concurrency, probes.count) { start(next); next += 1 }
            while let (index, result) = try await group.next() {
                results[index] = result
                if next < probes.count { start(next); next += 1 }
            }
            return results.compactMap { $0 }
        }
        // Blocked probes that nothing proved yet, again one at a time (up to 3 tries, a second or more apart): a router
        // rate-limits the ICMP errors it sends a host (Linux: a burst of about 5, then one a second), so a host whose
        // probes all went out at once gets some of its refusals only now; and a silent drop is shown by the
        // firewalls' default-drop counter, read around the probe while nothing else of ours is in flight. When the run has
        // failed already (a probe got through that should not, or did not that should), one try each: the verdict stands,
        // and a commit waiting for it to be confirmed should not wait out the retries.
        let failedAlready = results.contains { $0.error != nil || $0.passed != $0.probe.expect }
        for index in results.indices where results[index].error == nil && !results[index].probe.expect
            && !results[index].passed && results[index].blockedBy == nil {
            let probe = results[index].probe
            guard let source = byNetwork[probe.from], let target = byNetwork[probe.to] else { continue }
            let tries = failedAlready ? 1 : 3
            for attempt in 1...tries {
                let before = try await evidence.defaultDrops?()
                let outcome = try await Self.attempt(probe, source: source, target: target)
                let after = try await evidence.defaultDrops?()
                let dropped = (after ?? 0) - (before ?? 0)
                results[index].passed = outcome.passed
                results[index].blockedBy = outcome.passed ? nil : outcome.refusal
                    ?? (dropped > 0 ? "dropped by the firewall's default drop (its counter rose by \(dropped) while this probe ran alone)" : nil)
                if outcome.passed || results[index].blockedBy != nil { break }
                if attempt < tries { try await Task.sleep(for: .seconds(1)) }
            }
        }
        // The targets of blocked probes answered someone: an allowed probe that got through to them, else a ping from
        // their own segment.
        var answered: [String: String] = [:]
        for result in results where result.probe.expect && result.passed && answered[result.probe.to] == nil {
            answered[result.probe.to] = "answered \(result.probe.from) (\(result.probe.flow)) in this run"
        }
        for network in Set(results.filter { !$0.probe.expect && $0.error == nil }.map(\.probe.to)).sorted() where answered[network] == nil {
            guard let target = byNetwork[network], let gateway = evidence.gateways[network] else { continue }
            if try await Self.ping(from: gateway, to: target.address, tries: failedAlready ? 1 : 3).passed {
                answered[network] = "answered a ping from its own segment (\(gateway)) in this run"
            }
        }
        for index in results.indices where !results[index].probe.expect {
            results[index].targetAnswered = answered[results[index].probe.to]
        }
        return results
    }

    /// What one probe saw: whether it got through, and the network's refusal if one came back.
    struct Outcome: Sendable {
        var passed: Bool
        var refusal: String?
    }

    /// A passing probe is tried up to 3 times (first packets wait for ARP); a blocked one once, with a short wait.
    static func attempt(_ probe: Probe, source: ProbeEndpoint, target: ProbeEndpoint) async throws -> Outcome {
        if probe.flow == "icmp" { return try await ping(from: source.namespace, to: target.address, tries: probe.expect ? 3 : 1) }
        let port = probe.flow.dropFirst(4)
        for attempt in 1...(probe.expect ? 3 : 1) {
            let arguments = ["netns", "exec", source.namespace, "timeout", "2", "bash", "-c", "exec 3<>/dev/tcp/\(target.address)/\(port)"]
            if let result = try await runSubprocess("/usr/sbin/ip", arguments, environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"],
                                                    timeout: .seconds(5)), result.status == 0 {
                return Outcome(passed: true)
            }
            if attempt < 3 { try await Task.sleep(for: .milliseconds(300)) }
        }
        return Outcome(passed: false)
    }

    /// One echo request per try (1 s wait) from a namespace; a refusal the network sent back is reported.
    static func ping(from namespace: String, to address: String, tries: Int) async throws -> Outcome {
        var refusal: String?
        for attempt in 1...max(1, tries) {
            let arguments = ["netns", "exec", namespace, "ping", "-n", "-c", "1", "-W", "1", address]
            if let result = try await runSubprocess("/usr/sbin/ip", arguments, environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"],
                                                    timeout: .seconds(5)) {
                if result.status == 0 { return Outcome(passed: true) }
                refusal = refusal ?? Self.refusal(inPingOutput: result.stdout)
            }
            if attempt < tries { try await Task.sleep(for: .milliseconds(300)) }
        }
        return Outcome(passed: false, refusal: refusal)
    }

    /// The ICMP errors (as iputils' ping prints them) that say the network refused the packet on purpose: no route
    /// (net unreachable — a VRF boundary) or a reject (prohibited, filtered, port unreachable). "Destination Host
    /// Unreachable" is not among them: it is the last router failing to find the host (gone, or never there).
    public static func refusal(inPingOutput output: String) -> String? {
        let refusals = ["Destination Net Unreachable", "Destination Net Prohibited", "Destination Host Prohibited", "Packet filtered",
                        "Destination Port Unreachable"]
        for line in output.split(separator: "\n") {
            let text = line.trimmingCharacters(in: .whitespaces)
            guard text.hasPrefix("From "), let refusal = refusals.first(where: { text.contains($0) }) else { continue }
            let from = text.dropFirst(5).split(separator: " ").first.map(String.init) ?? "?"
            return "refused by \(from): ICMP \(refusal.lowercased())"
        }
        return nil
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
