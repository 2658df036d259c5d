# Clarus: every target puts the project-local Node 24 first on PATH and installs what is missing.
SHELL := /bin/bash
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
include $(ROOT)/scripts/versions.env
export PATH := $(ROOT)/.tools/node/bin:$(PATH)
VITEST := $(ROOT)/node_modules/.bin/vitest
LAYERED_FOLDERS := crds policy log sidecar operator cli testing e2e bench compat scripts

.PHONY: setup build-js test test-unit test-int e2e e2e-setup compat demo bench bench-split bench-anonymize lint typecheck generate check-generated kind-e2e

setup:
	@bash scripts/setup.sh

## make build-js: the sources as JavaScript in build/js (scripts/build-js.ts), which cli/bin/clarus runs
## while no source is newer (issue 15: no type stripper in the process). `make setup` builds it when
## stale (and so `make test`, `bash .ci/run`); this target rebuilds it unconditionally.
build-js:
	node scripts/build-js.ts

## make test: every test tier this machine can run. The control-plane binaries are built first
## (cached) because some integration tests check the CRDs against the real kube-apiserver.
test: setup typecheck lint test-unit e2e-setup test-int compat e2e
	@echo "make test: all tiers passed"

typecheck: setup
	npx tsc -p tsconfig.json --noEmit

## make lint: eslint, then the package layering (.dependency-cruiser.cjs; docs/architecture.md, "Packages").
lint: setup
	npx eslint --max-warnings=-1 .
	npx depcruise --config .dependency-cruiser.cjs --output-type err-long $(LAYERED_FOLDERS)

test-unit: setup
	$(VITEST) run --project unit

test-int: setup
	$(VITEST) run --project integration

compat: setup
	@if [ -f scripts/compat.sh ]; then bash scripts/compat.sh; else echo "compat: no suite yet"; fi

e2e: setup
	@if [ -f e2e/setup.sh ]; then bash e2e/setup.sh && $(VITEST) run --project e2e; else echo "e2e: no control-plane tier yet"; fi

## make e2e-setup: build (once, cached in ~/.cache/clarus) the control-plane binaries the e2e tier runs,
## and Vault (e2e/setup-vault.sh) for the vaultTransit tests of the integration and e2e tiers.
e2e-setup: setup
	bash e2e/setup.sh

## make kind-e2e: the e2e scenarios on a kind cluster with real pods (needs docker + kind; not in make test).
kind-e2e: setup
	node e2e/src/kind.ts

## make generate: CRD YAML, Helm CRD templates, TypeScript types and docs/policy-reference.md from crds/src/schema.
generate: setup
	node crds/src/generate.ts

## make check-generated: fails when the checked-in generated files differ from what generate writes.
check-generated: setup
	$(VITEST) run --project unit crds/src/schema/generate.test.ts

demo: setup
	node scripts/demo.ts

bench: setup
	node bench/run.ts
	node bench/split.ts
	node bench/anonymize.ts

## make bench-split: splitting over two backends against the same table unsplit (issue 12).
bench-split: setup
	node bench/split.ts

## make bench-anonymize: time and information loss of k-anonymity / t-closeness on the CLARUS eHealth set.
bench-anonymize: setup
	node bench/anonymize.ts
