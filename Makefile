# StableRing Makefile. `make help` lists the targets.

# Tool versions are pinned here and installed into ./bin from the Go module proxy.
CONTROLLER_TOOLS_VERSION ?= v0.21.0
GOLANGCI_LINT_VERSION    ?= v2.15.0
HELM_VERSION             ?= v4.3.1
ACTIONLINT_VERSION       ?= v1.7.12
K8S_VERSION              ?= 1.36.3
REGISTRY_VERSION         ?= v3.1.2
PROMTOOL_VERSION         ?= v0.316.0

LOCALBIN       ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
GOLANGCI_LINT  ?= $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
HELM           ?= $(LOCALBIN)/helm-$(HELM_VERSION)
ACTIONLINT     ?= $(LOCALBIN)/actionlint-$(ACTIONLINT_VERSION)
GO             ?= go

# The local control plane's binaries live in a cache outside the clone (see hack/controlplane-binaries.sh).
ENVTEST_ASSETS = $(shell K8S_VERSION=$(K8S_VERSION) hack/controlplane-binaries.sh)
# So does the container registry server (CNCF distribution) that the images test pushes to.
REGISTRY_BINARY = $(shell GO_BINARY_LDFLAGS="-X github.com/distribution/distribution/v3/version.version=$(REGISTRY_VERSION)" \
	hack/go-binary.sh github.com/distribution/distribution/v3/cmd/registry $(REGISTRY_VERSION))
# And promtool (PROMTOOL_VERSION is the Prometheus module's: v0.316.0 is Prometheus 3.16.0), which
# checks and unit-tests the chart's alert rules.
PROMTOOL_BINARY = $(shell GO_BINARY_LDFLAGS="-X github.com/prometheus/common/version.Version=$(PROMTOOL_VERSION)" \
	hack/go-binary.sh github.com/prometheus/prometheus/cmd/promtool $(PROMTOOL_VERSION))

.DEFAULT_GOAL := help
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-18s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate the CRD and RBAC manifests, and their copies in the Helm chart.
	$(CONTROLLER_GEN) crd:allowDangerousTypes=false paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=stablering-manager paths=./controllers/... output:rbac:artifacts:config=config/rbac
	cp config/crd/bases/*.yaml charts/stablering/crds/
	cp config/rbac/role.yaml config/rbac/leader_election_role.yaml charts/stablering/files/

.PHONY: generate
generate: controller-gen ## Generate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: verify-generated
verify-generated: manifests generate api-docs ## Fail if generated files are stale.
	@if [ -n "$$(git status --porcelain -- api config charts/stablering/crds charts/stablering/files docs/api-reference.md)" ]; then \
		echo "generated files are stale; run 'make manifests generate api-docs' and commit:"; \
		git status --porcelain -- api config charts/stablering/crds charts/stablering/files docs/api-reference.md; \
		git diff --stat -- api config charts/stablering/crds charts/stablering/files docs/api-reference.md; exit 1; fi

.PHONY: api-docs
api-docs: ## Generate docs/api-reference.md from the API types.
	$(GO) run ./hack/api-docs -dir api/v1alpha1 -out docs/api-reference.md

.PHONY: helm-lint
helm-lint: helm ## Lint the Helm chart and validate what it renders, with defaults and with every option on.
	$(HELM) lint --strict charts/stablering
	$(HELM) lint --strict charts/stablering -f charts/stablering/ci/all-features-values.yaml
	$(HELM) template stablering charts/stablering --namespace stablering-system --include-crds | $(GO) run ./hack/validate-manifests
	$(HELM) template stablering charts/stablering --namespace stablering-system --include-crds -f charts/stablering/ci/all-features-values.yaml | $(GO) run ./hack/validate-manifests

.PHONY: fmt
fmt: ## Run gofmt.
	gofmt -l -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet ./...

.PHONY: lint
lint: golangci-lint actionlint ## Run golangci-lint, and actionlint on the GitHub workflows.
	$(GOLANGCI_LINT) run ./...
	$(ACTIONLINT) -no-color .github/workflows/*.yaml

##@ Test

.PHONY: envtest
envtest: ## Build or fetch etcd, kube-apiserver, kube-controller-manager and kubectl into the cache.
	@echo "control plane binaries: $(ENVTEST_ASSETS)"

.PHONY: realnode-packages
realnode-packages: ## Install the Debian packages the real node needs (containerd, runc, CNI plugins, nftables, iptables) when missing; as root only.
	hack/realnode-packages.sh

.PHONY: registry
registry: ## Build the container registry server (CNCF distribution, REGISTRY_VERSION) into the cache and print its path.
	@echo "registry: $(REGISTRY_BINARY)"

.PHONY: promtool
promtool: ## Build Prometheus's promtool (PROMTOOL_VERSION) into the cache and print its path.
	@echo "promtool: $(PROMTOOL_BINARY)"

.PHONY: test
# RACE_PACKAGES run a second time under the race detector in `make test`: the data path, whose
# accept, pool, tunnels and event loop are where goroutines share sockets and state, and the pure
# hashing and planning code. The envtest and end-to-end suites are left out: mostly waiting on
# API servers and processes, they would take several times as long for little more to find.
RACE_PACKAGES = ./gateway/... ./balancer/... ./controllers/ring/...
# The gateway's tests run once more on one Go processor, where the tunnels' event loops do not
# run, and with the HTTP event loops turned off (-http-loops=0, a flag of the gateway's tests):
# every plain request and every tunnel then takes the goroutine path.

test: verify-generated vet helm-lint envtest registry promtool realnode-packages ## Unit tests, the envtest and end-to-end suites on a real control plane and a real node, the images through a local registry, the alert rules with promtool, the user guide's "Try it locally" commands, and the data path again under the race detector.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" STABLERING_REGISTRY="$(REGISTRY_BINARY)" STABLERING_PROMTOOL="$(PROMTOOL_BINARY)" STABLERING_REQUIRE_CONTROLPLANE=1 STABLERING_REQUIRE_REALNODE=1 HELM="$(HELM)" $(GO) test ./... -count=1 -timeout 30m
	$(GO) test -race -count=1 -timeout 15m $(RACE_PACKAGES)
	GOMAXPROCS=1 $(GO) test -count=1 -timeout 10m ./gateway/ -http-loops=0

.PHONY: bench-balancer
bench-balancer: ## Measure the balancer and regenerate docs/balancer.md.
	hack/balancer-report.sh

.PHONY: bench
bench: ## Benchmark the gateway against nginx and HAProxy and regenerate docs/benchmarks.md (QUICK=1: 2 minutes).
	hack/bench.sh

.PHONY: scale
scale: envtest ## Measure what the manager and the gateways cost as rings, members and unrelated pods grow, and regenerate docs/scale.md (QUICK=1: a subset in a few minutes).
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" $(GO) run ./test/scale/cmd/scalerun -report docs/scale.md $(if $(filter 1,$(QUICK)),-quick -command "make scale QUICK=1")

##@ Run

.PHONY: localcluster
localcluster: envtest ## Run a local cluster (control plane, simulated node) until Ctrl-C; see "Try it locally" in docs/user-guide.md.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" $(GO) run ./test/cmd/localcluster

.PHONY: realcluster
realcluster: envtest registry realnode-packages ## Run a real single-node cluster (kubelet, containerd, kube-proxy) with the project's images in a local registry until Ctrl-C; needs root.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" STABLERING_REGISTRY="$(REGISTRY_BINARY)" $(GO) run ./test/cmd/localcluster --node=real

.PHONY: demo
demo: envtest registry realnode-packages helm ## A paced rollout of the chat example under load, StableRing side by side with IP-keyed hashing, on a real node where it can run (~3 min).
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" STABLERING_REGISTRY="$(REGISTRY_BINARY)" HELM="$(HELM)" $(GO) run ./test/cmd/demo

##@ Build

.PHONY: build
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
VERSION_LDFLAGS = -X github.com/stablering/stablering/cmd/internal/version.Version=$(VERSION)

build: ## Build the binaries into ./bin, stamped with VERSION (default: git describe).
	$(GO) build -ldflags "$(VERSION_LDFLAGS)" -o $(LOCALBIN)/ ./cmd/...

IMAGES_DIR       ?= $(LOCALBIN)/images
IMAGE_PLATFORMS  ?= linux/amd64,linux/arm64
IMAGE_REPOSITORY ?= stablering
IMAGES_ARGS       = -out "$(IMAGES_DIR)" -version "$(VERSION)" -revision "$(REVISION)" -platforms "$(IMAGE_PLATFORMS)" -repository "$(IMAGE_REPOSITORY)"

.PHONY: images
images: ## Build the manager, gateway and chat images without a container engine: an OCI image index each (IMAGE_PLATFORMS), stamped with VERSION, named IMAGE_REPOSITORY/NAME:VERSION, in the OCI layout IMAGES_DIR (bin/images).
	$(GO) run ./hack/images $(IMAGES_ARGS)

.PHONY: push-images
push-images: ## Build the images as make images does and push them to IMAGE_REPOSITORY (e.g. ghcr.io/stablering) with docker login's credentials; prints each NAME@DIGEST.
	$(GO) run ./hack/images $(IMAGES_ARGS) -push

RELEASE_DIR      ?= $(LOCALBIN)/release
PLUGIN_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64

.PHONY: plugin-archives
plugin-archives: ## Build the kubectl-stablering archives the krew manifest (plugins/stablering.yaml) names, for PLUGIN_PLATFORMS, stamped with VERSION, into RELEASE_DIR.
	@mkdir -p "$(RELEASE_DIR)"
	for platform in $(PLUGIN_PLATFORMS); do os=$${platform%/*}; arch=$${platform#*/}; exe=kubectl-stablering; \
		if [ "$$os" = windows ]; then exe=$$exe.exe; fi; dir=$$(mktemp -d); \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags "$(VERSION_LDFLAGS)" -o "$$dir/$$exe" ./cmd/stablering; \
		tar -C "$$dir" -czf "$(RELEASE_DIR)/kubectl-stablering_$(VERSION)_$${os}_$${arch}.tar.gz" "$$exe"; rm -rf "$$dir"; done

IMG_MANAGER    ?= stablering/manager:dev
IMG_GATEWAY    ?= stablering/gateway:dev
IMG_CHAT       ?= stablering/chat:dev
CONTAINER_TOOL ?= $(shell command -v docker 2>/dev/null || command -v podman 2>/dev/null)

.PHONY: docker-build
docker-build: ## Build the manager, gateway and chat example images (IMG_MANAGER, IMG_GATEWAY, IMG_CHAT) with docker or podman; fails when neither works here.
	@if [ -z "$(CONTAINER_TOOL)" ] || ! $(CONTAINER_TOOL) info >/dev/null 2>&1; then \
		echo "docker-build: no working container engine (docker or podman) here; $(IMG_MANAGER), $(IMG_GATEWAY) and $(IMG_CHAT) were not built." >&2; \
		echo "docker-build: install or start one, or set CONTAINER_TOOL, and run make docker-build again." >&2; \
		exit 1; fi; \
	for target in manager:$(IMG_MANAGER) gateway:$(IMG_GATEWAY) chat:$(IMG_CHAT); do \
		$(CONTAINER_TOOL) build --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) \
			--target $${target%%:*} -t $${target#*:} . || exit 1; done

##@ Tools

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Install controller-gen (the pinned version) into ./bin; the targets that need it do.
$(CONTROLLER_GEN):
	GOBIN=$(LOCALBIN) $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(LOCALBIN)/controller-gen $@

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT) ## Install golangci-lint (the pinned version) into ./bin.
$(GOLANGCI_LINT):
	GOBIN=$(LOCALBIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(LOCALBIN)/golangci-lint $@

.PHONY: actionlint
actionlint: $(ACTIONLINT) ## Install actionlint (the pinned version) into ./bin.
$(ACTIONLINT):
	GOBIN=$(LOCALBIN) $(GO) install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)
	mv $(LOCALBIN)/actionlint $@

.PHONY: helm
helm: $(HELM) ## Install helm (the pinned version) into ./bin.
$(HELM):
	GOBIN=$(LOCALBIN) $(GO) install -ldflags "-X helm.sh/helm/v4/internal/version.version=$(HELM_VERSION)" helm.sh/helm/v4/cmd/helm@$(HELM_VERSION)
	mv $(LOCALBIN)/helm $@
