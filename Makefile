# geostack.cluster: one entry point for set-up, the local cloud and the tests.
# Every target runs scripts/setup.sh first, which does only what is missing.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV ?= $(CURDIR)/.venv
export PATH := $(VENV)/bin:$(PATH)
export MOLECULE_GLOB := molecule/*/molecule.yml
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# Python keeps the bytecode of what it imports (the checkout's plugins, the
# emulator, ansible-test's venvs) even where the shell sets
# PYTHONDONTWRITEBYTECODE: without it every process compiles them again.
# scripts/setup.sh compiles the venv itself (docs/performance.md).
unexport PYTHONDONTWRITEBYTECODE
# Tests and the local cloud never ask the EC2 instance metadata service for credentials.
export AWS_EC2_METADATA_DISABLED := true
# Scenarios `make test` runs: every molecule/*/molecule.yml, those in
# SCENARIO_ORDER first (the longest first), then any other in name order, so a
# new scenario runs without editing this file. MOLECULE_LANES at a time
# (scripts/molecule_lanes.sh; each lane takes the next when one ends). Two
# lanes by default: since a re-run reads each node once, the scenarios spend
# much of their time waiting on services, and on 2 cores two lanes took 46-48
# min where one took 66 (docs/performance.md). MOLECULE_LANES=1 runs them one
# after another. A subset is run only when the command line says so:
#   make test SCENARIOS=docker
#   make molecule MOLECULE_LANES=1
SCENARIO_ORDER := default messaging web loadbalancer citus swarm monitoring stack tiles docker
FOUND_SCENARIOS := $(patsubst molecule/%/molecule.yml,%,$(wildcard molecule/*/molecule.yml))
ALL_SCENARIOS := $(filter $(FOUND_SCENARIOS),$(SCENARIO_ORDER)) $(sort $(filter-out $(SCENARIO_ORDER),$(FOUND_SCENARIOS)))
# A SCENARIOS left in the environment must not narrow what CI runs unnoticed.
ifeq ($(origin SCENARIOS),environment)
  ifneq ($(strip $(SCENARIOS)),$(strip $(ALL_SCENARIOS)))
    $(error SCENARIOS is set in the environment ("$(SCENARIOS)") and would run fewer scenarios than all of them ($(strip $(ALL_SCENARIOS))). Unset it, or say it on the command line: make test SCENARIOS="...")
  endif
endif
SCENARIOS ?= $(ALL_SCENARIOS)
MOLECULE_LANES ?= 2

.PHONY: help setup lint sanity unit integration molecule test cluster cluster-down cloud-up cloud-down build benchmark clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: ## Venv, pinned requirements, Docker engine, test image, collection link
	@./scripts/setup.sh

lint: setup ## yamllint, ansible-lint (production profile), ruff (Python), antsibull-changelog lint
	yamllint --strict .
	@# The default inventory is the local cloud, which needs the emulator; the
	@# syntax checks ansible-lint runs need no hosts at all.
	ANSIBLE_INVENTORY=$(CURDIR)/tests/lint/hosts.yml ANSIBLE_INVENTORY_ENABLED=yaml ansible-lint --profile production
	ruff check plugins tests benchmarks molecule scripts roles/zookeeper/files/geostack-zookeeper-metrics roles/local_cloud/files/geostack-proxy-reload
	antsibull-changelog lint

sanity: setup ## ansible-test sanity (every test, shellcheck included)
	./scripts/ansible_test.sh sanity

unit: setup ## ansible-test units: tests/unit in a venv of tests/unit/requirements.txt (moto in-process)
	@# `pytest tests/unit` runs the same tests in the project's venv, faster.
	./scripts/ansible_test.sh units --venv --requirements

integration: setup ## Integration tests (moto server, the local cloud)
	@# One emulator per pytest worker; every test makes a cluster of its own. The
	@# Galaxy install's tests share one tarball, so they keep to one worker (loadgroup).
	pytest -q -n auto --dist loadgroup --durations=15 tests/integration

molecule: setup ## Molecule scenarios named in SCENARIOS, MOLECULE_LANES at a time
	./scripts/molecule_lanes.sh $(MOLECULE_LANES) $(SCENARIOS)

# lint, sanity, unit and integration take the second lane while the first starts the
# longest scenario: they need no scenario, and a failure among them still fails
# the run (reported with the scenarios' results at the end).
test: setup ## Everything CI runs: lint, sanity, unit, integration, Molecule scenarios
	./scripts/molecule_lanes.sh $(MOLECULE_LANES) $(firstword $(SCENARIOS)) make:lint,sanity,unit,integration $(wordlist 2,$(words $(SCENARIOS)),$(SCENARIOS))

cloud-up: setup ## Start the local cloud's EC2 emulator on 127.0.0.1
	./scripts/local_cloud.sh start

cloud-down: ## Stop the local cloud's EC2 emulator
	./scripts/local_cloud.sh stop

cluster: cloud-up ## Build the cluster on the local cloud (site.yml)
	ansible-playbook site.yml

cluster-down: cloud-up ## Tear the local cluster down (instances, containers, security groups)
	ansible-playbook playbooks/teardown.yml -e geostack_teardown_confirm=local

build: setup ## Build the collection tarball into build/
	ansible-galaxy collection build --force --output-path build .

benchmark: setup ## Print the performance figures (docker role, inventory, provisioning, swarm, citus, messaging, web, monitoring, local cloud)
	./benchmarks/docker_converge.sh
	python benchmarks/inventory.py
	python benchmarks/provision.py
	./benchmarks/swarm.sh
	./benchmarks/citus.sh
	./benchmarks/messaging.sh
	./benchmarks/web.sh
	./benchmarks/monitoring.sh
	./benchmarks/local_cloud.sh

clean: ## Remove the venv and the collection link
	rm -rf $(VENV) .collections build
