# syntax=docker/dockerfile:1
# The mock identity provider and the echo upstream (the `testbed` crate's binaries) for
# docker-compose.yaml. Build context: the repository root (see .dockerignore).
#   docker build -f deploy/compose/testbed.Dockerfile -t jwt-authn-wasm-testbed:0.1.0 .

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# The whole workspace: cargo reads every member's manifest even to build one package.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p testbed --bins \
    && mkdir -p /out \
    && cp target/release/mock-idp target/release/echo-upstream /out/

FROM debian:bookworm-slim
COPY --from=build /out/ /usr/local/bin/
# Both binaries bind 127.0.0.1 only; compose runs them in Envoy's network namespace.
USER 65532:65532
CMD ["mock-idp", "--port", "8081", "--issuer", "http://127.0.0.1:8081"]
