#!/bin/sh
# Entry point of the sandbox demo images (busybox only).
#
# Records the environment the container received -- names, and values only for
# names without PASSWORD/SECRET/TOKEN/KEY -- then serves /www with busybox httpd
# on $PORT: GET /health answers 200, GET / runs /www/cgi-bin/index.cgi.
# SIGTERM stops httpd at once, so `docker stop` and recreates take no grace period.

umask 022
for name in $(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' | sort -u); do
    case "$name" in
        PWD|SHLVL|OLDPWD|_) continue ;;
        *PASSWORD*|*SECRET*|*TOKEN*|*KEY*) echo "  $name=(set)" ;;
        *) eval "echo \"  $name=\${$name}\"" ;;
    esac
done > /tmp/environment.txt

httpd -f -p "0.0.0.0:${PORT:-8080}" -h /www &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; exit 0' TERM INT
echo "${APP_NAME:-demo} ${APP_VERSION:-?} listening on :${PORT:-8080}"
wait "$pid"
