# geostack.cluster: one entry point for set-up, the local cloud and the tests.
# Every target runs scripts/setup.sh first, which does only what is missing.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV ?= $(CURDIR)/.venv
export PATH := $(VENV)/bin:$(PATH)
export MOLECULE_GLOB := molecule/*/molecule.yml
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# Scenarios `make test` runs, in order. Override to run a subset:
#   make test SCENARIOS=docker
SCENARIOS ?= docker

.PHONY: help setup lint unit molecule test cluster build benchmark clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: ## Venv, pinned requirements, Docker engine, test image, collection link
	@./scripts/setup.sh

lint: setup ## yamllint and ansible-lint (production profile)
	yamllint --strict .
	ansible-lint --profile production

unit: setup ## Unit tests (pytest)
	pytest -q tests/unit

molecule: setup ## Molecule scenarios named in SCENARIOS
	@for s in $(SCENARIOS); do echo "=== molecule test -s $$s"; molecule test -s $$s; done

test: lint unit molecule ## Everything CI runs: lint, unit tests, Molecule scenarios

cluster: setup ## Build the cluster on the local cloud (site.yml)
	ansible-playbook playbooks/local_cloud.yml
	ansible-playbook site.yml

build: setup ## Build the collection tarball into build/
	ansible-galaxy collection build --force --output-path build .

benchmark: setup ## Print converge and idempotence timings for the docker role
	./benchmarks/docker_converge.sh

clean: ## Remove the venv and the collection link
	rm -rf $(VENV) .collections build
