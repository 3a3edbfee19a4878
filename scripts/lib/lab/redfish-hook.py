#!/usr/bin/env python3
"""Power plumbing between one sushy-tools fake system and one lab VM (qemu), run beside each Redfish BMC.

sushy-tools' fake driver keeps each system in a sqlite file (SUSHY_EMULATOR_STATE_DIR/fakedriver.sqlite) and,
with `external_notifier: True`, PUTs the system's JSON to EXTERNAL_NOTIFICATION_URL (this hook) on every change.
A power request is stored as `pending_power` {power_state, apply_time} (apply_time = now + random 1..11 s: real
hardware is not instant either), and sushy applies it on the first read after apply_time. This hook:
  * on a PUT (and by polling the sqlite file every 0.5 s) records a pending power change and, at its
    apply_time, starts/stops/restarts the VM through vmctl, then writes the applied state into the sqlite
    file (so the change lands even if nobody reads the system in between);
  * mirrors `boot_device` (Pxe -> pxe, Hdd -> disk, anything else -> default) into the VM's boot file;
  * makes the reported PowerState follow the qemu process: when the guest powers itself off (the stand-in
    does after its callback) PowerState becomes Off within ~1 s (sushy alone would report On forever).
The hook keeps running while its sushy-emulator is stopped (`scripts/lab bmc stop`): the server's power does
not depend on its BMC, and the state sushy reads on restart is then current.
Usage: redfish-hook.py VMDIR PORT SQLITE UUID VMCTL"""
import http.server
import json
import os
import pickle
import sqlite3
import subprocess
import sys
import threading
import time

VMDIR, PORT, SQLITE, UUID, VMCTL = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
lock = threading.Lock()
wake = threading.Event()
wanted = None          # (target, apply_time) of a pending power change not yet carried out
done_keys = set()      # pending changes already carried out (keyed by target and apply_time)
last_action = 0.0


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def vmctl(*args):
    return subprocess.run([VMCTL, VMDIR, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=60).returncode


def running():
    return vmctl("running") == 0


def read_system():
    if not os.path.exists(SQLITE):
        return None
    con = sqlite3.connect(SQLITE, timeout=5)
    try:
        for key, value in con.execute("select key, value from cache"):
            if pickle.loads(key) == UUID:
                return pickle.loads(value)
    finally:
        con.close()
    return None


def write_system(update):
    """Read-modify-write of our system in sushy's store (changes only the given keys)."""
    con = sqlite3.connect(SQLITE, timeout=5)
    try:
        with con:
            for key, value in con.execute("select key, value from cache").fetchall():
                if pickle.loads(key) == UUID:
                    system = pickle.loads(value)
                    system.update(update)
                    con.execute("update cache set value=? where key=?", (pickle.dumps(system), key))
    finally:
        con.close()


def note(system):
    """Records a pending power change and mirrors the boot device."""
    global wanted
    if not system:
        return
    pending = system.get("pending_power")
    if pending:
        key = (pending["power_state"], pending["apply_time"])
        if key not in done_keys:
            wanted = key
    if "boot_device" in system:
        dev = {"Pxe": "pxe", "Hdd": "disk"}.get(system["boot_device"], "default")
        path = os.path.join(VMDIR, "boot")
        try:
            current = open(path).read().strip()
        except OSError:
            current = None
        if current != dev:
            vmctl("boot", dev)
            log(f"boot device -> {dev} ({system['boot_device']})")


def step():
    global wanted, last_action
    with lock:
        system = read_system()
        note(system)
        now = time.time()
        if wanted and now >= wanted[1] - 0.3:
            target, apply_time = wanted
            if "Restart" in target:
                log(f"power {target}: restarting the VM")
                vmctl("restart")
                applied = "On"
            elif target == "On":
                log("power On: starting the VM")
                vmctl("start")
                applied = "On"
            else:
                log(f"power {target}: stopping the VM")
                vmctl("stop")
                applied = "Off"
            done_keys.add(wanted)
            wanted = None
            last_action = time.time()
            system = read_system()
            if system:
                pending = system.get("pending_power")
                if pending and (pending["power_state"], pending["apply_time"]) == (target, apply_time):
                    write_system({"power_state": applied, "pending_power": None})
            return
        if system is None or system.get("pending_power") or wanted or now < last_action + 3:
            return
        is_on = running()
        if system.get("power_state") == "On" and not is_on:
            log("the VM's qemu has exited: PowerState -> Off")
            write_system({"power_state": "Off"})
        elif system.get("power_state") == "Off" and is_on:
            log("the VM's qemu runs: PowerState -> On")
            write_system({"power_state": "On"})


class Handler(http.server.BaseHTTPRequestHandler):
    def do_PUT(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b"{}"
        try:
            system = json.loads(body)
        except ValueError:
            system = None
        with lock:
            if system and system.get("uuid") == UUID:
                note(system)
        wake.set()
        self.send_response(204)
        self.end_headers()

    do_POST = do_PUT

    def log_message(self, fmt, *args):
        pass


def loop():
    while True:
        try:
            step()
        except Exception as exc:  # keep going: sushy may be rewriting its store
            log(f"step failed: {exc!r}")
        wake.wait(0.5)
        wake.clear()


threading.Thread(target=loop, daemon=True).start()
server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
log(f"hook for {UUID} on 127.0.0.1:{PORT}")
server.serve_forever()
