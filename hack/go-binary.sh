#!/usr/bin/env bash
# go-binary.sh PACKAGE VERSION [OUT]
#
# Builds the Go command PACKAGE at VERSION (of the module that holds it) from the Go module proxy,
# once, into a cache outside the clone, and prints the path of the binary: OUT, or by default
# $CACHE/bin/<name>-<VERSION>, where name is the one go install gives it (the last element of
# PACKAGE, or the one before a major version suffix such as /v3). A binary there is not built again.
# The build runs in a module of its own under $CACHE/build that requires only PACKAGE@VERSION, so
# the command is built with the versions its own module asks for, statically (CGO_ENABLED=0).
#
#   hack/go-binary.sh github.com/distribution/distribution/v3/cmd/registry v3.1.2
#
# Environment: STABLERING_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/stablering), GO (default
# go), GO_BINARY_LDFLAGS (more -ldflags, e.g. -X to stamp the command's version).
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 PACKAGE VERSION [OUT]" >&2
  exit 2
fi
package=$1 version=$2
CACHE=${STABLERING_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/stablering}
GO=${GO:-go}
name=${package##*/}
if [[ $name =~ ^v[0-9]+$ ]]; then name=${package%/*}; name=${name##*/}; fi
out=${3:-$CACHE/bin/$name-$version}

if [ ! -x "$out" ]; then
  log() { echo "go-binary: $*" >&2; }
  mod="$CACHE/build/${package//\//_}-$version"
  mkdir -p "$mod" "$(dirname "$out")"
  if [ ! -f "$mod/go.sum" ]; then
    log "preparing build module for $package@$version in $mod"
    (cd "$mod" && rm -f go.mod && "$GO" mod init stablering.local/build >/dev/null 2>&1)
    # A failed go get leaves no go.sum, so the next run prepares the module again.
    (cd "$mod" && "$GO" get "$package@$version" >&2) || { rm -f "$mod/go.sum"; exit 1; }
  fi
  log "building $(basename "$out") $version (minutes the first time)"
  # Build beside the destination and rename, so a concurrent run never sees half a binary.
  (cd "$mod" && CGO_ENABLED=0 "$GO" build -trimpath -ldflags "-s -w ${GO_BINARY_LDFLAGS:-}" -o "$out.tmp.$$" "$package")
  mv "$out.tmp.$$" "$out"
fi
echo "$out"
