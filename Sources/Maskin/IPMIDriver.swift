import DataverketCore
import DataverketProcess
import Foundation
import Logging

/// A `BMCDriver` for IPMI 2.0 (lanplus) through `ipmitool` run as a subprocess.
///
/// The password goes to ipmitool in the `IPMI_PASSWORD` environment variable (`-E`), never on its command line,
/// so it does not show in `ps`. ipmitool runs with `-v` so that its stderr tells a refused credential from a BMC
/// that does not answer; its stdout is parsed strictly: an unexpected line is an error quoting that line.
public struct IPMIDriver: BMCDriver {
    public struct Options: Sendable {
        /// ipmitool's path; a bare name is looked up in `PATH`.
        public var ipmitool: String
        /// RMCP+ cipher suite (`-C`); 3 (HMAC-SHA1, AES-128) is what every lanplus BMC speaks.
        public var cipherSuite: Int
        /// ipmitool's per-message timeout in seconds (`-N`) and retries (`-R`): they bound how long a BMC that
        /// does not answer takes to fail (about `(retries + 1) × timeout` per session step).
        public var sessionTimeoutSeconds: Int
        public var sessionRetries: Int
        /// The hard limit for one ipmitool run; it is killed after that.
        public var commandTimeout: Duration
        /// One-shot boot devices are set for UEFI boot (`options=efiboot`).
        public var efiBoot: Bool

        public init(ipmitool: String = "ipmitool", cipherSuite: Int = 3, sessionTimeoutSeconds: Int = 2,
                    sessionRetries: Int = 2, commandTimeout: Duration = .seconds(30), efiBoot: Bool = true) {
            self.ipmitool = ipmitool
            self.cipherSuite = cipherSuite
            self.sessionTimeoutSeconds = max(1, sessionTimeoutSeconds)
            self.sessionRetries = max(0, sessionRetries)
            self.commandTimeout = commandTimeout
            self.efiBoot = efiBoot
        }
    }

    public let endpoint: BMCEndpoint
    private let credentials: BMCCredentials
    private let logger: Logger
    private let options: Options

    public init(endpoint: BMCEndpoint, credentials: BMCCredentials, logger: Logger,
                options: Options = Options()) throws(DataverketError) {
        guard endpoint.protocol == .ipmi else {
            throw DataverketError.invalid("endpoint", "the IPMI driver cannot drive a \(endpoint.protocol) BMC")
        }
        guard credentials.password.utf8.count <= 20 else {
            throw DataverketError.invalid("credentials", "an IPMI 2.0 password has at most 20 bytes")
        }
        self.endpoint = endpoint
        self.credentials = credentials
        self.options = options
        var logger = logger
        logger[metadataKey: "bmc"] = "\(endpoint.address)"
        self.logger = logger
    }

    // MARK: - BMCDriver

    public func powerState() async throws -> PowerState {
        let lines = try await run(["chassis", "power", "status"])
        switch try single(lines, of: "chassis power status") {
        case "Chassis Power is on": return .on
        case "Chassis Power is off": return .off
        case let line: throw unexpected(line, "chassis power status")
        }
    }

    public func setPower(_ action: PowerAction) async throws {
        var verb: String
        switch action {
        case .on: verb = "on"
        case .off: verb = "off"
        case .softOff: verb = "soft"
        case .cycle: verb = "cycle"
        }
        // A cycle of a machine that is off is a power-on (many BMCs refuse to cycle a machine that is off).
        if action == .cycle, try await powerState() == .off { verb = "on" }
        let expected = [
            "on": "Chassis Power Control: Up/On", "off": "Chassis Power Control: Down/Off",
            "soft": "Chassis Power Control: Soft", "cycle": "Chassis Power Control: Cycle",
        ]
        logger.info("power", metadata: ["action": "\(action)", "ipmi": "chassis power \(verb)"])
        let line = try single(try await run(["chassis", "power", verb]), of: "chassis power \(verb)")
        guard line == expected[verb] else { throw unexpected(line, "chassis power \(verb)") }
    }

    public func setOneTimeBoot(_ device: BootDevice) async throws {
        let name: String
        switch device {
        case .pxe: name = "pxe"
        case .disk: name = "disk"
        case .http:
            throw DataverketError.bmc(.unsupported, "IPMI has no one-shot HTTP boot; boot pxe and chain HTTP from iPXE")
        }
        var arguments = ["chassis", "bootdev", name]
        if options.efiBoot { arguments.append("options=efiboot") }
        logger.info("one-time boot", metadata: ["device": "\(device)"])
        let line = try single(try await run(arguments), of: "chassis bootdev \(name)")
        guard line == "Set Boot Device to \(name)" else { throw unexpected(line, "chassis bootdev \(name)") }
    }

    public func bootOverride() async throws -> BootOverride {
        let lines = try await run(["chassis", "bootparam", "get", "5"])
        var device: BootDevice??
        var valid: Bool?
        var once: Bool?
        for raw in lines {
            let line = raw.trimmingCharacters(in: .whitespaces)
            let item = line.hasPrefix("- ") ? String(line.dropFirst(2)) : line
            switch item {
            case "Boot Flag Valid": valid = true
            case "Boot Flag Invalid": valid = false
            case "Options apply to only next boot": once = true
            case "Options apply to all future boots": once = false
            default:
                guard item.hasPrefix("Boot Device Selector") else { continue }
                let selector = item.split(separator: ":", maxSplits: 1).last.map {
                    $0.trimmingCharacters(in: .whitespaces)
                } ?? ""
                switch selector {
                case "Force PXE": device = .some(.pxe)
                case "Force Boot from default Hard-Drive": device = .some(.disk)
                case "No override": device = .some(nil)
                default: device = .some(nil)  // CD, BIOS setup, floppy…: not a device Maskin sets
                }
            }
        }
        guard let device, let valid else {
            throw DataverketError.bmc(.badResponse,
                "ipmitool chassis bootparam get 5 for the BMC at \(endpoint.address) named no boot device or flag")
        }
        return BootOverride(device: device, enabled: !valid ? .disabled : (once ?? true) ? .once : .continuous)
    }

    public func systemFacts() async throws -> SystemFacts {
        var facts = SystemFacts()
        if let fru = try await optionalFields(["fru", "print", "0"]) {
            facts.manufacturer = fru["Product Manufacturer"] ?? fru["Board Mfg"]
            facts.model = fru["Product Name"] ?? fru["Board Product"]
            facts.serial = fru["Product Serial"] ?? fru["Chassis Serial"] ?? fru["Board Serial"]
        }
        if let guid = try await optionalFields(["mc", "guid"]), let text = guid["System GUID"] {
            guard UUID(uuidString: text) != nil else { throw unexpected("System GUID : \(text)", "mc guid") }
            facts.uuid = text.lowercased()
        }
        if let lan = try await optionalFields(["lan", "print"]) {
            facts.bmcMACAddress = RedfishDriver.normalizedMAC(lan["MAC Address"])
        }
        return facts
    }

    // MARK: - Running ipmitool

    /// `key : value` lines as a dictionary (continuation lines with an empty key are skipped); nil when the BMC
    /// does not offer the command (so a missing FRU is not an error), but unreachable and refused BMCs throw.
    private func optionalFields(_ arguments: [String]) async throws -> [String: String]? {
        let lines: [String]
        do {
            lines = try await run(arguments)
        } catch let error as DataverketError where error.bmcFailure?.kind == .rejected {
            logger.debug("BMC does not offer this", metadata: ["command": "\(arguments.joined(separator: " "))"])
            return nil
        }
        var fields: [String: String] = [:]
        for line in lines where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            guard let colon = line.firstIndex(of: ":") else {
                throw unexpected(line, arguments.joined(separator: " "))
            }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if key.isEmpty { continue }
            if fields[key] == nil, !value.isEmpty { fields[key] = value }
        }
        return fields
    }

    /// Runs `ipmitool … ARGUMENTS` and returns its stdout lines, or throws a one-line error.
    private func run(_ arguments: [String]) async throws -> [String] {
        let command = arguments.joined(separator: " ")
        let full = commandLine(arguments)
        var environment = ["IPMI_PASSWORD": credentials.password, "LANG": "C", "LC_ALL": "C"]
        environment["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin"
        guard let executable = Self.resolve(options.ipmitool, path: environment["PATH"] ?? "") else {
            throw DataverketError(.unavailable, "ipmitool is not installed (looked for '\(options.ipmitool)')",
                                  cause: BMCFailure(.unsupported))
        }
        let started = ContinuousClock.now
        let result: SubprocessResult?
        do {
            result = try await runSubprocess(executable, full, environment: environment, timeout: options.commandTimeout)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw DataverketError(.unavailable, "ipmitool could not be started: \(error)", cause: BMCFailure(.unsupported))
        }
        let elapsed = ContinuousClock.now - started
        guard let result else {
            throw DataverketError.bmc(.timedOut,
                "the BMC at \(endpoint.address) did not finish '\(command)' within \(MachineLifecycle.format(options.commandTimeout)) (ipmitool was stopped)")
        }
        logger.debug("ipmitool", metadata: ["command": "\(command)", "status": "\(result.status)",
                                            "ms": "\(Int(elapsed.seconds * 1000))"])
        guard result.status == 0 else { throw failure(result.stderr, command: command, elapsed: elapsed) }
        return result.stdout.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }

    /// ipmitool's arguments for `arguments`: the password is not among them (`-E` reads `IPMI_PASSWORD`).
    func commandLine(_ arguments: [String]) -> [String] {
        [
            "-I", "lanplus", "-C", "\(options.cipherSuite)", "-H", endpoint.host, "-p", "\(endpoint.port)",
            "-U", credentials.username, "-E", "-N", "\(options.sessionTimeoutSeconds)",
            "-R", "\(options.sessionRetries)", "-v",
        ] + arguments
    }

    /// What ipmitool's (verbose) stderr says went wrong.
    private func failure(_ stderr: String, command: String, elapsed: Duration) -> DataverketError {
        let lines = stderr.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        func has(_ text: String) -> Bool { lines.contains { $0.localizedCaseInsensitiveContains(text) } }
        if has("RAKP 2 HMAC is invalid") || has("unauthorized name") || has("invalid role")
            || has("RAKP 4 message has invalid integrity check") || has("Unauthorized name") {
            return DataverketError.bmc(.unauthorized,
                "the BMC at \(endpoint.address) refused the credentials of user '\(credentials.username)' (IPMI RAKP)")
        }
        if has("Get Auth Capabilities error") || has("No response from remote controller")
            || has("Error issuing Get Channel Authentication Capabilities") {
            let attempts = options.sessionRetries + 1
            return DataverketError.bmc(.unreachable, attempts: attempts,
                "the BMC at \(endpoint.address) did not answer over IPMI within \(MachineLifecycle.format(elapsed.rounded())) (\(attempts) attempts)")
        }
        let noise = ["Loading IANA PEN Registry", "Running Get VSO Capabilities", "Discovered IPMB address",
                     "Invalid completion code received: Invalid command"]
        let last = lines.last { line in !line.isEmpty && !noise.contains { line.hasPrefix($0) } } ?? "no message"
        return DataverketError.bmc(.rejected,
            "the BMC at \(endpoint.address) failed '\(command)': \(redact(MachineLifecycle.oneLine(last)).prefix(200))")
    }

    private func single(_ lines: [String], of command: String) throws -> String {
        guard lines.count == 1, let line = lines.first else {
            throw DataverketError.bmc(.badResponse,
                "unexpected output from ipmitool \(command) for the BMC at \(endpoint.address): \(lines.count) lines, wanted 1\(lines.first.map { " (first: '\(redact($0).prefix(120))')" } ?? "")")
        }
        return line.trimmingCharacters(in: .whitespaces)
    }

    private func unexpected(_ line: String, _ command: String) -> DataverketError {
        DataverketError.bmc(.badResponse,
            "unexpected output from ipmitool \(command) for the BMC at \(endpoint.address): '\(redact(line).prefix(200))'")
    }

    private func redact(_ text: String) -> String {
        credentials.password.isEmpty ? text : text.replacingOccurrences(of: credentials.password, with: "<redacted>")
    }

    static func resolve(_ program: String, path: String) -> String? {
        if program.contains("/") { return FileManager.default.isExecutableFile(atPath: program) ? program : nil }
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(program)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

extension Duration {
    /// Rounded to whole seconds (at least 1), for messages.
    func rounded() -> Duration { .seconds(max(1, Int(seconds.rounded()))) }
}
