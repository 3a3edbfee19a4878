import DataverketCore
import Foundation

/// Power as the BMC reports it.
public enum PowerState: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
    case on, off
    /// Redfish's `PoweringOn`/`PoweringOff`: a change is under way.
    case poweringOn = "powering-on"
    case poweringOff = "powering-off"

    public var description: String { rawValue }
}

/// What to do with a machine's power.
public enum PowerAction: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
    case on
    /// Hard power off (no OS involvement).
    case off
    /// Ask the OS to shut down (ACPI power button).
    case softOff = "soft-off"
    /// Off then on (a machine that is off is powered on).
    case cycle

    public var description: String { rawValue }
}

/// A one-shot boot device: used for the next boot only.
public enum BootDevice: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
    case pxe, disk, http
    public var description: String { rawValue }
}

/// A boot override as read back from the BMC.
public struct BootOverride: Sendable, Hashable, Codable {
    public enum Enabled: String, Sendable, Hashable, Codable { case disabled, once, continuous }
    /// nil when the BMC reports a device Maskin does not use (CD, BIOS setup, …) or none.
    public var device: BootDevice?
    public var enabled: Enabled

    public init(device: BootDevice?, enabled: Enabled) {
        self.device = device
        self.enabled = enabled
    }
}

/// Hardware facts a BMC can tell about its system; absent facts are nil or empty (BMCs differ widely).
public struct SystemFacts: Sendable, Hashable, Codable {
    public struct CPU: Sendable, Hashable, Codable {
        public var model: String?
        public var sockets: Int?
        public var cores: Int?
        public var threads: Int?
        public init(model: String? = nil, sockets: Int? = nil, cores: Int? = nil, threads: Int? = nil) {
            self.model = model
            self.sockets = sockets
            self.cores = cores
            self.threads = threads
        }
    }

    public struct Disk: Sendable, Hashable, Codable {
        public var name: String
        public var sizeBytes: Int64?
        /// `SATA`, `SAS`, `NVMe`, … as the BMC names it.
        public var interface: String?
        /// `HDD` or `SSD` as the BMC names it.
        public var mediaType: String?
        public var serial: String?
        public init(name: String, sizeBytes: Int64? = nil, interface: String? = nil, mediaType: String? = nil,
                    serial: String? = nil) {
            self.name = name
            self.sizeBytes = sizeBytes
            self.interface = interface
            self.mediaType = mediaType
            self.serial = serial
        }
    }

    public var manufacturer: String?
    public var model: String?
    public var serial: String?
    /// The system UUID, lowercase.
    public var uuid: String?
    /// The host's network interfaces, lowercase, colon-separated, sorted.
    public var macAddresses: [String]
    public var cpu: CPU?
    public var memoryGiB: Double?
    public var disks: [Disk]
    /// The BMC's own network interface (IPMI `lan print`), when known.
    public var bmcMACAddress: String?

    public init(manufacturer: String? = nil, model: String? = nil, serial: String? = nil, uuid: String? = nil,
                macAddresses: [String] = [], cpu: CPU? = nil, memoryGiB: Double? = nil, disks: [Disk] = [],
                bmcMACAddress: String? = nil) {
        self.manufacturer = manufacturer
        self.model = model
        self.serial = serial
        self.uuid = uuid
        self.macAddresses = macAddresses
        self.cpu = cpu
        self.memoryGiB = memoryGiB
        self.disks = disks
        self.bmcMACAddress = bmcMACAddress
    }
}

/// One way to talk to a baseboard management controller. Every call is bounded in time (request timeouts,
/// bounded retries) and fails with a `DataverketError` whose message is one line naming the BMC's address,
/// never its credentials, and whose `cause` is a `BMCFailure` saying what kind of failure it was.
public protocol BMCDriver: Sendable {
    var endpoint: BMCEndpoint { get }
    func powerState() async throws -> PowerState
    func setPower(_ action: PowerAction) async throws
    /// Boots `device` on the next boot only.
    func setOneTimeBoot(_ device: BootDevice) async throws
    func bootOverride() async throws -> BootOverride
    func systemFacts() async throws -> SystemFacts
}

extension BMCDriver {
    public func powerOn() async throws { try await setPower(.on) }
    public func powerOff() async throws { try await setPower(.off) }
    public func softPowerOff() async throws { try await setPower(.softOff) }
    public func powerCycle() async throws { try await setPower(.cycle) }
}

/// What kind of failure a BMC call met; the `cause` of the `DataverketError` a driver throws. Tells a task whether
/// trying again later can help (`unreachable`, `timedOut`) or an operator must act (`unauthorized`, `rejected`).
public struct BMCFailure: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, Codable {
        /// No connection (refused, reset, no route).
        case unreachable
        /// Connected, but no answer in time.
        case timedOut = "timed-out"
        /// The BMC refused the credentials.
        case unauthorized
        /// The BMC answered with an error to a well-formed request.
        case rejected
        /// The BMC answered something Maskin cannot read.
        case badResponse = "bad-response"
        /// The BMC (or this driver) cannot do what was asked.
        case unsupported
    }

    public var kind: Kind
    public var attempts: Int

    public init(_ kind: Kind, attempts: Int = 1) {
        self.kind = kind
        self.attempts = attempts
    }

    /// Whether trying again later can succeed.
    public var isTransient: Bool { kind == .unreachable || kind == .timedOut }

    public var description: String { "bmc \(kind.rawValue)" }
}

extension DataverketError {
    /// The BMC failure behind this error, when a BMC driver threw it.
    public var bmcFailure: BMCFailure? { cause as? BMCFailure }

    static func bmc(_ kind: BMCFailure.Kind, attempts: Int = 1, _ message: String) -> DataverketError {
        let code: Code = switch kind {
        case .unsupported: .invalidArgument
        default: .unavailable
        }
        return DataverketError(code, message, cause: BMCFailure(kind, attempts: attempts))
    }
}
