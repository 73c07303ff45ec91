# cookieguard container image.
# Build stage: the same command a test runs outside Docker (scripts/dockerfile-build.sh).
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY config ./config
COPY benches ./benches
RUN cargo build --release --locked --bin cookieguard

# Runtime stage: distroless (glibc, CA certs, no shell, no package manager), non-root.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/cookieguard /usr/local/bin/cookieguard
COPY config/cookieguard.toml /etc/cookieguard/cookieguard.toml
ENV COOKIEGUARD_CONFIG=/etc/cookieguard/cookieguard.toml \
    COOKIEGUARD_LISTEN=0.0.0.0:8080 \
    COOKIEGUARD_UPSTREAM=http://app:3000
USER 65532:65532
EXPOSE 8080
# The binary probes its own admin listener (127.0.0.1:9901 in the config above): no curl needed.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/cookieguard", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/cookieguard"]
