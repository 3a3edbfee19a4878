# shellcheck shell=bash
# The network lab for Nett (issue 7): the cabling of examples/network-osl1.yaml in network namespaces.
#
#   2 leaf switches   Open vSwitch in userspace (one ovsdb-server + ovs-vswitchd per namespace, bridge br0,
#                     datapath netdev), a trunk between them over two links (Ethernet48, Ethernet49: an LACP bond)
#   1 border router   FRR (zebra, bgpd, staticd) + nftables, one interface per routed network towards leaf2
#                     (Ethernet41–47) and an uplink with eBGP to
#   1 upstream        FRR, AS 64500, outside Dataverket's control (configured here), announcing 203.0.113.0/24
#                     from an "internet" host behind it
#   8 hosts           one per network on an access port (and the internet host), address .10, gateway .1
#   3 VRFs            the border's VRFs (tenant-acme, tenant-globex, sovereign) as network namespaces P-vrf-NAME
#                     (the kernel has no VRF devices): FRR's netns VRF backend (`zebra -n`) knows each as VRF
#                     P-vrf-NAME; the border's legs in the VRF's networks live there; the namespace forwards, and
#                     nftables loads the border's table into it too
#
# The lab only cables and boots the devices: switch ports carry no VLANs and the border has no addresses until
# Nett applies the intent. `scripts/lab fabric up` writes STATE/fabric.json: each device's driver and how to reach
# it, and the probe endpoints per network (what `DV_NETT_DEVICES` points the server at). Sourced by scripts/lab.

FABRIC_BRIDGE=br0

fabric_usage() {
  cat <<'USAGE'
usage: scripts/lab fabric COMMAND [--state DIR] [--prefix P]
  up       build the namespaces, start OVS and FRR, cable everything; writes DIR/fabric.json
  down     stop the daemons and delete the namespaces (safe to repeat)
  status   what runs
  exec NAMESPACE-SUFFIX CMD...   run CMD in one of the lab's namespaces (leaf1, border1, h-acme, …)
DIR defaults to .lab/fabric, P (the namespaces' name prefix) to dvf.
USAGE
}

fabric_args() {
  FABRIC_STATE=.lab/fabric
  FABRIC_PREFIX=dvf
  FABRIC_REST=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --state) FABRIC_STATE=$2; shift 2 ;;
      --prefix) FABRIC_PREFIX=$2; shift 2 ;;
      *) FABRIC_REST+=("$1"); shift ;;
    esac
  done
  FABRIC_STATE=$(lab_abs "$FABRIC_STATE")
}

fabric_ns() { echo "$FABRIC_PREFIX-$1"; }

# fabric_link NS_A IF_A NS_B IF_B: a veth pair with the given names in two namespaces, both up.
fabric_link() {
  local a="dvt$$a$RANDOM" b="dvt$$b$RANDOM"
  a=${a:0:15}; b=${b:0:15}
  ip link add "$a" type veth peer name "$b"
  ip link set "$a" netns "$1"
  ip link set "$b" netns "$3"
  ip -n "$1" link set "$a" name "$2"
  ip -n "$3" link set "$b" name "$4"
  ip -n "$1" link set "$2" up
  ip -n "$3" link set "$4" up
  # Open vSwitch's userspace datapath forwards what the kernel hands it without computing checksums a veth left to
  # "hardware": without this, ICMP works but every TCP segment arrives with a bad checksum and is dropped.
  ip netns exec "$1" ethtool -K "$2" tx off >/dev/null
  ip netns exec "$3" ethtool -K "$4" tx off >/dev/null
}

fabric_ovs_start() {
  lab_ovs_start "$(fabric_ns "$1")" "$FABRIC_STATE/$1" "$FABRIC_BRIDGE"
}

# lab_ovs_start NS DIR BRIDGE: a private ovsdb-server and ovs-vswitchd in namespace NS (database, sockets, pid
# files and logs in DIR) with one bridge on the userspace datapath (the kernel has no OVS module).
lab_ovs_start() {
  local ns=$1 dir=$2 bridge=$3
  mkdir -p "$dir"
  rm -f "$dir/conf.db"
  ovsdb-tool create "$dir/conf.db" /usr/share/openvswitch/vswitch.ovsschema
  (
    lab_close_fds
    ip netns exec "$ns" ovsdb-server "$dir/conf.db" --remote="punix:$dir/db.sock" --pidfile="$dir/ovsdb.pid" \
      --unixctl="$dir/ovsdb.ctl" --log-file="$dir/ovsdb.log" --detach </dev/null >/dev/null 2>&1
  )
  ovs-vsctl --db="unix:$dir/db.sock" --no-wait init
  (
    lab_close_fds
    ip netns exec "$ns" ovs-vswitchd "unix:$dir/db.sock" --pidfile="$dir/vswitchd.pid" --unixctl="$dir/vswitchd.ctl" \
      --log-file="$dir/vswitchd.log" --detach </dev/null >/dev/null 2>&1
  )
  ovs-vsctl --db="unix:$dir/db.sock" --timeout=10 add-br "$bridge" -- set bridge "$bridge" datapath_type=netdev
}

# lab_ovs_stop DIR: asks the daemons lab_ovs_start started in DIR to exit (they may have inherited an ignored
# SIGTERM), then kills what is left (bounded).
lab_ovs_stop() {
  local dir=$1 ctl
  for ctl in "$dir/vswitchd.ctl" "$dir/ovsdb.ctl"; do
    [ -S "$ctl" ] && ovs-appctl -t "$ctl" exit >/dev/null 2>&1 || true
  done
  lab_reap "$dir/vswitchd.pid" "$dir/ovsdb.pid"
}

# lab_reap PIDFILE…: waits up to 4 s for each process to exit, kills what is left (-9), removes the pid files.
lab_reap() {
  local pidfile pid
  for pidfile in "$@"; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile" 2>/dev/null) || continue
    for _ in $(seq 1 40); do lab_running "$pid" || break; sleep 0.1; done
    lab_running "$pid" && kill -9 "$pid" 2>/dev/null
    rm -f "$pidfile"
  done
}

FABRIC_VRFS=(tenant-acme tenant-globex sovereign)

# fabric_frr_start NAME [ZEBRA-OPTION…]: zebra, bgpd and staticd in the namespace, sockets and pid files in
# STATE/frr/NS (vtysh -N NS --vty_socket STATE/frr finds them there).
fabric_frr_start() {
  local name=$1 ns run daemon options
  shift
  ns=$(fabric_ns "$name"); run=$FABRIC_STATE/frr/$ns
  mkdir -p "$run"
  chown -R frr:frr "$FABRIC_STATE/frr"
  for daemon in zebra bgpd staticd; do
    options=()
    [ "$daemon" = zebra ] && options=("$@")
    (
      lab_close_fds
      ip netns exec "$ns" "/usr/lib/frr/$daemon" -d "${options[@]}" -N "$ns" -f /dev/null -i "$run/$daemon.pid" --vty_socket "$run" \
        -z "$run/zserv.api" --log "file:$run/$daemon.log" -u frr -g frr </dev/null >/dev/null 2>&1
    )
    for _ in $(seq 1 50); do [ -S "$run/$daemon.vty" ] && break; sleep 0.1; done
    [ -S "$run/$daemon.vty" ] || lab_die "$daemon did not start in $ns (see $run/$daemon.log)"
  done
}

fabric_vtysh() {
  local ns
  ns=$(fabric_ns "$1"); shift
  vtysh -N "$ns" --vty_socket "$FABRIC_STATE/frr" "$@" 2> >(grep -v "vtysh.conf" >&2)
}

fabric_host() {
  local name=$1 address=$2 gateway=$3 ns
  ns=$(fabric_ns "$name")
  ip -n "$ns" addr add "$address" dev eth0
  ip -n "$ns" route add default via "$gateway"
}

fabric_up() {
  fabric_args "$@"
  netlab_ensure_installed
  if [ -f "$FABRIC_STATE/fabric.json" ]; then fabric_down --state "$FABRIC_STATE" --prefix "$FABRIC_PREFIX"; fi
  mkdir -p "$FABRIC_STATE"
  echo "FABRIC_PREFIX=$FABRIC_PREFIX" >"$FABRIC_STATE/fabric.env"
  local ns
  for ns in leaf1 leaf2 border1 upstream1 h-acme h-globex h-mgmt h-prov h-health h-lb h-bmc ext "${FABRIC_VRFS[@]/#/vrf-}"; do
    ip netns add "$(fabric_ns "$ns")"
    ip -n "$(fabric_ns "$ns")" link set lo up
  done
  local vrf
  for vrf in "${FABRIC_VRFS[@]}"; do ip netns exec "$(fabric_ns "vrf-$vrf")" sysctl -qw net.ipv4.ip_forward=1; done
  fabric_ovs_start leaf1
  fabric_ovs_start leaf2

  # Cabling: the trunk, the hosts' access ports, the border's interfaces and uplink, the internet behind upstream.
  fabric_link "$(fabric_ns leaf1)" Ethernet48 "$(fabric_ns leaf2)" Ethernet48
  fabric_link "$(fabric_ns leaf1)" Ethernet49 "$(fabric_ns leaf2)" Ethernet49
  fabric_link "$(fabric_ns leaf1)" Ethernet1 "$(fabric_ns h-acme)" eth0
  fabric_link "$(fabric_ns leaf1)" Ethernet2 "$(fabric_ns h-globex)" eth0
  fabric_link "$(fabric_ns leaf1)" Ethernet3 "$(fabric_ns h-mgmt)" eth0
  fabric_link "$(fabric_ns leaf1)" Ethernet4 "$(fabric_ns h-prov)" eth0
  fabric_link "$(fabric_ns leaf2)" Ethernet1 "$(fabric_ns h-health)" eth0
  fabric_link "$(fabric_ns leaf2)" Ethernet2 "$(fabric_ns h-lb)" eth0
  fabric_link "$(fabric_ns leaf2)" Ethernet40 "$(fabric_ns h-bmc)" eth0
  # The border's leg in each network: in the border's namespace, or in its VRF's.
  local i=41 leg network where
  for leg in oob provisioning mgmt acme-web:tenant-acme globex-app:tenant-globex health-records:sovereign public-lb; do
    network=${leg%%:*}
    where=border1
    [ "$leg" != "$network" ] && where=vrf-${leg#*:}
    fabric_link "$(fabric_ns leaf2)" "Ethernet$i" "$(fabric_ns "$where")" "$network"
    i=$((i + 1))
  done
  fabric_link "$(fabric_ns border1)" uplink "$(fabric_ns upstream1)" uplink
  fabric_link "$(fabric_ns upstream1)" ext "$(fabric_ns ext)" eth0

  fabric_host h-acme 10.110.0.10/24 10.110.0.1
  fabric_host h-globex 10.120.0.10/24 10.120.0.1
  fabric_host h-mgmt 10.30.0.10/24 10.30.0.1
  fabric_host h-prov 10.20.0.10/24 10.20.0.1
  fabric_host h-health 10.200.0.10/24 10.200.0.1
  fabric_host h-lb 192.0.2.10/26 192.0.2.1
  fabric_host h-bmc 10.10.0.10/24 10.10.0.1
  fabric_host ext 203.0.113.10/24 203.0.113.1

  fabric_frr_start border1 -n
  fabric_frr_start upstream1
  # The upstream is not Dataverket's: the lab configures it, as the transit provider would.
  ip -n "$(fabric_ns upstream1)" addr add 198.51.100.1/30 dev uplink
  ip -n "$(fabric_ns upstream1)" addr add 203.0.113.1/24 dev ext
  fabric_vtysh upstream1 -c 'configure terminal' -c 'ip forwarding' -c 'router bgp 64500' -c 'bgp router-id 198.51.100.1' -c 'no bgp ebgp-requires-policy' \
    -c 'neighbor 198.51.100.2 remote-as 65010' -c 'neighbor 198.51.100.2 timers connect 1' -c 'address-family ipv4 unicast' \
    -c 'network 203.0.113.0/24' -c 'exit-address-family' -c 'end' >/dev/null

  local state=$FABRIC_STATE p=$FABRIC_PREFIX
  local vrfs="\"tenant-acme\": \"$p-vrf-tenant-acme\", \"tenant-globex\": \"$p-vrf-tenant-globex\", \"sovereign\": \"$p-vrf-sovereign\""
  cat >"$FABRIC_STATE/fabric.json" <<JSON
{
  "prefix": "$p",
  "state": "$state",
  "devices": [
    {"name": "osl1-leaf1", "driver": "ovs", "namespace": "$p-leaf1", "database": "$state/leaf1/db.sock", "bridge": "$FABRIC_BRIDGE", "control": "$state/leaf1/vswitchd.ctl"},
    {"name": "osl1-leaf2", "driver": "ovs", "namespace": "$p-leaf2", "database": "$state/leaf2/db.sock", "bridge": "$FABRIC_BRIDGE", "control": "$state/leaf2/vswitchd.ctl"},
    {"name": "osl1-border1", "driver": "frr", "namespace": "$p-border1", "vtySocket": "$state/frr", "runDirectory": "$state/frr/$p-border1", "vrfs": {$vrfs}},
    {"name": "osl1-border1", "driver": "nftables", "namespace": "$p-border1", "vrfs": {$vrfs}}
  ],
  "endpoints": [
    {"network": "acme-web", "namespace": "$p-h-acme", "address": "10.110.0.10"},
    {"network": "globex-app", "namespace": "$p-h-globex", "address": "10.120.0.10"},
    {"network": "mgmt", "namespace": "$p-h-mgmt", "address": "10.30.0.10"},
    {"network": "provisioning", "namespace": "$p-h-prov", "address": "10.20.0.10"},
    {"network": "health-records", "namespace": "$p-h-health", "address": "10.200.0.10"},
    {"network": "public-lb", "namespace": "$p-h-lb", "address": "192.0.2.10"},
    {"network": "oob", "namespace": "$p-h-bmc", "address": "10.10.0.10"},
    {"network": "external", "namespace": "$p-ext", "address": "203.0.113.10"}
  ]
}
JSON
  lab_log "fabric up: $FABRIC_STATE/fabric.json"
}

fabric_down() {
  fabric_args "$@"
  [ -f "$FABRIC_STATE/fabric.env" ] && . "$FABRIC_STATE/fabric.env"
  local pidfile pid ctl
  # Open vSwitch exits on request (its daemons may have inherited an ignored SIGTERM from whoever started the lab).
  for ctl in "$FABRIC_STATE"/*/vswitchd.ctl "$FABRIC_STATE"/*/ovsdb.ctl; do
    [ -S "$ctl" ] && ovs-appctl -t "$ctl" exit >/dev/null 2>&1 || true
  done
  for pidfile in "$FABRIC_STATE"/frr/*/*.pid "$FABRIC_STATE"/*/vswitchd.pid "$FABRIC_STATE"/*/ovsdb.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile" 2>/dev/null) || continue
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  lab_reap "$FABRIC_STATE"/frr/*/*.pid "$FABRIC_STATE"/*/vswitchd.pid "$FABRIC_STATE"/*/ovsdb.pid
  local ns
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^$FABRIC_PREFIX-(leaf[0-9]|border1|upstream1|h-[a-z]+|ext|vrf-[a-z0-9-]+)$"); do
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -f "$FABRIC_STATE/fabric.json"
  lab_log "fabric down"
}

fabric_status() {
  fabric_args "$@"
  [ -f "$FABRIC_STATE/fabric.json" ] || { echo "no fabric in $FABRIC_STATE"; return 1; }
  local pidfile state
  for pidfile in "$FABRIC_STATE"/*/ovsdb.pid "$FABRIC_STATE"/*/vswitchd.pid "$FABRIC_STATE"/frr/*/*.pid; do
    [ -f "$pidfile" ] || continue
    if lab_running "$(cat "$pidfile")"; then state=running; else state=STOPPED; fi
    printf '%-60s %s\n' "${pidfile#"$FABRIC_STATE"/}" "$state"
  done
  ip netns list | grep -E "^$FABRIC_PREFIX-" | awk '{print $1}'
}

fabric_exec() {
  fabric_args "$@"
  set -- "${FABRIC_REST[@]}"
  local ns
  ns=$(fabric_ns "$1"); shift
  ip netns exec "$ns" "$@"
}

fabric_main() {
  local cmd=${1:-help}
  shift || true
  case "$cmd" in
    up) fabric_up "$@" ;;
    down) fabric_down "$@" ;;
    status) fabric_status "$@" ;;
    exec) fabric_exec "$@" ;;
    help | -h | --help) fabric_usage ;;
    *) fabric_usage >&2; exit 2 ;;
  esac
}
