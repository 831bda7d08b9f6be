# syntax=docker/dockerfile:1
# dpctl (the dataproduct-operator and its CLI) in a minimal, non-root image.
#
#   docker build -t registry.example.com/platform/dataproduct-operator:0.1.0 .
#   docker run --rm registry.example.com/platform/dataproduct-operator:0.1.0 --version
#
# The image's default command is `dpctl run` (the operator; the Helm chart sets it explicitly).
# Other subcommands work too: `docker run --rm -v "$PWD:/w:ro" IMAGE validate -f /w/products`.
#
# Build stage: the Rust toolchain on Debian 12. Runtime: distroless "cc" on Debian 12 (glibc,
# libgcc, CA certificates and time zones; no shell, no package manager) as the nonroot user,
# UID/GID 65532, which the chart's security context also sets. TLS is rustls (no OpenSSL), and
# the operator writes no files, so the root filesystem can be read-only.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
# Stripped release binary; the caches keep downloaded crates and built dependencies between
# builds (BuildKit).
ENV CARGO_PROFILE_RELEASE_STRIP=true
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin dpctl \
 && install -D -m 0755 target/release/dpctl /out/dpctl \
 && /out/dpctl --version

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="dataproduct-operator" \
      org.opencontainers.image.description="Turns DataProducts into namespaces, S3 buckets, Glue catalogues, pipelines and access policies" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/dpctl /usr/local/bin/dpctl
USER 65532:65532
# /metrics, /healthz and /readyz (DPO_LISTEN).
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/dpctl"]
CMD ["run"]
