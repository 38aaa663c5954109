# secretwatch container image.
#
#   docker build -t secretwatch .
#   docker run --rm -p 127.0.0.1:8080:8080 \
#     -v "$PWD/deploy/compose/secretwatch.toml:/etc/secretwatch/secretwatch.toml:ro" \
#     -e SECRETWATCH_SERVE__INGEST_TOKEN="$(openssl rand -hex 24)" secretwatch
#
# The image holds no config: mount one at /etc/secretwatch/secretwatch.toml (the Kubernetes
# manifests use a ConfigMap, docker-compose.yml a bind mount). Inside a container serve.listen must
# be 0.0.0.0:8080 (the example config's 127.0.0.1 is unreachable from outside the container) and
# serve.data_dir /var/lib/secretwatch.

########################################################################################
# Build stage.
# rust:1.95-bookworm is the project's MSRV on Debian 12, the same release as the runtime image,
# so the binary's glibc matches. Nothing beyond the image is needed today. It already carries
# libssl-dev and pkg-config, which the Kafka source (rdkafka with ssl, issue 5) will link against;
# the runtime image has the matching libssl3.
FROM rust:1.95-bookworm AS builder

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /build

# 1. Dependencies only, cached as long as the manifests and the lock file do not change: the
#    workspace manifests with empty stand-in sources. Workspace members: . ingest detect alerting datasets.
COPY Cargo.toml Cargo.lock ./
COPY ingest/Cargo.toml ingest/Cargo.toml
COPY detect/Cargo.toml detect/Cargo.toml
COPY alerting/Cargo.toml alerting/Cargo.toml
COPY datasets/Cargo.toml datasets/Cargo.toml
RUN mkdir -p src ingest/src detect/src alerting/src datasets/src \
    && echo 'fn main() {}' > src/main.rs \
    && touch ingest/src/lib.rs detect/src/lib.rs alerting/src/lib.rs datasets/src/lib.rs \
    && cargo build --release --locked --bin secretwatch \
    && rm -rf src ingest/src detect/src alerting/src datasets/src

# 2. The real sources, and every file they include at compile time:
#    - rules/*.yml: detect/src/sigma/mod.rs include_str!s ../../../rules/*.yml (the shipped rules);
#    - secretwatch.example.toml: src/config.rs include_str!s it (`config defaults`).
#    A new include_str!/include_bytes! of a file outside these directories must be copied here too.
COPY rules/ rules/
COPY secretwatch.example.toml ./
COPY ingest/src/ ingest/src/
COPY detect/src/ detect/src/
COPY alerting/src/ alerting/src/
COPY datasets/src/ datasets/src/
COPY src/ src/
# COPY keeps the files' own modification times, older than the stand-in build's outputs: without
# the touch, cargo finds the workspace crates fresh and ships the empty stub binary (it prints
# nothing and exits 0). The grep fails the build if that ever happens.
RUN touch src/main.rs ingest/src/lib.rs detect/src/lib.rs alerting/src/lib.rs datasets/src/lib.rs \
    && cargo build --release --locked --bin secretwatch \
    && cp target/release/secretwatch /usr/local/bin/secretwatch \
    && /usr/local/bin/secretwatch --version | grep -q '^secretwatch ' \
    && mkdir -p /out/data

########################################################################################
# Runtime stage.
# gcr.io/distroless/cc-debian12:nonroot rather than debian:bookworm-slim with a user added:
# - it has exactly what the binary needs (glibc, libgcc_s, CA certificates, tzdata, and libssl3 for
#   the coming rdkafka ssl build) and no shell, package manager or coreutils, so a compromised
#   process or a stolen exec session has almost nothing to work with, and far fewer CVEs to patch;
# - its nonroot variant runs as UID/GID 65532 by default.
# The cost: no shell, so no `docker exec ... sh`, and no curl for a HEALTHCHECK (see
# docker-compose.yml); debug with `kubectl debug --image=busybox --target=secretwatch` or the
# :debug-nonroot variant of the same image.
FROM gcr.io/distroless/cc-debian12:nonroot

LABEL org.opencontainers.image.title="secretwatch" \
      org.opencontainers.image.description="Watches who touches secrets: Kubernetes audit and Vault audit logs to alerts." \
      org.opencontainers.image.licenses="Apache-2.0"

COPY --from=builder /usr/local/bin/secretwatch /usr/local/bin/secretwatch
# The committed sample (2 days of a cluster and a Vault, with attack stories, and its config),
# for `serve ... /usr/share/secretwatch/sample/*.jsonl.gz` and `scan` demos.
COPY datasets/sample/ /usr/share/secretwatch/sample/
# The data dir (alerts.jsonl, state/, dead-letter.jsonl), owned by the runtime user so that it is
# writable without a volume and so that a new named Docker volume mounted there inherits that
# owner. distroless has no shell to mkdir/chown in this stage, hence the copy of an empty dir.
COPY --from=builder --chown=65532:65532 /out/data/ /var/lib/secretwatch/

USER 65532:65532
WORKDIR /var/lib/secretwatch

# HTTP: POST /ingest/k8s-audit, POST /ingest/{format}, GET /api/health, GET /metrics (plain HTTP;
# TLS is terminated in front of it until the service serves TLS itself).
EXPOSE 8080

ENTRYPOINT ["/usr/local/bin/secretwatch"]
CMD ["serve", "--config", "/etc/secretwatch/secretwatch.toml"]
