import Crypto
import DataverketCore
import DataverketStore
import Foundation
import Logging
import SQLKit

/// Where the boot service is reached and what it hands out.
public struct BootConfiguration: Sendable {
    /// The URL machines on the provisioning network reach the boot service at (`http://172.30.0.1:8180`).
    public var publicURL: String
    /// The image cache: a directory with the installer `kernel` and `initramfs` and a `SHA256SUMS` file.
    public var assetsDirectory: String?
    public var kernel: String
    public var initramfs: String
    /// Kernel arguments before Maskin's own (`talos.config=…`, `dv.callback=…`).
    public var kernelArguments: String
    /// How long a boot token (config URL, callback URL) stays valid after the script was served.
    public var tokenLifetime: Duration

    public init(publicURL: String, assetsDirectory: String? = nil, kernel: String = "vmlinuz", initramfs: String = "initramfs",
                kernelArguments: String = "talos.platform=metal console=tty0 console=ttyS0",
                tokenLifetime: Duration = .seconds(3600)) {
        self.publicURL = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
        self.assetsDirectory = assetsDirectory
        self.kernel = kernel
        self.initramfs = initramfs
        self.kernelArguments = kernelArguments
        self.tokenLifetime = tokenLifetime
    }
}

/// The boot service's decisions (the HTTP listener is `BootServer`): which iPXE script a machine gets by its state,
/// the single-use machine config, and the installer's callback. Every answer is recorded as a boot event of the
/// machine; a malformed query is refused before anything is looked up or recorded.
public struct BootService: Sendable {
    public let machines: Machines
    public let configuration: BootConfiguration
    public let configs: MachineConfigs
    /// Unknown machines are reported to the inventory as observations.
    public let inventory: InventoryBridge?
    let logger: Logger

    public init(machines: Machines, configuration: BootConfiguration, configs: MachineConfigs, inventory: InventoryBridge? = nil,
                logger: Logger) {
        self.machines = machines
        self.configuration = configuration
        self.configs = configs
        self.inventory = inventory
        self.logger = logger
    }

    /// The longest query value accepted, and the most parameters.
    static let maxValueLength = 128
    static let maxParameters = 8

    /// Checks the query's shape: only `allowed` keys, each once, values short and printable.
    static func check(_ query: [(String, String)], allowed: Set<String>) throws(DataverketError) -> [String: String] {
        guard query.count <= maxParameters else { throw DataverketError(.malformedRequest, "too many query parameters") }
        var values: [String: String] = [:]
        for (key, value) in query {
            guard allowed.contains(key) else {
                throw DataverketError(.malformedRequest, "unknown query parameter '\(key.prefix(32))'")
            }
            guard values[key] == nil else { throw DataverketError(.malformedRequest, "query parameter '\(key)' given twice") }
            guard value.utf8.count <= maxValueLength, value.unicodeScalars.allSatisfy({ $0.isASCII && $0.value >= 0x20 && $0.value < 0x7f }) else {
                throw DataverketError(.malformedRequest, "query parameter '\(key)' is too long or not printable ASCII")
            }
            values[key] = value
        }
        return values
    }

    // MARK: - GET /boot/ipxe

    /// The iPXE script for the machine asking, by its state.
    public func script(query: [(String, String)], address: String?) async throws -> String {
        let values = try Self.check(query, allowed: ["mac", "uuid", "serial", "arch", "buildarch", "platform", "hostname"])
        guard let macText = values["mac"], let mac = MachineIdentity.normalizeMAC(macText) else {
            throw DataverketError(.malformedRequest, "mac is missing or not a MAC address")
        }
        let uuid = try values["uuid"].map { text throws(DataverketError) -> String in
            guard let uuid = MachineIdentity.normalizeUUID(text) else { throw DataverketError(.malformedRequest, "uuid is not a UUID") }
            return uuid
        }
        if let serial = values["serial"], !serial.isEmpty, !MachineIdentity.isSerial(serial) {
            throw DataverketError(.malformedRequest, "serial has characters a serial number cannot have")
        }
        let arch = values["arch"] ?? values["buildarch"]
        if let arch, !MachineIdentity.architectures.contains(arch) {
            throw DataverketError(.malformedRequest, "unknown architecture")
        }
        let configuration = self.configuration
        let lifetime = configuration.tokenLifetime
        let (script, unknown) = try await machines.database.transaction { session in
            let table = session.table("maskin", "machines")
            guard let row = try await session.first("SELECT * FROM \(table) WHERE mac = \(bind: mac)") else {
                try await Self.discover(session, mac: mac, uuid: uuid, serial: values["serial"], arch: arch, address: address)
                return (Self.discoveryScript(mac: mac, configuration: configuration), true)
            }
            return (try await Self.script(session, Machines.decode(row), mac: mac, uuid: uuid, address: address,
                                          configuration: configuration, lifetime: lifetime), false)
        }
        if unknown, let inventory {
            do {
                try await inventory.discovered(mac: mac, serial: values["serial"],
                                               context: OperationContext(actor: "system:maskin-boot", correlationID: ULID.make(),
                                                                         sourceAddress: address))
            } catch {
                logger.warning("recording a discovered machine in the inventory failed", metadata: ["mac": "\(mac)", "error": "\(error)"])
            }
        }
        return script
    }

    static func script(_ session: Session, _ machine: MachineRecord, mac: String, uuid: String?, address: String?,
                       configuration: BootConfiguration, lifetime: Duration) async throws -> String {
        switch machine.state {
        case .deploying, .wiping:
            guard let taskID = machine.taskID else { return Self.exitScript("no task is running for this machine") }
            let token = try await Self.issueToken(session, machine: machine, taskID: taskID, lifetime: lifetime)
            let purpose = machine.state == .deploying ? "install" : "wipe"
            try await Machines.insertEvent(session, machineID: machine.id, mac: mac, .script,
                                           detail: "\(purpose) script (uuid \(uuid ?? "not sent"))", address: address, taskID: taskID)
            return Self.installerScript(machine: machine, token: token, purpose: purpose, configuration: configuration)
        case .rescue:
            try await Machines.insertEvent(session, machineID: machine.id, mac: mac, .script, detail: "rescue script",
                                           address: address, taskID: machine.taskID)
            return Self.rescueScript(machine: machine, configuration: configuration)
        default:
            try await Machines.insertEvent(session, machineID: machine.id, mac: mac, .script,
                                           detail: "boot from disk (\(machine.state.name))", address: address, taskID: nil)
            return Self.exitScript("\(machine.name) is \(machine.state.name): booting from local disk")
        }
    }

    static func discover(_ session: Session, mac: String, uuid: String?, serial: String?, arch: String?, address: String?) async throws {
        let table = session.table("maskin", "discovered")
        let now = StoreTime.now()
        let updated = try await session.affected("""
            UPDATE \(table) SET last_seen = \(bind: now), boots = boots + 1, uuid = COALESCE(\(bind: uuid), uuid),
                serial = COALESCE(\(bind: serial), serial), arch = COALESCE(\(bind: arch), arch), address = COALESCE(\(bind: address), address)
            WHERE mac = \(bind: mac) RETURNING mac
            """)
        if updated == 0 {
            try await session.run("""
                INSERT INTO \(table) (mac, uuid, serial, arch, address, first_seen, last_seen, boots)
                VALUES (\(bind: mac), \(bind: uuid), \(bind: serial), \(bind: arch), \(bind: address), \(bind: now), \(bind: now), 1)
                """)
        }
        try await Machines.insertEvent(session, machineID: nil, mac: mac, .script, detail: "unknown machine: discovery",
                                       address: address, taskID: nil)
    }

    /// A fresh single-use token for the machine's current task; older tokens of the machine stop working.
    static func issueToken(_ session: Session, machine: MachineRecord, taskID: String, lifetime: Duration) async throws -> String {
        var bytes = [UInt8](repeating: 0, count: 32)
        var rng = SystemRandomNumberGenerator()
        for index in bytes.indices { bytes[index] = rng.next() }
        let token = Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        let table = session.table("maskin", "boot_tokens")
        try await session.run("DELETE FROM \(table) WHERE machine_id = \(bind: machine.id)")
        let now = Date()
        try await session.run("""
            INSERT INTO \(table) (digest, machine_id, task_id, purpose, expires_at, created_at)
            VALUES (\(bind: digest(token)), \(bind: machine.id), \(bind: taskID), \(bind: machine.state.name.rawValue),
                \(bind: StoreTime.encode(now.addingTimeInterval(Double(lifetime.components.seconds)))), \(bind: StoreTime.encode(now)))
            """)
        return token
    }

    static func digest(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    // MARK: - GET /boot/config

    /// The machine config, once per deployment, to the machine the token was issued for. Anything else is refused
    /// (`forbidden`) and recorded.
    public func config(query: [(String, String)], address: String?) async throws -> String {
        let values = try Self.check(query, allowed: ["uuid", "token", "mac"])
        guard let token = values["token"], (20...64).contains(token.count) else {
            throw DataverketError(.malformedRequest, "token is missing or malformed")
        }
        let uuid = try values["uuid"].map { text throws(DataverketError) -> String in
            guard let uuid = MachineIdentity.normalizeUUID(text) else { throw DataverketError(.malformedRequest, "uuid is not a UUID") }
            return uuid
        }
        let (machine, taskID) = try await redeem(token: token, uuid: uuid, address: address, stage: .config)
        return try await configs.render(for: machine, taskID: taskID)
    }

    // MARK: - POST /boot/callback

    /// The installer's report: `event=install-complete` (or `wipe-complete`), once, after the config was served.
    public func callback(query: [(String, String)], address: String?) async throws {
        let values = try Self.check(query, allowed: ["uuid", "token", "event"])
        guard let token = values["token"], (20...64).contains(token.count) else {
            throw DataverketError(.malformedRequest, "token is missing or malformed")
        }
        guard let event = values["event"], ["install-complete", "wipe-complete", "install-failed"].contains(event) else {
            throw DataverketError(.malformedRequest, "event must be install-complete, wipe-complete or install-failed")
        }
        let uuid = try values["uuid"].map { text throws(DataverketError) -> String in
            guard let uuid = MachineIdentity.normalizeUUID(text) else { throw DataverketError(.malformedRequest, "uuid is not a UUID") }
            return uuid
        }
        _ = try await redeem(token: token, uuid: uuid, address: address, stage: .callback(event))
    }

    enum Stage { case config, callback(String) }

    private func redeem(token: String, uuid: String?, address: String?, stage: Stage) async throws -> (MachineRecord, String) {
        enum Outcome: Sendable { case refused(String, machineID: String?, mac: String?), granted(MachineRecord, taskID: String) }
        let outcome: Outcome = try await machines.database.transaction { session in
            let tokens = session.table("maskin", "boot_tokens")
            let digest = Self.digest(token)
            guard let row = try await session.first("SELECT * FROM \(tokens) WHERE digest = \(bind: digest)") else {
                return .refused("unknown or superseded token", machineID: nil, mac: nil)
            }
            let machineID = try row.decode(column: "machine_id", as: String.self)
            let taskID = try row.decode(column: "task_id", as: String.self)
            let machine = try await Machines.load(session, machineID, lock: true)
            let refuse = { (reason: String) in Outcome.refused(reason, machineID: machineID, mac: machine.mac) }
            if StoreTime.decode(try row.decode(column: "expires_at", as: Int64.self)) < Date() { return refuse("token expired") }
            guard machine.taskID == taskID, machine.state == .deploying || machine.state == .wiping else {
                return refuse("the machine is \(machine.state.name) and no longer doing the step this token was for")
            }
            if let uuid, let known = machine.uuid, uuid != known { return refuse("token used for another machine (uuid \(uuid))") }
            let served = try row.decode(column: "config_served_at", as: Int64?.self)
            let completed = try row.decode(column: "completed_at", as: Int64?.self)
            switch stage {
            case .config:
                if served != nil { return refuse("config already served once for this boot (replayed)") }
                try await session.run("UPDATE \(tokens) SET config_served_at = \(bind: StoreTime.now()) WHERE digest = \(bind: digest)")
                try await Machines.insertEvent(session, machineID: machineID, mac: machine.mac, .config,
                                               detail: "\(machine.state == .deploying ? "machine config" : "wipe instructions") served",
                                               address: address, taskID: taskID)
            case .callback(let event):
                if served == nil { return refuse("callback before the config was fetched") }
                if completed != nil { return refuse("callback already received") }
                try await session.run("UPDATE \(tokens) SET completed_at = \(bind: StoreTime.now()) WHERE digest = \(bind: digest)")
                try await Machines.insertEvent(session, machineID: machineID, mac: machine.mac, .callback, detail: event,
                                               address: address, taskID: taskID)
            }
            return .granted(machine, taskID: taskID)
        }
        switch outcome {
        case .granted(let machine, let taskID):
            return (machine, taskID)
        case .refused(let reason, let machineID, let mac):
            try await machines.recordBootEvent(machineID: machineID, mac: mac, .configRefused, detail: reason, address: address)
            logger.warning("boot request refused", metadata: ["reason": "\(reason)", "address": "\(address ?? "-")"])
            throw DataverketError(.forbidden, "refused: \(reason)")
        }
    }

    // MARK: - Scripts

    static func exitScript(_ message: String) -> String {
        "#!ipxe\necho Dataverket: \(sanitized(message))\nexit\n"
    }

    static func discoveryScript(mac: String, configuration: BootConfiguration) -> String {
        """
        #!ipxe
        echo Dataverket: unknown machine \(mac): recorded for discovery (dvce machine discovered)
        echo Enroll it to deploy it; until then it boots from local disk.
        sleep 5
        exit

        """
    }

    static func installerScript(machine: MachineRecord, token: String, purpose: String, configuration: BootConfiguration) -> String {
        let base = configuration.publicURL
        let uuidQuery = machine.uuid.map { "uuid=\($0)&" } ?? ""
        let event = purpose == "install" ? "install-complete" : "wipe-complete"
        let arguments = [
            configuration.kernelArguments,
            "talos.config=\(base)/boot/config?\(uuidQuery)token=\(token)",
            "dv.callback=\(base)/boot/callback?\(uuidQuery)token=\(token)&event=\(event)",
            "dv.purpose=\(purpose)",
        ].filter { !$0.isEmpty }.joined(separator: " ")
        return """
        #!ipxe
        echo Dataverket: \(purpose) of \(machine.name) (task \(machine.taskID ?? "-"))
        kernel \(base)/boot/assets/\(configuration.kernel) initrd=\(configuration.initramfs) \(arguments)
        initrd \(base)/boot/assets/\(configuration.initramfs)
        boot

        """
    }

    static func rescueScript(machine: MachineRecord, configuration: BootConfiguration) -> String {
        let base = configuration.publicURL
        return """
        #!ipxe
        echo Dataverket: rescue environment for \(machine.name)
        kernel \(base)/boot/assets/\(configuration.kernel) initrd=\(configuration.initramfs) \(configuration.kernelArguments) dv.purpose=rescue
        initrd \(base)/boot/assets/\(configuration.initramfs)
        boot

        """
    }

    static func sanitized(_ text: String) -> String {
        String(text.unicodeScalars.filter { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7f && $0 != "$" }.map(Character.init))
    }
}

/// Reads a machine's DHCP lease from a dnsmasq lease file (`expiry mac ip hostname client-id` per line).
enum DHCPLeases {
    static func lease(for mac: String, in path: String) -> BootEvent? {
        guard let data = FileManager.default.contents(atPath: path), data.count <= 4 << 20 else { return nil }
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 3, fields[1].lowercased() == mac, let expiry = TimeInterval(fields[0]) else { continue }
            return BootEvent(kind: .dhcp, at: Date(timeIntervalSince1970: expiry),
                             detail: "lease \(fields[2]) (expires at the time shown)", address: String(fields[2]))
        }
        return nil
    }
}

/// The last lines of a console log file (a VM's serial log in the lab), read from its last 64 KiB.
enum ConsoleLog {
    static func tail(path: String, lines: Int) -> [String] {
        guard let handle = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        let start = size > 65_536 ? size - 65_536 : 0
        try? handle.seek(toOffset: start)
        let data = (try? handle.readToEnd()) ?? Data()
        let text = String(decoding: data, as: UTF8.self)
            .replacingOccurrences(of: "\r", with: "")
        let clean = text.split(separator: "\n", omittingEmptySubsequences: true).map { line in
            String(line.unicodeScalars.filter { $0 == "\t" || ($0.value >= 0x20 && $0.value != 0x7f && $0.value != 0x1b) }.map(Character.init))
        }.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        return Array(clean.suffix(lines))
    }
}
