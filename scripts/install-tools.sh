#!/usr/bin/env bash
# Project-local tools that are not Python packages. Idempotent; installs only what is missing.
# (Later issues add the pinned Codex CLI and the dashboard's npm ci here.)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v git >/dev/null || { apt-get update -qq && apt-get install -y -qq git >/dev/null; }
