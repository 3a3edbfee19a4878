#!/bin/sh
# /init of the lab's Talos stand-in (busybox, built by `scripts/lab assets`). It behaves like Talos at the
# protocol level: DHCP on the first NIC, GET the machine config named by the `talos.config=` kernel argument,
# POST the completion callback named by `dv.callback=` (the boot service decides that URL), power off.
# Every step prints a `dvlab-standin:` line on the console (ttyS0 in the lab), and any failure prints
# `dvlab-standin: FAILED: <reason>` and powers off, so a serial log always ends with the outcome.
# Each HTTP request is bounded by `timeout` (busybox 1.35's `wget -T` segfaults).
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec 0</dev/console 1>/dev/console 2>&1
mkdir -p /tmp /run /var/run
# With several console= arguments /dev/console is the last one (e.g. tty0 after ttyS0): copy everything to the
# serial port too, so the lab's console log (ttyS0) always shows the outcome.
if ! grep -q '^ttyS0 .*C' /proc/consoles 2>/dev/null && [ -c /dev/ttyS0 ]; then
  mkfifo /tmp/console.fifo
  tee /dev/ttyS0 </tmp/console.fifo >/dev/console &
  exec 1>/tmp/console.fifo 2>&1
fi

say() { echo "dvlab-standin: [$(cut -d' ' -f1 /proc/uptime)s] $*"; }
fail() {
  say "FAILED: $*"
  sleep 1
  poweroff -f
  sleep 5
}

say "Talos stand-in starting (kernel $(uname -r))"
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net e1000; do
  if [ -f "/lib/modules/$m.ko" ]; then insmod "/lib/modules/$m.ko" 2>/dev/null; fi
done

cfg=
cb=
# shellcheck disable=SC2013 # words, not lines
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    talos.config=*) cfg=${arg#talos.config=} ;;
    dv.callback=*) cb=${arg#dv.callback=} ;;
  esac
done
[ -n "$cfg" ] || fail "no talos.config= kernel argument"

# The first NIC other than lo (drivers may take a moment to register it).
nic=
for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
  for path in /sys/class/net/*; do
    name=${path##*/}
    if [ "$name" != lo ]; then nic=$name; break; fi
  done
  [ -n "$nic" ] && break
  sleep 0.5
done
[ -n "$nic" ] || fail "no network interface (is the NIC virtio-net or e1000?)"
mac=$(cat "/sys/class/net/$nic/address")
ip link set lo up
ip link set "$nic" up
say "DHCP on $nic ($mac)"
udhcpc -i "$nic" -s /etc/udhcpc.script -t 20 -T 2 -A 1 -n -q >/tmp/udhcpc.log 2>&1 || {
  cat /tmp/udhcpc.log
  fail "DHCP on $nic got no lease"
}
addr=$(ip -4 -o addr show dev "$nic" | awk '{print $4}' | head -n 1)
say "address $addr"

say "fetching config $cfg"
ok=
for attempt in 1 2 3; do
  if timeout 15 wget -q -O /tmp/config "$cfg" 2>/tmp/wget.err; then ok=1; break; fi
  say "config fetch attempt $attempt failed: $(cat /tmp/wget.err)"
  sleep 1
done
[ -n "$ok" ] || fail "could not fetch the machine config from $cfg"
say "config: $(wc -c </tmp/config) bytes; first lines:"
head -n 5 /tmp/config | sed 's/^/dvlab-standin: config| /'
[ -s /tmp/config ] || fail "the machine config is empty"

say "installing (stand-in: nothing is written to disk)"
if [ -n "$cb" ]; then
  say "callback POST $cb"
  ok=
  for attempt in 1 2 3; do
    if timeout 15 wget -q -O /tmp/callback.out --header 'Content-Type: application/json' \
      --post-data "{\"event\":\"install-complete\",\"mac\":\"$mac\",\"address\":\"$addr\"}" "$cb" 2>/tmp/wget.err; then
      ok=1
      break
    fi
    say "callback attempt $attempt failed: $(cat /tmp/wget.err)"
    sleep 1
  done
  [ -n "$ok" ] || fail "the install-complete callback to $cb failed"
  say "callback accepted"
else
  say "no dv.callback= kernel argument: no callback sent"
fi
say "install-complete; powering off"
sleep 0.2  # let tee flush
poweroff -f
sleep 5
