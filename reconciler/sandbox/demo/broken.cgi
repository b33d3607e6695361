#!/bin/sh
# One HTTP exchange of a `broken` demo image, on stdin/stdout (see broken-start.sh):
# GET /health -> 500, anything else -> 200 with the app's name and version.

read -r method path proto
while read -r line; do
    case "$line" in ""|"$(printf '\r')") break ;; esac
done
case "$path" in
    /health|/health\?*)
        printf 'HTTP/1.0 500 Internal Server Error\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n'
        echo "unhealthy: ${APP_NAME:-demo} ${APP_VERSION:-?} fails its health check on purpose"
        ;;
    *)
        printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n'
        echo "${APP_NAME:-demo} ${APP_VERSION:-?}"
        echo "host: $(hostname)"
        ;;
esac
