/// What a service that reads hardware (a BMC inspection, a machine network-booting) tells the inventory: the
/// narrow contract between Maskin and Inventar, so neither depends on the other. The composition root hands
/// Maskin the inventory as a ``HardwareObserver``.
public struct HardwareObservation: Sendable, Hashable {
    public enum Source: String, Sendable, Hashable {
        /// A machine network-booted (its MAC, maybe its serial).
        case boot
        /// A BMC was read.
        case bmc
    }

    public struct CPU: Sendable, Hashable {
        public var model: String
        public var sockets: Int
        /// Physical cores in total.
        public var cores: Int
        public init(model: String, sockets: Int, cores: Int) {
            self.model = model
            self.sockets = sockets
            self.cores = cores
        }
    }

    public struct Disk: Sendable, Hashable {
        public enum Kind: String, Sendable, Hashable { case nvme, ssd, hdd }
        public var name: String
        public var kind: Kind
        public var sizeGB: Int
        public init(name: String, kind: Kind, sizeGB: Int) {
            self.name = name
            self.kind = kind
            self.sizeGB = sizeGB
        }
    }

    public var source: Source
    /// The declared device's name, when the observer knows it.
    public var device: String?
    public var serial: String?
    /// Normalized MAC addresses (`aa:bb:…`).
    public var macs: [String]
    public var cpu: CPU?
    public var memoryGiB: Int?
    public var disks: [Disk]?

    public init(source: Source, device: String? = nil, serial: String? = nil, macs: [String], cpu: CPU? = nil,
                memoryGiB: Int? = nil, disks: [Disk]? = nil) {
        self.source = source
        self.device = device
        self.serial = serial
        self.macs = macs
        self.cpu = cpu
        self.memoryGiB = memoryGiB
        self.disks = disks
    }
}

/// Takes hardware observations (the inventory does: they become observations and drift).
public protocol HardwareObserver: Sendable {
    func observe(_ observation: HardwareObservation, context: OperationContext) async throws
}
