#!/usr/bin/env bash
# Builds k6 from its Go module into <repo>/.tools/bin/k6 (no prebuilt binary downloads).
# Pinned version; does nothing when the right version is already there. k6 v1.8.1 needs Go >= 1.25
# (a Go >= 1.21 fetches that toolchain itself through the Go proxy, GOTOOLCHAIN=auto).
#   bash loadtest/install-k6.sh            # K6_VERSION=v1.8.1 by default
set -euo pipefail

K6_VERSION="${K6_VERSION:-v1.8.1}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/.tools/bin"
k6="$bin/k6"

if [[ -x "$k6" ]] && "$k6" version 2>/dev/null | grep -q "k6 ${K6_VERSION} "; then
  echo "k6 ${K6_VERSION} already at $k6"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "install-k6: Go is not installed; k6 is built from source with it." >&2
  echo "  Go >= 1.21 from https://go.dev/dl/ (Debian 12's golang-go is 1.19, too old); k6 ${K6_VERSION} builds with Go >= 1.25," >&2
  echo "  which a Go >= 1.21 downloads by itself (GOTOOLCHAIN=auto)" >&2
  echo "  then:   bash loadtest/install-k6.sh" >&2
  exit 1
fi

go_minor="$(go env GOVERSION | sed -n 's/^go1\.\([0-9]*\).*/\1/p')"
if [[ -n "$go_minor" && "$go_minor" -lt 21 ]]; then
  echo "install-k6: $(go env GOVERSION) is too old to build k6 ${K6_VERSION} (needs >= 1.25, or >= 1.21 to fetch it): https://go.dev/dl/" >&2
  exit 1
fi

mkdir -p "$bin"
echo "install-k6: go install go.k6.io/k6@${K6_VERSION} -> $bin (first build takes a few minutes)"
GOBIN="$bin" go install "go.k6.io/k6@${K6_VERSION}"
"$k6" version
