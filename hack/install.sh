#!/usr/bin/env bash
# Builds the real Kubernetes control plane (kube-apiserver, kube-controller-manager, kubectl, etcd) and Flux's
# helm-controller from their Go modules into a versioned cache folder outside the repository. Idempotent.
#
# Prints the bin folder as its last line. Environment:
#   COZY_CACHE       cache root (default: ~/.cache/cozystack-api)
#   K8S_VERSION      Kubernetes version to try first (default v1.37.2; falls back to v1.36.3, v1.35.4)
#   ETCD_VERSION     etcd server version (default v3.6.16)
#   HELM_CONTROLLER_VERSION  Flux helm-controller version (default v1.4.0, the first with ExternalArtifact chartRefs)
set -euo pipefail

say() { printf '[install] %s\n' "$*" >&2; }
die() { printf '[install] ERROR: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null 2>&1 || die "Go is not installed or not on PATH; install Go 1.26+ (it builds the control plane from Go modules)"

export GOTOOLCHAIN=local GOFLAGS=-mod=mod
CACHE=${COZY_CACHE:-$HOME/.cache/cozystack-api}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
HELM_CONTROLLER_VERSION=${HELM_CONTROLLER_VERSION:-v1.4.0}
CANDIDATES=("${K8S_VERSION:-v1.37.2}" v1.36.3 v1.35.4)

build_kube() {
  local v=$1 dir=$CACHE/kubernetes-$1
  if [[ -x $dir/bin/kube-apiserver && -x $dir/bin/kube-controller-manager && -x $dir/bin/kubectl ]]; then
    say "kubernetes $v already built in $dir/bin"
    return 0
  fi
  say "building kubernetes $v (kube-apiserver, kube-controller-manager, kubectl); a cold build takes 15-30 minutes on 2 cores"
  rm -rf "$dir/src" && mkdir -p "$dir/src" && cd "$dir/src"
  go mod init local/cozy-control-plane >/dev/null 2>&1
  say "downloading k8s.io/kubernetes@$v"
  go mod download -json "k8s.io/kubernetes@$v" >/dev/null || return 1
  local modfile; modfile=$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$v.mod
  [[ -f $modfile ]] || return 1
  # k8s.io/kubernetes replaces its staging modules with local folders; restate them with real versions.
  local staging=0
  for m in $(sed -n 's|^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*|\1|p' "$modfile"); do
    go mod edit -replace="$m=$m@v0.${v#v1.}"
    staging=$((staging + 1))
  done
  say "restated $staging staging modules at v0.${v#v1.}"
  go mod edit -require="k8s.io/kubernetes@$v"
  cat > tools.go <<'G'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
G
  say "resolving module graph (go mod tidy)"
  go mod tidy >/dev/null 2>&1 || { go mod tidy; return 1; }
  mkdir -p "$dir/bin.tmp"
  say "compiling (go build -v prints each package)"
  go build -trimpath -ldflags='-s -w' -v -o "$dir/bin.tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl \
    2>&1 | awk '{n++; if (n % 100 == 0) printf "[install]   %d packages compiled\n", n > "/dev/stderr"}'
  [[ ${PIPESTATUS[0]} -eq 0 ]] || return 1
  rm -rf "$dir/bin" && mv "$dir/bin.tmp" "$dir/bin"
  say "kubernetes $v built"
}

build_etcd() {
  local dir=$CACHE/etcd-$ETCD_VERSION
  if [[ -x $dir/bin/etcd ]]; then say "etcd $ETCD_VERSION already built in $dir/bin"; return 0; fi
  say "building etcd $ETCD_VERSION"
  rm -rf "$dir/src" && mkdir -p "$dir/src" && cd "$dir/src"
  go mod init local/cozy-etcd >/dev/null 2>&1
  printf 'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n' > main.go
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null 2>&1 || { go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"; return 1; }
  go mod tidy >/dev/null 2>&1
  mkdir -p "$dir/bin"
  go build -trimpath -ldflags='-s -w' -o "$dir/bin/etcd" . || return 1
  say "etcd $ETCD_VERSION built"
}

build_helm_controller() {
  local v=$HELM_CONTROLLER_VERSION dir=$CACHE/helm-controller-$HELM_CONTROLLER_VERSION
  if [[ -x $dir/bin/helm-controller ]]; then say "helm-controller $v already built in $dir/bin"; return 0; fi
  say "building helm-controller $v; a cold build takes about 10 minutes on 2 cores"
  rm -rf "$dir/src" && mkdir -p "$dir/src" && cd "$dir/src"
  go mod init local/cozy-helm-controller >/dev/null 2>&1
  go mod download -json "github.com/fluxcd/helm-controller@$v" >/dev/null || return 1
  local modfile; modfile=$(go env GOMODCACHE)/cache/download/github.com/fluxcd/helm-controller/@v/$v.mod
  [[ -f $modfile ]] || return 1
  # Its go.mod replaces its api module with a local folder (the published version is required anyway) and
  # pins some dependencies: restate those pins, which a dependency's go.mod cannot impose.
  local m
  while read -r m; do go mod edit -replace="$m"; done < <(
    sed -n -e 's|^replace[[:space:]]\{1,\}\(.*=>[[:space:]]*[^.[:space:]][^[:space:]]*[[:space:]]\{1,\}v.*\)$|\1|p' \
      -e '/^replace[[:space:]]*(/,/^)/s|^[[:space:]]\{1,\}\([^/[:space:]][^[:space:]]*[[:space:]]*=>[[:space:]]*[^.[:space:]][^[:space:]]*[[:space:]]\{1,\}v[^[:space:]]*\)[[:space:]]*$|\1|p' "$modfile" |
      sed 's/[[:space:]]*=>[[:space:]]*/=/; s/[[:space:]]\{1,\}v/@v/g')
  go mod edit -require="github.com/fluxcd/helm-controller@$v"
  printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/fluxcd/helm-controller"\n' > tools.go
  go mod tidy >/dev/null 2>&1 || { go mod tidy; return 1; }
  mkdir -p "$dir/bin"
  go build -trimpath -ldflags='-s -w' -o "$dir/bin/helm-controller" github.com/fluxcd/helm-controller || return 1
  say "helm-controller $v built"
}

mkdir -p "$CACHE"
built=""
for v in "${CANDIDATES[@]}"; do
  if (build_kube "$v"); then built=$v; break; fi
  say "kubernetes $v could not be fetched or built; falling back to the next served version"
done
[[ -n $built ]] || die "no Kubernetes version in (${CANDIDATES[*]}) could be built; see the errors above"
[[ $built == "${CANDIDATES[0]}" ]] || say "NOTE: using kubernetes $built instead of ${CANDIDATES[0]}"
(build_etcd) || die "etcd $ETCD_VERSION could not be built; see the errors above"
(build_helm_controller) || die "helm-controller $HELM_CONTROLLER_VERSION could not be built; see the errors above"

# One stable folder with links to the chosen builds, so callers need not know the versions.
BIN=$CACHE/bin
mkdir -p "$BIN"
for b in kube-apiserver kube-controller-manager kubectl; do ln -sfn "$CACHE/kubernetes-$built/bin/$b" "$BIN/$b"; done
ln -sfn "$CACHE/etcd-$ETCD_VERSION/bin/etcd" "$BIN/etcd"
ln -sfn "$CACHE/helm-controller-$HELM_CONTROLLER_VERSION/bin/helm-controller" "$BIN/helm-controller"
echo "$built" > "$BIN/KUBERNETES_VERSION"
say "control plane ready in $BIN"
echo "$BIN"
