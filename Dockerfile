# incident-bot container image.
#
# Build:
#   docker build -t incident-bot .
#
# Run (the token comes from the environment, the config is mounted read-only,
# AWS credentials come from the SDK default chain: env vars, web identity, or
# the ECS task role / EC2 instance role):
#   docker run --rm --read-only --cap-drop ALL --security-opt no-new-privileges \
#     -e DISCORD_TOKEN -e AWS_REGION \
#     -v $PWD/config.toml:/etc/incident-bot/config.toml:ro \
#     -v incident-bot-data:/var/lib/incident-bot \
#     incident-bot
#
# The image holds no token, no config and no credentials. The one thing the
# bot writes, its store (SQLite: which thread each incident lives in, how far
# the mirror got), is on the volume at /var/lib/incident-bot.
#
# `.ci/docker-deps-check` replays the planner and dependency steps below on
# the current manifest without Docker (with `cargo check`), so a manifest the
# image cannot build fails CI. It checks that this file still runs the exact
# commands it replays: change them together.

# ---- Toolchain with cargo-chef ---------------------------------------------
# The crate needs Rust 1.94+ (rust-version in Cargo.toml). The slim image has
# gcc and libc headers, which `ring` needs; nothing links OpenSSL.
FROM rust:1.95-slim-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

# ---- Planner: a recipe of the manifest, every target skeletonised ----------
# cargo-chef reads the targets from the manifest itself (bins, lib, tests,
# benches, examples), so a target added to Cargo.toml needs no change here.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# ---- Build ------------------------------------------------------------------
FROM chef AS builder
# Dependencies first, in their own layer: rebuilt only when the recipe
# (Cargo.toml, Cargo.lock, the list of targets) changes.
COPY --from=planner /src/recipe.json recipe.json
# Build settings the dependencies are compiled with (jemalloc's allocator
# settings), before they are cooked.
COPY .cargo .cargo
RUN cargo chef cook --release --locked --recipe-path recipe.json
# The real sources; only the binary is built (tests and benches are not).
COPY . .
RUN cargo build --release --locked --bin incident-bot \
    && cp target/release/incident-bot /usr/local/bin/incident-bot

# ---- Runtime ----------------------------------------------------------------
FROM debian:bookworm-slim

# CA certificates for the TLS connections to AWS and Discord. Not pinned
# (DL3008): Debian drops superseded package versions from its archive, so a
# pinned version breaks the build, and this one must follow security updates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 incident-bot \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin incident-bot

COPY --from=builder /usr/local/bin/incident-bot /usr/local/bin/incident-bot

# The store, on a volume owned by the bot's user: the only place it writes,
# so the root file system can be --read-only.
RUN mkdir -p /var/lib/incident-bot && chown 10001:10001 /var/lib/incident-bot
ENV INCIDENT_BOT_STORE_PATH=/var/lib/incident-bot/incident-bot.db
VOLUME ["/var/lib/incident-bot"]
# Where the config usually listens: [interactions] listen (HTTP mode) and
# [server] listen (/healthz, /metrics). Documentation only: set both.
EXPOSE 8080 9102

# config.toml is mounted here.
WORKDIR /etc/incident-bot
USER 10001:10001

ENTRYPOINT ["incident-bot"]
CMD ["run", "--config", "/etc/incident-bot/config.toml"]
