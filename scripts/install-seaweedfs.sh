#!/usr/bin/env bash
# Builds SeaweedFS (`weed`, Apache-2.0) from its Go module into <repo>/.tools/bin/weed: the real S3-compatible
# server the S3 storage tests run on loopback (test/helpers/s3-server.ts). The Go module proxy serves it only
# as a pseudo-version; v0.0.0-20261109003541-7506e5f91cd6 is release 4.53 (`weed version`). Its go.mod has a
# replace directive, so it is built inside its module rather than with `go install`.
#   bash scripts/install-seaweedfs.sh      # SEAWEEDFS_VERSION=v0.0.0-20261109003541-7506e5f91cd6 by default
exec bash "$(dirname "${BASH_SOURCE[0]}")/install-go-tool.sh" weed github.com/seaweedfs/seaweedfs/weed \
  "${SEAWEEDFS_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}" github.com/seaweedfs/seaweedfs
