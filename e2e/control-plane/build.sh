#!/usr/bin/env bash
# Builds the Kubernetes control plane that the real-API-server tests run (etcd, kube-apiserver,
# kube-controller-manager, kubectl) from their Go modules, into the layout that Fabric8's
# kube-api-test reads without downloading anything:
#
#   ${KUBE_API_TEST_DIR:-~/.kubeapitest}/k8s/<kubernetes version>-linux-amd64/{etcd,kube-apiserver,kubectl,kube-controller-manager}
#
# A second run with the same versions does nothing (the binaries are cached there, the Go module
# and build caches under ~/go and ~/.cache/go-build). Needs Go (the version in kube/go.mod) and the
# Go module proxy. On a machine with internet, kube-api-test can download etcd, kube-apiserver
# and kubectl itself instead; kube-controller-manager only comes from here.
#
# Usage: e2e/control-plane/build.sh        build if missing, print the binaries' directory
#        e2e/control-plane/build.sh --print print the directory only
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

# One pinned release. Changing it: the version here, the k8s.io/kubernetes and staging v0.x.y
# versions in kube/go.mod (every replace line), the etcd version in etcd/go.mod.
KUBERNETES_VERSION=1.36.3
ETCD_VERSION=3.6.16

dir="${KUBE_API_TEST_DIR:-$HOME/.kubeapitest}"
out="$dir/k8s/${KUBERNETES_VERSION}-linux-amd64"
stamp="$out/.built-by-ratekeeper"
want="kubernetes v${KUBERNETES_VERSION} etcd v${ETCD_VERSION} $(cat "$here/kube/go.mod" "$here/etcd/go.mod" "$here/etcd/main.go" | sha256sum | cut -c1-16)"

if [ "${1:-}" = "--print" ]; then echo "$out"; exit 0; fi

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
   && [ -x "$out/etcd" ] && [ -x "$out/kube-apiserver" ] && [ -x "$out/kubectl" ] && [ -x "$out/kube-controller-manager" ]; then
  echo "control plane: cached in $out ($want)"
  exit 0
fi

command -v go >/dev/null 2>&1 || { echo "control plane: Go is needed to build $out (or let kube-api-test download its binaries online)" >&2; exit 1; }
case "$(go env GOOS)/$(go env GOARCH)" in
  linux/amd64) ;;
  *) echo "control plane: builds linux/amd64 only, this is $(go env GOOS)/$(go env GOARCH)" >&2; exit 1 ;;
esac

start=$(date +%s)
tmp="$dir/k8s/.build-${KUBERNETES_VERSION}-$$"
rm -rf "$tmp"; mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT

export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
build_date=$(date -u -d @"${SOURCE_DATE_EPOCH:-0}" +%Y-%m-%dT%H:%M:%SZ)
version_pkg=k8s.io/component-base/version
client_version_pkg=k8s.io/client-go/pkg/version
major=${KUBERNETES_VERSION%%.*}; rest=${KUBERNETES_VERSION#*.}; minor=${rest%%.*}
ldflags="-s -w"
for p in $version_pkg $client_version_pkg; do
  ldflags="$ldflags -X $p.gitVersion=v${KUBERNETES_VERSION} -X $p.gitMajor=${major} -X $p.gitMinor=${minor}"
  ldflags="$ldflags -X $p.gitTreeState=clean -X $p.buildDate=${build_date}"
done

# go build -v names each package as it is compiled; print one line per 100 with the time spent.
progress() {
  local what=$1 n=0
  while IFS= read -r line; do
    case "$line" in
      *.go:*|go:\ *|\#\ *) echo "$line" ;;
      *) n=$((n + 1)); if [ $((n % 100)) -eq 0 ]; then echo "control plane: $what: $n packages compiled, $(( $(date +%s) - start ))s"; fi ;;
    esac
  done
  echo "control plane: $what: $n packages compiled, $(( $(date +%s) - start ))s"
}

echo "control plane: building etcd v${ETCD_VERSION} into $out"
(cd "$here/etcd" && go build -v -trimpath -ldflags "-s -w" -o "$tmp/etcd" . 2>&1) | progress etcd
[ "${PIPESTATUS[0]}" = 0 ] || exit 1

echo "control plane: building kube-apiserver, kube-controller-manager, kubectl v${KUBERNETES_VERSION}"
(cd "$here/kube" && go build -v -trimpath -ldflags "$ldflags" -o "$tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kubectl 2>&1) | progress kubernetes
[ "${PIPESTATUS[0]}" = 0 ] || exit 1

"$tmp/kube-apiserver" --version
"$tmp/etcd" --version | sed -n 1p
echo "$want" > "$tmp/.built-by-ratekeeper"
rm -rf "$out"; mkdir -p "$(dirname "$out")"; mv "$tmp" "$out"
trap - EXIT
echo "control plane: built in $(( $(date +%s) - start ))s: $(du -sh "$out" | cut -f1) in $out"
