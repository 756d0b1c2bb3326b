#!/usr/bin/env bash
# Builds a Go program from its module into <repo>/.tools/bin/<name> (no prebuilt binary downloads).
# Pinned; does nothing when that version is already built (recorded in .tools/bin/.<name>-version once
# the build succeeded: `go install` builds do not always report their full version themselves).
#   bash scripts/install-go-tool.sh <name> <package> <version>
#   bash scripts/install-go-tool.sh helm helm.sh/helm/v3/cmd/helm v3.22.0
set -euo pipefail

name="$1" package="$2" version="$3"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/.tools/bin"
stamp="$bin/.${name}-version"

if [[ -x "$bin/$name" && -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then
  echo "$name $version already at $bin/$name"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "install-go-tool: Go is not installed; $name is built from source with it." >&2
  echo "  Go >= 1.21 from https://go.dev/dl/ (Debian 12's golang-go is 1.19, too old); a Go >= 1.21 fetches" >&2
  echo "  the toolchain $name $version asks for by itself (GOTOOLCHAIN=auto)" >&2
  echo "  then:   bash scripts/install-go-tool.sh $name $package $version" >&2
  exit 1
fi

go_minor="$(go env GOVERSION | sed -n 's/^go1\.\([0-9]*\).*/\1/p')"
if [[ -n "$go_minor" && "$go_minor" -lt 21 ]]; then
  echo "install-go-tool: $(go env GOVERSION) is too old to build $name $version (needs >= 1.21 to fetch its toolchain): https://go.dev/dl/" >&2
  exit 1
fi

mkdir -p "$bin"
echo "install-go-tool: go install $package@$version -> $bin (first build takes a few minutes)"
GOBIN="$bin" go install "$package@$version"
echo "$version" > "$stamp"
echo "$name $version at $bin/$name"
