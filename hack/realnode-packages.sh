#!/usr/bin/env bash
# Installs the Debian packages the real single-node cluster needs (package test/realnode):
# containerd, runc, the CNI plugins, nftables, iptables and iproute2. It installs only what is
# missing, only as root on a system with apt-get; elsewhere it says what is missing and exits 0,
# and the suites that need a real node skip (or fail, under STABLERING_REQUIRE_REALNODE=1).
set -euo pipefail

# package:file it installs
want="containerd:/usr/bin/containerd runc:/usr/sbin/runc containernetworking-plugins:/usr/lib/cni/bridge
nftables:/usr/sbin/nft iptables:/usr/sbin/iptables iproute2:/usr/sbin/ip"
missing=()
for pw in $want; do
  [ -e "${pw#*:}" ] || missing+=("${pw%%:*}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "realnode-packages: missing ${missing[*]}; install them as root to run the real node" >&2
  exit 0
fi
echo "realnode-packages: installing ${missing[*]}" >&2
# containerd's package would start its own daemon through the init system; the real node runs its
# own, so keep the package from starting services while it installs (policy-rc.d answers 101).
export DEBIAN_FRONTEND=noninteractive
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
  { apt-get update >&2 && apt-get install -y --no-install-recommends "${missing[@]}" >&2; }
