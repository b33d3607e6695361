#!/bin/sh
# GET / of the sandbox demo images: app name, version, the environment the
# container received (secret values masked at start) and, for each URL in
# $UPSTREAMS, whether its /health answers. (busybox 1.35's `wget -T` crashes:
# timeout(1) bounds the wait instead.)

echo "Content-Type: text/plain; charset=utf-8"
echo ""
echo "${APP_NAME:-demo} ${APP_VERSION:-?}"
echo "host: $(hostname)"
echo "environment:"
cat /tmp/environment.txt
if [ -n "$UPSTREAMS" ]; then
    echo "upstreams:"
    for url in $UPSTREAMS; do
        if timeout 3 wget -q -O /dev/null "$url/health" 2>/dev/null; then
            echo "  $url: ok"
        else
            echo "  $url: unreachable"
        fi
    done
fi
