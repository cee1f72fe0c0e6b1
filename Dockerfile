# syntax=docker/dockerfile:1
# Images of the StableRing manager and gateway, and of the chat example (examples/chat). Build one
# with its target:
#   docker build --target manager -t stablering/manager:dev .
#   docker build --target gateway -t stablering/gateway:dev .
#   docker build --target chat -t stablering/chat:dev .
# (make docker-build builds all three.) All are static binaries on distroless, run as 65532:65532.
# `make images` builds the same images without a container engine (hack/images); a test
# (test/images) checks that both agree: binary path, user, entrypoint, ports and labels.

ARG GO_VERSION=1.26
# VERSION is stamped into the manager and the gateway and labels every image; REVISION is the
# source commit (make docker-build passes git describe and git rev-parse HEAD).
ARG VERSION=dev
ARG REVISION=unknown

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS source
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY api/ api/
COPY balancer/ balancer/
COPY ringhash/ ringhash/
COPY internal/ internal/
COPY controllers/ controllers/
COPY gateway/ gateway/
COPY cmd/internal/ cmd/internal/
COPY cmd/manager/ cmd/manager/
COPY cmd/gateway/ cmd/gateway/
COPY examples/chat/ examples/chat/

FROM source AS build-manager
ARG TARGETOS=linux
ARG TARGETARCH
ARG VERSION
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath \
    -ldflags="-s -w -X github.com/stablering/stablering/cmd/internal/version.Version=$VERSION" -o /out/manager ./cmd/manager

FROM source AS build-gateway
ARG TARGETOS=linux
ARG TARGETARCH
ARG VERSION
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath \
    -ldflags="-s -w -X github.com/stablering/stablering/cmd/internal/version.Version=$VERSION" -o /out/gateway ./cmd/gateway

FROM source AS build-chat
ARG TARGETOS=linux
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags="-s -w" -o /out/chat ./examples/chat

FROM gcr.io/distroless/static:nonroot AS base
ARG VERSION
ARG REVISION
LABEL org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/stablering/stablering"

FROM base AS manager
LABEL org.opencontainers.image.title="manager" \
      org.opencontainers.image.description="StableRing manager: resolves StableRings and paces the rollouts of their StatefulSets"
COPY --from=build-manager /out/manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]

FROM base AS gateway
LABEL org.opencontainers.image.title="gateway" \
      org.opencontainers.image.description="StableRing gateway: routes each room to its StatefulSet pod by ordinal"
COPY --from=build-gateway /out/gateway /gateway
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["/gateway"]

FROM base AS chat
LABEL org.opencontainers.image.title="chat" \
      org.opencontainers.image.description="StableRing chat example: a WebSocket room service"
COPY --from=build-chat /out/chat /chat
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/chat"]
