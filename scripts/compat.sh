#!/usr/bin/env bash
# `make compat`: installs the three client suites from their own registries (idempotent, cached
# outside the clone) and runs them through the Clarus proxy against a real PostgreSQL:
#   psycopg 3 from PyPI     -> ~/.cache/clarus/venv-py<ver>-<hash>  (compat/python/requirements.txt)
#   pgjdbc from Maven Central -> ~/.m2, built offline after the first online resolve (compat/java)
#   pgx from the Go proxy   -> the Go module cache, test binary in ~/.cache/clarus (compat/go)
#   SQLAlchemy, Alembic, asyncpg, Django from PyPI -> the same venv (compat/python/requirements-orm.txt)
#   Hibernate ORM 7 from Maven Central -> ~/.m2 (compat/hibernate)
#   Sequelize, TypeORM from npm -> ~/.cache/clarus/compat-node-<hash> (compat/node/package-lock.json)
# Env: COMPAT_TARGET=direct (bypass the proxy), COMPAT_SUITES=psycopg,pgjdbc,pgx, COMPAT_ONLY=<test>.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${CLARUS_CACHE:-$HOME/.cache/clarus}"
export PATH="$root/.tools/node/bin:$PATH"
export GOTOOLCHAIN=local

for tool in python3 java mvn go; do
  command -v "$tool" >/dev/null 2>&1 || { echo "compat: $tool is not installed (needed for the client suites)" >&2; exit 1; }
done

COMPAT_VENV="$("$root/compat/python/ensure-venv.sh" "$root/compat/python/requirements.txt" "$root/compat/python/requirements-orm.txt")"
export COMPAT_VENV

# The Node ORMs (Sequelize, TypeORM) from npm, pinned by compat/node/package-lock.json, installed
# outside the clone (keyed by the lock file) so the workspace's own lock stays as it is.
node_orms() {
  local out; out="$cache/compat-node-$(cat "$root/compat/node/package.json" "$root/compat/node/package-lock.json" | sha256sum | cut -c1-12)"
  if [ ! -f "$out/.complete" ]; then
    echo "compat: installing the Node ORMs into $out" >&2
    rm -rf "$out" && mkdir -p "$out"
    cp "$root/compat/node/package.json" "$root/compat/node/package-lock.json" "$out/"
    (cd "$out" && npm ci --ignore-scripts --no-audit --no-fund >&2)
    touch "$out/.complete"
  fi
  export COMPAT_NODE_MODULES="$out/node_modules"
}

# Builds the Maven project in compat/$1 (offline once ~/.m2 holds its artifacts) and prints its class path.
maven_build() {
  local dir="$root/compat/$1" mvn_args=(-q -B compile dependency:build-classpath -Dmdep.outputFile=target/classpath.txt)
  (cd "$dir" && { mvn -o "${mvn_args[@]}" >/dev/null 2>&1 || {
    echo "compat: resolving compat/$1's dependencies and Maven plugins from Maven Central (first run)" >&2
    mvn "${mvn_args[@]}" >&2
  }; })
  echo "$dir/target/classes:$(cat "$dir/target/classpath.txt")"
}

java_build() {
  COMPAT_JAVA_CP="$(maven_build java)"
  COMPAT_HIBERNATE_CP="$(maven_build hibernate)"
  export COMPAT_JAVA_CP COMPAT_HIBERNATE_CP
}

go_build() {
  local out; out="$cache/compat-go-$(cat "$root/compat/go/go.mod" "$root/compat/go/go.sum" | sha256sum | cut -c1-12)"
  mkdir -p "$out"
  (cd "$root/compat/go" && go test -c -o "$out/compat.test" .)
  export COMPAT_GO_TEST="$out/compat.test"
}

java_build
go_build
node_orms
exec node "$root/compat/run.ts"
