# Chronoverse — every target provisions what it needs (Node 24, npm packages,
# the Go-built control plane) by itself. See README.md.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

NODE_BIN := $(shell hack/node.sh)
CACHE ?= $(HOME)/.cache/chronoverse
export PATH := $(NODE_BIN):$(CURDIR)/node_modules/.bin:$(CACHE)/bin:$(PATH)
export KUBECONFIG ?= $(CURDIR)/.cluster/kubeconfig

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 18

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

.PHONY: deps
deps: node_modules/.installed ## install npm packages (exact versions from the lock file)

.PHONY: tools
tools: ## build etcd, Kubernetes (incl. kubelet, kube-proxy), kwok, CoreDNS, crictl, helm and grpcurl from Go modules (cached by version)
	hack/build-tools.sh

.PHONY: cluster
cluster: ## start the local control plane (etcd, apiserver, controllers, scheduler, kwok node, real node where possible)
	hack/cluster.sh up

.PHONY: cluster-down
cluster-down: ## stop the local control plane
	hack/cluster.sh down

.PHONY: gen
gen: deps ## regenerate TypeScript from proto/ (ts-proto via buf)
	buf generate
	biome format --write gen >/dev/null 2>&1 || true

.PHONY: crds
crds: deps ## regenerate crds/*.yaml from operator/api/v1alpha1 (TypeScript source of truth)
	node hack/gen-crds.ts

.PHONY: lint
lint: deps ## format check, lint, type check, generated code is fresh
	biome check .
	buf lint
	tsc -p tsconfig.json
	hack/check-generated.sh
	hack/build-tools.sh helm
	helm lint charts/chronoverse

.PHONY: chart-lint
chart-lint: ## helm lint the chart (builds helm when it is not cached)
	hack/build-tools.sh helm
	helm lint charts/chronoverse

.PHONY: test-unit
test-unit: deps
	mkdir -p .reports
	vitest run --config vitest.unit.config.ts --reporter=default --reporter=json --outputFile.json=.reports/unit.json

.PHONY: test-integration
test-integration: deps
	mkdir -p .reports
	hack/with-cluster.sh vitest run --config vitest.integration.config.ts \
	  --reporter=default --reporter=json --outputFile.json=.reports/integration.json

.PHONY: test
test: ## unit and integration tests (starts the control plane and Postgres when needed)
	rm -rf .reports
	status=0; $(MAKE) --no-print-directory test-unit || status=$$?; \
	$(MAKE) --no-print-directory test-integration || status=$$?; \
	$(MAKE) --no-print-directory test-summary; exit $$status

.PHONY: test-summary
test-summary:
	@node hack/test-summary.ts .reports/unit.json .reports/integration.json

.PHONY: bench-workflows
bench-workflows: deps ## benchmark CreateWorkflow and the operator (N=1000, QUICK=1 for a smoke run); figures in docs/benchmarks.md
	hack/with-cluster.sh bench/run.sh bench/workflows.ts

.PHONY: bench-jobs
bench-jobs: deps ## benchmark StreamJobLogs, ListJobs and GetJob (K=20000 lines, C=16 clients, QUICK=1); figures in docs/benchmarks.md
	hack/with-cluster.sh bench/run.sh bench/jobs.ts

.PHONY: up
up: deps ## run Chronoverse here: control plane, Postgres, CRDs, the five services and the operator (Ctrl-C stops)
	hack/up.sh
