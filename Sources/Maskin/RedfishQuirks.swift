/// Everything in which Redfish services differ that the driver must know, in one value, chosen per BMC model.
/// Only the generic profile (DMTF's schema as written; sushy-tools and OpenBMC follow it) exists so far; a vendor
/// profile is a copy of it with the differences set.
public struct RedfishQuirks: Sendable, Hashable {
    /// A short name for logs (`generic`, `idrac9`, …).
    public var name: String
    /// `ResetType` values for each power action, most preferred first; the driver takes the first one the system
    /// lists in `ResetType@Redfish.AllowableValues` (or the first one, when it lists none).
    public var resetTypes: [PowerAction: [String]]
    /// `BootSourceOverrideTarget` values for each boot device.
    public var bootTargets: [BootDevice: String]
    /// Some BMCs (HPE iLO among them) refuse a PATCH without `If-Match`; the driver then reads the ETag first.
    public var patchNeedsETag: Bool
    /// Send `BootSourceOverrideMode` (`UEFI`, `Legacy`) with the boot override; nil leaves the mode as it is.
    public var bootOverrideMode: String?

    public init(name: String, resetTypes: [PowerAction: [String]], bootTargets: [BootDevice: String],
                patchNeedsETag: Bool = false, bootOverrideMode: String? = nil) {
        self.name = name
        self.resetTypes = resetTypes
        self.bootTargets = bootTargets
        self.patchNeedsETag = patchNeedsETag
        self.bootOverrideMode = bootOverrideMode
    }

    public static let generic = RedfishQuirks(
        name: "generic",
        resetTypes: [
            .on: ["On", "ForceOn"],
            .off: ["ForceOff"],
            .softOff: ["GracefulShutdown"],
            .cycle: ["PowerCycle", "ForceRestart"],
        ],
        bootTargets: [.pxe: "Pxe", .disk: "Hdd", .http: "UefiHttp"]
    )
}
