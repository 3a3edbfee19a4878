/// Maskin: the bare-metal lifecycle (docs/adr/009-bare-metal-provisioning.md).
///
/// - `Machine`, `MachineState`, `MachineLifecycle`: the lifecycle as one pure state machine with deadlines and the
///   quarantine rule.
/// - `BMCDriver` with `RedfishDriver` and `IPMIDriver`: power, one-shot boot device and hardware facts.
public enum Maskin {
    /// The service name in bus subjects (`dv.maskin.…`) and health reports.
    public static let service = "maskin"
}
