import DataverketCore
import DataverketProcess
import Foundation
import Nett
import NettIntent
import Testing

/// The nftables driver against the real nft, in a network namespace the test creates (and deletes).
@Suite("nftables driver")
struct NftablesDriverTests {
    /// Runs `body` with a fresh network namespace.
    static func withNamespace(_ body: (String) async throws -> Void) async throws {
        let name = "dvnft-\(ULID.make().suffix(8).lowercased())"
        let env = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
        let added = try await runSubprocess("/usr/sbin/ip", ["netns", "add", name], environment: env, timeout: .seconds(10))
        try #require(added?.status == 0, "ip netns add failed (the tests need root): \(added?.stderr ?? "timeout")")
        do {
            try await body(name)
        } catch {
            _ = try? await runSubprocess("/usr/sbin/ip", ["netns", "delete", name], environment: env, timeout: .seconds(10))
            throw error
        }
        _ = try await runSubprocess("/usr/sbin/ip", ["netns", "delete", name], environment: env, timeout: .seconds(10))
    }

    @Test("the border router's ruleset is rendered from the verified matrix, applied atomically, read back, and rolled back")
    func applyAndRollback() async throws {
        let intent = try IntentTests.example()
        let candidate = try NftablesRenderer().render(intent, device: "osl1-border1")
        #expect(candidate.contains("ip saddr 10.30.0.0/24 ip daddr 10.10.0.0/24 tcp dport 22 accept comment \"mgmt -> oob tcp/22\""))
        #expect(candidate.contains("ip saddr != @internal4 ip daddr 192.0.2.0/26 tcp dport 443 accept"))
        #expect(!candidate.contains("10.110.0.0/24 ip daddr"), "no flow leaves a tenant VRF")
        try await Self.withNamespace { namespace in
            let driver = NftablesDriver(device: "osl1-border1", namespace: namespace)
            #expect(try await driver.runningConfig().isEmpty)
            try await driver.stage(candidate, mode: .replace)
            let diff = try await driver.diff()
            #expect(diff.contains { $0.hasPrefix("+ ") && $0.contains("tcp dport 22") })
            try await driver.commit(confirmWithin: nil)
            let rules = try await driver.rules()
            // established/related, invalid, the 5 flows, the counted default drop
            #expect(rules.filter { $0.chain == "forward" }.count == 2 + 5 + 1, "\(rules)")
            #expect(rules.last { $0.chain == "forward" }?.comment == NftablesRenderer.defaultDropComment)
            #expect(rules.contains { $0.comment == "external -> public-lb tcp/443" })

            // A changeset that closes mgmt → oob, committed with confirm-within and not confirmed: rolled back by itself.
            var next = intent
            next.rules!.removeAll { $0.from == "mgmt" && $0.to == "oob" }
            try await driver.stage(try NftablesRenderer().render(next, device: "osl1-border1"), mode: .replace)
            try await driver.commit(confirmWithin: .milliseconds(500))
            #expect(!(try await driver.rules()).contains { $0.comment == "mgmt -> oob tcp/22" })
            var restored = false
            for _ in 0..<40 where !restored {
                try await Task.sleep(for: .milliseconds(100))
                restored = try await driver.rules().contains { $0.comment == "mgmt -> oob tcp/22" }
            }
            #expect(restored, "the unconfirmed commit was not rolled back")

            // Confirmed: it stays.
            try await driver.stage(try NftablesRenderer().render(next, device: "osl1-border1"), mode: .replace)
            try await driver.commit(confirmWithin: .milliseconds(500))
            try await driver.confirm()
            try await Task.sleep(for: .milliseconds(800))
            #expect(!(try await driver.rules()).contains { $0.comment == "mgmt -> oob tcp/22" })

            // A broken candidate is refused at staging with nft's reason; what runs is untouched.
            let before = try await driver.runningConfig()
            await #expect(throws: DataverketError.self) {
                try await driver.stage("table inet dataverket {\n\tchain forward {\n\t\tip saddr banana accept\n\t}\n}\n", mode: .replace)
            }
            #expect(try await driver.runningConfig() == before)
            await #expect(throws: DataverketError.self) { try await driver.stage(candidate, mode: .merge) }
        }
    }
}
