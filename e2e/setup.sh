#!/usr/bin/env bash
# Builds the control-plane test tier's binaries once, from the Go module proxy, into
#   ${CLARUS_CACHE:-~/.cache/clarus}/<tool>-<version>/bin
# and reuses them on later runs (a binary is kept only if it runs). Idempotent.
# Tools: kube-apiserver, kube-controller-manager, kube-scheduler (k8s.io/kubernetes), etcd, helm, kwok;
# then Vault through e2e/setup-vault.sh.
# One binary at a time with `go build -p 2` keeps the memory bounded on a 2-core machine; the Go module
# and build caches stay in their default places (~/go, ~/.cache/go-build) so reruns are fast.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
GODIR="$HERE/go"
CACHE="${CLARUS_CACHE:-$HOME/.cache/clarus}"
# shellcheck source=go/versions.env
source "$GODIR/versions.env"

if ! command -v go >/dev/null 2>&1; then
  for candidate in /usr/local/go/bin /usr/lib/go/bin; do
    if [ -x "$candidate/go" ]; then export PATH="$candidate:$PATH"; break; fi
  done
fi
command -v go >/dev/null 2>&1 || { echo "e2e/setup.sh: Go toolchain not found (need go >= 1.25)" >&2; exit 1; }

export CGO_ENABLED=0
export GOFLAGS="-trimpath -buildvcs=false"
export GOTOOLCHAIN=local

log() { echo "e2e/setup.sh: $*" >&2; }

# require_version <go.mod dir> <module> <version>: versions.env and go.mod must agree.
require_version() {
  if ! grep -Eq "^[[:space:]]*(require[[:space:]]+)?$2 $3( |\$)" "$GODIR/$1/go.mod"; then
    log "e2e/go/$1/go.mod does not require $2 $3 (versions.env says so): fix one of them"
    exit 1
  fi
}

# build <tool dir> <version> <package> <binary> <extra ldflags> <check args...>
# The binary is built into a temporary name and renamed, so an interrupted build never leaves a
# half-written file that a later run would take for a good one.
build() {
  local moddir="$1" version="$2" pkg="$3" bin="$4" xflags="$5"; shift 5
  local dest="$CACHE/$moddir-$version/bin"
  if [ -x "$dest/$bin" ] && "$dest/$bin" "$@" >/dev/null 2>&1; then
    return 0
  fi
  mkdir -p "$dest"
  log "building $bin $version (cached in $dest)"
  local start=$SECONDS
  (cd "$GODIR/$moddir" && go build -p 2 -ldflags="-s -w $xflags" -o "$dest/.$bin.tmp" "$pkg")
  mv -f "$dest/.$bin.tmp" "$dest/$bin"
  "$dest/$bin" "$@" >/dev/null 2>&1 || { log "$dest/$bin does not run"; exit 1; }
  log "built $bin in $((SECONDS - start))s"
  built=$((built + 1))
}

require_version kubernetes k8s.io/kubernetes "$KUBERNETES_VERSION"
require_version etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
require_version helm helm.sh/helm/v3 "$HELM_VERSION"
require_version kwok sigs.k8s.io/kwok "$KWOK_VERSION"

total=$SECONDS
built=0
build etcd "$ETCD_VERSION" go.etcd.io/etcd/server/v3 etcd "" --version
# helm's release build stamps its version and the Kubernetes version `helm template` assumes (that of
# its client-go); without them that default is 1.20 and the chart's kubeVersion check fails.
helm_k8s_minor="$(cd "$GODIR/helm" && go list -m -f '{{.Version}}' k8s.io/client-go | cut -d. -f2)"
helm_x="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  helm_x="$helm_x -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$helm_k8s_minor"
done
build helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm helm "$helm_x" version --short
build kwok "$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok kwok "" --version
# kwok runs nodes and pods through "stages"; its binary has none built in, so keep the module's
# stock ones (node initialize + lease heartbeat, pod ready/complete/delete) beside the binary.
stages="$CACHE/kwok-$KWOK_VERSION/stages"
if [ ! -s "$stages/pod-ready.yaml" ]; then
  src="$(cd "$GODIR/kwok" && go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  mkdir -p "$stages"
  for f in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
           pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
    cp "$src/kustomize/stage/$f.yaml" "$stages/"
  done
  chmod u+w "$stages"/*.yaml
fi
# Stamp the version the release build would: the API server reports it at /version, and clients
# (helm's kubeVersion check, kwok) compare against it.
kube_minor="$(echo "$KUBERNETES_VERSION" | cut -d. -f2)"
kube_x="-X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/component-base/version.gitMajor=1"
kube_x="$kube_x -X k8s.io/component-base/version.gitMinor=$kube_minor -X k8s.io/component-base/version.gitTreeState=clean"
for cmd in kube-apiserver kube-controller-manager kube-scheduler; do
  build kubernetes "$KUBERNETES_VERSION" "k8s.io/kubernetes/cmd/$cmd" "$cmd" "$kube_x" --version
done
if [ "$built" -gt 0 ]; then log "built $built binaries in $((SECONDS - total))s"; fi
# HashiCorp Vault for the vaultTransit key-provider tests (integration and control-plane tiers).
bash "$HERE/setup-vault.sh"
