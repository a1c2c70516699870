#!/usr/bin/env bash
# Sets up Coracle on a Debian 12 machine, as root, then serves or tests.
#   scripts/setup.sh serve   install what the daemon needs, build, put `coracle` on PATH, run
#                            the daemon on its defaults
#   scripts/setup.sh test    install that and the test tooling, build, run the whole suite
# Safe to run again: it installs only what is missing. It never enables a service.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
case "$mode" in serve|test) ;; *) echo "usage: $0 serve|test" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "coracle setup: run as root" >&2; exit 1; }

# What the daemon needs from Debian:
#   OCI runtime and monitor: runc conmon
#   pod network: containernetworking-plugins iptables iproute2; nsenter: util-linux; port-forward: socat
#   native/ helpers and node-pty's build (node-gyp): build-essential pkg-config python3
serve_packages=(
  runc conmon
  containernetworking-plugins iptables iproute2 util-linux procps socat
  build-essential pkg-config python3 ca-certificates
)
# What the tests need besides:
#   a second OCI runtime and checkpoints: crun criu; TLS test PKI: openssl
#   test images and their registry: busybox-static docker-registry
#   the streaming tests build the Go SPDY client kubectl uses: golang-go golang-github-docker-spdystream-dev
test_packages=(
  crun criu openssl
  busybox-static docker-registry
  golang-go golang-github-docker-spdystream-dev
)
packages=("${serve_packages[@]}")
[ "$mode" = test ] && packages+=("${test_packages[@]}")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "coracle setup: installing ${missing[*]}"
  apt-get update -qq
  # Packages such as docker-registry start a service (listening on every interface) when
  # installed; policy-rc.d is Debian's way to say no, and the tests run their own registry.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    # Removed however the install ends: left behind, it would stop every service start.
    trap 'rm -f "$policy"' EXIT
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  rm -f "$policy" && trap - EXIT
  if [[ " ${missing[*]} " == *" docker-registry "* ]] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl disable --now docker-registry.service >/dev/null 2>&1 || true
  fi
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "coracle setup: Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

# zstd-napi's install script would first try to download a prebuilt binary (prebuild-install);
# this makes it build libzstd from the sources the package ships, offline, as node-pty is built.
npm_config_build_from_source=zstd-napi npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
if [ -f native/Makefile ]; then make -s -C native; fi

case "$mode" in
  serve)
    chmod 755 dist/src/cli/main.js
    ln -sfn "$PWD/dist/src/cli/main.js" /usr/local/bin/coracle
    exec coracle serve
    ;;
  test)
    # typescript-eslint, then the layers and import cycles (dependency-cruiser): eslint.config.js
    npm run --silent lint
    exec npx mocha
    ;;
esac
