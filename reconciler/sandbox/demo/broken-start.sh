#!/bin/sh
# Entry point of the sandbox's `broken` demo images (busybox only): the same app,
# except that GET /health answers 500, so that a rollout's health gate fails.
# busybox nc runs /app/broken.cgi for each connection (-ll: concurrently, for
# ever); other paths answer 200 with the app's name and version. SIGTERM stops
# it at once.

nc -ll -p "${PORT:-8080}" -e /app/broken.cgi &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; exit 0' TERM INT
echo "${APP_NAME:-demo} ${APP_VERSION:-?} listening on :${PORT:-8080} (GET /health answers 500)"
wait "$pid"
