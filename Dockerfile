# syntax=docker/dockerfile:1

# Herald: one static binary on distroless, as the non-root user.
#
#   docker build -t herald .
#   docker run -p 8080:8080 -v herald-data:/data herald
#
# The image serves on :8080 with SQLite at /data/herald.db (a named volume
# starts out owned by the nonroot user; a bind-mounted host directory must be
# writable by uid 65532). Set HERALD_DATABASE_URL=postgres://... to use
# PostgreSQL instead. Sample data: `docker run -v herald-data:/data herald demo-data`.

FROM golang:1.26 AS build
WORKDIR /src
# GOTOOLCHAIN=local: build with the image's Go, never download another.
ENV CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=readonly
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags="-s -w" -o /out/herald ./cmd/herald
# distroless has no shell to create the data directory: make it here, owned
# by distroless's nonroot user (65532), and copy it over.
RUN mkdir -p /out/data && chown 65532:65532 /out/data && chmod 0750 /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/herald /herald
COPY --from=build --chown=65532:65532 /out/data /data
ENV HERALD_ADDR=:8080 \
    HERALD_DATABASE_URL=sqlite:/data/herald.db \
    HERALD_LOG_FORMAT=json
USER 65532:65532
EXPOSE 8080
VOLUME /data
# No shell or curl in the image: the binary checks itself (GET /readyz on
# the port of HERALD_ADDR, 3 s timeout).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/herald", "healthcheck"]
ENTRYPOINT ["/herald"]
CMD ["serve"]
