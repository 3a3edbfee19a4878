import DataverketCore
import Foundation

/// How Maskin reaches a machine's BMC. `credentials` is a secret reference (`file:/path`, `env:NAME`), never a
/// secret: it is resolved just before each use (see `CredentialResolver`).
public struct BMCConfig: Codable, Sendable, Hashable {
    /// How Maskin trusts a Redfish BMC's certificate: `verify` (system roots, or `caFile`), `insecure` (explicit),
    /// `plaintext` (HTTP; loopback addresses only).
    public enum TLSMode: String, Codable, Sendable, Hashable, CaseIterable { case verify, insecure, plaintext }

    public var `protocol`: BMCProtocol
    /// `host[:port]`.
    public var address: String
    /// Redfish: which system, when the BMC manages several.
    public var systemID: String?
    public var credentials: String
    public var tls: TLSMode
    /// Redfish: a PEM file with the CA that issued the BMC's certificate (pinned).
    public var caFile: String?

    public init(protocol: BMCProtocol, address: String, systemID: String? = nil, credentials: String,
                tls: TLSMode = .verify, caFile: String? = nil) {
        self.protocol = `protocol`
        self.address = address
        self.systemID = systemID
        self.credentials = credentials
        self.tls = tls
        self.caFile = caFile
    }
}

/// A machine as Maskin stores and shows it.
public struct MachineRecord: Codable, Sendable, Hashable {
    public var id: String
    public var name: String
    /// The inventory device this machine is, when known.
    public var device: String?
    public var datacenter: String?
    /// The provisioning NIC's MAC (lowercase, colon-separated): how the boot service knows the machine.
    public var mac: String
    /// SMBIOS system UUID (lowercase), from enrollment or inspection.
    public var uuid: String?
    public var serial: String?
    public var arch: String?
    public var bmc: BMCConfig
    /// Where its console can be read: `file:/path` (a serial log), nil when none.
    public var console: String?
    /// `controlplane` or `worker`, set by `allocate`.
    public var role: String?
    public var cluster: String?
    /// The install disk chosen at deploy (`/dev/…`).
    public var installDisk: String?
    public var state: MachineState
    public var failedDeploys: Int
    public var lastTransition: Date
    /// When the current in-progress state times out; nil for steady states.
    public var deadline: Date?
    /// The task doing the current step (or the last one that ran).
    public var taskID: String?
    public var power: PowerState?
    public var powerObservedAt: Date?
    /// The last BMC error (one line), while the BMC keeps failing.
    public var bmcError: String?
    public var bmcFailingSince: Date?
    /// When the BMC refused the credentials (401/403, bad IPMI login); until they change or an operator verifies
    /// the machine, nothing logs in with them again (BMCs lock accounts after a few failures).
    public var bmcCredentialsRefusedAt: Date?
    /// A fingerprint of the refused credentials (SHA-256 over the BMC and the resolved secret; never the secret).
    /// Stored, never encoded: a weak password could be guessed offline from it.
    public var bmcRefusedCredentials: String?
    public var facts: SystemFacts?
    /// The tenant networks Nett was last asked to carry on the machine's switch ports (a deploy naming networks);
    /// nil while they are on the provisioning network. Release and wipe ask Nett to put them back.
    public var networks: [String]? = nil
    public var version: Int64
    public var createdAt: Date
    public var updatedAt: Date

    /// The lifecycle's view of it.
    public var machine: Machine { Machine(state: state, failedDeploys: failedDeploys, lastTransition: lastTransition) }

    /// Every field but `bmcRefusedCredentials`.
    enum CodingKeys: String, CodingKey {
        case id, name, device, datacenter, mac, uuid, serial, arch, bmc, console, role, cluster, installDisk, state, failedDeploys
        case lastTransition, deadline, taskID, power, powerObservedAt, bmcError, bmcFailingSince, bmcCredentialsRefusedAt, facts
        case networks, version, createdAt, updatedAt
    }
}

/// What `enroll` needs.
public struct MachineEnrollment: Codable, Sendable, Hashable {
    public var name: String
    public var mac: String
    public var uuid: String?
    public var serial: String?
    public var arch: String?
    public var device: String?
    public var datacenter: String?
    public var bmc: BMCConfig
    public var console: String?
    /// Start verifying the BMC at once (the usual case).
    public var verify: Bool

    public init(name: String, mac: String, uuid: String? = nil, serial: String? = nil, arch: String? = nil,
                device: String? = nil, datacenter: String? = nil, bmc: BMCConfig, console: String? = nil, verify: Bool = true) {
        self.name = name
        self.mac = mac
        self.uuid = uuid
        self.serial = serial
        self.arch = arch
        self.device = device
        self.datacenter = datacenter
        self.bmc = bmc
        self.console = console
        self.verify = verify
    }
}

/// Options of an action that carry data: `allocate` (role, cluster), `maintain` (reason), `deploy` (networks that
/// must be attached first).
public struct MachineActionOptions: Codable, Sendable, Hashable {
    public var role: String?
    public var cluster: String?
    public var reason: String?
    /// Networks the deploy needs attached to the machine's ports; a network not realized yet blocks the deploy on Nett.
    public var networks: [String]?

    public init(role: String? = nil, cluster: String? = nil, reason: String? = nil, networks: [String]? = nil) {
        self.role = role
        self.cluster = cluster
        self.reason = reason
        self.networks = networks
    }
}

/// Something the boot service saw a machine do (or refused it).
public struct BootEvent: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// A DHCP lease the provisioning network's DHCP server handed out (read from its lease file).
        case dhcp
        /// The iPXE script was fetched.
        case script
        /// The machine config was served.
        case config
        /// A config fetch was refused (replayed, expired or foreign token).
        case configRefused = "config-refused"
        /// The installer reported back.
        case callback
        /// A step of a task touched the machine (power, boot device).
        case bmc
    }

    public var kind: Kind
    public var at: Date
    public var detail: String?
    public var address: String?
    public var taskID: String?

    public init(kind: Kind, at: Date, detail: String? = nil, address: String? = nil, taskID: String? = nil) {
        self.kind = kind
        self.at = at
        self.detail = detail
        self.address = address
        self.taskID = taskID
    }
}

/// A machine that network-booted with a MAC no machine has.
public struct DiscoveredMachine: Codable, Sendable, Hashable {
    public var mac: String
    public var uuid: String?
    public var serial: String?
    public var arch: String?
    public var address: String?
    public var firstSeen: Date
    public var lastSeen: Date
    public var boots: Int
}

/// A machine with what `dvce machine show` adds: allowed actions, recent boot events, the console tail.
public struct MachineDetail: Codable, Sendable, Hashable {
    public var machine: MachineRecord
    public var allowedActions: [MachineAction.Name]
    public var bootEvents: [BootEvent]
    public var consoleTail: [String]
}

/// Identifier formats the boot service and enrollment accept.
public enum MachineIdentity {
    /// `52:54:00:12:34:56`, `52-54-00-12-34-56` or `525400123456` → `52:54:00:12:34:56`; nil otherwise.
    public static func normalizeMAC(_ text: String) -> String? {
        let hex = text.lowercased().filter { $0 != ":" && $0 != "-" }
        guard text.count <= 17, hex.count == 12, hex.allSatisfy(\.isHexDigit) else { return nil }
        var out = ""
        for (index, char) in hex.enumerated() {
            if index > 0, index % 2 == 0 { out.append(":") }
            out.append(char)
        }
        return out
    }

    /// A canonical 8-4-4-4-12 UUID, lowercased; nil otherwise.
    public static func normalizeUUID(_ text: String) -> String? {
        guard text.count == 36, let uuid = UUID(uuidString: text) else { return nil }
        return uuid.uuidString.lowercased()
    }

    /// Serial numbers: 1–64 printable ASCII characters without spaces or quotes.
    public static func isSerial(_ text: String) -> Bool {
        (1...64).contains(text.count)
            && text.unicodeScalars.allSatisfy { $0.isASCII && $0.value > 0x20 && $0.value < 0x7f && $0 != "\"" && $0 != "'" && $0 != "\\" }
    }

    /// iPXE's `${buildarch}` values and the usual names for them.
    public static let architectures: Set<String> = ["x86_64", "i386", "arm64", "arm32", "riscv64", "amd64"]

    static func validate(_ enrollment: MachineEnrollment) throws(DataverketError) -> MachineEnrollment {
        var value = enrollment
        try Validation.checkName(value.name)
        guard let mac = normalizeMAC(value.mac) else {
            throw .invalid("mac", "'\(value.mac.prefix(40))' is not a MAC address (aa:bb:cc:dd:ee:ff)")
        }
        value.mac = mac
        if let uuid = value.uuid {
            guard let normal = normalizeUUID(uuid) else { throw .invalid("uuid", "'\(uuid.prefix(40))' is not a UUID") }
            value.uuid = normal
        }
        if let serial = value.serial, !isSerial(serial) {
            throw .invalid("serial", "a serial is 1–64 printable characters without spaces or quotes")
        }
        if let arch = value.arch, !architectures.contains(arch) {
            throw .invalid("arch", "unknown architecture '\(arch.prefix(20))'; one of \(architectures.sorted().joined(separator: ", "))")
        }
        if let device = value.device { try Validation.checkName(device, field: "device") }
        if let datacenter = value.datacenter { try Validation.checkName(datacenter, field: "datacenter") }
        try Validation.checkText(value.bmc.credentials, field: "bmc.credentials", max: 512)
        guard CredentialResolver.isReference(value.bmc.credentials) else {
            throw .invalid("bmc.credentials", "must be a secret reference (file:/path or env:NAME), never the secret itself")
        }
        try Validation.checkText(value.bmc.systemID, field: "bmc.systemID", max: 128)
        try Validation.checkText(value.bmc.caFile, field: "bmc.caFile", max: 1024)
        _ = try BMCEndpoint(protocol: value.bmc.protocol, address: value.bmc.address, tls: value.bmc.endpointTLSPlaceholder)
        if let console = value.console {
            try Validation.checkText(console, field: "console", max: 1024)
            guard console.hasPrefix("file:/") else { throw .invalid("console", "must be file:/path (a serial log)") }
        }
        return value
    }
}

extension BMCConfig {
    /// The TLS mode as the endpoint checks it (the CA itself is read only when a driver is made).
    var endpointTLSPlaceholder: RedfishTLS {
        switch tls {
        case .plaintext: .plaintextLoopbackOnly
        case .insecure: .insecure
        case .verify: .systemRoots
        }
    }
}
