#!/usr/bin/env bash
# Project-local tools that are not Python packages. Idempotent; installs only what is missing.
# The dashboard: npm ci in web/ and Debian's chromium for its browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v git >/dev/null && command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq git curl >/dev/null; }

# The pinned Codex CLI (codex_cli backend): `npm ci` from the committed lock in tools/codex
# into .tools/codex, so the version and every tarball hash are exact. Skipped when the
# installed tree was built from the same lock (the stamp is the lock's sha256).
install_codex() {
  local src=tools/codex dest=.tools/codex
  local want have
  want=$(sha256sum "$src/package-lock.json" | cut -d' ' -f1)
  have=$(cat "$dest/.lock-sha256" 2>/dev/null || true)
  if [[ "$want" == "$have" && -x "$dest/node_modules/.bin/codex" ]]; then
    return 0
  fi
  if ! command -v npm >/dev/null; then
    echo "install-tools: npm not found; the codex_cli backend will report the CLI as missing" >&2
    return 0
  fi
  echo "install-tools: installing the pinned Codex CLI into $dest" >&2
  mkdir -p "$dest"
  cp "$src/package.json" "$src/package-lock.json" "$dest/"
  npm ci --prefix "$dest" --no-audit --no-fund --loglevel=error >&2
  echo "$want" >"$dest/.lock-sha256"
}
install_codex

# hive-confine, the launcher in front of every governed process (services/sandbox/native):
# built from our own C source into .tools/bin, static so it loads fast and works in any
# image. Rebuilt when the source changes (the stamp is its sha256).
install_confine() {
  local src=services/sandbox/native/hive-confine.c dest=.tools/bin/hive-confine
  local want have
  want=$(sha256sum "$src" | cut -d' ' -f1)
  have=$(cat "$dest.sha256" 2>/dev/null || true)
  if [[ "$want" == "$have" && -x "$dest" ]]; then
    return 0
  fi
  if ! command -v cc >/dev/null || [[ ! -e /usr/lib/x86_64-linux-gnu/libc.a && ! -e /usr/lib/aarch64-linux-gnu/libc.a ]]; then
    echo "install-tools: installing a C compiler for hive-confine" >&2
    apt-get update -qq && apt-get install -y -qq gcc libc6-dev >/dev/null
  fi
  mkdir -p "$(dirname "$dest")"
  cc -O2 -Wall -Wextra -Werror -static -o "$dest.tmp" "$src"
  mv "$dest.tmp" "$dest"
  echo "$want" >"$dest.sha256"
}
install_confine

# The dashboard's dependencies: `npm ci` from web/package-lock.json (stamped like Codex).
install_web() {
  local want have
  want=$(sha256sum web/package-lock.json | cut -d' ' -f1)
  have=$(cat web/node_modules/.lock-sha256 2>/dev/null || true)
  if [[ "$want" == "$have" && -x web/node_modules/.bin/next ]]; then
    return 0
  fi
  command -v npm >/dev/null || { echo "install-tools: npm is required for the dashboard (web/)" >&2; exit 1; }
  echo "install-tools: npm ci in web/" >&2
  NEXT_TELEMETRY_DISABLED=1 npm ci --prefix web --no-audit --no-fund --loglevel=error >&2
  echo "$want" >web/node_modules/.lock-sha256
}
install_web

# Debian's Chromium for the dashboard's browser tests (driven by playwright-core; no browser
# download). Only when missing; CHROMIUM names another binary.
install_chromium() {
  [[ -x "${CHROMIUM:-/usr/bin/chromium}" ]] && return 0
  command -v apt-get >/dev/null || { echo "install-tools: no apt-get; install chromium and set CHROMIUM" >&2; exit 1; }
  echo "install-tools: apt-get install chromium" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
}
install_chromium
