#!/usr/bin/env bash
# Installs the system packages the test suite needs (Debian/Ubuntu, as root):
# tshark and tcptrace are oracles for conformance tests; chromium opens the
# HTML report headless; tcpdump, iproute2,
# nftables and ethtool build the network-namespace captures. The capture
# agent (crates/capture-agent) needs clang-19 to compile its BPF programs,
# libbpf-dev for bpf_helpers.h and linux-libc-dev for the kernel UAPI
# headers; bpftool helps inspect loaded programs and iperf3 measures the
# agent's overhead (scripts/agent-overhead.sh); time (/usr/bin/time) measures
# peak memory in scripts/bench.sh. Does nothing for packages
# that are already present. Then the Python venv of the notebook tests
# (scripts/install-notebook-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(tshark tcptrace tcpdump iproute2 nftables ethtool iputils-ping python3 chromium fonts-dejavu-core
          clang-19 libbpf-dev linux-libc-dev bpftool iperf3 time)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exec scripts/install-notebook-deps.sh
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]} (run as root, or install them yourself)" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null; then
    echo "install-deps: no apt-get here; install: ${missing[*]}" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
exec scripts/install-notebook-deps.sh
