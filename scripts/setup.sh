#!/usr/bin/env bash
# Sets up Coracle on a Debian 12 machine, as root, then serves or tests.
#   scripts/setup.sh serve   install everything, build, run the daemon on its defaults
#   scripts/setup.sh test    install the same, build, run the whole test suite
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
case "$mode" in serve|test) ;; *) echo "usage: $0 serve|test" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "coracle setup: run as root" >&2; exit 1; }

# What every part of Coracle and its tests needs from Debian:
#   OCI runtimes and a monitor: runc crun conmon; checkpoints: criu
#   pod network: containernetworking-plugins iptables iproute2; port-forward: socat
#   test images and registry: busybox-static docker-registry
#   native/ helpers: build-essential pkg-config; node-pty's build (node-gyp): python3
#   streaming tests build the Go SPDY client kubectl uses: golang-go golang-github-docker-spdystream-dev
packages=(
  runc crun conmon criu
  containernetworking-plugins iptables iproute2 util-linux procps socat
  busybox-static docker-registry
  build-essential pkg-config python3 ca-certificates openssl
  golang-go golang-github-docker-spdystream-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "coracle setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "coracle setup: Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
if [ -f native/Makefile ]; then make -s -C native; fi

case "$mode" in
  serve) exec node dist/src/cli/main.js serve ;;
  test) exec npx mocha ;;
esac
