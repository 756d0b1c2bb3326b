#!/usr/bin/env bash
# Builds Helm from its Go module into <repo>/.tools/bin/helm, for the chart tests (helm lint, helm template).
#   bash scripts/install-helm.sh            # HELM_VERSION=v3.22.0 by default
exec bash "$(dirname "${BASH_SOURCE[0]}")/install-go-tool.sh" helm helm.sh/helm/v3/cmd/helm "${HELM_VERSION:-v3.22.0}"
