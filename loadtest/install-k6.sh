#!/usr/bin/env bash
# Builds k6 from its Go module into <repo>/.tools/bin/k6 (no prebuilt binary downloads).
# Pinned version; does nothing when the right version is already there. Needs Go >= 1.23 on PATH.
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
  echo "  Debian: sudo apt-get install -y golang-go   (needs Go >= 1.23; otherwise https://go.dev/dl/)" >&2
  echo "  then:   bash loadtest/install-k6.sh" >&2
  exit 1
fi

mkdir -p "$bin"
echo "install-k6: go install go.k6.io/k6@${K6_VERSION} -> $bin (first build takes a few minutes)"
GOBIN="$bin" GOFLAGS="${GOFLAGS:-} -trimpath" go install "go.k6.io/k6@${K6_VERSION}"
"$k6" version
