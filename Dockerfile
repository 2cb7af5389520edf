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
#     incident-bot
#
# The image holds no token, no config and no credentials.

# ---- Build ------------------------------------------------------------------
# The crate needs Rust 1.94+ (rust-version in Cargo.toml). The slim image has
# gcc and libc headers, which `ring` needs; nothing links OpenSSL.
FROM rust:1.95-slim-bookworm AS builder
WORKDIR /src

# Dependencies first, in their own layer: build the crate with empty sources so
# this layer is rebuilt only when Cargo.toml or Cargo.lock change. Every target
# that Cargo.toml names must exist, the test target included.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src tests/it \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && echo 'fn main() {}' > tests/it/main.rs \
    && cargo build --release --locked \
    && rm -rf src

# The real sources. COPY keeps the files' modification times, which may be
# older than the dummy build's: touch them so Cargo rebuilds the crate.
# (tests/ is not copied: the release build does not compile it, and the dummy
# above keeps the manifest valid.)
COPY src ./src
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && cp target/release/incident-bot /usr/local/bin/incident-bot

# ---- Runtime ----------------------------------------------------------------
FROM debian:bookworm-slim

# CA certificates for the TLS connections to AWS.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 incident-bot \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin incident-bot

COPY --from=builder /usr/local/bin/incident-bot /usr/local/bin/incident-bot

# config.toml is mounted here; the bot writes nothing, so --read-only works.
WORKDIR /etc/incident-bot
USER 10001:10001

ENTRYPOINT ["incident-bot"]
CMD ["run", "--config", "/etc/incident-bot/config.toml"]
