#!/bin/sh
# udhcpc event script of the lab's Talos stand-in: address only (the lab's DHCP hands out no router or DNS).
# udhcpc sets interface, ip, mask, router in the environment.
# shellcheck disable=SC2154
case "$1" in
  deconfig) ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    if [ -n "$router" ]; then
      for r in $router; do ip route add default via "$r" dev "$interface" 2>/dev/null; break; done
    fi ;;
esac
exit 0
