#!/usr/bin/env bash
# Builds HashiCorp Vault once, from the Go module proxy, into
#   ${CLARUS_CACHE:-~/.cache/clarus}/vault-<version>/bin/vault
# and reuses it on later runs (kept only if `vault version` runs). Idempotent.
#
# `go install github.com/hashicorp/vault@<version>` does not work: vault's go.mod replaces
# github.com/hashicorp/vault/{api,sdk,api/auth/*} with ./api, ./sdk, ... and those nested modules are
# not in the module zip. So the module source is fetched with `go mod download -json`, copied to a
# writable directory, the local replaces are dropped (the go.mod's require lines then name the
# published api/sdk versions) and the binary is built there, niced, one package at a time, so the
# build does not starve the other jobs on the machine. Module and build caches stay in their
# default places (~/go, ~/.cache/go-build) so reruns are fast.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${CLARUS_CACHE:-$HOME/.cache/clarus}"
# shellcheck source=go/versions.env
source "$HERE/go/versions.env"

if ! command -v go >/dev/null 2>&1; then
  for candidate in /usr/local/go/bin /usr/lib/go/bin; do
    if [ -x "$candidate/go" ]; then export PATH="$candidate:$PATH"; break; fi
  done
fi
command -v go >/dev/null 2>&1 || { echo "e2e/setup-vault.sh: Go toolchain not found (need go >= 1.25)" >&2; exit 1; }

export CGO_ENABLED=0
export GOTOOLCHAIN=local
# -mod=mod: go.sum gains the sums of the published api/sdk modules that replace the local copies.
export GOFLAGS="-trimpath -buildvcs=false -mod=mod"

log() { echo "e2e/setup-vault.sh: $*" >&2; }

dest="$CACHE/vault-${VAULT_VERSION#v}/bin"
if [ -x "$dest/vault" ] && "$dest/vault" version >/dev/null 2>&1; then
  exit 0
fi
start=$SECONDS
mkdir -p "$dest"
work="$CACHE/vault-${VAULT_VERSION#v}/src"
if [ ! -f "$work/.ready" ]; then
  log "fetching github.com/hashicorp/vault@$VAULT_VERSION from the module proxy"
  tmpmod="$(mktemp -d)"
  src="$(cd "$tmpmod" && go mod download -json "github.com/hashicorp/vault@$VAULT_VERSION" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  rm -rf "$tmpmod"
  [ -n "$src" ] && [ -f "$src/go.mod" ] || { log "go mod download gave no source directory"; exit 1; }
  rm -rf "$work"
  mkdir -p "$work"
  cp -R "$src/." "$work/"
  chmod -R u+w "$work"
  # Drop `replace X => ./dir` (module-local paths absent from the zip); keep the other replaces.
  sed -i -E '/^replace[[:space:]]+[^ ]+[[:space:]]+=>[[:space:]]+\.\//d' "$work/go.mod"
  # The in-tree sdk of the 1.21 branch is not published. The published sdk the go.mod names
  # (v0.21.0) has what 1.21.4 uses (Backend.TryRecordObservationWithRequest, missing from v0.20.0)
  # but a third parameter in framework.Backend.ActivationFunc; 1.21.4's only implementation and
  # only call of it (the identity-deduplication activation flag, nothing on the transit or
  # kubernetes-auth paths) are adapted to that signature. (sdk v0.24.0 matches these but needs a
  # newer grpc and so a rebuild of most of Vault.) A Vault version where these lines differ
  # stops here, so the patch is never applied blindly.
  patch_line() { # file, old, new
    grep -qF -- "$2" "$work/$1" || { log "$1 no longer contains: $2 (review the sdk patch for $VAULT_VERSION)"; exit 1; }
    OLD="$2" NEW="$3" perl -0pi -e 's/\Q$ENV{OLD}\E/$ENV{NEW}/' "$work/$1"
  }
  patch_line vault/identity_store_util.go 'activateDeduplication(ctx context.Context, req *logical.Request) error {' \
    'activateDeduplication(ctx context.Context, req *logical.Request, _ string) error {'
  patch_line vault/logical_system_activation_flags.go 'b.idStoreBackend.ActivationFunc(ctx, nil)' 'b.idStoreBackend.ActivationFunc(ctx, nil, "")'
  # Likewise keysutil.LockManager.RestorePolicy returns only an error in the published sdk (transit's
  # key-restore endpoint, which the tests do not use; the restored name is the name asked for).
  patch_line builtin/logical/transit/path_restore.go 'restoredKeyName, err := b.lm.RestorePolicy(ctx, req.Storage, keyName, backupB64, force)' \
    'restoredKeyName, err := keyName, b.lm.RestorePolicy(ctx, req.Storage, keyName, backupB64, force)'
  touch "$work/.ready"
fi
log "building vault $VAULT_VERSION (cached in $dest; a cold build takes tens of minutes on 2 shared cores)"
(cd "$work" && nice -n 19 go build -p 2 -ldflags="-s -w" -o "$dest/.vault.tmp" .)
mv -f "$dest/.vault.tmp" "$dest/vault"
"$dest/vault" version >/dev/null 2>&1 || { log "$dest/vault does not run"; exit 1; }
log "built vault in $((SECONDS - start))s"
