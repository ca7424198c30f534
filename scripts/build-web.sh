#!/usr/bin/env bash
# Build the dashboard (web/.next/standalone/server.js) when it is missing or its sources
# changed since the last build (the stamp is a hash of web/'s sources and lock).
# `make dev` and `make test` run this after scripts/install-tools.sh (which runs npm ci).
set -euo pipefail
cd "$(dirname "$0")/../web"
want=$(find . \( -path ./node_modules -o -path ./.next -o -path ./e2e-artifacts -o -path ./e2e \) -prune \
  -o -type f ! -name next-env.d.ts ! -name '*.tsbuildinfo' ! -name .build-stamp ! -name '*.test.ts' -print0 \
  | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
have=$(cat .build-stamp 2>/dev/null || true)
if [[ "$want" == "$have" && -f .next/standalone/server.js ]]; then
  exit 0
fi
echo "build-web: building the dashboard (next build, standalone)" >&2
export NEXT_TELEMETRY_DISABLED=1
nice -n 10 npm run --silent build >&2
echo "$want" >.build-stamp
