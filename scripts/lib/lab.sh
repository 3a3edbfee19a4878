# shellcheck shell=bash
# The bare-metal lab for Maskin (issue 8): a provisioning network in a network namespace with dnsmasq handing
# qemu's iPXE ROM the boot service URL, N qemu VMs (TCG) that network-boot from it, each behind its own BMC
# emulator on loopback (odd VMs: sushy-tools Redfish; even VMs: OpenIPMI ipmi_sim), booting a Talos stand-in
# (the Debian kernel + a busybox initramfs, see docs/lab.md). Sourced by scripts/lab; see `scripts/lab help`.
# shellcheck source=scripts/lib/python.sh
. "$(dirname "${BASH_SOURCE[0]}")/python.sh"
# shellcheck source=scripts/lib/bmc.sh
. "$(dirname "${BASH_SOURCE[0]}")/bmc.sh"
# shellcheck source=scripts/lib/netlab.sh
. "$(dirname "${BASH_SOURCE[0]}")/netlab.sh"
# shellcheck source=scripts/lib/fabric.sh
. "$(dirname "${BASH_SOURCE[0]}")/fabric.sh"

LAB_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")/lab" && pwd)
LAB_VENV=.venv-test
LAB_SUSHY_SPEC='sushy-tools==2.2.0'
LAB_USER=dvadmin
LAB_PASSWORD=Hemmelig-7Qx2
# Bump when the stand-in's build changes in a way its inputs do not show.
LAB_ASSETS_VERSION=2

# lab_close_fds: closes every descriptor above 2 in this (sub)shell. Daemons must not keep the caller's pipes
# open: a caller that waits for EOF on one (Foundation's Process does, to see its child exit) would wait for the
# daemon's whole life.
lab_close_fds() {
  local fd
  for fd in /proc/"$BASHPID"/fd/*; do
    fd=${fd##*/}
    if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
  done
}

lab_die() { echo "lab: $*" >&2; exit 1; }
lab_log() { echo "==> $*" >&2; }

# --- packages ----------------------------------------------------------------------------------------------

lab_apt_updated=
lab_apt() {
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "$lab_apt_updated" ]; then apt-get update -qq; lab_apt_updated=1; fi
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# lab_kernel_version: the newest Debian kernel in /boot that has its modules installed.
lab_kernel_version() {
  local k v best=
  for k in /boot/vmlinuz-*-amd64; do
    [ -f "$k" ] || continue
    v=${k#/boot/vmlinuz-}
    [ -d "/lib/modules/$v/kernel" ] || continue
    if [ -z "$best" ] || [ "$(printf '%s\n%s\n' "$best" "$v" | sort -V | tail -n 1)" = "$v" ]; then best=$v; fi
  done
  printf '%s' "$best"
}

lab_ensure_installed() {
  local missing=() cmd pkg
  for pair in qemu-system-x86_64:qemu-system-x86 dnsmasq:dnsmasq ipmi_sim:openipmi ipmitool:ipmitool ip:iproute2 \
    ovs-vsctl:openvswitch-switch ethtool:ethtool; do
    cmd=${pair%%:*} pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx udhcpc && dpkg -s busybox-static >/dev/null 2>&1 \
    || missing+=(busybox-static)
  [ -n "$(lab_kernel_version)" ] || missing+=(linux-image-amd64)
  # qemu's NIC option ROMs (iPXE) come with ipxe-qemu, a dependency of qemu-system-x86.
  if [ ${#missing[@]} -gt 0 ]; then
    lab_log "installing ${missing[*]} (Debian packages; the kernel takes ~1.5 min)"
    lab_apt "${missing[@]}"
  fi
  # sushy-tools (Redfish) and bcrypt (its htpasswd) share .venv-test with the test suite's emulators.
  py_venv "$LAB_VENV" sushy_tools "$LAB_SUSHY_SPEC"
  py_venv "$LAB_VENV" bcrypt bcrypt
}

# --- assets: the Talos stand-in -----------------------------------------------------------------------------

# lab_assets DIR: vmlinuz + initramfs + SHA256SUMS in DIR; rebuilt only when an input changed.
lab_assets() {
  local dir=${1:-.lab/assets} kver stamp mod f
  lab_ensure_installed
  kver=$(lab_kernel_version)
  [ -n "$kver" ] || lab_die "no Debian kernel in /boot after installing linux-image-amd64"
  mkdir -p "$dir"
  stamp=$(
    echo "version $LAB_ASSETS_VERSION kernel $kver"
    sha256sum "/boot/vmlinuz-$kver" /bin/busybox "$LAB_LIB/standin-init.sh" "$LAB_LIB/standin-udhcpc.sh" \
      "$LAB_LIB/mkcpio.py" | awk '{print $1}'
  )
  if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$stamp" ] && [ -f "$dir/vmlinuz" ] && [ -f "$dir/initramfs" ] \
    && (cd "$dir" && sha256sum --quiet -c SHA256SUMS >/dev/null 2>&1); then
    lab_log "assets in $dir are up to date (kernel $kver)"
    return 0
  fi
  lab_log "building the Talos stand-in into $dir (kernel $kver)"
  local root
  root=$(mktemp -d -t dvlab-initramfs.XXXXXX)
  mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,run,lib/modules,usr/bin,usr/sbin}
  cp /bin/busybox "$root/bin/busybox"
  for f in $("$root/bin/busybox" --list); do
    [ "$f" = busybox ] || ln -s busybox "$root/bin/$f"
  done
  for mod in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net e1000; do
    f=$(find "/lib/modules/$kver/kernel" -name "$mod.ko*" | head -n 1)
    if [ -z "$f" ]; then continue; fi  # built into this kernel
    case "$f" in
      *.ko.xz) xz -dc "$f" >"$root/lib/modules/$mod.ko" ;;
      *.ko.zst) zstd -qdc "$f" >"$root/lib/modules/$mod.ko" ;;
      *.ko.gz) gzip -dc "$f" >"$root/lib/modules/$mod.ko" ;;
      *) cp "$f" "$root/lib/modules/$mod.ko" ;;
    esac
  done
  install -m 0755 "$LAB_LIB/standin-init.sh" "$root/init"
  install -m 0755 "$LAB_LIB/standin-udhcpc.sh" "$root/etc/udhcpc.script"
  python3 "$LAB_LIB/mkcpio.py" "$root" "$dir/initramfs"
  rm -rf "$root"
  cp "/boot/vmlinuz-$kver" "$dir/vmlinuz.tmp"
  mv "$dir/vmlinuz.tmp" "$dir/vmlinuz"
  (cd "$dir" && sha256sum vmlinuz initramfs >SHA256SUMS)
  printf '%s\n' "$stamp" >"$dir/.stamp"
  lab_log "assets: vmlinuz $(stat -c %s "$dir/vmlinuz") bytes, initramfs $(stat -c %s "$dir/initramfs") bytes"
}

# --- helpers ------------------------------------------------------------------------------------------------

# lab_ports COUNT [BASE]: COUNT distinct ports free for both TCP and UDP on 127.0.0.1 (from BASE upwards, or
# chosen by the kernel), one a line.
lab_ports() {
  python3 - "$1" "${2:-0}" <<'PY'
import socket, sys
count, base = int(sys.argv[1]), int(sys.argv[2])
held, ports = [], []
def grab(port):
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        # TCP on all addresses (the boot port is bound on the lab's host address), UDP for ipmi_sim.
        t.bind(("0.0.0.0", port)); port = t.getsockname()[1]
        u.bind(("127.0.0.1", port))
    except OSError:
        t.close(); u.close(); return None
    held.extend([t, u]); return port
port = base
while len(ports) < count:
    if base:
        if port > 65535: sys.exit("no free ports")
        got = grab(port); port += 1
    else:
        got = grab(0)
    if got: ports.append(got)
print("\n".join(map(str, ports)))
PY
}

# lab_pick_subnet [SUBNET]: prints "NETWORK PREFIX HOST BRIDGE RANGE_START RANGE_END NETMASK" for the given
# subnet, or for the first 172.30.N.0/24 that overlaps nothing routed in the root namespace.
lab_pick_subnet() {
  ip -4 -o route show table all | awk '{print $1}' | grep -E '^[0-9.]+(/[0-9]+)?$' >"$LAB_TMP/routes" || true
  ip -4 -o addr show | awk '{print $4}' >>"$LAB_TMP/routes"
  python3 - "${1:-}" "$LAB_TMP/routes" <<'PY'
import ipaddress, sys
wanted, routes = sys.argv[1], [l.strip() for l in open(sys.argv[2]) if l.strip()]
used = []
for r in routes:
    try:
        n = ipaddress.ip_network(r, strict=False)
    except ValueError:
        continue
    if n.prefixlen > 0:  # a default route overlaps everything; it is not in the way
        used.append(n)
cands = [wanted] if wanted else ["172.30.%d.0/24" % i for i in range(256)]
for c in cands:
    net = ipaddress.ip_network(c, strict=False)
    if net.prefixlen > 28:
        sys.exit("lab: --subnet %s is too small (at most /28)" % c)
    if any(net.overlaps(u) for u in used):
        if wanted:
            sys.exit("lab: --subnet %s overlaps a route or address in the root namespace" % c)
        continue
    hosts = list(net.hosts()) if net.num_addresses <= 4096 else None
    first = net.network_address
    start = first + (10 if net.num_addresses >= 64 else 3)
    end = net.broadcast_address - (5 if net.num_addresses >= 64 else 1)
    print(net.network_address, net.prefixlen, first + 1, first + 2, start, end, net.netmask)
    sys.exit(0)
sys.exit("lab: no free 172.30.N.0/24 subnet; give --subnet")
PY
}

# lab_pid_alive PIDFILE: the process in PIDFILE runs and its command line names this lab's state dir.
lab_pid_alive() {
  local pid
  [ -f "$1" ] || return 1
  pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$LAB_STATE"
}

# lab_running PID: the process exists and is not a zombie (this machine's PID 1 reaps orphans only every ~2 s).
lab_running() {
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "${st:0:1}" != Z ]
}

# lab_kill PIDFILE: stops that process (TERM, then KILL after 3 s; bounded) if it is one of ours.
lab_kill() {
  local pidfile=$1 pid i
  if lab_pid_alive "$pidfile"; then
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    kill -CONT "$pid" 2>/dev/null || true  # a frozen (`bmc freeze`) process
    for i in $(seq 1 50); do
      lab_running "$pid" || break
      if [ "$i" = 30 ]; then kill -9 "$pid" 2>/dev/null || true; fi
      sleep 0.1
    done
  fi
  rm -f "$pidfile"
}

lab_wait_tcp() {
  local port=$1 tries=${2:-100}
  for _ in $(seq 1 "$tries"); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

lab_uuid() { printf 'd7a1ab00-0000-4000-8000-%012x' "$1"; }
lab_mac() { printf '52:54:00:d7:%02x:%02x' $(($1 / 256)) $(($1 % 256)); }
lab_serial() { printf 'DVLAB-VM-%04d' "$1"; }

# lab_load STATE: reads STATE/lab.env (namespace etc.) into the shell.
lab_load() {
  LAB_STATE=$1
  [ -f "$LAB_STATE/lab.env" ] || return 1
  # shellcheck source=/dev/null
  . "$LAB_STATE/lab.env"
}

lab_abs() { mkdir -p "$1" && (cd "$1" && pwd); }

# lab_require STATE WHAT: loads the lab in STATE or dies.
lab_require() {
  if [ -z "$1" ] || ! [ -d "$1" ] || ! lab_load "$(cd "$1" && pwd)"; then lab_die "$2: no lab in ${1:-(give --state DIR)}"; fi
}

# lab_vm_get VMDIR KEY: one value from the VM's vm.env.
lab_vm_get() { sed -n "s/^$2=//p" "$1/vm.env"; }

# Set by sourcing a VM's vm.env (written by lab_up).
NAME='' UUID='' MAC='' SERIAL='' CONSOLE='' BROKEN='' BMC_KIND='' BMC_PORT='' HOOK_PORT=''

# --- BMC emulators ------------------------------------------------------------------------------------------

# lab_bmc_setup VMDIR: writes the BMC emulator's files for the VM (kind and ports from vm.env).
lab_bmc_setup() {
  local vmdir=$1
  # shellcheck source=/dev/null
  . "$vmdir/vm.env"
  if [ "$BMC_KIND" = redfish ]; then
    mkdir -p "$vmdir/sushy-state"
    "$LAB_VENV_ABS/bin/python" -c 'import bcrypt, sys; print(sys.argv[1] + ":" + bcrypt.hashpw(sys.argv[2].encode(), bcrypt.gensalt(rounds=4)).decode())' \
      "$LAB_USER" "$LAB_PASSWORD" >"$vmdir/htpasswd"
    cat >"$vmdir/sushy.conf" <<CONF
SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'
SUSHY_EMULATOR_LISTEN_PORT = $BMC_PORT
SUSHY_EMULATOR_AUTH_FILE = '$vmdir/htpasswd'
SUSHY_EMULATOR_STATE_DIR = '$vmdir/sushy-state'
SUSHY_EMULATOR_FAKE_DRIVER = True
EXTERNAL_NOTIFICATION_URL = 'http://127.0.0.1:$HOOK_PORT/'
SUSHY_EMULATOR_FAKE_SYSTEMS = [
    {'uuid': '$UUID', 'name': '$NAME', 'power_state': 'Off', 'external_notifier': True,
     'nics': [{'mac': '$MAC', 'ip': '0.0.0.0'}]},
]
SUSHY_EMULATOR_STORAGE = {
    '$UUID': [{'Id': '1', 'Name': 'Local Storage Controller',
        'StorageControllers': [{'MemberId': '0', 'Name': 'Lab RAID', 'SpeedGbps': 12}],
        'Drives': ['disk0']}],
}
SUSHY_EMULATOR_DRIVES = {
    ('$UUID', '1'): [{'Id': 'disk0', 'Name': 'Drive 0', 'CapacityBytes': 480103981056, 'Protocol': 'SATA'}],
}
CONF
  else
    mkdir -p "$vmdir/ipmi-state"
    printf '#!/bin/sh\nexec %q %q chassis "$@"\n' "$LAB_LIB/vmctl" "$vmdir" >"$vmdir/chassis_control"
    chmod +x "$vmdir/chassis_control"
    cat >"$vmdir/lan.conf" <<CONF
name "$NAME"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 $BMC_PORT
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid $(printf '%s' "$UUID" | tr -d -)
  endlan
  chassis_control "$vmdir/chassis_control"
  user 2 true "$LAB_USER" "$LAB_PASSWORD" admin 10 none md2 md5 straight
CONF
    cat >"$vmdir/bmc.emu" <<CONF
mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
mc_add_fru_data 0x20 0 0x100 data $(lab_fru_hex "$SERIAL")
mc_set_guid 0x20 "$UUID"
mc_enable 0x20
CONF
  fi
}

lab_fru_hex() { bmc_fru_hex "$1" dvlab-vm DVLAB-1; }

# lab_ipmi VMDIR ARGS...: ipmitool against the VM's ipmi_sim (bounded: 2 tries of 1 s).
lab_ipmi() {
  local vmdir=$1
  shift
  # shellcheck source=/dev/null
  . "$vmdir/vm.env"
  IPMI_PASSWORD=$LAB_PASSWORD ipmitool -I lanplus -C 3 -H 127.0.0.1 -p "$BMC_PORT" -U "$LAB_USER" -E -N 1 -R 2 "$@"
}

# lab_bmc_start VMDIR: starts the VM's BMC emulator (and, for Redfish, its power hook if not running).
lab_bmc_start() {
  local vmdir=$1 up=0
  # shellcheck source=/dev/null
  . "$vmdir/vm.env"
  if [ "$BMC_KIND" = redfish ]; then
    if ! lab_pid_alive "$vmdir/hook.pid"; then
      (lab_close_fds; exec setsid "$LAB_VENV_ABS/bin/python" "$LAB_LIB/redfish-hook.py" "$vmdir" "$HOOK_PORT" \
        "$vmdir/sushy-state/fakedriver.sqlite" "$UUID" "$LAB_LIB/vmctl" </dev/null >>"$vmdir/hook.log" 2>&1) &
      echo $! >"$vmdir/hook.pid"
    fi
    lab_pid_alive "$vmdir/sushy.pid" && return 0
    (lab_close_fds; exec setsid "$LAB_VENV_ABS/bin/sushy-emulator" --config "$vmdir/sushy.conf" </dev/null >>"$vmdir/sushy.log" 2>&1) &
    echo $! >"$vmdir/sushy.pid"
    lab_wait_tcp "$BMC_PORT" 150 || { tail -n 20 "$vmdir/sushy.log" >&2; lab_die "sushy-emulator for $NAME did not come up"; }
    lab_wait_tcp "$HOOK_PORT" 50 || { tail -n 20 "$vmdir/hook.log" >&2; lab_die "the Redfish hook for $NAME did not come up"; }
  else
    lab_pid_alive "$vmdir/ipmi_sim.pid" && return 0
    (lab_close_fds; exec setsid ipmi_sim -n -c "$vmdir/lan.conf" -f "$vmdir/bmc.emu" -s "$vmdir/ipmi-state" </dev/null >>"$vmdir/ipmi_sim.log" 2>&1) &
    echo $! >"$vmdir/ipmi_sim.pid"
    for _ in $(seq 1 50); do
      if lab_ipmi "$vmdir" chassis power status >/dev/null 2>&1; then up=1; break; fi
      sleep 0.2
    done
    [ $up = 1 ] || { tail -n 20 "$vmdir/ipmi_sim.log" >&2; lab_die "ipmi_sim for $NAME did not come up"; }
  fi
}

# lab_bmc_stop VMDIR: stops the VM's BMC emulator only (the VM and the Redfish power hook keep running).
lab_bmc_stop() {
  local vmdir=$1
  # shellcheck source=/dev/null
  . "$vmdir/vm.env"
  if [ "$BMC_KIND" = redfish ]; then lab_kill "$vmdir/sushy.pid"; else lab_kill "$vmdir/ipmi_sim.pid"; fi
}

# --- up / down ----------------------------------------------------------------------------------------------

lab_usage() {
  cat <<'USAGE'
usage: scripts/lab COMMAND [OPTIONS]
  assets [DIR]          install the lab's packages; build the Talos stand-in (vmlinuz, initramfs, SHA256SUMS)
                        into DIR (default .lab/assets)
  up --state DIR [--vms N] [--boot-url URL | --boot-port PORT] [--subnet CIDR] [--broken K]...
     [--port-base PORT] [--dnsmasq-conf FILE] [--nic virtio-net-pci|e1000] [--mem MB] [--assets DIR]
     [--leaf ovs [--provisioning-vlan N] [--tenant-vlan N]]
                        build the provisioning network, dnsmasq, N VMs (powered off) and their BMCs;
                        with --leaf ovs the VMs hang off an Open vSwitch leaf (access ports on the
                        provisioning VLAN, default 20) that also carries a tenant network with its own
                        DHCP (VLAN 110, 10.213.0.0/24); writes DIR/lab.json
  down --state DIR      stop everything `up` started and delete the namespace (safe to repeat)
  status --state DIR    what runs
  dnsmasq --state DIR [--conf FILE]
                        restart the lab's dnsmasq with FILE (e.g. from `dataverket maskin dnsmasq-config`;
                        @INTERFACE@/@BOOT_URL@/@HOST@ and interface= are substituted) or the generated config
  bmc stop|start|freeze|thaw NAME --state DIR
                        stop or restart one VM's BMC emulator (the VM keeps its power state), or
                        freeze it (SIGSTOP: connections hang, for timeout tests) and thaw it
  power on|off|status NAME --state DIR [--boot pxe|disk]
                        drive one VM through its BMC (ipmitool or curl), as Maskin would
  fabric up|down|status|exec [--state DIR] [--prefix P]
                        the network lab (Nett): OVS leaves, FRR + nftables border, upstream, hosts in
                        network namespaces; see `scripts/lab fabric help`
  selftest [--vms N] [--timeout S] [--leaf ovs]
                        up + a throwaway boot service (scripts/lib/lab/fake-boot-service.py) + power on
                        every VM through its BMC + wait for each to fetch script, config, post the
                        callback and power off + down; non-zero exit on failure
USAGE
}

lab_up() {
  local vms=1 boot_url='' boot_port='' subnet='' port_base=0 dnsmasq_conf='' nic=virtio-net-pci mem=512 assets=.lab/assets
  local state='' broken=' ' leaf='' prov_vlan=20 tenant_vlan=110
  while [ $# -gt 0 ]; do
    case "$1" in
      --vms) vms=$2; shift 2 ;;
      --leaf) leaf=$2; shift 2 ;;
      --provisioning-vlan) prov_vlan=$2; shift 2 ;;
      --tenant-vlan) tenant_vlan=$2; shift 2 ;;
      --boot-url) boot_url=$2; shift 2 ;;
      --boot-port) boot_port=$2; shift 2 ;;
      --state) state=$2; shift 2 ;;
      --subnet) subnet=$2; shift 2 ;;
      --broken) broken="$broken$2 "; shift 2 ;;
      --port-base) port_base=$2; shift 2 ;;
      --dnsmasq-conf) dnsmasq_conf=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift 2 ;;
      --nic) nic=$2; shift 2 ;;
      --mem) mem=$2; shift 2 ;;
      --assets) assets=$2; shift 2 ;;
      *) lab_die "up: unknown option $1 (see scripts/lab help)" ;;
    esac
  done
  [ -n "$state" ] || lab_die "up: --state DIR is required"
  if ! [[ "$vms" =~ ^[0-9]+$ ]] || [ "$vms" -lt 1 ] || [ "$vms" -gt 200 ]; then lab_die "up: --vms must be 1..200"; fi
  case "$nic" in virtio-net-pci | e1000) ;; *) lab_die "up: --nic must be virtio-net-pci or e1000" ;; esac
  case "$leaf" in '' | ovs) ;; *) lab_die "up: --leaf must be ovs" ;; esac
  for v in "$prov_vlan" "$tenant_vlan"; do
    if ! [[ "$v" =~ ^[0-9]+$ ]] || [ "$v" -lt 2 ] || [ "$v" -gt 4094 ]; then lab_die "up: VLAN IDs are 2..4094"; fi
  done
  [ "$prov_vlan" != "$tenant_vlan" ] || lab_die "up: the provisioning and tenant VLANs must differ"
  [ "$(id -u)" = 0 ] || lab_die "the lab needs root (network namespaces, taps)"
  state=$(lab_abs "$state")
  if lab_load "$state" && ip netns list | grep -qw -- "$LAB_NS"; then
    lab_die "a lab is already up in $state (namespace $LAB_NS): scripts/lab down --state $state"
  fi
  lab_assets "$assets"
  assets=$(lab_abs "$assets")
  LAB_VENV_ABS=$(cd "$LAB_VENV" && pwd)
  LAB_STATE=$state
  LAB_TMP=$(mktemp -d -t dvlab.XXXXXX)
  # Labs brought up at the same time would pick the same subnet and ports: one `up` at a time (bounded).
  # (fd 8; every daemon started below closes it, or it would hold the lock for its lifetime.)
  exec 8>/tmp/dvlab-up.lock
  flock -w 120 8 || lab_die "up: another scripts/lab up holds /tmp/dvlab-up.lock for over 120 s"
  # A previous lab in this state dir is down: start clean.
  rm -rf "$state"/vm[0-9]* "$state"/dnsmasq.* "$state"/dnsmasq-tenant.* "$state"/leaf "$state"/lab.json "$state"/lab.env "$state"/selftest-*

  local suffix t0
  t0=$(date +%s.%N)
  suffix=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
  LAB_NS=dvlab-$suffix
  LAB_VETH=dvlab$suffix
  printf 'LAB_NS=%s\nLAB_VETH=%s\nLAB_VMS=%s\nLAB_LEAF=%s\nLAB_PROV_VLAN=%s\nLAB_TENANT_VLAN=%s\n' \
    "$LAB_NS" "$LAB_VETH" "$vms" "$leaf" "$prov_vlan" "$tenant_vlan" >"$state/lab.env"
  # A failed `up` takes down what it built (LAB_KEEP_FAILED=1 keeps it for a look; then run down).
  trap 'lab_up_failed $?' EXIT

  local net prefix host bridge_addr range_start range_end netmask
  read -r net prefix host bridge_addr range_start range_end netmask <<<"$(lab_pick_subnet "$subnet")"
  [ -n "$host" ] || lab_die "up: could not choose a subnet"
  local ula
  ula="fd$(printf '%s' "${suffix:0:2}"):$(printf '%s' "${suffix:2:4}"):d7::"
  printf 'LAB_SUBNET=%s/%s\nLAB_HOST=%s\n' "$net" "$prefix" "$host" >>"$state/lab.env"

  # Ports: one BMC port per VM, plus one hook port per Redfish VM, plus the boot port if not given.
  local nports=$((vms + (vms + 1) / 2))
  mapfile -t ports < <(lab_ports "$nports" "$port_base")
  [ "${#ports[@]}" = "$nports" ] || lab_die "up: could not find $nports free ports"
  if [ -z "$boot_url" ]; then
    if [ -z "$boot_port" ]; then
      boot_port=$(lab_ports "$((nports + 1))" "$port_base" | tail -n 1)
    fi
    boot_url="http://$host:$boot_port"
  fi
  boot_url=${boot_url%/}

  lab_log "namespace $LAB_NS: bridge br0 $bridge_addr/$prefix, host side $LAB_VETH $host/$prefix, boot URL $boot_url"
  ip netns add "$LAB_NS"
  ip -n "$LAB_NS" link set lo up
  ip -n "$LAB_NS" link add br0 type bridge
  ip -n "$LAB_NS" link set br0 type bridge stp_state 0 forward_delay 0
  ip -n "$LAB_NS" addr add "$bridge_addr/$prefix" dev br0
  ip -n "$LAB_NS" addr add "${ula}1/64" dev br0
  ip -n "$LAB_NS" link set br0 up
  ip link add "$LAB_VETH" type veth peer name uplink netns "$LAB_NS"
  # The host side takes no IPv6 (no RA-learned routes from the lab into the root namespace).
  sysctl -qw "net.ipv6.conf.$LAB_VETH.disable_ipv6=1" 2>/dev/null || true
  ip addr add "$host/$prefix" dev "$LAB_VETH"
  ip link set "$LAB_VETH" up
  ip -n "$LAB_NS" link set uplink master br0 up

  printf 'LAB_BOOT_URL=%s\nLAB_RANGE="%s %s %s"\n' "$boot_url" "$range_start" "$range_end" "$netmask" >>"$state/lab.env"
  lab_load "$state"
  lab_dnsmasq_start "$dnsmasq_conf"
  if [ "$leaf" = ovs ]; then
    lab_log "leaf: Open vSwitch bridge leaf, provisioning VLAN $prov_vlan (lprov → br0), tenant VLAN $tenant_vlan (lten → DHCP 10.213.0.0/24)"
    lab_leaf_up "$prov_vlan" "$tenant_vlan"
    lab_tenant_dnsmasq_start
  fi

  # VMs: a tap on the bridge, identity, and a BMC emulator each.
  local i vmdir name pi=0 kind hook_port
  for i in $(seq 1 "$vms"); do
    name=vm$i
    vmdir=$state/$name
    mkdir -p "$vmdir"
    ip -n "$LAB_NS" tuntap add dev "tap$i" mode tap
    if [ "$leaf" = ovs ]; then
      # Cabled to the leaf, on the provisioning VLAN (Nett moves it).
      ip -n "$LAB_NS" link set "tap$i" up
      ovs-vsctl "--db=unix:$state/leaf/db.sock" --timeout=10 add-port leaf "tap$i" tag="$prov_vlan"
    else
      ip -n "$LAB_NS" link set "tap$i" master br0 up
    fi
    if [ $((i % 2)) = 1 ]; then kind=redfish; hook_port=${ports[$((vms + pi))]}; pi=$((pi + 1)); else kind=ipmi; hook_port=; fi
    cat >"$vmdir/vm.env" <<ENV
NAME=$name
NS=$LAB_NS
TAP=tap$i
MAC=$(lab_mac "$i")
UUID=$(lab_uuid "$i")
SERIAL=$(lab_serial "$i")
CONSOLE=$state/$name.console.log
NIC=$nic
MEM=$mem
BROKEN=$(case "$broken" in *" $i "*) echo 1 ;; *) echo 0 ;; esac)
LEAF=$leaf
BMC_KIND=$kind
BMC_PORT=${ports[$((i - 1))]}
HOOK_PORT=$hook_port
ENV
    : >"$state/$name.console.log"
    echo default >"$vmdir/boot"
    lab_bmc_setup "$vmdir"
    lab_bmc_start "$vmdir"
    lab_log "$name: $(lab_mac "$i") $(lab_uuid "$i") $(lab_serial "$i"), $kind BMC on 127.0.0.1:${ports[$((i - 1))]}"
  done

  python3 - "$state" "$assets" "$boot_url" "$host" "$prefix" "$bridge_addr" "$LAB_USER" "$LAB_PASSWORD" <<'PY' >"$state/lab.json.tmp"
import json, os, sys
state, assets, boot_url, host, prefix, bridge, user, password = sys.argv[1:9]
env = lambda path: dict(l.rstrip("\n").split("=", 1) for l in open(path) if "=" in l)
lab = env(os.path.join(state, "lab.env"))
vms = []
for i in range(1, int(lab["LAB_VMS"]) + 1):
    v = env(os.path.join(state, "vm%d" % i, "vm.env"))
    if v["BMC_KIND"] == "redfish":
        bmc = {"kind": "redfish", "address": "http://127.0.0.1:%s" % v["BMC_PORT"], "systemId": v["UUID"],
               "username": user, "password": password}
    else:
        bmc = {"kind": "ipmi", "address": "127.0.0.1", "port": int(v["BMC_PORT"]), "username": user,
               "password": password}
    vms.append({"name": v["NAME"], "mac": v["MAC"], "uuid": v["UUID"], "serial": v["SERIAL"],
                "consoleLog": v["CONSOLE"], "broken": v["BROKEN"] == "1", "nic": v["NIC"], "bmc": bmc,
                "leafPort": "tap%d" % i if lab.get("LAB_LEAF") else None})
leaf = None
if lab.get("LAB_LEAF"):
    leaf = {"device": "dvlab-leaf", "driver": "ovs", "bridge": "leaf",
            "database": os.path.join(state, "leaf", "db.sock"), "control": os.path.join(state, "leaf", "vswitchd.ctl"),
            "provisioningVlan": int(lab["LAB_PROV_VLAN"]), "tenantVlan": int(lab["LAB_TENANT_VLAN"]),
            "provisioningPort": "lprov", "tenantPort": "lten", "tenantSubnet": "10.213.0.0/24", "tenantGateway": "10.213.0.1",
            "tenantDnsmasqLog": os.path.join(state, "dnsmasq-tenant.log"),
            "tenantDnsmasqLeases": os.path.join(state, "dnsmasq-tenant.leases")}
print(json.dumps({
    "namespace": lab["LAB_NS"], "hostInterface": lab["LAB_VETH"], "hostAddress": host,
    "subnet": lab["LAB_SUBNET"], "dnsmasqAddress": bridge, "bootURL": boot_url,
    "bootPort": int(boot_url.rsplit(":", 1)[1].split("/")[0]) if boot_url.count(":") >= 2 else 80,
    "assetsDir": assets, "dnsmasqConf": os.path.join(state, "dnsmasq.conf"),
    "dnsmasqLeases": os.path.join(state, "dnsmasq.leases"), "dnsmasqLog": os.path.join(state, "dnsmasq.log"),
    "vms": vms, "leaf": leaf}, indent=2))
PY
  mv "$state/lab.json.tmp" "$state/lab.json"
  rm -rf "$LAB_TMP"
  trap - EXIT
  exec 8>&-
  lab_log "lab up in $(python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))" "$t0" "$(date +%s.%N)") s: $state/lab.json"
}

# lab_dnsmasq_start [CONF]: (re)starts the lab's dnsmasq with CONF (interface, boot URL and state paths
# substituted) or with the generated config: DHCP + the iPXE chain to the boot service, IPv6 RAs so iPXE does
# not wait ~13 s for SLAAC. Needs lab_load.
lab_dnsmasq_start() {
  local given=${1:-} state=$LAB_STATE conf=$LAB_STATE/dnsmasq.conf range_start range_end netmask
  read -r range_start range_end netmask <<<"$LAB_RANGE"
  if [ -n "$given" ]; then
    [ -f "$given" ] || lab_die "dnsmasq config $given does not exist"
    {
      echo "# $given for lab $LAB_NS (interface substituted; state paths set by scripts/lab)"
      sed -e 's/@INTERFACE@/br0/g' -e "s#@BOOT_URL@#$LAB_BOOT_URL#g" -e "s/@HOST@/$LAB_HOST/g" \
        -e 's/^\(interface\|except-interface\)=.*/interface=br0/' -e 's/constructor:[^,]*/constructor:br0/g' \
        -e '/^\(dhcp-leasefile\|dhcp-leasefile\|log-facility\|pid-file\|user\|group\|conf-dir\|conf-file\)=/d' \
        "$given"
    } >"$conf"
  else
    cat >"$conf" <<CONF
# Generated by scripts/lab for $LAB_NS.
port=0
interface=br0
bind-interfaces
dhcp-authoritative
dhcp-range=$range_start,$range_end,$netmask,1h
# No router and no DNS server: the VMs reach nothing beyond the provisioning network.
dhcp-option=option:router
dhcp-option=option:dns-server
dhcp-userclass=set:ipxe,iPXE
dhcp-match=set:ipxe,175
dhcp-boot=tag:ipxe,$LAB_BOOT_URL/boot/ipxe?mac=\${mac}&uuid=\${uuid}&serial=\${serial}&arch=\${buildarch}
enable-ra
dhcp-range=::,constructor:br0,ra-only
log-dhcp
CONF
  fi
  lab_dnsmasq_launch "$state/dnsmasq" "$conf"
}

# lab_dnsmasq_launch BASE CONF: appends BASE.leases/.log/.pid to CONF, (re)starts dnsmasq with it in the lab's
# namespace and waits (bounded) until it has bound its sockets.
lab_dnsmasq_launch() {
  local base=$1 conf=$2 up=0
  lab_kill "$base.pid"
  cat >>"$conf" <<CONF
dhcp-leasefile=$base.leases
log-facility=$base.log
pid-file=$base.pid
user=root
CONF
  touch "$base.leases" "$base.log"
  local mark
  mark=$(wc -l <"$base.log")
  (lab_close_fds; exec setsid ip netns exec "$LAB_NS" dnsmasq --keep-in-foreground --conf-file="$conf" </dev/null >"$base.out" 2>&1) &
  echo $! >"$base.pid"
  # Liveness by /proc/PID/stat, not the command line: while the subshell execs setsid → ip → dnsmasq, reading its
  # cmdline can come back empty for a moment, which once passed for "dnsmasq died" in CI.
  local pid
  pid=$(cat "$base.pid")
  for _ in $(seq 1 150); do
    if ! lab_running "$pid"; then break; fi
    if tail -n +"$((mark + 1))" "$base.log" | grep -q 'DHCP, IP range\|DHCP, sockets bound'; then up=1; break; fi
    sleep 0.1
  done
  [ $up = 1 ] || { cat "$base.out" "$base.log" >&2; lab_die "dnsmasq ($conf) did not start"; }
}

# lab_leaf_up PROV_VLAN TENANT_VLAN: an Open vSwitch leaf (bridge `leaf`, userspace datapath) between the VMs and
# the provisioning bridge: port lprov (access PROV_VLAN) is cabled to br0, port lten (access TENANT_VLAN) to the
# tenant network's DHCP server (ltenh, 10.213.0.1/24, its own dnsmasq). The VMs' taps are added as ports by `up`.
lab_leaf_up() {
  local prov=$1 tenant=$2 a b
  lab_ovs_start "$LAB_NS" "$LAB_STATE/leaf" leaf
  ip -n "$LAB_NS" link add lprov type veth peer name lprovbr
  ip -n "$LAB_NS" link set lprovbr master br0 up
  ip -n "$LAB_NS" link add lten type veth peer name ltenh
  ip -n "$LAB_NS" addr add 10.213.0.1/24 dev ltenh
  for a in lprov lprovbr lten ltenh; do
    ip -n "$LAB_NS" link set "$a" up
    # The userspace datapath forwards what the kernel hands it without computing checksums a veth left to
    # "hardware" (see fabric_link).
    ip netns exec "$LAB_NS" ethtool -K "$a" tx off >/dev/null
  done
  b="--db=unix:$LAB_STATE/leaf/db.sock"
  ovs-vsctl "$b" --timeout=10 add-port leaf lprov tag="$prov" -- add-port leaf lten tag="$tenant"
}

# lab_tenant_dnsmasq_start: DHCP (no boot file, no router, no DNS) on the tenant network behind the leaf.
lab_tenant_dnsmasq_start() {
  local conf=$LAB_STATE/dnsmasq-tenant.conf
  cat >"$conf" <<CONF
# Generated by scripts/lab for $LAB_NS: the tenant network behind the leaf (port lten).
port=0
interface=ltenh
bind-interfaces
dhcp-authoritative
dhcp-range=10.213.0.10,10.213.0.250,255.255.255.0,1h
dhcp-option=option:router
dhcp-option=option:dns-server
log-dhcp
CONF
  lab_dnsmasq_launch "$LAB_STATE/dnsmasq-tenant" "$conf"
}

lab_dnsmasq_cmd() {
  local state='' conf=''
  while [ $# -gt 0 ]; do
    case "$1" in
      --state) state=$2; shift 2 ;;
      --conf | --dnsmasq-conf) conf=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift 2 ;;
      *) lab_die "dnsmasq: unknown option $1" ;;
    esac
  done
  lab_require "$state" dnsmasq
  lab_dnsmasq_start "$conf"
  lab_log "dnsmasq restarted with ${conf:-the generated config} ($LAB_STATE/dnsmasq.conf)"
}

lab_up_failed() {
  trap - EXIT
  rm -rf "${LAB_TMP:-}"
  if [ "$1" != 0 ] && [ "${LAB_KEEP_FAILED:-0}" != 1 ]; then
    lab_log "up failed: taking down what was built"
    (lab_down --state "$LAB_STATE") || true
  fi
  exit "$1"
}

lab_down() {
  local state='' i vmdir
  while [ $# -gt 0 ]; do
    case "$1" in
      --state) state=$2; shift 2 ;;
      *) lab_die "down: unknown option $1" ;;
    esac
  done
  [ -n "$state" ] || lab_die "down: --state DIR is required"
  [ -d "$state" ] || { lab_log "no lab in $state"; return 0; }
  state=$(cd "$state" && pwd)
  if ! lab_load "$state"; then lab_log "no lab in $state"; return 0; fi
  for vmdir in "$state"/vm[0-9]*; do
    [ -f "$vmdir/vm.env" ] || continue
    lab_kill "$vmdir/hook.pid"  # first, so it does not react to the VM stopping
    "$LAB_LIB/vmctl" "$vmdir" stop || true
    lab_kill "$vmdir/sushy.pid"
    lab_kill "$vmdir/ipmi_sim.pid"
  done
  lab_kill "$state/dnsmasq.pid"
  lab_kill "$state/dnsmasq-tenant.pid"
  [ -d "$state/leaf" ] && lab_ovs_stop "$state/leaf"
  # Any qemu still in the namespace (e.g. a pid file lost in a partial up) goes with it.
  if [ -n "${LAB_NS:-}" ] && ip netns list | grep -qw -- "$LAB_NS"; then
    for i in $(ip netns pids "$LAB_NS" 2>/dev/null); do
      if tr '\0' ' ' <"/proc/$i/cmdline" 2>/dev/null | grep -qF -- "$state"; then kill -9 "$i" 2>/dev/null || true; fi
    done
    ip netns del "$LAB_NS" 2>/dev/null || true
  fi
  if [ -n "${LAB_VETH:-}" ] && ip link show "$LAB_VETH" >/dev/null 2>&1; then ip link del "$LAB_VETH" 2>/dev/null || true; fi
  lab_log "lab ${LAB_NS:-} in $state is down (logs kept there)"
}

lab_status() {
  local state='' vmdir rc=0 power
  while [ $# -gt 0 ]; do
    case "$1" in
      --state) state=$2; shift 2 ;;
      *) lab_die "status: unknown option $1" ;;
    esac
  done
  [ -n "$state" ] || lab_die "status: --state DIR is required"
  if ! [ -d "$state" ] || ! lab_load "$(cd "$state" && pwd)"; then echo "no lab in $state"; return 1; fi
  if ip netns list | grep -qw -- "$LAB_NS"; then echo "namespace $LAB_NS: up (host $LAB_HOST on $LAB_VETH, $LAB_SUBNET)"
  else echo "namespace $LAB_NS: absent (down)"; rc=1; fi
  if lab_pid_alive "$LAB_STATE/dnsmasq.pid"; then echo "dnsmasq: running (pid $(cat "$LAB_STATE/dnsmasq.pid")), $(wc -l <"$LAB_STATE/dnsmasq.leases") leases"
  else echo "dnsmasq: not running"; rc=1; fi
  for vmdir in "$LAB_STATE"/vm[0-9]*; do
    [ -f "$vmdir/vm.env" ] || continue
    # shellcheck source=/dev/null
    . "$vmdir/vm.env"
    if "$LAB_LIB/vmctl" "$vmdir" running; then power="qemu running (pid $(cat "$vmdir/qemu.pid"))"; else power="qemu off"; fi
    local bmc=down
    if [ "$BMC_KIND" = redfish ] && lab_pid_alive "$vmdir/sushy.pid"; then bmc=up; fi
    if [ "$BMC_KIND" = ipmi ] && lab_pid_alive "$vmdir/ipmi_sim.pid"; then bmc=up; fi
    printf '%s: %s %s %s, %s, boot %s, %s BMC 127.0.0.1:%s %s%s\n' "$NAME" "$MAC" "$UUID" "$SERIAL" "$power" \
      "$(cat "$vmdir/boot" 2>/dev/null || echo default)" "$BMC_KIND" "$BMC_PORT" "$bmc" \
      "$([ "$BROKEN" = 1 ] && echo ', no network boot ROM (--broken)')"
    grep -a . "$CONSOLE" 2>/dev/null | tail -n 1 | sed 's/^/    console: /' || true
  done
  return $rc
}

# lab_vmdir NAME: the VM's directory in the loaded lab.
lab_vmdir() {
  [ -f "$LAB_STATE/$1/vm.env" ] || lab_die "no VM $1 in $LAB_STATE"
  printf '%s' "$LAB_STATE/$1"
}

lab_bmc_cmd() {
  local action=${1:-} name=${2:-} state=
  shift 2 || lab_die "usage: scripts/lab bmc stop|start|freeze|thaw NAME --state DIR"
  while [ $# -gt 0 ]; do
    case "$1" in
      --state) state=$2; shift 2 ;;
      *) lab_die "bmc: unknown option $1" ;;
    esac
  done
  lab_require "$state" bmc
  LAB_VENV_ABS=$(cd "$LAB_VENV" && pwd)
  local vmdir
  vmdir=$(lab_vmdir "$name")
  case "$action" in
    stop) lab_bmc_stop "$vmdir"; lab_log "$name: BMC emulator stopped" ;;
    start) lab_bmc_start "$vmdir"; lab_log "$name: BMC emulator running" ;;
    freeze | thaw)
      # SIGSTOP: the BMC still accepts connections (TCP) or packets (UDP) but never answers — a hung BMC.
      local pidfile=$vmdir/sushy.pid
      [ "$(lab_vm_get "$vmdir" BMC_KIND)" = ipmi ] && pidfile=$vmdir/ipmi_sim.pid
      lab_pid_alive "$pidfile" || lab_die "bmc $action: the BMC emulator of $name is not running"
      kill "$([ "$action" = freeze ] && echo -STOP || echo -CONT)" "$(cat "$pidfile")"
      lab_log "$name: BMC emulator $([ "$action" = freeze ] && echo "frozen (hangs)" || echo thawed)" ;;
    *) lab_die "usage: scripts/lab bmc stop|start|freeze|thaw NAME --state DIR" ;;
  esac
}

# lab_redfish VMDIR METHOD PATH [JSON]: curl against the VM's sushy-emulator (bounded: 10 s).
lab_redfish() {
  local vmdir=$1 method=$2 path=$3 body=${4:-}
  # shellcheck source=/dev/null
  . "$vmdir/vm.env"
  if [ -n "$body" ]; then
    curl -fsS -m 10 -u "$LAB_USER:$LAB_PASSWORD" -X "$method" -H 'Content-Type: application/json' -d "$body" \
      "http://127.0.0.1:$BMC_PORT$path"
  else
    curl -fsS -m 10 -u "$LAB_USER:$LAB_PASSWORD" -X "$method" "http://127.0.0.1:$BMC_PORT$path"
  fi
}

# lab_power_vm VMDIR on|off|status [pxe|disk]: through the BMC, the way Maskin's drivers do it.
lab_power_vm() {
  local vmdir=$1 action=$2 boot=${3:-}
  # shellcheck source=/dev/null
  . "$vmdir/vm.env"
  if [ "$BMC_KIND" = redfish ]; then
    local sys=/redfish/v1/Systems/$UUID target
    case "$action" in
      on | off)
        if [ -n "$boot" ]; then
          target=$([ "$boot" = pxe ] && echo Pxe || echo Hdd)
          lab_redfish "$vmdir" PATCH "$sys" "{\"Boot\":{\"BootSourceOverrideTarget\":\"$target\",\"BootSourceOverrideEnabled\":\"Once\"}}" >/dev/null
        fi
        lab_redfish "$vmdir" POST "$sys/Actions/ComputerSystem.Reset" \
          "{\"ResetType\":\"$([ "$action" = on ] && echo On || echo ForceOff)\"}" >/dev/null ;;
      status)
        local body
        body=$(lab_redfish "$vmdir" GET "$sys") || return 1
        python3 -c 'import json,sys; print(json.loads(sys.argv[1])["PowerState"])' "$body" ;;
    esac
  else
    case "$action" in
      on | off)
        if [ -n "$boot" ]; then lab_ipmi "$vmdir" chassis bootdev "$boot" >/dev/null; fi
        lab_ipmi "$vmdir" chassis power "$action" >/dev/null ;;
      status) lab_ipmi "$vmdir" chassis power status | awk '{print $NF}' ;;
    esac
  fi
}

lab_power_cmd() {
  local action=${1:-} name=${2:-} state='' boot=''
  shift 2 || lab_die "usage: scripts/lab power on|off|status NAME --state DIR [--boot pxe|disk]"
  while [ $# -gt 0 ]; do
    case "$1" in
      --state) state=$2; shift 2 ;;
      --boot) boot=$2; shift 2 ;;
      *) lab_die "power: unknown option $1" ;;
    esac
  done
  lab_require "$state" power
  case "$action" in on | off | status) ;; *) lab_die "power: on, off or status" ;; esac
  lab_power_vm "$(lab_vmdir "$name")" "$action" "$boot"
}

# --- selftest -----------------------------------------------------------------------------------------------

lab_selftest() {
  local vms=3 timeout=120 state=.lab/selftest leaf=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --vms) vms=$2; shift 2 ;;
      --timeout) timeout=$2; shift 2 ;;
      --state) state=$2; shift 2 ;;
      --leaf) leaf=(--leaf "$2"); shift 2 ;;
      *) lab_die "selftest: unknown option $1" ;;
    esac
  done
  state=$(lab_abs "$state")
  if lab_load "$state" && ip netns list | grep -qw -- "$LAB_NS"; then lab_down --state "$state"; fi
  lab_up --vms "$vms" --state "$state" "${leaf[@]}"
  local host port assets events=$state/selftest-events.jsonl
  read -r host port assets < <(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["hostAddress"], j["bootPort"], j["assetsDir"])' "$state/lab.json")
  : >"$events"
  (lab_close_fds; exec setsid python3 "$LAB_LIB/fake-boot-service.py" "$host" "$port" "$assets" "$events" </dev/null >"$state/selftest-boot.log" 2>&1) &
  echo $! >"$state/selftest-boot.pid"
  # shellcheck disable=SC2064
  trap "lab_kill '$state/selftest-boot.pid'; lab_down --state '$state'" EXIT
  local up=0
  for _ in $(seq 1 50); do
    if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then up=1; break; fi
    sleep 0.1
  done
  [ $up = 1 ] || { cat "$state/selftest-boot.log" >&2; lab_die "selftest: the fake boot service did not start"; }

  local i vmdir t0
  t0=$(date +%s.%N)
  for i in $(seq 1 "$vms"); do
    vmdir=$state/vm$i
    date +%s.%N >"$vmdir/selftest-power-on"
    lab_power_vm "$vmdir" on pxe
    lab_log "vm$i: boot device pxe + power on through its $(lab_vm_get "$vmdir" BMC_KIND) BMC"
  done

  # Wait (bounded) until every VM's qemu exited (after its callback) and its BMC reports it off (Redfish: the
  # hook makes PowerState follow qemu).
  local deadline pending status
  deadline=$(($(date +%s) + timeout))
  while :; do
    pending=0
    for i in $(seq 1 "$vms"); do
      vmdir=$state/vm$i
      [ -f "$vmdir/selftest-bmc-off" ] && continue
      pending=$((pending + 1))
      if ! [ -f "$vmdir/selftest-off" ]; then
        if [ -f "$vmdir/started-at" ] && ! "$LAB_LIB/vmctl" "$vmdir" running; then date +%s.%N >"$vmdir/selftest-off"; fi
        continue
      fi
      status=$(lab_power_vm "$vmdir" status 2>/dev/null || true)
      if [ "$status" = Off ] || [ "$status" = off ]; then date +%s.%N >"$vmdir/selftest-bmc-off"; fi
    done
    [ "$pending" = 0 ] && break
    if [ "$(date +%s)" -ge "$deadline" ]; then lab_log "selftest: $pending VM(s) not done after ${timeout} s"; break; fi
    sleep 0.25
  done
  local ok=0
  python3 - "$state" "$vms" "$t0" <<'PY' || ok=1
import json, os, sys
state, n, t0 = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
events = [json.loads(l) for l in open(os.path.join(state, "selftest-events.jsonl")) if l.strip()]
def env(path):
    return dict(l.rstrip("\n").split("=", 1) for l in open(path) if "=" in l)
def ts(path):
    try:
        return float(open(path).read())
    except OSError:
        return None
failed = []
print("%-5s %-8s %9s %9s %9s %9s %9s %9s   %s" % ("vm", "bmc", "qemu", "script", "config", "callback", "exited", "bmc-off", "(seconds after the BMC power-on request)"))
for i in range(1, n + 1):
    d = os.path.join(state, "vm%d" % i)
    v = env(os.path.join(d, "vm.env"))
    on = ts(os.path.join(d, "selftest-power-on"))
    mine = [e for e in events if e["query"].get("uuid", "").lower() == v["UUID"].lower()]
    first = lambda kind: next((e["time"] for e in mine if e["kind"] == kind), None)
    script_ev = next((e for e in mine if e["kind"] == "script"), None)
    row = {"qemu": ts(os.path.join(d, "started-at")), "script": first("script"), "config": first("config"),
           "callback": first("callback"), "exited": ts(os.path.join(d, "selftest-off")),
           "bmc-off": ts(os.path.join(d, "selftest-bmc-off"))}
    fmt = lambda t: "%9.1f" % (t - on) if t and on else "%9s" % "-"
    print("%-5s %-8s %s" % ("vm%d" % i, v["BMC_KIND"], " ".join(fmt(row[k]) for k in row)))
    missing = [k for k, t in row.items() if t is None]
    if missing:
        failed.append("vm%d: no %s" % (i, ", ".join(missing)))
    if script_ev:
        q = script_ev["query"]
        if q.get("mac", "").lower() != v["MAC"].lower() or q.get("serial") != v["SERIAL"]:
            failed.append("vm%d: script query %s does not match mac %s serial %s" % (i, q, v["MAC"], v["SERIAL"]))
    con = open(v["CONSOLE"], errors="replace").read()
    if "dvlab-standin" in con and "install-complete; powering off" not in con:
        failed.append("vm%d: the stand-in did not finish (see %s)" % (i, v["CONSOLE"]))
    if row["qemu"] and row["callback"]:
        print("      netboot: qemu start -> script %.1f s, config %.1f s, callback %.1f s" % (
            row["script"] - row["qemu"], row["config"] - row["qemu"], row["callback"] - row["qemu"]))
for f in failed:
    print("FAILED:", f)
sys.exit(1 if failed else 0)
PY
  if [ $ok != 0 ]; then
    for i in $(seq 1 "$vms"); do
      echo "--- vm$i console (last 15 lines) ---" >&2
      grep -a . "$state/vm$i.console.log" | tail -n 15 >&2 || true
    done
    echo "--- dnsmasq log (last 15 lines) ---" >&2
    tail -n 15 "$state/dnsmasq.log" >&2 || true
    echo "selftest: FAILED (state kept in $state)" >&2
    return 1
  fi
  echo "selftest: passed ($vms VMs netbooted through their BMCs; total $(python3 -c "import sys, time; print(round(time.time() - float(sys.argv[1]), 1))" "$t0") s)"
}

lab_main() {
  local cmd=${1:-help}
  shift || true
  case "$cmd" in
    assets) lab_assets "${1:-.lab/assets}" ;;
    up) lab_up "$@" ;;
    down) lab_down "$@" ;;
    status) lab_status "$@" ;;
    bmc) lab_bmc_cmd "$@" ;;
    power) lab_power_cmd "$@" ;;
    dnsmasq) lab_dnsmasq_cmd "$@" ;;
    selftest) lab_selftest "$@" ;;
    fabric) fabric_main "$@" ;;
    help | -h | --help) lab_usage ;;
    *) lab_usage >&2; exit 2 ;;
  esac
}
