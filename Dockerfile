# syntax=docker/dockerfile:1
# Build:  docker build --build-arg PW_BUILD_COMMIT=$(git rev-parse --short=12 HEAD) -t pw-activate-scim-sync .
# Run:    docker run --rm --read-only pw-activate-scim-sync --help

FROM rust:1-slim-bookworm AS build
WORKDIR /src
# dependencies first, so source edits don't rebuild them
COPY Cargo.toml Cargo.lock ./
COPY .cargo .cargo
COPY activate-client activate-client
COPY http-transport http-transport
COPY scim-client scim-client
COPY scim-diff scim-diff
COPY scim-server scim-server
COPY scim-server-bin scim-server-bin
COPY scim-sync scim-sync
COPY scim-sync-cli scim-sync-cli
COPY xtask xtask
COPY examples examples
# the commit --version names (the build context has no .git)
ARG PW_BUILD_COMMIT=unknown
RUN PW_BUILD_COMMIT=$PW_BUILD_COMMIT cargo build --release --locked -p scim-sync-cli \
 && cp target/release/pw-activate-scim-sync /pw-activate-scim-sync

# glibc, CA certificates, a non-root user (65532) and nothing else: no shell, no package manager
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /pw-activate-scim-sync /usr/local/bin/pw-activate-scim-sync
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/pw-activate-scim-sync"]
