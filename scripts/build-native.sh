#!/usr/bin/env bash
# `bash scripts/build-native.sh` (run by scripts/setup.sh and the image build): the proxy's native
# AES module, build/native/clarus-aes.node, from sidecar/native/aes.c with the C compiler and the
# Node-API headers of the npm package node-api-headers (no download: the package is a pinned
# development dependency). Rebuilt only when the source or this script is newer than the module.
# Only on x86-64 (AES-NI); elsewhere nothing is built and the proxy uses node:crypto
# (sidecar/src/protection/encryption/native-aes.ts).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/sidecar/native/aes.c"
out_dir="$root/build/native"
out="$out_dir/clarus-aes.node"
headers="$root/node_modules/node-api-headers/include"

if [ "$(uname -m)" != x86_64 ]; then
  echo "build-native: not x86-64, the proxy will use node:crypto for AES"
  exit 0
fi
if [ -f "$out" ] && [ "$out" -nt "$src" ] && [ "$out" -nt "$0" ]; then exit 0; fi
[ -f "$headers/node_api.h" ] || { echo "build-native: $headers/node_api.h missing (npm ci first)" >&2; exit 1; }
cc="${CC:-cc}"
command -v "$cc" >/dev/null 2>&1 || { echo "build-native: no C compiler ($cc); install gcc" >&2; exit 1; }
mkdir -p "$out_dir"
tmp="$out.tmp.$$"
"$cc" -O2 -std=c11 -Wall -Wextra -fPIC -shared -fvisibility=hidden -maes -mpclmul -mssse3 \
  -I"$headers" -o "$tmp" "$src"
mv -f "$tmp" "$out"
echo "build-native: built $out"
