#!/usr/bin/env bash
# `bash scripts/build-native.sh` (run by scripts/setup.sh and the image build): the proxy's native
# modules, from sidecar/native with the C compiler and the Node-API headers of the npm package
# node-api-headers (no download: the package is a pinned development dependency). Each is rebuilt
# only when its source or this script is newer than the module.
# - build/native/clarus-aes.node (aes.c): AES-GCM and AES-SIV with AES-NI, x86-64 only; elsewhere
#   the proxy uses node:crypto (sidecar/src/protection/encryption/native-aes.ts).
# - build/native/clarus-relay.node (relay.c): the pass-through data path, Linux (epoll); without
#   it pass-through sessions are relayed in JavaScript (sidecar/src/io/native-relay.ts).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out_dir="$root/build/native"
headers="$root/node_modules/node-api-headers/include"
cc="${CC:-cc}"

# build <source> <module> <extra flags…>
build() {
  local src="$root/sidecar/native/$1" out="$out_dir/$2"
  shift 2
  if [ -f "$out" ] && [ "$out" -nt "$src" ] && [ "$out" -nt "$0" ]; then return 0; fi
  [ -f "$headers/node_api.h" ] || { echo "build-native: $headers/node_api.h missing (npm ci first)" >&2; exit 1; }
  command -v "$cc" >/dev/null 2>&1 || { echo "build-native: no C compiler ($cc); install gcc" >&2; exit 1; }
  mkdir -p "$out_dir"
  local tmp="$out.tmp.$$"
  "$cc" -O2 -std=c11 -Wall -Wextra -fPIC -shared -fvisibility=hidden "$@" -I"$headers" -o "$tmp" "$src"
  mv -f "$tmp" "$out"
  echo "build-native: built $out"
}

if [ "$(uname -s)" = Linux ]; then
  build relay.c clarus-relay.node -pthread
else
  echo "build-native: not Linux, pass-through sessions will be relayed in JavaScript"
fi
if [ "$(uname -m)" = x86_64 ]; then
  build aes.c clarus-aes.node -maes -mpclmul -mssse3
else
  echo "build-native: not x86-64, the proxy will use node:crypto for AES"
fi
