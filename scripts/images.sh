#!/usr/bin/env bash
# `make images`: the role images, built with podman from infra/docker/.
#
#   scripts/images.sh [ROLE...]        roles: gateway sandbox agent (default: all of them)
#
# Base: HIVE_IMAGE_BASE if set; else the Dockerfile's public default when podman has it
# or can pull it; else the local Debian 12 base (scripts/local-base-image.sh), which is
# what machines without a registry (this project's, CI) get.
# Each image is tagged openhive/<role>:$HIVE_IMAGE_TAG (default 0.1.0, the manifests'
# tag) and its id written to .tools/images/<role>.iid: tests run that id, so another
# checkout retagging the same name on a shared machine cannot swap their image.
#
# The dashboard (`web`) has no Dockerfile target yet: add it to DOCKERFILES below when
# web/ ships one (issue 14).
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/infra/podman/containers.conf}"
TAG="${HIVE_IMAGE_TAG:-0.1.0}"
OUT=.tools/images
declare -A DOCKERFILES=(
    [gateway]=infra/docker/Dockerfile
    [sandbox]=infra/docker/Dockerfile
    [agent]=infra/docker/Dockerfile
    # [web]=infra/docker/Dockerfile.web   (issue 14)
)
roles=("$@")
[[ ${#roles[@]} -gt 0 ]] || roles=(gateway sandbox agent)

command -v podman >/dev/null || { echo "images: podman not found (make tools installs it)" >&2; exit 1; }

public_base=$(sed -n 's/^ARG BASE_IMAGE=//p' infra/docker/Dockerfile)
base="${HIVE_IMAGE_BASE:-}"
if [[ -z "$base" ]]; then
    if podman image exists "$public_base" || podman pull -q "$public_base" >/dev/null 2>&1; then
        base="$public_base"
    else
        echo "images: $public_base cannot be pulled here; using the local Debian 12 base" >&2
        base=$(scripts/local-base-image.sh)
    fi
fi

# The CA bundle this machine trusts, lent to the build's download steps (a secret mount:
# never in a layer), so PyPI and npm answer through a TLS-intercepting egress proxy.
ca="${HIVE_BUILD_CA_BUNDLE:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}"
secret=()
[[ -s "$ca" ]] && secret=(--secret "id=build_ca,src=$ca")

mkdir -p "$OUT"
for role in "${roles[@]}"; do
    dockerfile="${DOCKERFILES[$role]:-}"
    [[ -n "$dockerfile" ]] || { echo "images: unknown role '$role'" >&2; exit 2; }
    echo "images: building openhive/$role:$TAG on $base" >&2
    start=$SECONDS
    nice -n 10 podman build --quiet \
        --build-arg "BASE_IMAGE=$base" "${secret[@]}" \
        -f "$dockerfile" --target "$role" \
        --iidfile "$OUT/$role.iid" \
        -t "openhive/$role:$TAG" . >/dev/null
    echo "images: openhive/$role:$TAG $(cut -c1-19 "$OUT/$role.iid") ($((SECONDS - start)) s)" >&2
done
