# StableRing Makefile. `make help` lists the targets.

# Tool versions are pinned here and installed into ./bin from the Go module proxy.
CONTROLLER_TOOLS_VERSION ?= v0.21.0
GOLANGCI_LINT_VERSION    ?= v2.15.0
K8S_VERSION              ?= 1.36.3

LOCALBIN       ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
GOLANGCI_LINT  ?= $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
GO             ?= go

# The local control plane's binaries live in a cache outside the clone (see hack/controlplane-binaries.sh).
ENVTEST_ASSETS = $(shell K8S_VERSION=$(K8S_VERSION) hack/controlplane-binaries.sh)

.DEFAULT_GOAL := help
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-18s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate the CRD and RBAC manifests.
	$(CONTROLLER_GEN) crd:allowDangerousTypes=false paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=stablering-manager paths=./controllers/... output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: controller-gen ## Generate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: verify-generated
verify-generated: manifests generate ## Fail if generated files are stale.
	@if [ -n "$$(git status --porcelain -- api config)" ]; then \
		echo "generated files are stale; run 'make manifests generate' and commit:"; \
		git status --porcelain -- api config; git diff --stat -- api config; exit 1; fi

.PHONY: fmt
fmt: ## Run gofmt.
	gofmt -l -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet ./...

.PHONY: lint
lint: golangci-lint ## Run golangci-lint.
	$(GOLANGCI_LINT) run ./...

##@ Test

.PHONY: envtest
envtest: ## Build or fetch etcd, kube-apiserver, kube-controller-manager and kubectl into the cache.
	@echo "control plane binaries: $(ENVTEST_ASSETS)"

.PHONY: test
test: verify-generated vet envtest ## Unit tests and the envtest suites on a real control plane.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" STABLERING_REQUIRE_CONTROLPLANE=1 $(GO) test ./... -count=1 -timeout 30m

.PHONY: bench-balancer
bench-balancer: ## Measure the balancer and regenerate docs/balancer.md.
	hack/balancer-report.sh

##@ Run

.PHONY: localcluster
localcluster: envtest ## Run a local control plane with a simulated node until Ctrl-C.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" $(GO) run ./test/cmd/localcluster

##@ Build

.PHONY: build
build: ## Build the binaries into ./bin.
	$(GO) build -o $(LOCALBIN)/ ./cmd/...

##@ Tools

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN)
$(CONTROLLER_GEN):
	GOBIN=$(LOCALBIN) $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(LOCALBIN)/controller-gen $@

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT)
$(GOLANGCI_LINT):
	GOBIN=$(LOCALBIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(LOCALBIN)/golangci-lint $@
