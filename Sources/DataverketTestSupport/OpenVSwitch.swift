import DataverketCore
import DataverketProcess
import Foundation

/// Runs `body` with a private ovsdb-server and ovs-vswitchd (bridge `br0`, userspace datapath) in a temporary
/// directory; `body` gets the directory (`DIR/db.sock` is the OVSDB socket). Both daemons are stopped afterwards.
public func withOpenVSwitch<T: Sendable>(_ body: (String) async throws -> T) async throws -> T {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dvovs-\(ULID.make().suffix(8).lowercased())").path
    let script = """
        set -e
        mkdir -p "$1"
        ovsdb-tool create "$1/conf.db" /usr/share/openvswitch/vswitch.ovsschema
        for fd in /proc/$$/fd/*; do fd=${fd##*/}; if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi; done
        ovsdb-server "$1/conf.db" --remote="punix:$1/db.sock" --pidfile="$1/ovsdb.pid" --unixctl="$1/ovsdb.ctl" --log-file="$1/ovsdb.log" --detach </dev/null >/dev/null 2>&1
        ovs-vsctl --db="unix:$1/db.sock" --no-wait init
        ovs-vswitchd "unix:$1/db.sock" --pidfile="$1/vswitchd.pid" --unixctl="$1/vswitchd.ctl" --log-file="$1/vswitchd.log" --detach </dev/null >/dev/null 2>&1
        ovs-vsctl --db="unix:$1/db.sock" --timeout=10 add-br br0 -- set bridge br0 datapath_type=netdev
        """
    let env = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
    let started = try await runSubprocess("/bin/bash", ["-c", script, "ovs", dir], environment: env, timeout: .seconds(30))
    guard started?.status == 0 else {
        throw DataverketError(.unavailable, "could not start Open vSwitch: \(started?.stderr ?? "timed out after 30 s")")
    }
    // `ovs-appctl exit`, then KILL: the daemons may have inherited an ignored SIGTERM from the test runner.
    let stop = """
        for p in vswitchd ovsdb; do ovs-appctl -t "$1/$p.ctl" exit >/dev/null 2>&1 || true; done
        sleep 0.3
        for p in vswitchd ovsdb; do [ -f "$1/$p.pid" ] && kill -9 "$(cat "$1/$p.pid")" 2>/dev/null; done
        rm -rf "$1"
        """
    let result: T
    do {
        result = try await body(dir)
    } catch {
        _ = try? await runSubprocess("/bin/bash", ["-c", stop, "ovs", dir], environment: env, timeout: .seconds(10))
        throw error
    }
    _ = try await runSubprocess("/bin/bash", ["-c", stop, "ovs", dir], environment: env, timeout: .seconds(10))
    return result
}
