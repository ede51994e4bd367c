# syntax=docker/dockerfile:1
# Build and push your own image (no image is published for you):
#   docker build \
#     --build-arg PW_BUILD_COMMIT=$(git rev-parse --short=12 HEAD) \
#     --build-arg VERSION=$(git describe --tags --always) \
#     -t registry.example.com/pw-activate-scim-sync:$(git rev-parse --short=12 HEAD) .
#   docker push registry.example.com/pw-activate-scim-sync:...
# Run:  docker run --rm --read-only pw-activate-scim-sync --help
#
# The base images are pinned by digest, so a rebuild starts from the bytes that were
# reviewed, not from whatever a tag points at that day. To move to newer ones, read the
# current digests (`docker buildx imagetools inspect rust:1.95-slim-bookworm`, and the same for
# the distroless image), replace them here, rebuild and run the tests.
ARG RUST_IMAGE=rust:1.95-slim-bookworm@sha256:d7482085ff5b415f84dba5647ae71606650bdef00db7aeb69f4b3d170c3e4082
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f

# cargo-chef turns the workspace's manifests into a recipe that builds the dependencies alone
FROM ${RUST_IMAGE} AS chef
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
# the dependencies, in a layer of their own: it is rebuilt only when a manifest or
# Cargo.lock changes, never for an edit of the project's sources
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked -p scim-sync-cli --recipe-path recipe.json
COPY . .
# the commit --version names (the build context has no .git)
ARG PW_BUILD_COMMIT=unknown
RUN PW_BUILD_COMMIT=$PW_BUILD_COMMIT cargo build --release --locked -p scim-sync-cli \
 && cp target/release/pw-activate-scim-sync /pw-activate-scim-sync

# glibc, CA certificates, a non-root user (65532) and nothing else: no shell, no package manager
FROM ${RUNTIME_IMAGE}
ARG PW_BUILD_COMMIT=unknown
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="pw-activate-scim-sync" \
      org.opencontainers.image.description="Syncs Parallel Works ACTIVATE users, groups and SSH keys into a SCIM 2.0 service provider (CoreWeave IAM)" \
      org.opencontainers.image.source="https://github.com/parallelworks/pw-activate-scim-sync" \
      org.opencontainers.image.revision="${PW_BUILD_COMMIT}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"
COPY --from=build /pw-activate-scim-sync /usr/local/bin/pw-activate-scim-sync
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/pw-activate-scim-sync"]
