#!/usr/bin/env bash
# Puts etcd, kube-apiserver, kube-controller-manager and kubectl for the local control plane, and
# kube-scheduler, kubelet and kube-proxy for the real single-node cluster (test/realnode), in a
# cache directory outside the clone and prints that directory.
#
# It first asks setup-envtest (fast where its download site is reachable) for etcd, kube-apiserver
# and kubectl, then builds whatever is still missing from the Go module proxy:
# the Kubernetes commands (K8S_COMMANDS below) from k8s.io/kubernetes with every staging
# module replaced by its tagged release, and etcd from go.etcd.io/etcd/server/v3 (hack/go-binary.sh).
# setup-envtest ships neither kube-controller-manager nor the node's commands, so they are always
# built (once).
#
# Environment: STABLERING_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/stablering),
# K8S_VERSION (default 1.36.3), ETCD_VERSION (default 3.6.5).
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.36.3}
ETCD_VERSION=${ETCD_VERSION:-3.6.5}
SETUP_ENVTEST_VERSION=${SETUP_ENVTEST_VERSION:-release-0.24}
CACHE=${STABLERING_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/stablering}
BIN="$CACHE/controlplane/v$K8S_VERSION"
GO=${GO:-go}

log() { echo "controlplane-binaries: $*" >&2; }

have() { [ -x "$BIN/$1" ]; }

try_setup_envtest() {
  have etcd && have kube-apiserver && have kubectl && return 0
  [ "${STABLERING_SKIP_SETUP_ENVTEST:-}" = 1 ] && return 0
  log "trying setup-envtest for $K8S_VERSION"
  local dir
  if dir=$(timeout 120 "$GO" run "sigs.k8s.io/controller-runtime/tools/setup-envtest@$SETUP_ENVTEST_VERSION" \
      use "$K8S_VERSION" --bin-dir "$CACHE/setup-envtest" -p path 2>/dev/null) && [ -x "$dir/kube-apiserver" ]; then
    mkdir -p "$BIN"
    for b in etcd kube-apiserver kubectl; do have "$b" || cp "$dir/$b" "$BIN/$b"; done
    log "using setup-envtest binaries from $dir"
  else
    log "setup-envtest unavailable here; building from the Go module proxy"
  fi
}

# K8S_COMMANDS are the k8s.io/kubernetes commands built here: the control plane's, and the node's
# (kube-scheduler, kubelet, kube-proxy) for the real single-node cluster of package realnode.
K8S_COMMANDS="kube-apiserver kube-controller-manager kubectl kube-scheduler kubelet kube-proxy"

# import_of names the package that pulls command $1's dependencies into the build module.
import_of() {
  case $1 in
    kubectl) echo k8s.io/kubectl/pkg/cmd ;;
    *) echo "k8s.io/kubernetes/cmd/$1/app" ;;
  esac
}

# build_k8s builds the named k8s.io/kubernetes commands that are still missing.
build_k8s() {
  local missing=() c
  for c in "$@"; do have "$c" || missing+=("$c"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local mod="$CACHE/build/kubernetes-$K8S_VERSION"
  mkdir -p "$mod" "$BIN"
  if ! grep -q "^require k8s.io/kubernetes v$K8S_VERSION\$" "$mod/go.mod" 2>/dev/null; then
    log "preparing build module in $mod"
    (cd "$mod" && rm -f go.mod && "$GO" mod init stablering.local/k8sbuild >/dev/null 2>&1)
    (cd "$mod" && "$GO" mod download -json "k8s.io/kubernetes@v$K8S_VERSION" >/dev/null)
    local kmod
    kmod=$(cd "$mod" && "$GO" mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    {
      echo "module stablering.local/k8sbuild"
      echo
      echo "go 1.25"
      echo
      echo "require k8s.io/kubernetes v$K8S_VERSION"
      echo
      echo "replace ("
      sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\t\1 => \1 v0.'"${K8S_VERSION#1.}"'#p' "$kmod"
      echo ")"
    } >"$mod/go.mod"
  fi
  # The commands share one module so that they build with the same versions; a cache made before
  # the node's commands were added gets their imports and is tidied again.
  local tools
  tools=$(printf 'package main\n\nimport (\n'; for c in $K8S_COMMANDS; do printf '\t_ "%s"\n' "$(import_of "$c")"; done; printf ')\n\nfunc main() {}\n')
  if [ "$(cat "$mod/tools.go" 2>/dev/null)" != "$tools" ]; then
    printf '%s\n' "$tools" >"$mod/tools.go"
    (cd "$mod" && "$GO" mod tidy >&2) || { rm -f "$mod/tools.go"; return 1; }
  fi
  local minor=${K8S_VERSION#*.}; minor=${minor%%.*}
  local v=k8s.io/component-base/version
  local ldflags="-s -w -X $v.gitVersion=v$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean -X $v.buildDate=1970-01-01T00:00:00Z"
  ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=v$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  for c in "${missing[@]}"; do
    log "building $c v$K8S_VERSION (several minutes the first time)"
    (cd "$mod" && CGO_ENABLED=0 "$GO" build -trimpath -ldflags "$ldflags" -o "$BIN/$c.tmp" "k8s.io/kubernetes/cmd/$c")
    mv "$BIN/$c.tmp" "$BIN/$c"
  done
}

build_etcd() {
  have etcd && return 0
  "$(dirname "$0")/go-binary.sh" go.etcd.io/etcd/server/v3 "v$ETCD_VERSION" "$BIN/etcd" >/dev/null
}

try_setup_envtest
build_etcd
build_k8s $K8S_COMMANDS
echo "$BIN"
