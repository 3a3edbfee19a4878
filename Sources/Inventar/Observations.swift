#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import DataverketCore
import DataverketStore
import SQLKit

public enum ObservationSource: String, Codable, Sendable, CaseIterable { case bmc, lldp, boot, manual }

/// An interface as discovery saw it; `neighbor` is the LLDP neighbour (system name : port ID).
public struct ObservedInterface: Codable, Sendable, Hashable {
    public var name: String
    public var mac: String?
    public var neighbor: Endpoint?

    public init(name: String, mac: String? = nil, neighbor: Endpoint? = nil) {
        self.name = name
        self.mac = mac
        self.neighbor = neighbor
    }
}

/// What a driver or discovery saw of one device. Identity is the device name if the source knows it, else
/// its serial or MACs; the store matches it to a declared device.
public struct Observation: Codable, Sendable, Hashable {
    public var source: ObservationSource
    public var device: String?
    public var serial: String?
    public var macs: [String]
    public var interfaces: [ObservedInterface]
    public var hardware: HardwareFacts?
    public var observedAt: Date

    public init(source: ObservationSource, device: String? = nil, serial: String? = nil, macs: [String] = [],
                interfaces: [ObservedInterface] = [], hardware: HardwareFacts? = nil, observedAt: Date = Date()) {
        self.source = source
        self.device = device
        self.serial = serial
        self.macs = macs
        self.interfaces = interfaces
        self.hardware = hardware
        self.observedAt = observedAt
    }

    enum CodingKeys: String, CodingKey { case source, device, serial, macs, interfaces, hardware, observedAt }

    /// Lists a source did not see may be left out.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(source: try container.decode(ObservationSource.self, forKey: .source),
                  device: try container.decodeIfPresent(String.self, forKey: .device),
                  serial: try container.decodeIfPresent(String.self, forKey: .serial),
                  macs: try container.decodeIfPresent([String].self, forKey: .macs) ?? [],
                  interfaces: try container.decodeIfPresent([ObservedInterface].self, forKey: .interfaces) ?? [],
                  hardware: try container.decodeIfPresent(HardwareFacts.self, forKey: .hardware),
                  observedAt: try container.decodeIfPresent(Date.self, forKey: .observedAt) ?? Date())
    }

    /// MACs normalized; every invalid field reported.
    func normalized() throws(DataverketError) -> Observation {
        var out = self
        var violations: [DataverketError.FieldViolation] = []
        out.device = device?.lowercased()
        out.macs = macs.enumerated().compactMap { index, mac in
            guard let value = MACAddress.normalize(mac) else {
                violations.append(.init(field: "macs[\(index)]", message: "'\(mac)' is not a MAC address"))
                return nil
            }
            return value
        }
        for index in out.interfaces.indices {
            if let mac = out.interfaces[index].mac {
                out.interfaces[index].mac = MACAddress.normalize(mac)
                if out.interfaces[index].mac == nil {
                    violations.append(.init(field: "interfaces[\(index)].mac", message: "'\(mac)' is not a MAC address"))
                }
            }
        }
        do throws(DataverketError) { try Validation.checkText(serial, field: "serial", max: 256) } catch { violations += error.violations }
        if out.device == nil && out.serial == nil && out.macs.isEmpty && out.interfaces.allSatisfy({ $0.mac == nil }) {
            violations.append(.init(field: "device", message: "an observation needs a device name, a serial or a MAC to identify it"))
        }
        if !violations.isEmpty {
            throw DataverketError(.invalidArgument, violations.map { "\($0.field): \($0.message)" }.joined(separator: "; "), violations: violations)
        }
        return out
    }

    var allMACs: [String] { Array(Set(macs + interfaces.compactMap(\.mac))).sorted() }

    /// The key unmatched observations are grouped by.
    var identity: String { device ?? serial.map { "serial:\($0)" } ?? "mac:\(allMACs.first ?? "")" }
}

public struct ObservationRecord: Codable, Sendable, Hashable {
    public var id: String
    public var observation: Observation
    /// The declared device it was matched to, if any.
    public var device: String?
}

public enum DriftKind: String, Codable, Sendable { case missing, unexpected, mismatch }

/// One difference between the declared and the observed inventory.
public struct DriftItem: Codable, Sendable, Hashable, CustomStringConvertible {
    public var kind: DriftKind
    public var objectKind: ObjectKind
    /// The device (or, for unexpected hardware, its identity: `serial:…`, `mac:…`, or the name it reported).
    public var name: String
    public var field: String?
    public var declared: String?
    public var observed: String?
    public var source: ObservationSource?
    public var observedAt: Date?

    public var description: String {
        switch kind {
        case .missing: "missing    \(objectKind.rawValue) \(name): \(observedAt.map { "not observed since \($0)" } ?? "never observed")"
        case .unexpected: "unexpected \(objectKind.rawValue) \(name)\(source.map { " (seen by \($0.rawValue))" } ?? ""): observed but not declared"
        case .mismatch:
            "mismatch   \(objectKind.rawValue) \(name) \(field ?? ""): declared \(declared ?? "(none)"), observed \(observed ?? "(none)")\(source.map { " (\($0.rawValue))" } ?? "")"
        }
    }
}

public struct DriftFilter: Sendable, Hashable {
    public var datacenter: String?
    public var device: String?
    /// A device whose newest observation is older than this is missing (nil: only never-observed ones are).
    public var staleAfter: Duration?

    public init(datacenter: String? = nil, device: String? = nil, staleAfter: Duration? = nil) {
        self.datacenter = datacenter?.lowercased()
        self.device = device?.lowercased()
        self.staleAfter = staleAfter
    }
}

extension Inventory {
    /// Records an observation, matched to a declared device by name, else serial, else MAC.
    public func observe(_ observation: Observation, context: OperationContext) async throws -> ObservationRecord {
        let observation = try observation.normalized()
        return try await database.transaction { session in
            let device = try await Self.match(session, observation)
            let record = ObservationRecord(id: ResourceID.generate(prefix: "obs").rawValue, observation: observation, device: device)
            try await session.run("""
                INSERT INTO \(Self.table(session, "observations")) (id, source, device, identity, serial, facts, observed_at, received_at)
                VALUES (\(bind: record.id), \(bind: observation.source.rawValue), \(bind: device), \(bind: observation.identity),
                    \(bind: observation.serial), \(bind: try JSONColumn.encode(observation)), \(bind: StoreTime.encode(observation.observedAt)),
                    \(bind: StoreTime.now()))
                """)
            return record
        }
    }

    static func match(_ session: Session, _ observation: Observation) async throws -> String? {
        let devices = table(session, "devices")
        if let name = observation.device,
           try await session.first("SELECT name FROM \(devices) WHERE name = \(bind: name)") != nil {
            return name
        }
        if let serial = observation.serial,
           let row = try await session.first("SELECT name FROM \(devices) WHERE serial = \(bind: serial) ORDER BY name") {
            return try Column.string(row, "name")
        }
        let macs = observation.allMACs
        if !macs.isEmpty {
            var query: SQLQueryString = "SELECT device FROM \(table(session, "interfaces")) WHERE mac IN "
            query.bindList(macs)
            query.appendInterpolation(unsafeRaw: " ORDER BY device")
            if let row = try await session.first(query) { return try Column.string(row, "device") }
        }
        return nil
    }

    /// Declared versus observed, per device: missing (never or no longer observed), unexpected (observed, not
    /// declared; listed unless the filter names one device), and mismatched fields (serial, MACs, interfaces,
    /// LLDP neighbours against the declared cabling, CPU cores, memory, GPUs), from each source's newest
    /// observation.
    public func drift(_ filter: DriftFilter = DriftFilter(), now: Date = Date()) async throws -> [DriftItem] {
        try await database.read { session in
            let devicesTable = Self.table(session, "devices")
            var scope: SQLQueryString = "SELECT name FROM \(devicesTable) WHERE 1 = 1"
            if let datacenter = filter.datacenter { scope.appendInterpolation(unsafeRaw: " AND datacenter = "); scope.appendInterpolation(bind: datacenter) }
            if let device = filter.device { scope.appendInterpolation(unsafeRaw: " AND name = "); scope.appendInterpolation(bind: device) }

            func scoped(_ select: String, column: String, order: String) -> SQLQueryString {
                var query = SQLQueryString(select)
                query.appendInterpolation(unsafeRaw: " WHERE \(column) IN (")
                query.appendInterpolation(scope)
                query.appendInterpolation(unsafeRaw: ") ORDER BY \(order)")
                return query
            }
            var devices: [String: Device] = [:]
            for row in try await session.all(scoped("SELECT * FROM \(devicesTable)", column: "name", order: "name")) {
                let device = try Column.device(row)
                devices[device.name] = device
            }
            var interfaces: [String: [String: Interface]] = [:]
            for row in try await session.all(scoped("SELECT * FROM \(Self.table(session, "interfaces"))", column: "device", order: "device, name")) {
                let interface = try Column.interface(row)
                interfaces[interface.device, default: [:]][interface.name] = interface
            }
            var links: [Endpoint: Endpoint] = [:]
            for row in try await session.all(scoped("SELECT * FROM \(Self.table(session, "link_ends"))", column: "device", order: "device, interface")) {
                links[Endpoint(device: try Column.string(row, "device"), interface: try Column.string(row, "interface"))] =
                    Endpoint(device: try Column.string(row, "far_device"), interface: try Column.string(row, "far_interface"))
            }

            // Newest observation per (device, source), and per (identity, source) of the unmatched ones.
            let observations = Self.table(session, "observations")
            var observed: [String: [Observation]] = [:]
            var latest: SQLQueryString = """
                SELECT o.device, o.facts FROM \(observations) o
                WHERE o.observed_at = (SELECT MAX(o2.observed_at) FROM \(observations) o2 WHERE o2.device = o.device AND o2.source = o.source)
                AND o.device IN (
                """
            latest.appendInterpolation(scope)
            latest.appendInterpolation(unsafeRaw: ") ORDER BY o.device, o.source")
            for row in try await session.all(latest) {
                observed[try Column.string(row, "device"), default: []].append(try JSONColumn.decode(Observation.self, try Column.string(row, "facts")))
            }
            var unmatched: [Observation] = []
            if filter.device == nil {
                for row in try await session.all("""
                    SELECT o.facts FROM \(observations) o WHERE o.device IS NULL
                    AND o.observed_at = (SELECT MAX(o2.observed_at) FROM \(observations) o2
                        WHERE o2.device IS NULL AND o2.identity = o.identity AND o2.source = o.source)
                    ORDER BY o.identity, o.source
                    """) {
                    unmatched.append(try JSONColumn.decode(Observation.self, try Column.string(row, "facts")))
                }
            }
            // Hardware seen before it was declared: match it now by serial or MAC.
            var stillUnmatched: [Observation] = []
            if !unmatched.isEmpty {
                let serials = Dictionary(devices.values.compactMap { d in d.serial.map { ($0, d.name) } }, uniquingKeysWith: { a, _ in a })
                var macs: [String: String] = [:]
                for (device, list) in interfaces { for interface in list.values { if let mac = interface.mac { macs[mac] = device } } }
                for observation in unmatched {
                    if let device = observation.serial.flatMap({ serials[$0] }) ?? observation.allMACs.lazy.compactMap({ macs[$0] }).first {
                        observed[device, default: []].append(observation)
                    } else {
                        stillUnmatched.append(observation)
                    }
                }
            }
            return Drift.compute(devices: devices, interfaces: interfaces, links: links, observed: observed,
                                 unmatched: stillUnmatched, staleAfter: filter.staleAfter, now: now)
        }
    }
}

/// The drift computation itself: pure.
enum Drift {
    static func compute(devices: [String: Device], interfaces: [String: [String: Interface]], links: [Endpoint: Endpoint],
                        observed: [String: [Observation]], unmatched: [Observation], staleAfter: Duration?, now: Date) -> [DriftItem] {
        var items: [DriftItem] = []
        for name in devices.keys.sorted() {
            let device = devices[name]!
            let seen = (observed[name] ?? []).sorted { $0.source.rawValue < $1.source.rawValue }
            guard let newest = seen.map(\.observedAt).max() else {
                items.append(DriftItem(kind: .missing, objectKind: .device, name: name))
                continue
            }
            if let staleAfter, now.timeIntervalSince(newest) > Double(staleAfter.components.seconds) {
                items.append(DriftItem(kind: .missing, objectKind: .device, name: name, observedAt: newest))
            }
            let declaredInterfaces = interfaces[name] ?? [:]
            for observation in seen {
                func mismatch(_ kind: ObjectKind, _ object: String, _ field: String, _ declared: String?, _ seen: String?) {
                    items.append(DriftItem(kind: .mismatch, objectKind: kind, name: object, field: field, declared: declared, observed: seen,
                                           source: observation.source, observedAt: observation.observedAt))
                }
                func mismatch(_ field: String, _ declared: String?, _ seen: String?) { mismatch(.device, name, field, declared, seen) }
                if let serial = observation.serial, serial != device.serial {
                    mismatch("serial", device.serial, serial)
                }
                if !observation.macs.isEmpty {
                    let declaredMACs = Set(declaredInterfaces.values.compactMap(\.mac))
                    for mac in observation.macs where !declaredMACs.contains(mac) {
                        mismatch("macs", nil, mac)
                    }
                }
                for seenInterface in observation.interfaces {
                    let ref = "\(name):\(seenInterface.name)"
                    guard let declared = declaredInterfaces[seenInterface.name] else {
                        mismatch(.interface, ref, "interface", nil, "present")
                        continue
                    }
                    if let mac = seenInterface.mac, mac != declared.mac {
                        mismatch(.interface, ref, "mac", declared.mac, mac)
                    }
                    if let neighbor = seenInterface.neighbor {
                        let cabled = links[declared.endpoint]
                        if cabled != neighbor {
                            mismatch(.interface, ref, "link", cabled?.description, neighbor.description)
                        }
                    }
                }
                if let hardware = observation.hardware {
                    let declared = device.hardware
                    if let cpu = hardware.cpu, cpu.cores != declared.cpu?.cores {
                        mismatch("hardware.cpu.cores", declared.cpu.map { String($0.cores) }, String(cpu.cores))
                    }
                    if let memory = hardware.memoryGiB, memory != declared.memoryGiB {
                        mismatch("hardware.memoryGiB", declared.memoryGiB.map(String.init), String(memory))
                    }
                    if !hardware.gpus.isEmpty || declared.gpuCount > 0, hardware.gpuCount != declared.gpuCount {
                        mismatch("hardware.gpus", String(declared.gpuCount), String(hardware.gpuCount))
                    }
                }
            }
        }
        var seenIdentities: Set<String> = []
        for observation in unmatched where seenIdentities.insert(observation.identity).inserted {
            items.append(DriftItem(kind: .unexpected, objectKind: .device, name: observation.identity, field: nil, declared: nil,
                                   observed: observation.serial, source: observation.source, observedAt: observation.observedAt))
        }
        return items
    }
}

extension Inventory: HardwareObserver {
    /// An observation from a service that read hardware (Maskin), matched to the declared device by name, serial or MAC.
    public func observe(_ observation: HardwareObservation, context: OperationContext) async throws {
        var hardware: HardwareFacts?
        if observation.cpu != nil || observation.memoryGiB != nil || observation.disks != nil {
            hardware = HardwareFacts(
                cpu: observation.cpu.map { CPU(model: $0.model, sockets: $0.sockets, cores: $0.cores) },
                memoryGiB: observation.memoryGiB,
                disks: (observation.disks ?? []).map { disk in
                    Disk(name: disk.name, type: DiskType(rawValue: disk.kind.rawValue) ?? .hdd, sizeGB: disk.sizeGB)
                })
        }
        let source: ObservationSource = switch observation.source {
        case .boot: .boot
        case .bmc: .bmc
        }
        _ = try await observe(Observation(source: source, device: observation.device, serial: observation.serial,
                                          macs: observation.macs, hardware: hardware), context: context)
    }
}

extension Inventory: SwitchPortDirectory {
    /// The switch ports the device's Ethernet interfaces are cabled to (links whose far end is a switch).
    public func switchPorts(of device: String) async throws -> [SwitchPortCable] {
        let record = try await self.device(device)
        var cables: [SwitchPortCable] = []
        var kinds: [String: DeviceKind] = [:]
        for interface in record.interfaces where interface.interface.kind == .ethernet {
            guard let far = interface.linkedTo else { continue }
            if kinds[far.device] == nil { kinds[far.device] = try await self.device(far.device).device.kind }
            guard kinds[far.device] == .switch else { continue }
            cables.append(SwitchPortCable(nic: interface.interface.name, mac: interface.interface.mac, device: far.device, interface: far.interface))
        }
        return cables
    }
}
