#!/usr/bin/env bash
# Builds a Go program from its module into <repo>/.tools/bin/<name> (no prebuilt binary downloads).
# Pinned; does nothing when that version is already built (recorded in .tools/bin/.<name>-version once
# the build succeeded: `go install` builds do not always report their full version themselves).
#   bash scripts/install-go-tool.sh <name> <package> <version> [<module>]
#   bash scripts/install-go-tool.sh helm helm.sh/helm/v3/cmd/helm v3.22.0
# With <module> (the module that holds <package>), the program is built inside that module's source:
# `go install pkg@version` refuses a module whose go.mod has replace directives, a build inside it applies them.
set -euo pipefail

name="$1" package="$2" version="$3" module="${4:-}"
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
  echo "  then:   bash scripts/install-go-tool.sh $name $package $version $module" >&2
  exit 1
fi

go_minor="$(go env GOVERSION | sed -n 's/^go1\.\([0-9]*\).*/\1/p')"
if [[ -n "$go_minor" && "$go_minor" -lt 21 ]]; then
  echo "install-go-tool: $(go env GOVERSION) is too old to build $name $version (needs >= 1.21 to fetch its toolchain): https://go.dev/dl/" >&2
  exit 1
fi

mkdir -p "$bin"
echo "install-go-tool: building $package@$version -> $bin (the first build takes a few minutes)"
if [[ -z "$module" ]]; then
  GOBIN="$bin" go install "$package@$version"
else
  dir="$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  if [[ -z "$dir" || ! -f "$dir/go.mod" ]]; then
    echo "install-go-tool: go mod download $module@$version gave no source directory" >&2
    exit 1
  fi
  rel="${package#"$module"}"
  (cd "$dir" && go build -o "$bin/$name" "./${rel#/}")
fi
echo "$version" > "$stamp"
echo "$name $version at $bin/$name"
