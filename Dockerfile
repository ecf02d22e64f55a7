# cozystack-api: a static binary on a distroless base. Build from the repository root (BuildKit, the default
# builder since Docker 23):
#   docker build -t cozystack-api .

# The toolchain the workspace is built and tested with (rust-version in Cargo.toml is the minimum).
FROM rust:1.95.0-bookworm AS build
# musl-gcc compiles the C and assembly of ring (TLS), psm and mimalloc (the allocator) for the static target.
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/*
RUN rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
# Only the server: the bench package alone needs protoc. --locked builds exactly what Cargo.lock says. The
# caches keep downloaded crates and compiled dependencies between builds; the binary is copied out of them.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --target x86_64-unknown-linux-musl -p apiserver --bin cozystack-api \
 && cp target/x86_64-unknown-linux-musl/release/cozystack-api /cozystack-api

# No shell, no package manager; CA certificates and /etc/passwd for the nonroot user are included.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /cozystack-api /cozystack-api
USER 65532:65532
ENTRYPOINT ["/cozystack-api"]
