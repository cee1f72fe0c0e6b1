# syntax=docker/dockerfile:1
# Images of the StableRing manager and gateway, and of the chat example (examples/chat). Build one
# with its target:
#   docker build --target manager -t stablering/manager:dev .
#   docker build --target gateway -t stablering/gateway:dev .
#   docker build --target chat -t stablering/chat:dev .
# (make docker-build builds all three.) All are static binaries on distroless, run as 65532:65532.

ARG GO_VERSION=1.26
# VERSION is stamped into the manager and the gateway (make docker-build passes git describe).
ARG VERSION=dev

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS source
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY api/ api/
COPY balancer/ balancer/
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

FROM gcr.io/distroless/static:nonroot AS manager
COPY --from=build-manager /out/manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]

FROM gcr.io/distroless/static:nonroot AS gateway
COPY --from=build-gateway /out/gateway /gateway
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["/gateway"]

FROM gcr.io/distroless/static:nonroot AS chat
COPY --from=build-chat /out/chat /chat
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/chat"]
