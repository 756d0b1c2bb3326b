#!/usr/bin/env bash
# Builds k6 from its Go module into <repo>/.tools/bin/k6 (no prebuilt binary downloads). k6 v1.8.1 needs
# Go >= 1.25, which a Go >= 1.21 fetches itself through the Go proxy (GOTOOLCHAIN=auto).
#   bash loadtest/install-k6.sh            # K6_VERSION=v1.8.1 by default
exec bash "$(dirname "${BASH_SOURCE[0]}")/../scripts/install-go-tool.sh" k6 go.k6.io/k6 "${K6_VERSION:-v1.8.1}"
