# shellcheck shell=bash
# The network lab's tools (Debian): nftables today (Nett's firewall driver runs it in network namespaces the tests
# create); FRR and Open vSwitch join it with their drivers.
#
# netlab_ensure_installed   installs what is missing.

netlab_ensure_installed() {
  if ! [ -x /usr/sbin/nft ]; then
    echo "==> installing nftables (Debian package)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends nftables >/dev/null
  fi
}
