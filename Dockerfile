# cookieguard container image: build with the Rust toolchain, run on a slim base as non-root.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY config ./config
RUN cargo build --release --locked

FROM debian:bookworm-slim
COPY --from=build /src/target/release/cookieguard /usr/local/bin/cookieguard
COPY config/cookieguard.toml /etc/cookieguard/cookieguard.toml
ENV COOKIEGUARD_CONFIG=/etc/cookieguard/cookieguard.toml \
    COOKIEGUARD_LISTEN=0.0.0.0:8080 \
    COOKIEGUARD_UPSTREAM=http://app:3000
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/cookieguard"]
