# shellcheck shell=bash
# The network lab's tools (Debian): nftables, FRR and Open vSwitch. Nett's drivers run them in network namespaces
# the tests and `scripts/lab fabric` create; ping and bash's /dev/tcp carry the probes; ethtool turns off checksum
# offload on the lab's veths.
#
# netlab_ensure_installed   installs what is missing.

netlab_ensure_installed() {
  local missing=()
  [ -x /usr/sbin/nft ] || missing+=(nftables)
  [ -x /usr/lib/frr/zebra ] || missing+=(frr frr-pythontools)
  [ -x /usr/bin/ovs-vsctl ] || missing+=(openvswitch-switch)
  command -v ping >/dev/null || missing+=(iputils-ping)
  [ -x /usr/sbin/ethtool ] || missing+=(ethtool)
  command -v python3 >/dev/null || missing+=(python3)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing ${missing[*]} (Debian packages)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # The packages' init scripts cannot start services here (no init system); the lab starts its own daemons.
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}
