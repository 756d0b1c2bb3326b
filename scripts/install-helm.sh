#!/usr/bin/env bash
# Builds Helm from its Go module into <repo>/.tools/bin/helm (no prebuilt binary downloads), for the
# chart tests (helm lint, helm template). Pinned version; does nothing when it is already there.
#   bash scripts/install-helm.sh            # HELM_VERSION=v3.22.0 by default
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/.tools/bin"
helm="$bin/helm"
# A Helm built by `go install` reports only "v3.22" (its release builds set the rest at link time), so the
# version installed is kept in a stamp file, written once the build succeeded.
stamp="$bin/.helm-version"

if [[ -x "$helm" && -f "$stamp" && "$(cat "$stamp")" == "${HELM_VERSION}" ]]; then
  echo "helm ${HELM_VERSION} already at $helm"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "install-helm: Go is not installed; Helm is built from source with it." >&2
  echo "  Go >= 1.21 from https://go.dev/dl/ (Debian 12's golang-go is 1.19, too old); a Go >= 1.21 fetches" >&2
  echo "  the toolchain Helm ${HELM_VERSION} asks for by itself (GOTOOLCHAIN=auto)" >&2
  echo "  then:   bash scripts/install-helm.sh" >&2
  exit 1
fi

go_minor="$(go env GOVERSION | sed -n 's/^go1\.\([0-9]*\).*/\1/p')"
if [[ -n "$go_minor" && "$go_minor" -lt 21 ]]; then
  echo "install-helm: $(go env GOVERSION) is too old to build Helm ${HELM_VERSION} (needs >= 1.21 to fetch its toolchain): https://go.dev/dl/" >&2
  exit 1
fi

mkdir -p "$bin"
echo "install-helm: go install helm.sh/helm/v3/cmd/helm@${HELM_VERSION} -> $bin (first build takes a few minutes)"
GOBIN="$bin" go install "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
"$helm" version --short >/dev/null
echo "${HELM_VERSION}" > "$stamp"
echo "helm ${HELM_VERSION} at $helm"
