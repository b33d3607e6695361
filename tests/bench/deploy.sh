#!/usr/bin/env bash
# A replica of pop-con's deploy.sh (seeds/003), the script the reconciler replaces,
# for `make bench`. Run it in the folder holding docker-compose.yml, as pop-con
# runs it in its gitops checkout:
#   [1/4] SSM -> .env     aws ssm get-parameters-by-path --path $SSM_PATH --with-decryption
#   [2/4] registry login  aws ecr get-login-password | docker login
#   [3/4] docker compose pull
#   [4/4] docker compose up -d
#
# Environment: SSM_PATH, REGISTRY (host:port), AWS_* (region, endpoint, keys),
# COMPOSE_PROJECT_NAME, DOCKER_HOST, DOCKER_CONFIG. BENCH_AWS=cli calls the real
# `aws` CLI; otherwise (the default) a Python/boto3 stand-in with the same
# arguments and output (aws_standin.py, run with $PYTHON), which starts faster
# than the CLI and so favours this script.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

aws_() {
  if [[ "${BENCH_AWS:-python}" == cli ]]; then
    aws --endpoint-url "$AWS_ENDPOINT_URL" --region "$AWS_REGION" "$@"
  else
    "${PYTHON:-python3}" "$HERE/aws_standin.py" "$@"
  fi
}

echo "[1/4] SSM -> .env ($SSM_PATH)"
aws_ ssm get-parameters-by-path --path "$SSM_PATH" --with-decryption \
  --query 'Parameters[*].[Name,Value]' --output text > .env.tmp
while IFS=$'\t' read -r name value; do
  printf '%s=%s\n' "${name##*/}" "$value"
done < .env.tmp > .env
rm -f .env.tmp
chmod 600 .env

echo "[2/4] registry login ($REGISTRY)"
aws_ ecr get-login-password | docker login --username AWS --password-stdin "$REGISTRY" > /dev/null

echo "[3/4] docker compose pull"
docker compose pull

echo "[4/4] docker compose up -d"
docker compose up -d
