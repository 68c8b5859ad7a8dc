#!/usr/bin/env bash
# Builds the local control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kwok), the real node's parts (kubelet, kube-proxy, CoreDNS,
# crictl) and the CLI tools (helm, grpcurl) from public Go modules,
# into a cache outside the checkout keyed by version. A binary that is already
# cached is not rebuilt. Usage: hack/build-tools.sh [tool...]  (default: all)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${CHRONOVERSE_CACHE:-$HOME/.cache/chronoverse}
bin="$cache/bin"
work="$cache/build"
mkdir -p "$bin" "$work"
# A machine whose PATH lacks Go may still have it where its installer puts it.
command -v go >/dev/null 2>&1 || export PATH="/usr/local/go/bin:$PATH"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false"

log() { printf '[build-tools] %s\n' "$*" >&2; }

# have NAME VERSION -> true when the versioned binary is already cached
have() { [ -x "$bin/$1-$2" ]; }

# link NAME VERSION -> stable name used by scripts
link() { ln -sfn "$1-$2" "$bin/$1"; }

build_kubernetes() {
  local k=$KUBERNETES_VERSION s="v0.${KUBERNETES_VERSION#1.}" minor
  minor=${k#1.}; minor=${minor%%.*}
  local cmds=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy) c missing=()
  for c in "${cmds[@]}"; do have "$c" "$k" || missing+=("$c"); done
  if [ ${#missing[@]} -eq 0 ]; then
    for c in "${cmds[@]}"; do link "$c" "$k"; done
    return
  fi
  log "building Kubernetes v$k (cold build: tens of minutes)"
  local d="$work/k8s-$k"
  mkdir -p "$d"
  (
    cd "$d"
    [ -f go.mod ] || go mod init local/k8sbins >/dev/null 2>&1
    go mod edit -go=1.24.0 -godebug=default=go1.24
    local kmod
    kmod=$(go mod download -json "k8s.io/kubernetes@v$k" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
    # Every k8s.io staging module maps to the v0.x.y release matching v1.x.y.
    for m in $(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => \./staging/.*#\1#p' "$kmod"); do
      go mod edit -replace="$m=$m@$s"
    done
    local pkgs=() c
    for c in "${cmds[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c@v$k"); done
    go get "${pkgs[@]}"
    local v="-X k8s.io/component-base/version.gitVersion=v$k -X k8s.io/component-base/version.gitMajor=1"
    v+=" -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
    v+=" -X k8s.io/client-go/pkg/version.gitVersion=v$k -X k8s.io/client-go/pkg/version.gitMajor=1"
    v+=" -X k8s.io/client-go/pkg/version.gitMinor=$minor"
    for c in "${missing[@]}"; do
      go build -ldflags "-s -w $v" -o "$bin/$c-$k.tmp" "k8s.io/kubernetes/cmd/$c"
      mv "$bin/$c-$k.tmp" "$bin/$c-$k"
      link "$c" "$k"
    done
  )
}

build_etcd() {
  have etcd "$ETCD_VERSION" || {
    log "building etcd v$ETCD_VERSION"
    local d="$work/etcd-$ETCD_VERSION"
    mkdir -p "$d"
    (
      cd "$d"
      [ -f go.mod ] || go mod init local/etcdbin >/dev/null 2>&1
      go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
      go build -ldflags "-s -w" -o "$bin/etcd-$ETCD_VERSION.tmp" go.etcd.io/etcd/server/v3
      mv "$bin/etcd-$ETCD_VERSION.tmp" "$bin/etcd-$ETCD_VERSION"
    )
  }
  link etcd "$ETCD_VERSION"
}

# go_install NAME VERSION PACKAGE@VERSION [ldflags]
go_install() {
  local name=$1 version=$2 pkg=$3 ldflags=${4:-}
  have "$name" "$version" || {
    log "building $name v$version"
    local d
    d=$(mktemp -d)
    GOBIN="$d" go install -ldflags "-s -w $ldflags" "$pkg"
    mv "$d/$name" "$bin/$name-$version"
    rm -rf "$d"
  }
  link "$name" "$version"
}

# kwok, plus its Logs/ClusterLogs CRDs from the same module (make cluster applies them).
build_kwok() {
  go_install kwok "$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
  local crds="$cache/kwok-$KWOK_VERSION-crds"
  [ -f "$crds/kwok.x-k8s.io_logs.yaml" ] && return
  local src
  src=$(cd "$work" && GOFLAGS= go mod download -json "sigs.k8s.io/kwok@v$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')
  mkdir -p "$crds"
  cp "$src/kustomize/crd/bases/kwok.x-k8s.io_logs.yaml" "$src/kustomize/crd/bases/kwok.x-k8s.io_clusterlogs.yaml" "$crds/"
}
build_helm() {
  go_install helm "$HELM_VERSION" "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION" \
    "-X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION"
}
# CoreDNS with only the plugins the local cluster uses (Services and Pods by
# name, forwarding the rest like the host), the way CoreDNS documents custom
# builds: a main that imports the chosen plugins and runs coremain.
build_coredns() {
  local main
  main=$(cat <<'GO'
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
)

func main() { coremain.Run() }
GO
)
  # The plugin list is part of the version: changing it rebuilds.
  local version
  version="$COREDNS_VERSION-$(printf '%s' "$main" | sha256sum | cut -c1-8)"
  have coredns "$version" || {
    log "building coredns v$COREDNS_VERSION"
    local d="$work/coredns-$COREDNS_VERSION"
    mkdir -p "$d"
    (
      cd "$d"
      [ -f go.mod ] || go mod init local/corednsbin >/dev/null 2>&1
      printf '%s\n' "$main" >main.go
      go get "github.com/coredns/coredns@v$COREDNS_VERSION"
      go mod tidy
      go build -ldflags "-s -w" -o "$bin/coredns-$version.tmp" .
      mv "$bin/coredns-$version.tmp" "$bin/coredns-$version"
    )
  }
  link coredns "$version"
}

# crictl: how hack/real-node.sh stops the node's pod sandboxes (and so tears
# down their network) before it stops containerd.
build_crictl() {
  go_install crictl "$CRICTL_VERSION" "sigs.k8s.io/cri-tools/cmd/crictl@v$CRICTL_VERSION" \
    "-X sigs.k8s.io/cri-tools/pkg/version.Version=v$CRICTL_VERSION"
}
build_grpcurl() {
  go_install grpcurl "$GRPCURL_VERSION" "github.com/fullstorydev/grpcurl/cmd/grpcurl@v$GRPCURL_VERSION" \
    "-X main.version=v$GRPCURL_VERSION"
}

tools=("$@")
[ ${#tools[@]} -gt 0 ] || tools=(etcd kwok kubernetes coredns crictl helm grpcurl)
for t in "${tools[@]}"; do "build_$t"; done
log "binaries ready in $bin"
